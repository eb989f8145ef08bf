"""Pixels and color sums of some regions against pixel-by-pixel counting."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from app import region_sums
from app.region_sums import pixels_of_regions, sums_of_regions
from app.regions import label_regions
from testsupport.region_maps import random_map


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


def test_color_sums_run_by_run_in_chunks_and_in_float64_match_pixel_by_pixel():
    values = random_map(8, shape=(40, 301))
    regions = label_regions(values)
    rng = np.random.default_rng(8)
    keys = rng.integers(0, 1 << 24, values.size).astype(np.uint32)
    wanted = rng.random(regions.count) < 0.7
    expected = pixels_of_regions(regions, wanted, keys).sums
    assert np.array_equal(sums_of_regions(regions, wanted, keys), expected)
    # Chunks taken in turn by several threads, as cleaning helps the pool once its borders are found.
    summing = region_sums.RunSums(regions, keys)
    helpers = [threading.Thread(target=summing.help) for _ in range(3)]
    for helper in helpers:
        helper.start()
    summing.help()
    for helper in helpers:
        helper.join()
    assert np.array_equal(summing.of_regions(wanted), expected)
    tiny = label_regions(np.zeros((1, 3), dtype=np.uint8))  # fewer runs than chunks
    assert np.array_equal(sums_of_regions(tiny, np.ones(1, dtype=bool), np.array([1, 2, 3], dtype=np.uint32)),
                          [[0, 0, 6]])
    wide = label_regions(np.tile(values, (1, 240)))  # rows too wide for a run's sum to be exact in float32
    wide_keys = np.tile(keys.reshape(values.shape), (1, 240)).ravel()
    everything = np.ones(wide.count, dtype=bool)
    assert np.array_equal(sums_of_regions(wide, everything, wide_keys),
                          pixels_of_regions(wide, everything, wide_keys).sums)
