"""The palette refit: each entry moves to the mean of the pixels that carry it after cleaning."""

from __future__ import annotations

import numpy as np

from app import cleaning
from testsupport.cleaning_maps import kmeans_map


def test_the_refit_moves_each_entry_to_the_mean_of_its_pixels():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (30, 40, 3)).astype(np.uint8)
    fit, indices, _ = kmeans_map(pixels, 4)
    cleaned = cleaning.clean(indices, fit.palette, pixels, None, 20)
    for entry, color in enumerate(cleaned.result.palette):
        mask = cleaned.indices == entry
        assert np.abs(pixels[mask].mean(axis=0) - color).max() <= 0.5 + 1e-9
