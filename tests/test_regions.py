"""Region labelling and borders against plain oracles: scipy.ndimage.label per color, and pixel-by-pixel counting."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy import ndimage

from app import borders as borders_module
from app import regions as regions_module
from app.borders import borders, group_borders
from app.regions import CLEAR, label_regions, pixels_of_regions, sums_of_regions


def oracle_regions(values: np.ndarray) -> np.ndarray:
    """Each pixel's region by ndimage.label, one color at a time, numbered by first pixel in raster order."""
    out = np.full(values.shape, -1, dtype=np.int64)
    offset = 0
    for value in np.unique(values):
        labelled, count = ndimage.label(values == value)  # default structure: 4-connectivity
        out[labelled > 0] = labelled[labelled > 0] + offset - 1
        offset += count
    _, first = np.unique(out.ravel(), return_index=True)
    return np.argsort(np.argsort(first))[out]  # each region's rank by first pixel


def random_map(seed: int, shape=(37, 53), colors=5, blobs: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if not blobs:
        return rng.integers(0, colors, shape).astype(np.uint8)
    coarse = rng.integers(0, colors, (shape[0] // 4 + 1, shape[1] // 4 + 1))
    values = np.kron(coarse, np.ones((4, 4), dtype=np.int64))[: shape[0], : shape[1]]
    specks = rng.random(shape) < 0.15
    values[specks] = rng.integers(0, colors, specks.sum())
    return values.astype(np.uint8)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("blobs", [True, False])
def test_labels_match_ndimage_per_color(seed, blobs):
    values = random_map(seed, blobs=blobs)
    regions = label_regions(values)
    expected = oracle_regions(values)
    assert regions.count == expected.max() + 1
    assert np.array_equal(regions.of_pixel, expected)
    assert np.array_equal(regions.size, np.bincount(expected.ravel()))
    assert np.array_equal(regions.index[regions.of_pixel], values)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", [(37, 53), (2, 40), (3, 30)])
def test_labels_in_two_bands_of_rows_match_ndimage(monkeypatch, seed, shape):
    monkeypatch.setattr(regions_module, "_BAND_PIXELS", 8)  # big maps are labelled in two bands, one per core
    values = random_map(seed, shape=shape)
    regions = label_regions(values)
    assert np.array_equal(regions.of_pixel, oracle_regions(values))
    found = borders(regions, np.ones(regions.count, dtype=bool))
    monkeypatch.setattr(regions_module, "_BAND_PIXELS", 1 << 40)
    whole = borders(label_regions(values), np.ones(regions.count, dtype=bool))
    for field in ("source", "target", "length"):
        assert np.array_equal(getattr(found, field), getattr(whole, field))


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 2)])
def test_labels_on_thin_images(shape):
    values = random_map(3, shape=shape, colors=2, blobs=False)
    assert np.array_equal(label_regions(values).of_pixel, oracle_regions(values))


def test_diagonal_pixels_are_separate_regions():
    values = np.array([[1, 0], [0, 1]], dtype=np.uint8)
    assert label_regions(values).count == 4


def test_transparent_pixels_form_clear_regions_whatever_their_index():
    values = np.array([[1, 1, 2], [1, 1, 2]], dtype=np.uint8)
    alpha = np.array([[255, 0, 255], [255, 0, 255]], dtype=np.uint8)
    regions = label_regions(values, alpha)
    assert regions.count == 3
    assert sorted(regions.index.tolist()) == [1, 2, CLEAR]
    assert regions.size[regions.index == CLEAR].tolist() == [2]


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


@pytest.mark.parametrize("seed", range(4))
def test_pixels_of_some_regions_read_from_the_runs_match_the_map(seed):
    values = random_map(seed, shape=(23, 31))
    regions = label_regions(values)
    wanted = np.random.default_rng(seed).random(regions.count) < 0.3
    positions, owners = regions.pixels_of(wanted)
    assert np.array_equal(positions, np.flatnonzero(wanted[regions.of_pixel.ravel()]))
    assert np.array_equal(owners, regions.of_pixel.ravel()[positions])
    none, _ = regions.pixels_of(np.zeros(regions.count, dtype=bool))
    assert len(none) == 0


@pytest.mark.parametrize("share", [0.0, 0.3, 0.8, 1.0])  # 0.8 and 1.0: most pixels, read in order
def test_pixels_and_color_sums_of_some_regions_match_the_map(share):
    values = random_map(7, shape=(23, 31))
    regions = label_regions(values)
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 1 << 24, values.size).astype(np.uint32)
    wanted = rng.random(regions.count) < share if share < 1 else np.ones(regions.count, dtype=bool)
    found = pixels_of_regions(regions, wanted, keys)
    owner = regions.of_pixel.ravel()
    listed = np.flatnonzero(wanted[owner])
    assert np.array_equal(found.keys, keys[listed]) and np.array_equal(found.region, owner[listed])
    rgb = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], axis=1).astype(np.float64)
    expected = np.zeros((regions.count, 3))
    np.add.at(expected, owner[listed], rgb[listed])
    assert np.array_equal(found.sums, expected)
    assert np.array_equal(sums_of_regions(regions, wanted, keys), expected)  # run by run, as at a strong setting


def test_color_sums_run_by_run_in_parts_and_in_float64_match_pixel_by_pixel(monkeypatch):
    values = random_map(8, shape=(40, 301))
    regions = label_regions(values)
    rng = np.random.default_rng(8)
    keys = rng.integers(0, 1 << 24, values.size).astype(np.uint32)
    wanted = rng.random(regions.count) < 0.7
    expected = pixels_of_regions(regions, wanted, keys).sums
    monkeypatch.setattr(regions_module.parallel, "MIN_PART", 16)  # runs summed in parts, one per core
    assert np.array_equal(sums_of_regions(regions, wanted, keys), expected)
    wide = label_regions(np.tile(values, (1, 240)))  # rows too wide for a run's sum to be exact in float32
    wide_keys = np.tile(keys.reshape(values.shape), (1, 240)).ravel()
    everything = np.ones(wide.count, dtype=bool)
    assert np.array_equal(sums_of_regions(wide, everything, wide_keys),
                          pixels_of_regions(wide, everything, wide_keys).sums)


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
