"""Specks settled before labelling: which pixels are filled, and that cleaning gives exactly what it gave without."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import cleaning, histograms, quantize, specks, summary
from app.regions import run_starts
from app.specks import settle_specks


def test_a_pixel_walled_in_by_one_index_on_its_sides_and_three_corners_is_filled_and_no_other():
    indices = np.zeros((8, 12), dtype=np.uint8)
    indices[2, 2] = 1  # walled in by eight 0s: a speck
    indices[2, 6] = 1  # a 2 at one corner: the seven 0s still join round three sides, a speck
    indices[3, 7] = 2
    indices[5, 9] = 1  # 3s at two corners: its side neighbours may be apart, left alone
    indices[4, 8] = indices[6, 10] = indices[6, 11] = 3
    indices[0, 4] = 3  # at the edge: left alone
    indices[5, 5] = indices[5, 6] = 4  # two pixels: a region of two, left alone
    before = indices.copy()
    starts = run_starts(indices)
    filled, found = settle_specks(indices, starts, owned=False)
    assert found.position.tolist() == [2 * 12 + 2, 2 * 12 + 6] and found.index.tolist() == [1, 1]
    expected = before.copy()
    expected[2, 2] = expected[2, 6] = 0
    assert np.array_equal(filled, expected)
    assert np.array_equal(starts, run_starts(expected))  # the runs' starts are those of the filled map
    assert np.array_equal(indices, before)  # not the caller's map: a copy was filled


@pytest.mark.parametrize("height", [3, 4, 41])
def test_specks_looked_for_in_two_bands_of_rows_are_those_found_in_one(monkeypatch, height):
    rng = np.random.default_rng(height)
    indices = np.where(rng.random((height, 37)) < 0.1, rng.integers(0, 4, (height, 37)), 0).astype(np.uint8)
    one_starts = run_starts(indices)
    one, one_found = settle_specks(indices, one_starts, owned=False)
    assert height < 5 or len(one_found) > 10
    monkeypatch.setattr(specks, "_BANDS_PIXELS", 1)  # two bands side by side, as on a 12 MP map
    two_starts = run_starts(indices)
    two, two_found = settle_specks(indices, two_starts, owned=False)
    assert np.array_equal(two, one) and np.array_equal(two_starts, one_starts)
    assert np.array_equal(two_found.position, one_found.position) and np.array_equal(two_found.index, one_found.index)


def test_the_map_is_filled_in_place_when_the_caller_made_it_for_this():
    indices = np.zeros((3, 3), dtype=np.uint8)
    indices[1, 1] = 5
    filled, found = settle_specks(indices, run_starts(indices), owned=True)
    assert filled is indices and not indices.any() and found.index.tolist() == [5]


@st.composite
def speckled(draw) -> np.ndarray:
    """Blocks of a few colors, sprinkled with single pixels of any of them (often walled in by one block)."""
    height, width = draw(st.integers(3, 24)), draw(st.integers(3, 24))
    colors = np.array(draw(st.lists(st.tuples(*[st.integers(0, 255)] * 3), min_size=2, max_size=6, unique=True)),
                      dtype=np.uint8)
    block = draw(st.integers(2, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    picks = np.kron(rng.integers(0, len(colors), (height // block + 1, width // block + 1)),
                    np.ones((block, block), dtype=np.intp))[:height, :width]
    sprinkled = rng.random((height, width)) < draw(st.floats(0, 0.3))
    picks[sprinkled] = rng.integers(0, len(colors), int(sprinkled.sum()))
    noise = rng.integers(-6, 7, (height, width, 3))
    return np.clip(colors[picks].astype(int) + noise, 0, 255).astype(np.uint8)


@settings(max_examples=120, deadline=None, database=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(pixels=speckled(), k=st.integers(2, 8), min_region=st.integers(0, 80), strong=st.booleans())
def test_cleaning_with_specks_settled_first_gives_what_it_gave_without(pixels, k, min_region, strong):
    keys = histograms.pack(pixels)
    hist = histograms.histogram(keys)
    fit = quantize.find_palette(hist, k)
    indices = summary.index_map(keys, hist, fit).reshape(pixels.shape[:2])
    with pytest.MonkeyPatch.context() as patch:
        if strong:  # the strong setting's path: moved pixels read back from the cleaned map
            patch.setattr(cleaning, "hold_most_pixels", lambda *_: True)
        settled = cleaning.clean(indices, fit.palette, pixels, None, min_region, hist, keys, fit.labels)
        patch.setattr(cleaning, "settle_specks", lambda indices, starts, owned: (indices, specks.NONE))
        whole = cleaning.clean(indices, fit.palette, pixels, None, min_region, hist, keys, fit.labels)
    assert np.array_equal(settled.indices, whole.indices)
    assert np.array_equal(settled.result.palette, whole.result.palette)
    assert np.array_equal(settled.result.shares, whole.result.shares)
    assert settled.result.psnr == whole.result.psnr
    assert abs(settled.result.delta_e - whole.result.delta_e) < 1e-9
    assert (settled.regions_before, settled.regions_after) == (whole.regions_before, whole.regions_after)


def test_the_speckled_images_have_specks_to_settle():
    """The property above is not empty: its images hold specks walled in by one region."""
    rng = np.random.default_rng(3)
    picks = np.kron(rng.integers(0, 3, (4, 4)), np.ones((6, 6), dtype=np.intp))
    picks[rng.random(picks.shape) < 0.05] = 3
    _, found = settle_specks(picks.astype(np.uint8), run_starts(picks.astype(np.uint8)), owned=True)
    assert len(found) >= 3
