"""Borders between regions against pixel-by-pixel counting."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from app import borders as borders_module
from app.borders import borders, group_borders
from app.regions import CLEAR, label_regions
from testsupport.region_maps import random_map


@pytest.mark.parametrize("seed", range(4))
def test_border_lengths_count_every_pixel_edge_once_per_direction(seed):
    values = random_map(seed, shape=(19, 23))
    regions = label_regions(values)
    keep = np.zeros(regions.count, dtype=bool)
    keep[::3] = True
    found = borders(regions, keep)
    of = regions.of_pixel
    expected = Counter()
    for a, b in [(of[:, :-1], of[:, 1:]), (of[:-1], of[1:])]:
        for x, y in zip(a.ravel().tolist(), b.ravel().tolist()):
            if x != y and (keep[x] or keep[y]):
                expected[(x, y)] += 1
                expected[(y, x)] += 1
    got = {(int(s), int(t)): int(n) for s, t, n in zip(found.source, found.target, found.length)}
    assert got == dict(expected)
    order = np.lexsort((found.target, found.source))
    assert np.array_equal(order, np.arange(len(order))), "borders must come sorted by (source, target)"


@pytest.mark.parametrize("kept", [0.15, 0.9, 1.0])  # most borders wanted from one side, or from both (grouped once)
@pytest.mark.parametrize("seed", range(3))
def test_borders_wanted_from_one_side_are_listed_from_that_side(seed, kept):
    values = random_map(seed, shape=(21, 26))
    alpha = None if seed else (np.random.default_rng(seed).random(values.shape) > 0.1).astype(np.uint8) * 255
    regions = label_regions(values, alpha)
    keep = np.random.default_rng(seed).random(regions.count) < kept
    found = borders(regions, keep, both_ways=False)
    of, shown = regions.of_pixel, regions.visible
    expected = Counter()
    for a, b in [(of[:, :-1], of[:, 1:]), (of[:-1], of[1:])]:
        for x, y in zip(a.ravel().tolist(), b.ravel().tolist()):
            if x != y and shown[x] and shown[y]:
                for source, target in ((x, y), (y, x)):
                    if keep[source]:
                        expected[(source, target)] += 1
    assert {(int(s), int(t)): int(n) for s, t, n in zip(found.source, found.target, found.length)} == dict(expected)
    assert np.array_equal(np.lexsort((found.target, found.source)), np.arange(len(found.source)))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("knob, both_ways", [
    ("_BORDER_RUNS", True),  # borders found in two halves of the runs side by side, as a 12 MP photo's are
    ("_BORDER_RUNS", False),
    ("_bits", False),  # keys too wide for 64 bits: borders summed in a sparse matrix
])
def test_borders_found_the_large_map_way_match_the_small_map_way(monkeypatch, seed, knob, both_ways):
    values = random_map(seed, shape=(37, 29))
    alpha = None if seed else (np.random.default_rng(seed).random(values.shape) > 0.1).astype(np.uint8) * 255
    regions = label_regions(values, alpha)
    keep = np.random.default_rng(seed).random(regions.count) < 0.6
    small_way = borders(regions, keep, both_ways=both_ways)
    monkeypatch.setattr(borders_module, knob, 1 if knob == "_BORDER_RUNS" else lambda largest: 40)
    large_way = borders(regions, keep, both_ways=both_ways)
    assert len(small_way.source) > 0
    for field in ("source", "target", "length"):
        assert np.array_equal(getattr(large_way, field), getattr(small_way, field)), field
        assert getattr(large_way, field).dtype == getattr(small_way, field).dtype, field


def test_no_border_touches_a_transparent_region():
    values = np.zeros((4, 6), dtype=np.uint8)
    values[:, 4:] = 1
    alpha = np.full((4, 6), 255, dtype=np.uint8)
    alpha[:, 2] = 0
    regions = label_regions(values, alpha)
    found = borders(regions, np.ones(regions.count, dtype=bool))
    clear = np.flatnonzero(regions.index == CLEAR)
    assert not np.isin(found.source, clear).any() and not np.isin(found.target, clear).any()
    # Left of the clear column: index 0; right of it: index 0, then 1. Only those two touch.
    assert len(found.source) == 2 and found.length.tolist() == [4, 4]


@pytest.mark.parametrize("too_wide", [False, True])  # True: keys too wide for 64 bits, summed in a sparse matrix
def test_group_borders_sums_each_pair_once_and_drops_self_pairs(monkeypatch, too_wide):
    rng = np.random.default_rng(11)
    source, target = rng.integers(0, 9, 200), rng.integers(0, 9, 200)
    length = rng.integers(1, 50, 200)
    if too_wide:
        monkeypatch.setattr(borders_module, "_bits", lambda largest: 40)
    found = group_borders(source, target, length, 9)
    expected = Counter()
    for s, t, n in zip(source, target, length):
        if s != t:
            expected[(int(s), int(t))] += int(n)
    assert {(int(s), int(t)): int(n) for s, t, n in zip(found.source, found.target, found.length)} == expected
    assert np.array_equal(np.lexsort((found.target, found.source)), np.arange(len(found.source)))
