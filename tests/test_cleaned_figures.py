"""The cleaned image's figures, worked from sums and pairs, against those of its pixels."""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import ciede2000, cleaning, colorspace, histograms
from app.cleaned_figures import MovedPairs, counted_pairs, mean_delta_e
from testsupport.cleaning_maps import PROPERTY, images, kmeans_map


@PROPERTY
@given(pixels=images(), k=st.integers(2, 12), min_region=st.integers(0, 60))
def test_figures_are_those_of_the_cleaned_pixels(pixels, k, min_region):
    fit, indices, hist = kmeans_map(pixels, k)
    cleaned = cleaning.clean(indices, fit.palette, pixels, None, min_region)
    shown = cleaned.result.palette[cleaned.indices]
    mse = ((pixels.astype(np.float64) - shown) ** 2).mean()
    expected_psnr = np.inf if mse == 0 else 10 * np.log10(255**2 / mse)
    assert cleaned.result.psnr == pytest.approx(expected_psnr, abs=1e-9)
    # Pixel by pixel, in the engine's precision: it keeps CIELAB in float32 (app/histograms.py), which near
    # black is off by up to about 0.0015 from float64 (hypothesis found a 1.0352 that float64 puts at 1.0362).
    lab = colorspace.srgb_to_lab(pixels.reshape(-1, 3)).astype(np.float32)
    # Each entry converted once, as the engine does: a gray entry converted inside a full-size array may
    # come out with a and b a few ulps off zero, which moves CIEDE2000's hue terms (hypothesis found a
    # gray palette where the per-pixel conversion missed the float64 answer by 4e-4 and the engine did not).
    palette_lab = colorspace.srgb_to_lab(cleaned.result.palette).astype(np.float32)
    shown_lab = palette_lab[cleaned.indices.ravel()]
    expected_delta = ciede2000.between(lab, shown_lab).astype(np.float64).mean()
    assert cleaned.result.delta_e == pytest.approx(expected_delta, rel=1e-5, abs=1e-6)
    shares = np.bincount(cleaned.indices.ravel(), minlength=len(cleaned.result.palette)) / cleaned.indices.size
    assert np.allclose(cleaned.result.shares, shares)
    assert (np.diff(cleaned.result.shares) <= 0).all(), "entries must come sorted by share"


@PROPERTY
@given(pixels=images(), k=st.integers(2, 12), cut=st.floats(0, 1))
def test_moved_pairs_counted_in_parts_are_those_counted_at_once(pixels, k, cut):
    # The strong setting counts the pairs of each core's half of the map, then joins the halves.
    _, indices, hist = kmeans_map(pixels, k)
    keys, entries = histograms.pack(pixels.reshape(-1, 3)), np.asarray(indices[:]).ravel()[::-1].copy()
    split = int(cut * len(keys))
    whole = MovedPairs.of(keys, entries, hist)
    parts = MovedPairs.from_counted([counted_pairs(keys[:split], entries[:split]),
                                     counted_pairs(keys[split:], entries[split:])], hist)
    for name in ("colors", "entries", "counts", "per_color"):
        assert np.array_equal(getattr(whole, name), getattr(parts, name))
        assert getattr(whole, name).dtype == getattr(parts, name).dtype


@PROPERTY
@given(pixels=images(), k=st.integers(2, 12), moved_share=st.floats(0, 1))
def test_mean_delta_e_is_the_same_number_from_the_pairs_or_their_future(pixels, k, moved_share):
    # Given the pairs, colors whose every pixel moved are skipped at their usual entry; given a future (the strong
    # setting's pairs being combined), every color is measured meanwhile. Either way the same bytes.
    fit, indices, hist = kmeans_map(pixels, k)
    keys = histograms.pack(pixels.reshape(-1, 3))
    moving = int(moved_share * len(keys))
    entries = (np.asarray(indices[:]).ravel()[:moving] + 1) % len(fit.palette)
    pairs = MovedPairs.of(keys[:moving], entries, hist)
    soon = Future()
    soon.set_result(pairs)
    assert mean_delta_e(hist, fit.labels, fit.palette, pairs) == mean_delta_e(hist, fit.labels, fit.palette, soon)
