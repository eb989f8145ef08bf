"""app.quantize: find_palette's contract on small generated pixel sets."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import binning, cancel, histograms, quantize
from testsupport.engine import blobs, hist_of, mapped_pixels, noisy_image


@pytest.mark.parametrize("k", [2, 3, 16, 255, 256, np.int64(16)])
def test_check_k_accepts_2_to_256(k):
    quantize.check_k(k)


@pytest.mark.parametrize("k", [1, 257, 0, -1, 1000, True, False, 2.0, 16.5, "16", None])
def test_check_k_refuses_others_naming_the_value(k):
    with pytest.raises(ValueError) as info:
        quantize.check_k(k)
    message = str(info.value)
    assert "2" in message and "256" in message
    assert repr(k) in message or str(k) in message


@pytest.mark.parametrize("k", [1, 257, 0, -1, True, 4.0])
def test_quantize_refuses_bad_k_before_doing_any_work(k):
    with pytest.raises(ValueError, match=r"got " + repr(k).replace(".", r"\.")):
        quantize.find_palette(hist_of(noisy_image(shape=(8, 8))), k)


def test_quantize_refuses_an_unknown_color_space():
    with pytest.raises(ValueError, match="'hsv'"):
        quantize.find_palette(hist_of(noisy_image(shape=(8, 8))), 4, color_space="hsv")


def test_quantize_refuses_an_empty_histogram():
    with pytest.raises(ValueError, match="no visible pixels"):
        quantize.find_palette(histograms.histogram(np.zeros(0, np.uint32)), 4)


@pytest.mark.parametrize("k", [2, 5, 16, 64, 256])
@pytest.mark.parametrize("space", ["rgb", "oklab", "lab"])
def test_result_has_at_most_k_colors_sorted_by_share(k, space):
    hist = hist_of(noisy_image())
    result = quantize.find_palette(hist, k, space)
    n = len(result.palette)
    assert 1 <= n <= k
    assert n == k or k == 256  # a colorful image uses every entry it is given (256 may merge)
    assert result.palette.dtype == np.uint8 and result.palette.shape == (n, 3)
    assert len({tuple(c) for c in result.palette}) == n  # no duplicate entries
    assert np.all(np.diff(result.shares) <= 0)
    assert result.shares.sum() == pytest.approx(1.0)
    assert np.all(result.shares > 0)
    assert result.labels.shape == (hist.unique_colors,)
    assert result.labels.max() < n
    # The shares are exactly the counted pixels of each entry.
    counted = np.bincount(result.labels, weights=hist.counts, minlength=n) / hist.pixels
    np.testing.assert_allclose(result.shares, counted)


def test_every_color_goes_to_its_nearest_palette_entry_in_rgb():
    hist = hist_of(noisy_image(seed=3))
    result = quantize.find_palette(hist, 12, "rgb")
    points, centers = hist.colors.astype(float), result.palette.astype(float)
    dist = ((points[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    chosen = dist[np.arange(len(points)), result.labels]
    np.testing.assert_array_equal(chosen, dist.min(axis=1))


def test_well_separated_clusters_are_found_at_their_means():
    centers = [(30, 30, 30), (220, 40, 40), (40, 200, 60), (50, 60, 220), (230, 230, 200)]
    pixels = blobs(centers, per_blob=400)
    hist = hist_of(pixels)
    result = quantize.find_palette(hist, 5)
    found = sorted(map(tuple, result.palette.astype(int)))
    for expected in sorted(centers):
        assert min(np.abs(np.subtract(f, expected)).max() for f in found) <= 3
    # each entry is the rounded weighted mean of the colors it took (a Lloyd fixed point)
    for i, color in enumerate(result.palette):
        members = result.labels == i
        mean = np.average(hist.colors[members], axis=0, weights=hist.counts[members])
        assert np.abs(mean - color).max() <= 0.5 + 1e-9
    np.testing.assert_allclose(result.shares, [0.2] * 5)


def test_fewer_unique_colors_than_k_returns_them_unchanged():
    colors = np.array([[10, 20, 30], [200, 100, 0], [0, 255, 0]], dtype=np.uint8)
    pixels = np.repeat(colors, [5, 3, 1], axis=0)
    hist = hist_of(pixels)
    for k in (3, 4, 256):
        result = quantize.find_palette(hist, k)
        np.testing.assert_array_equal(result.palette, colors)  # by share: 5, 3, 1
        np.testing.assert_allclose(result.shares, [5 / 9, 3 / 9, 1 / 9])
        np.testing.assert_array_equal(mapped_pixels(hist, result), hist.colors)
        assert result.psnr == float("inf")
        assert result.delta_e == 0.0


def test_one_color_more_than_k_merges_exactly_one_pair():
    colors = np.array([[0, 0, 0], [255, 255, 255], [250, 250, 250]], dtype=np.uint8)
    result = quantize.find_palette(hist_of(colors), 2)
    assert len(result.palette) == 2
    assert result.psnr < float("inf")


def test_more_colors_means_better_quality():
    hist = hist_of(noisy_image(seed=8))
    psnrs = [quantize.find_palette(hist, k).psnr for k in (2, 4, 8, 16, 32)]
    delta_es = [quantize.find_palette(hist, k).delta_e for k in (2, 4, 8, 16, 32)]
    assert psnrs == sorted(psnrs) and psnrs[0] < psnrs[-1] - 6
    assert delta_es == sorted(delta_es, reverse=True)


def test_quantize_is_deterministic():
    hist = hist_of(noisy_image(seed=9))
    a, b = quantize.find_palette(hist, 10), quantize.find_palette(hist_of(noisy_image(seed=9)), 10)
    np.testing.assert_array_equal(a.palette, b.palette)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.shares, b.shares)
    assert (a.psnr, a.delta_e) == (b.psnr, b.delta_e)


def test_a_very_colorful_histogram_takes_the_binned_path_and_keeps_the_contract():
    rng = np.random.default_rng(11)
    pixels = rng.integers(0, 256, (300_000, 3), dtype=np.uint8)
    hist = hist_of(pixels)
    assert hist.unique_colors > binning.EXACT_POINTS_LIMIT
    result = quantize.find_palette(hist, 16)
    assert len(result.palette) == 16
    assert result.shares.sum() == pytest.approx(1.0)
    # uniform noise: 16 centers spread out, each takes a fair part
    assert result.shares.min() > 0.02
    again = quantize.find_palette(hist, 16)
    np.testing.assert_array_equal(result.palette, again.palette)


def test_a_narrow_gamut_image_with_many_colors_still_gets_k_entries():
    # 98,304 distinct dark colors: more than EXACT_POINTS_LIMIT, but they fill few coarse bins.
    r, g, b = np.meshgrid(np.arange(64), np.arange(64), np.arange(24), indexing="ij")
    hist = hist_of(np.stack([r, g, b], axis=-1).reshape(-1, 3))
    assert hist.unique_colors > binning.EXACT_POINTS_LIMIT
    result = quantize.find_palette(hist, 256)
    # k-means over ~98k distinct points has no reason to leave entries unused; a few may merge on rounding
    assert len(result.palette) >= 0.95 * 256, len(result.palette)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    colors=st.lists(st.tuples(*[st.integers(0, 255)] * 3), min_size=1, max_size=60),
    counts=st.lists(st.integers(1, 50), min_size=60, max_size=60),
    k=st.integers(2, 40),
)
def test_any_histogram_keeps_the_contract(colors, counts, k):
    pixels = np.repeat(np.array(colors, dtype=np.uint8), counts[: len(colors)], axis=0)
    hist = hist_of(pixels)
    result = quantize.find_palette(hist, k)
    assert len(result.palette) <= min(k, hist.unique_colors)
    assert np.all(np.diff(result.shares) <= 0)
    assert result.shares.sum() == pytest.approx(1.0)
    if hist.unique_colors <= k:
        np.testing.assert_array_equal(mapped_pixels(hist, result), hist.colors)
        assert result.psnr == float("inf")
    else:
        assert result.psnr < float("inf")


def test_the_engine_and_command_line_import_without_scikit_learn_or_flask_and_the_app_imports_it_up_front():
    import subprocess
    import sys

    check = (
        "import sys\n"
        "import app.cli\n"
        "assert not {'sklearn', 'flask'} & set(sys.modules), 'imported at start-up'\n"
        "from app import create_app\n"
        "create_app({'TESTING': True})\n"
        "assert 'sklearn.cluster' in sys.modules, 'a first request would pay for the import'\n"
    )
    subprocess.run([sys.executable, "-c", check], check=True, timeout=120)


@pytest.mark.parametrize("space", ["rgb", "lab"])
def test_a_find_palette_never_cancelled_is_the_same_palette(space):
    hist = hist_of(noisy_image(seed=7))
    plain, asked = quantize.find_palette(hist, 9, space), []
    hooked = quantize.find_palette(hist, 9, space, cancelled=lambda: asked.append(1) and False)
    assert len(asked) > 3  # asked between steps, not only once
    assert np.array_equal(plain.palette, hooked.palette) and np.array_equal(plain.labels, hooked.labels)


@pytest.mark.parametrize("space", ["rgb", "oklab"])
def test_find_palette_stops_between_steps_once_cancelled(space):
    hist = hist_of(noisy_image(seed=8))
    asked = []
    with pytest.raises(cancel.Cancelled):
        quantize.find_palette(hist, 9, space, cancelled=lambda: asked.append(1) or len(asked) >= 3)
    assert len(asked) == 3
    # The hook belongs to that call only: the next one on this thread runs to the end.
    assert len(quantize.find_palette(hist, 9, space).palette) == 9
