"""Region labelling against a plain oracle: scipy.ndimage.label per color."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from app import regions as regions_module
from app.borders import borders
from app.regions import CLEAR, label_regions
from testsupport.region_maps import random_map


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
def test_pixels_of_some_regions_read_from_the_runs_match_the_map(seed):
    values = random_map(seed, shape=(23, 31))
    regions = label_regions(values)
    wanted = np.random.default_rng(seed).random(regions.count) < 0.3
    positions, owners = regions.pixels_of(wanted)
    assert np.array_equal(positions, np.flatnonzero(wanted[regions.of_pixel.ravel()]))
    assert np.array_equal(owners, regions.of_pixel.ravel()[positions])
    none, _ = regions.pixels_of(np.zeros(regions.count, dtype=bool))
    assert len(none) == 0
