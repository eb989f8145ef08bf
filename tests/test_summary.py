"""app.summary: a fit's order by share, PSNR, CIEDE2000 and index maps."""

import numpy as np
import pytest

from app import ciede2000, colorspace, histograms, quantize, summary
from testsupport.engine import hist_of, noisy_image


def test_hex_codes_are_the_palette_in_lowercase_hex():
    result = quantize.find_palette(hist_of(noisy_image()), 8)
    codes = result.hex_codes()
    assert len(codes) == len(result.palette)
    for code, color in zip(codes, result.palette):
        assert code == "#" + "".join(f"{int(v):02x}" for v in color)
        assert len(code) == 7


def test_hex_codes_of_known_colors():
    pixels = np.array([[255, 0, 16]] * 3 + [[0, 171, 205]], dtype=np.uint8)
    result = quantize.find_palette(hist_of(pixels), 2)
    assert result.hex_codes() == ["#ff0010", "#00abcd"]


def test_ties_in_share_are_broken_by_color_so_order_is_stable():
    pixels = np.array([[200, 0, 0], [0, 0, 200], [0, 200, 0]] * 4, dtype=np.uint8)
    result = quantize.find_palette(hist_of(pixels), 4)
    assert result.hex_codes() == ["#0000c8", "#00c800", "#c80000"]
    np.testing.assert_allclose(result.shares, [1 / 3] * 3)


def test_psnr_and_delta_e_match_a_direct_computation_over_pixels():
    image = noisy_image(seed=5)
    hist = hist_of(image)
    result = quantize.find_palette(hist, 6)
    pixels = image.reshape(-1, 3)
    lut = dict(zip(hist.keys.tolist(), result.palette[result.labels].tolist()))
    approx = np.array([lut[key] for key in histograms.pack(pixels).tolist()], dtype=np.uint8)
    mse = ((pixels.astype(float) - approx) ** 2).mean()
    assert result.psnr == pytest.approx(10 * np.log10(255**2 / mse), rel=1e-9)
    delta_e = ciede2000.between(colorspace.srgb_to_lab(pixels), colorspace.srgb_to_lab(approx)).mean()
    assert result.delta_e == pytest.approx(delta_e, rel=1e-6)  # the engine measures in float32
    assert 15 < result.psnr < 40 and 0 < result.delta_e < 30


def test_psnr_of_a_known_error():
    hist = hist_of(np.array([[100, 100, 100], [120, 120, 120], [255, 0, 0]] * 2, dtype=np.uint8))
    result = quantize.find_palette(hist, 2)
    # 100 and 120 merge into 110: each off by 10 in three channels, red exact.
    np.testing.assert_array_equal(result.palette, [[110, 110, 110], [255, 0, 0]])
    mse = (4 * 3 * 100) / (6 * 3)
    assert result.psnr == pytest.approx(10 * np.log10(255**2 / mse))


def test_index_map_is_a_lookup_of_every_pixel():
    image = noisy_image(seed=12, shape=(20, 30))
    keys = histograms.pack(image)
    hist = histograms.histogram(keys)
    result = quantize.find_palette(hist, 7)
    indices = summary.index_map(keys, hist, result)
    assert indices.shape == keys.shape and indices.dtype == np.uint8
    position = np.searchsorted(hist.keys, keys)
    np.testing.assert_array_equal(indices, result.labels[position])


def test_measure_map_figures_for_a_given_index_map():
    rgb = np.array([[[0, 0, 0], [10, 10, 10]], [[255, 255, 255], [245, 245, 245]]], dtype=np.uint8)
    palette = np.array([[255, 255, 255], [0, 0, 0], [9, 9, 9]], dtype=np.uint8)  # entry 2 unused
    indices = np.array([[1, 1], [0, 0]], dtype=np.uint8)
    result, ranked = summary.measure_map(rgb, None, indices, palette)
    assert result.hex_codes() == ["#000000", "#ffffff"]  # tie broken by color; unused entry dropped
    np.testing.assert_array_equal(result.palette[ranked], [[[0, 0, 0]] * 2, [[255, 255, 255]] * 2])
    assert result.psnr == pytest.approx(10 * np.log10(255**2 / 50))


def test_measure_map_ignores_transparent_pixels():
    rgb = np.array([[[0, 0, 0], [90, 0, 0]]], dtype=np.uint8)
    alpha = np.array([[255, 0]], dtype=np.uint8)
    palette = np.array([[0, 0, 0]], dtype=np.uint8)
    result, _ = summary.measure_map(rgb, alpha, np.zeros((1, 2), np.uint8), palette)
    assert result.psnr == float("inf")
    np.testing.assert_allclose(result.shares, [1.0])


@pytest.mark.parametrize(("photo", "ks"), [("kodim23.png", (2, 5, 16, 33, 64)), ("china.jpg", (3, 24)),
                                           ("cam_xiaomi_mi9t_12mp_orient6.jpg", (8, 47))])
def test_delta_e_measured_on_first_reading_is_the_figure_measured_with_the_palette(corpus, photo, ks):
    from app import pipeline

    hist = pipeline.prepare((corpus / photo).read_bytes(), 10**9).hist
    for k in ks:
        now, later = quantize.find_palette(hist, k), quantize.find_palette(hist, k, measure_delta_e=False)
        assert now.delta_e_measured and not later.delta_e_measured
        for name in ("palette", "shares", "labels"):
            np.testing.assert_array_equal(getattr(now, name), getattr(later, name))
        assert later.psnr == now.psnr
        assert later.delta_e == now.delta_e, k  # the very same float, not merely close
        assert later.delta_e_measured


def test_delta_e_measured_later_is_the_same_when_entries_merge():
    # Two entries of one color (centers that rounded alike) merge into one; the figure must not move.
    hist = hist_of(noisy_image(seed=11))
    palette = np.array([[40, 60, 80], [200, 180, 20], [40, 60, 80], [120, 120, 120]], dtype=np.uint8)
    labels = np.arange(hist.unique_colors) % len(palette)
    differences = ciede2000.to_entries(hist.lab, colorspace.srgb_to_lab(palette).astype(np.float32), labels)
    now = summary.summarize(hist, palette, labels, differences)
    later = summary.summarize(hist, palette, labels, measure_delta_e=False)
    assert len(now.palette) == 3 and not later.delta_e_measured
    assert later.delta_e == now.delta_e


def test_a_photo_with_fewer_colors_than_k_measures_later_too_and_perceptual_palettes_measure_anyway():
    few = hist_of(np.array([[0, 0, 0], [255, 255, 255], [10, 200, 30]], dtype=np.uint8))
    later = quantize.find_palette(few, 4, measure_delta_e=False)
    assert not later.delta_e_measured and later.delta_e == 0.0
    hist = hist_of(noisy_image(seed=12))
    lab = quantize.find_palette(hist, 5, "lab", measure_delta_e=False)
    assert lab.delta_e_measured and lab.delta_e == quantize.find_palette(hist, 5, "lab").delta_e


def test_a_fit_takes_delta_e_or_a_way_to_measure_it():
    parts = dict(palette=np.zeros((1, 3), np.uint8), shares=np.ones(1), labels=np.zeros(1, np.uint8), psnr=30.0)
    with pytest.raises(ValueError, match="either delta_e or measure_delta_e"):
        summary.PaletteFit(**parts)
    with pytest.raises(ValueError, match="either delta_e or measure_delta_e"):
        summary.PaletteFit(**parts, delta_e=1.0, measure_delta_e=lambda: 1.0)
