import math

import numpy as np
import pytest

from app import curve, histograms, pipeline, quantize


def hist_of(rgb: np.ndarray) -> histograms.Histogram:
    return histograms.histogram(histograms.pack(rgb))


def noisy_gradient(width: int = 96, height: int = 96, seed: int = 0) -> np.ndarray:
    """A photo-like image with well over EXACT_COLORS_LIMIT colors, so the curve works on bins."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height) + 64], axis=-1)
    return np.clip(base + rng.normal(0, 14, base.shape), 0, 255).astype(np.uint8)


def psnr_values(found: curve.Curve) -> np.ndarray:
    return np.array([p.psnr for p in found.points])


def test_curve_covers_k_2_to_32_and_rises():
    hist = hist_of(noisy_gradient())
    assert hist.unique_colors > curve.EXACT_COLORS_LIMIT
    found = curve.error_curve(hist)
    assert [p.k for p in found.points] == list(range(2, 33))
    psnr = psnr_values(found)
    assert np.all(np.isfinite(psnr))
    # In RGB each added center can only lower the error; only palette rounding may wobble.
    assert np.all(np.diff(psnr) >= -0.05), np.diff(psnr)
    assert psnr[-1] > psnr[0] + 5
    assert found.points[-1].delta_e < found.points[0].delta_e
    assert 2 <= found.suggested_k <= 32


@pytest.mark.parametrize("color_space", ["oklab", "lab"])
def test_perceptual_curves_rise_within_tolerance(color_space):
    found = curve.error_curve(hist_of(noisy_gradient(seed=1)), color_space)
    psnr = psnr_values(found)
    delta_e = np.array([p.delta_e for p in found.points])
    # A perceptual palette lowers CIEDE2000 step by step; PSNR may give a little back
    # where the winner between the perceptual and the RGB palette changes.
    assert np.all(np.diff(delta_e) <= 0.1), np.diff(delta_e)
    assert np.all(np.diff(psnr) >= -1.0), np.diff(psnr)
    assert psnr[-1] > psnr[0] + 4
    assert 2 <= found.suggested_k <= 32


def test_curve_is_deterministic():
    hist = hist_of(noisy_gradient(seed=2))
    assert curve.error_curve(hist, "oklab") == curve.error_curve(hist, "oklab")


def test_bins_keep_weights_means_and_spread_exactly():
    rgb = noisy_gradient(seed=3)
    hist = hist_of(rgb)
    bins = curve._bin(hist)
    assert bins.weights.sum() == rgb.shape[0] * rgb.shape[1]
    # The spread is the squared distance of every pixel to the mean of its 5-bit bin.
    flat = rgb.reshape(-1, 3).astype(np.int64)
    index = ((flat[:, 0] >> 3) << 10) | ((flat[:, 1] >> 3) << 5) | (flat[:, 2] >> 3)
    used, inverse = np.unique(index, return_inverse=True)
    means = np.stack([np.bincount(inverse, weights=flat[:, i]) for i in range(3)], 1) / np.bincount(inverse)[:, None]
    assert len(used) == len(bins.weights)
    np.testing.assert_allclose(bins.rgb, means, rtol=1e-9)
    np.testing.assert_allclose(bins.spread, ((flat - means[inverse]) ** 2).sum(), rtol=1e-9)


def test_error_inside_bins_counts():
    """Ten clusters, each filling one 5-bit bin: ten centers leave exactly the spread inside the bins."""
    rng = np.random.default_rng(6)
    corners = np.array([[r, g, b] for r in (0, 96, 200) for g in (16, 160) for b in (40, 232)][:10])
    rgb = (corners[rng.integers(0, 10, 40_000)] + rng.integers(0, 8, (40_000, 3))).astype(np.uint8)
    hist = hist_of(rgb.reshape(200, 200, 3))
    assert hist.unique_colors > curve.EXACT_COLORS_LIMIT
    found = curve.error_curve(hist)
    exact = quantize.find_palette(hist, 10)
    # Uniform 0..7 in each channel: a variance of 63/12 about the mean 3.5, plus 0.5**2 as palettes are whole numbers.
    assert abs(exact.psnr - 10 * math.log10(255**2 / (63 / 12 + 0.25))) < 0.1
    for point in found.points[8:]:
        assert abs(point.psnr - exact.psnr) < 0.01, (point.k, point.psnr, exact.psnr)
    assert found.suggested_k == 10


def test_estimate_at_32_matches_the_error_of_its_own_palette():
    """With few colors the curve is exact: its PSNR is that of the palette it found."""
    rgb = noisy_gradient(40, 30, seed=4)
    hist = hist_of(rgb)
    assert hist.unique_colors <= curve.EXACT_COLORS_LIMIT
    found = curve.error_curve(hist, ks=(2, 3))
    exact = quantize.find_palette(hist, 3)
    # Different searches, same problem: within a small margin of the engine's answer.
    assert abs(found.points[1].psnr - exact.psnr) < 0.3


def test_photo_with_few_colors_is_exact_from_that_many():
    palette = np.array([[10, 20, 30], [200, 10, 10], [10, 200, 10], [10, 10, 200], [250, 250, 250]], np.uint8)
    rgb = palette[np.arange(60 * 40).reshape(40, 60) % 5]
    found = curve.error_curve(hist_of(rgb))
    for p in found.points:
        if p.k >= 5:
            assert math.isinf(p.psnr) and p.delta_e == 0
        else:
            assert math.isfinite(p.psnr) and p.delta_e > 0
    assert found.suggested_k == 5
    as_json = found.as_json()
    assert as_json["points"][3] == {"k": 5, "psnr": None, "delta_e": 0.0}


def test_single_color_photo_suggests_two():
    found = curve.error_curve(hist_of(np.full((8, 8, 3), 77, np.uint8)))
    assert all(math.isinf(p.psnr) for p in found.points)
    assert found.suggested_k == 2


def test_kneedle_on_a_logarithmic_curve():
    ks = list(range(2, 33))
    # For y = log k scaled to 0..1 the knee is where 30 / (k ln 16) = 1, k = 10.8.
    assert curve.suggest_k(ks, [math.log(k) for k in ks]) in (10, 11)
    # Scale and offset do not matter: PSNR in dB is an affine function of log MSE.
    assert curve.suggest_k(ks, [20 + 3 * math.log(k) for k in ks]) in (10, 11)


def test_kneedle_ignores_small_dips_and_handles_flat_and_straight_curves():
    ks = list(range(2, 33))
    smooth = [20 + 3 * math.log(k) for k in ks]
    dipped = list(smooth)
    dipped[20] -= 0.3
    assert curve.suggest_k(ks, dipped) == curve.suggest_k(ks, smooth)
    assert curve.suggest_k(ks, [25.0] * len(ks)) == 2
    assert curve.suggest_k(ks, [float(k) for k in ks]) == 32
    sharp = [10.0 if k < 6 else 30.0 for k in ks]
    assert curve.suggest_k(ks, sharp) == 6
    assert curve.suggest_k(ks, [20.0, 25.0] + [math.inf] * 29) == 4


def test_bad_arguments_are_refused():
    hist = hist_of(noisy_gradient(16, 16))
    with pytest.raises(ValueError, match="color_space"):
        curve.error_curve(hist, "hsv")
    with pytest.raises(ValueError, match="ks"):
        curve.error_curve(hist, ks=(5, 3))
    with pytest.raises(ValueError, match="ks"):
        curve.error_curve(hist, ks=(1, 2))


@pytest.mark.parametrize("name, color_space", [("kodim23.png", "rgb"), ("china.jpg", "rgb"), ("flower.jpg", "oklab")])
def test_corpus_curve_estimates_the_engine(corpus, name, color_space):
    prepared = pipeline.prepare((corpus / name).read_bytes(), 50_000_000)
    found = curve.error_curve(prepared.hist, color_space)
    psnr = psnr_values(found)
    assert np.all(np.diff(psnr) >= (-0.05 if color_space == "rgb" else -1.0))
    assert 4 <= found.suggested_k <= 24
    for k in (5, 16, 32):
        exact = quantize.find_palette(prepared.hist, k, color_space)
        point = found.points[k - 2]
        assert abs(point.psnr - exact.psnr) < 1.0, (k, point.psnr, exact.psnr)
        assert abs(point.delta_e - exact.delta_e) < 1.0, (k, point.delta_e, exact.delta_e)
