"""app.perceptual: lab and oklab palettes, the perceptual assignment and median steps."""

import numpy as np
import pytest

from app import binning, ciede2000, colorspace, perceptual, perceptual_match, quantize
from testsupport.engine import colorful_hist, hist_of, noisy_image


@pytest.mark.parametrize("space", ["oklab", "lab"])
def test_perceptual_spaces_assign_no_worse_than_the_nearest_entry_in_cielab(space):
    hist = hist_of(noisy_image(seed=3))
    result = quantize.find_palette(hist, 12, space)
    lab, lab_palette = colorspace.srgb_to_lab(hist.colors), colorspace.srgb_to_lab(result.palette)
    nearest_in_lab = ((lab[:, None, :] - lab_palette[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    chosen = ciede2000.between(lab, lab_palette[result.labels])
    reference = ciede2000.between(lab, lab_palette[nearest_in_lab])
    assert np.all(chosen <= reference + 1e-9)


def test_the_median_steps_never_raise_the_weighted_mean_ciede2000():
    rng = np.random.default_rng(23)
    colors = rng.integers(0, 256, (3000, 3)).astype(np.uint8)
    lab = colorspace.srgb_to_lab(colors).astype(np.float32)
    weights = rng.integers(1, 20, len(colors)).astype(np.float64)
    palette = colors[:6]
    before = np.dot(perceptual_match.nearest_perceptual(lab, palette)[1], weights)
    after = np.dot(perceptual_match.nearest_perceptual(lab, perceptual.steps(lab, weights, palette, median=True)[0])[1], weights)
    assert after <= before


@pytest.mark.parametrize("space", ["lab", "oklab"])
def test_on_a_colorful_photo_the_median_steps_kept_lowered_the_error_over_every_color_too(monkeypatch, space):
    # Where the fine bins judge the steps (MEDIAN_SURE_GAIN), this is a measured property, not a checked one:
    # the fit does not assign every color to both palettes then. This test measures it over every color.
    hist = colorful_hist()
    starts, steps, assign = [], perceptual.steps, perceptual_match.nearest_perceptual
    passes = []  # per fit, the assignments of every color

    def recorded_steps(lab, weights, palette, median=False, grid=None):
        if median:
            starts.append(palette)
        return steps(lab, weights, palette, median, grid)

    def recorded_assign(lab, palette, *args, **kwargs):
        if lab is hist.lab:
            passes[-1] += 1
        return assign(lab, palette, *args, **kwargs)

    monkeypatch.setattr(perceptual, "steps", recorded_steps)
    monkeypatch.setattr(perceptual_match, "nearest_perceptual", recorded_assign)
    for k in (3, 8, 16):
        passes.append(0)
        fit = quantize.find_palette(hist, k, space)
        _, differences = assign(hist.lab, starts[-1], grid=hist.lattice("lab"))
        without_median = float(np.dot(differences, hist.weights) / hist.weights.sum())
        assert fit.delta_e <= without_median + 1e-9
    assert 1 in passes  # the fine bins judged the steps at least once, and every color was assigned once


def test_the_fine_bins_judge_only_where_they_are_many_times_the_coarse_ones():
    hist = colorful_hist()
    fine_bins = len(binning.means(hist, "lab", binning.FINE_BITS)[1])
    assert perceptual.judging_bins(hist, fine_bins // perceptual.MEDIAN_CHECK_FINER) is not None
    assert perceptual.judging_bins(hist, fine_bins // perceptual.MEDIAN_CHECK_FINER + 1) is None
    assert perceptual.judging_bins(hist_of(noisy_image(seed=3)), 1) is None  # few colors: every color judges
    judging = perceptual.judging_bins(hist, 1)
    good = quantize.find_palette(hist, 8, "lab").palette
    poor = np.roll(good, 1, axis=1)  # the same entries with their channels swapped
    assert perceptual.total_difference(judging, good) < perceptual.total_difference(judging, poor)
