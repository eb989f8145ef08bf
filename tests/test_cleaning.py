"""Cleaning regions: the min_region guarantee for any image (hypothesis), determinism, and the merge rule."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from scipy import ndimage

from app import cleaning, colorspace, histograms, merging, pipeline, quantize, summary
from app.borders import borders
from app.regions import CLEAR, label_regions
from app.thin_regions import deep_enough

PROPERTY = settings(max_examples=150, deadline=None, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow])


def region_sizes(indices: np.ndarray, visible: np.ndarray | None = None) -> list[np.ndarray]:
    """Sizes of the 4-connected regions of each index, by scipy.ndimage.label (an independent oracle)."""
    sizes = []
    for value in np.unique(indices if visible is None else indices[visible]):
        mask = indices == value
        if visible is not None:
            mask &= visible
        labelled, count = ndimage.label(mask)
        sizes.append(np.bincount(labelled.ravel())[1:])
    return sizes


def count_regions(indices, visible=None) -> int:
    return int(sum(len(s) for s in region_sizes(indices, visible)))


@st.composite
def images(draw, alpha: bool = False) -> np.ndarray:
    """Up to 20x20: few flat colors with specks, pure noise, or a gradient."""
    height, width = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    style = draw(st.sampled_from(["palette", "noise", "gradient"]))
    if style == "palette":
        palette = draw(arrays(np.uint8, (draw(st.integers(1, 8)), 3)))
        picks = draw(arrays(np.intp, (height, width), elements=st.integers(0, len(palette) - 1)))
        image = palette[picks]
    elif style == "noise":
        image = draw(arrays(np.uint8, (height, width, 3)))
    else:
        y, x = np.mgrid[0:height, 0:width]
        image = (np.stack([x * 12, y * 12, (x + y) * 6], axis=2) + draw(st.integers(0, 255))).astype(np.uint8)
    return np.ascontiguousarray(image)


def kmeans_map(pixels: np.ndarray, k: int, alpha=None) -> tuple[summary.PaletteFit, np.ndarray, histograms.Histogram]:
    keys = histograms.pack(pixels)
    visible = keys if alpha is None else keys[alpha.ravel() > 0]
    hist = histograms.histogram(visible)
    fit = quantize.find_palette(hist, k)
    return fit, summary.index_map(keys, hist, fit).reshape(pixels.shape[:2]), hist


@PROPERTY
@given(pixels=images(), k=st.integers(2, 12), min_region=st.integers(0, 450))
def test_no_region_is_smaller_than_min_region_unless_the_whole_image_is(pixels, k, min_region):
    fit, indices, hist = kmeans_map(pixels, k)
    cleaned = cleaning.clean(indices, fit.palette, pixels, None, min_region, hist, histograms.pack(pixels), fit.labels)
    sizes = np.concatenate(region_sizes(cleaned.indices))
    if pixels.shape[0] * pixels.shape[1] < min_region:
        assert len(sizes) == 1, "an image smaller than min_region must become one region"
    else:
        assert sizes.min() >= min_region, f"a region of {sizes.min()} px survived min_region={min_region}"
    assert len(cleaned.result.palette) <= min(k, len(fit.palette))
    assert cleaned.indices.max() < len(cleaned.result.palette)
    assert cleaned.regions_after == len(sizes)
    assert cleaned.regions_before == count_regions(indices)
    # The same input gives the same map and palette; without color_labels too.
    again = cleaning.clean(indices.copy(), fit.palette, pixels.copy(), None, min_region)
    assert np.array_equal(again.indices, cleaned.indices)
    assert np.array_equal(again.result.palette, cleaned.result.palette)
    assert again.result.psnr == cleaned.result.psnr and again.result.delta_e == cleaned.result.delta_e


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
    expected_delta = colorspace.ciede2000(lab, shown_lab).astype(np.float64).mean()
    assert cleaned.result.delta_e == pytest.approx(expected_delta, rel=1e-5, abs=1e-6)
    shares = np.bincount(cleaned.indices.ravel(), minlength=len(cleaned.result.palette)) / cleaned.indices.size
    assert np.allclose(cleaned.result.shares, shares)
    assert (np.diff(cleaned.result.shares) <= 0).all(), "entries must come sorted by share"


@PROPERTY
@given(pixels=images(), k=st.integers(2, 12), min_region=st.integers(1, 60), data=st.data())
def test_with_transparency_only_walled_in_patches_stay_small(pixels, k, min_region, data):
    alpha = data.draw(arrays(np.uint8, pixels.shape[:2], elements=st.sampled_from([0, 255])))
    if not alpha.any():
        alpha[0, 0] = 255
    fit, indices, hist = kmeans_map(pixels, k, alpha)
    cleaned = cleaning.clean(indices, fit.palette, pixels, alpha, min_region, hist, histograms.pack(pixels), fit.labels)
    visible = alpha > 0
    patches, count = ndimage.label(visible)
    patch_size = np.bincount(patches.ravel())
    for value in np.unique(cleaned.indices[visible]):
        labelled, n = ndimage.label((cleaned.indices == value) & visible)
        for region in range(1, n + 1):
            mask = labelled == region
            if mask.sum() < min_region:
                patch = np.unique(patches[mask])
                assert len(patch) == 1 and mask.sum() == patch_size[patch[0]], \
                    "a small region survived although its patch had room to merge"


def test_a_speck_joins_the_neighbour_nearest_its_own_color_not_its_palette_entry():
    # A 2-color palette; the speck's palette entry (dark) is far from both neighbours, but its
    # own pixels are sky blue: it must join the blue region, although it shares less border with it.
    pixels = np.zeros((6, 9, 3), dtype=np.uint8)
    pixels[:, :4] = (20, 120, 30)  # green, left
    pixels[:, 4:] = (90, 160, 240)  # blue, right
    pixels[2:4, 3:5] = (100, 170, 250)  # a 2x2 speck across the edge, bluish
    palette = np.array([[20, 120, 30], [90, 160, 240], [0, 0, 0]], dtype=np.uint8)
    indices = np.where(pixels[..., 0] == 20, 0, 1).astype(np.uint8)
    indices[2:4, 3:5] = 2
    indices[2:4, 3] = 2
    cleaned = cleaning.clean(indices, palette, pixels, None, 5)
    blue = int(np.flatnonzero((cleaned.result.palette[:, 2] > 200))[0])
    assert (cleaned.indices[2:4, 3:5] == blue).all()
    assert cleaned.regions_after == 2


def test_on_equal_colors_the_longest_border_wins():
    pixels = np.zeros((5, 8, 3), dtype=np.uint8)
    pixels[:, :5] = (200, 0, 0)
    pixels[:, 5:] = (0, 0, 200)
    pixels[2, 4] = (100, 0, 100)  # midway: equally far from red and blue
    indices = np.where(pixels[..., 0] == 200, 0, 1).astype(np.uint8)
    indices[2, 4] = 2
    palette = np.array([[200, 0, 0], [0, 0, 200], [100, 0, 100]], dtype=np.uint8)
    cleaned = cleaning.clean(indices, palette, pixels, None, 2)
    # Three of its four sides touch red, one touches blue.
    assert tuple(cleaned.result.palette[cleaned.indices[2, 4]]) == tuple(cleaned.result.palette[cleaned.indices[2, 3]])


def test_the_refit_moves_each_entry_to_the_mean_of_its_pixels():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (30, 40, 3)).astype(np.uint8)
    fit, indices, _ = kmeans_map(pixels, 4)
    cleaned = cleaning.clean(indices, fit.palette, pixels, None, 20)
    for entry, color in enumerate(cleaned.result.palette):
        mask = cleaned.indices == entry
        assert np.abs(pixels[mask].mean(axis=0) - color).max() <= 0.5 + 1e-9


def test_a_long_chain_of_growing_specks_ends_in_few_rounds_and_in_one_region():
    # Stripes 1, 2, 3, ... pixels wide, alternating colors: every stripe is small.
    widths = np.arange(1, 40)
    pattern = np.repeat(np.arange(len(widths)) % 2, widths)
    indices = np.tile(pattern, (1, 1)).astype(np.uint8)
    pixels = np.where(indices[..., None] == 0, 10, 240).astype(np.uint8).repeat(3, axis=2)
    cleaned = cleaning.clean(indices, np.array([[10] * 3, [240] * 3], np.uint8), pixels, None, indices.size + 1)
    assert cleaned.regions_after == 1 and len(cleaned.result.palette) == 1


def test_zero_and_one_change_nothing_but_the_refit():
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (12, 12, 3)).astype(np.uint8)
    fit, indices, _ = kmeans_map(pixels, 5)
    for min_region in (0, 1):
        cleaned = cleaning.clean(indices, fit.palette, pixels, None, min_region)
        assert cleaned.regions_after == cleaned.regions_before == count_regions(indices)
        assert cleaned.result.psnr >= fit.psnr - 1e-9  # a Lloyd step never adds error


@pytest.mark.parametrize("bad", [-1, cleaning.MAX_MIN_REGION + 1, 2.5, "4", True, None])
def test_a_bad_min_region_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="min_region"):
        cleaning.check_min_region(bad)


def test_dithering_and_cleaning_do_not_mix():
    with pytest.raises(ValueError, match="min_region.*dither"):
        pipeline.Options(k=4, dither="floyd-steinberg", min_region=10).check()


def test_the_pipeline_cleans_at_full_size_then_shrinks_the_preview():
    rng = np.random.default_rng(3)
    pixels = np.kron(rng.integers(0, 256, (8, 10, 3)), np.ones((12, 12, 1))).astype(np.uint8)
    pixels = np.clip(pixels.astype(int) + rng.normal(0, 25, pixels.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    prepared = pipeline.prepare(buffer.getvalue(), 10**6)
    full = pipeline.render(prepared, pipeline.Options(k=6, min_region=30))
    preview = pipeline.render(prepared, pipeline.Options(k=6, min_region=30, max_side=40))
    plain = pipeline.render(prepared, pipeline.Options(k=6))
    assert full.regions.after < full.regions.before == count_regions(
        pipeline.palette_and_indices(prepared, pipeline.Options(k=6))[1])
    assert preview.regions == full.regions
    assert np.array_equal(full.result.palette, preview.result.palette) and full.result.psnr == preview.result.psnr
    assert plain.regions is None
    with Image.open(io.BytesIO(full.data)) as image:
        indices = np.asarray(image)
    assert min(np.concatenate(region_sizes(indices))) >= 30
    assert full.data == pipeline.render(prepared, pipeline.Options(k=6, min_region=30)).data


@settings(max_examples=40, deadline=None, database=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
@given(pixels=images(), k=st.integers(2, 12), min_region=st.integers(2, 120), exact=st.booleans())
def test_rounds_worked_in_two_halves_side_by_side_merge_as_in_one_piece(pixels, k, min_region, exact):
    fit, indices, hist = kmeans_map(pixels, k)
    exact_rounds, halves_entries = merging.EXACT_ROUNDS, merging._HALVES_ENTRIES
    merging.EXACT_ROUNDS = exact_rounds if exact else 0
    try:
        whole = cleaning.clean(indices, fit.palette, pixels, None, min_region, hist, histograms.pack(pixels), fit.labels)
        merging._HALVES_ENTRIES = 1  # every round in halves, as the first ones at 12 MP
        halves = cleaning.clean(indices, fit.palette, pixels, None, min_region, hist, histograms.pack(pixels), fit.labels)
    finally:
        merging.EXACT_ROUNDS, merging._HALVES_ENTRIES = exact_rounds, halves_entries
    assert np.array_equal(halves.indices, whole.indices)
    assert np.array_equal(halves.result.palette, whole.result.palette) and halves.regions_after == whole.regions_after


@pytest.mark.parametrize("halves_from", [1, 10**9])
def test_a_map_read_from_a_lookup_row_by_row_cleans_as_the_array_does(monkeypatch, halves_from):
    rng = np.random.default_rng(5)
    pixels = np.kron(rng.integers(0, 256, (9, 7, 3)), np.ones((6, 6, 1))).astype(np.uint8)
    pixels = np.clip(pixels.astype(int) + rng.normal(0, 30, pixels.shape), 0, 255).astype(np.uint8)
    fit, indices, hist = kmeans_map(pixels, 6)
    keys = histograms.pack(pixels)
    lookup = pipeline.LookedUp(keys.reshape(indices.shape), summary.lookup_table(hist, fit))
    monkeypatch.setattr(cleaning, "_HALVES_PIXELS", halves_from)  # 1: in two halves side by side, as at 12 MP
    from_lookup = cleaning.clean(lookup, fit.palette, pixels, None, 12, hist, keys, fit.labels)
    from_array = cleaning.clean(indices, fit.palette, pixels, None, 12, hist, keys, fit.labels)
    assert np.array_equal(from_lookup.indices, from_array.indices)
    assert from_lookup.result.psnr == from_array.result.psnr and from_lookup.regions_after == from_array.regions_after


@settings(max_examples=60, deadline=None, database=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
@given(pixels=images(), k=st.integers(2, 12), min_region=st.integers(0, 450))
def test_the_chain_halving_rounds_keep_the_guarantee_too(pixels, k, min_region):
    fit, indices, hist = kmeans_map(pixels, k)
    exact_rounds = merging.EXACT_ROUNDS
    merging.EXACT_ROUNDS = 0  # every round by pointer trees, as after a long chain
    try:
        cleaned = cleaning.clean(indices, fit.palette, pixels, None, min_region)
    finally:
        merging.EXACT_ROUNDS = exact_rounds
    sizes = np.concatenate(region_sizes(cleaned.indices))
    assert len(sizes) == 1 if pixels.shape[0] * pixels.shape[1] < min_region else sizes.min() >= min_region
    assert cleaned.regions_after == len(sizes)


def region_depths(indices: np.ndarray) -> list[float]:
    """Each region's largest distance from a pixel to its border (image edge included), one region at a time."""
    depths = []
    for value in np.unique(indices):
        labelled, count = ndimage.label(indices == value)
        for number in range(1, count + 1):
            mask = np.pad(labelled == number, 1)
            inner = mask.copy()
            inner[1:-1, 1:-1] &= mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
            inner[[0, 1, -2, -1], :] = False
            inner[:, [0, 1, -2, -1]] = False
            depths.append(float(ndimage.distance_transform_edt(inner).max()))
    return depths


@settings(max_examples=60, deadline=None, database=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
@given(pixels=images(), k=st.integers(2, 8), min_region=st.integers(0, 30), min_depth=st.sampled_from([1.0, 1.5, 2.0, 3.0]))
def test_with_min_depth_no_region_is_thinner_unless_it_is_the_whole_image(pixels, k, min_region, min_depth):
    fit, indices, hist = kmeans_map(pixels, k)
    cleaned = cleaning.clean(indices, fit.palette, pixels, None, min_region, min_depth=min_depth)
    depths = region_depths(cleaned.indices)
    assert len(depths) == 1 or min(depths) >= min_depth, f"a region {min(depths)} deep survived min_depth={min_depth}"
    sizes = np.concatenate(region_sizes(cleaned.indices))
    assert len(sizes) == 1 or sizes.min() >= min_region
    assert cleaned.regions_after == len(sizes)
    shown = cleaned.result.palette[cleaned.indices]
    mse = ((pixels.astype(np.float64) - shown) ** 2).mean()
    assert cleaned.result.psnr == pytest.approx(np.inf if mse == 0 else 10 * np.log10(255**2 / mse), abs=1e-9)
    again = cleaning.clean(indices.copy(), fit.palette, pixels.copy(), None, min_region, min_depth=min_depth)
    assert np.array_equal(again.indices, cleaned.indices) and again.result.delta_e == cleaned.result.delta_e


THIN_WITH_HOLES = """
import sys
import numpy as np
from app import cleaning, pipeline
from testsupport.corpus import CORPUS
prepared = pipeline.prepare((CORPUS / "kodim05.png").read_bytes(), 10**8)
rgb = prepared.decoded.rgb
blocks = np.random.default_rng(1).random((rgb.shape[0] // 16 + 1, rgb.shape[1] // 16 + 1)) < 0.2
alpha = np.where(np.kron(blocks, np.ones((16, 16)))[:rgb.shape[0], :rgb.shape[1]], 0, 255).astype(np.uint8)
fit, indices = pipeline.palette_and_indices(prepared, pipeline.Options(k=8))
cleaned = cleaning.clean(indices.reshape(rgb.shape[:2]), fit.palette, rgb, alpha, 10, min_depth=3.0)
np.save(sys.stdout.buffer, np.where(alpha > 0, cleaned.indices.astype(np.int16), -1))
"""


def test_thin_regions_beside_transparent_holes_end_and_keep_the_guarantee():
    """A thin region that joined a large one of its color left the group wanting to merge with no borders of its
    own listed: the merge rounds waited for it forever (kodim05 with transparent 16 px blocks, min_depth 3)."""
    done = subprocess.run([sys.executable, "-c", THIN_WITH_HOLES], capture_output=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    shown = np.load(io.BytesIO(done.stdout))
    visible = shown >= 0
    labelled, count = ndimage.label(visible)
    walled_in = np.bincount(labelled.ravel())
    for value in np.unique(shown[visible]):
        patches, patch_count = ndimage.label(shown == value)
        for number in range(1, patch_count + 1):
            patch = patches == number
            if patch.sum() < 10:  # a small patch is allowed only when it fills its walled-in part of the photo
                assert walled_in[labelled[patch][0]] == patch.sum()
    values = np.where(visible, shown, CLEAR).astype(np.uint16)
    regions = label_regions(values)
    thin = regions.visible & ~deep_enough(values, regions, 3.0)
    assert not len(borders(regions, thin, both_ways=False).source), "a thin region with a neighbour survived"
