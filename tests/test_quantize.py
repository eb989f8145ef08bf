"""app.quantize: the k-means engine on small generated pixel sets."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import colorspace, quantize


def hist_of(rgb) -> quantize.Histogram:
    return quantize.histogram(quantize.pack(np.asarray(rgb, dtype=np.uint8)))


def noisy_image(seed=0, shape=(96, 128)) -> np.ndarray:
    """A smooth gradient with noise: thousands of distinct colors."""
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h) + 64], axis=-1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def blobs(centers, per_blob=500, spread=6, seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = [np.clip(rng.normal(c, spread, (per_blob, 3)), 0, 255) for c in centers]
    return np.rint(np.concatenate(pts)).astype(np.uint8)


def mapped_pixels(hist, result):
    return result.palette[result.labels]


# --- packing and the histogram ---------------------------------------------------------------


def test_pack_and_unpack_are_inverse():
    colors = np.array([[0, 0, 0], [255, 255, 255], [1, 2, 3], [255, 0, 128]], dtype=np.uint8)
    keys = quantize.pack(colors)
    assert keys.dtype == np.uint32
    assert keys.tolist() == [0x000000, 0xFFFFFF, 0x010203, 0xFF0080]
    np.testing.assert_array_equal(quantize.unpack(keys), colors)


def test_pack_flattens_an_image():
    image = noisy_image(shape=(7, 5))
    keys = quantize.pack(image)
    assert keys.shape == (35,)
    np.testing.assert_array_equal(quantize.unpack(keys).reshape(7, 5, 3), image)


def test_histogram_counts_distinct_colors_and_pixels():
    pixels = np.array([[1, 2, 3]] * 5 + [[0, 0, 0]] * 2 + [[255, 255, 255]], dtype=np.uint8)
    hist = hist_of(pixels)
    assert hist.unique_colors == 3
    assert hist.pixels == 8
    assert hist.keys.tolist() == [0x000000, 0x010203, 0xFFFFFF]  # ascending
    assert hist.counts.tolist() == [2, 5, 1]
    np.testing.assert_array_equal(hist.colors, [[0, 0, 0], [1, 2, 3], [255, 255, 255]])


def test_histogram_of_a_generated_image_matches_numpy_unique():
    image = noisy_image()
    hist = hist_of(image)
    unique, counts = np.unique(image.reshape(-1, 3), axis=0, return_counts=True)
    assert hist.unique_colors == len(unique) > 1000
    assert hist.pixels == image.shape[0] * image.shape[1]
    np.testing.assert_array_equal(hist.colors, unique)  # both in 0xRRGGBB order
    np.testing.assert_array_equal(hist.counts, counts)


# --- k bounds --------------------------------------------------------------------------------


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
        quantize.find_palette(quantize.histogram(np.zeros(0, np.uint32)), 4)


# --- results ---------------------------------------------------------------------------------


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


def test_every_color_goes_to_its_nearest_palette_entry_in_rgb():
    hist = hist_of(noisy_image(seed=3))
    result = quantize.find_palette(hist, 12, "rgb")
    points, centers = hist.colors.astype(float), result.palette.astype(float)
    dist = ((points[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    chosen = dist[np.arange(len(points)), result.labels]
    np.testing.assert_array_equal(chosen, dist.min(axis=1))


@pytest.mark.parametrize("space", ["oklab", "lab"])
def test_perceptual_spaces_assign_no_worse_than_the_nearest_entry_in_cielab(space):
    hist = hist_of(noisy_image(seed=3))
    result = quantize.find_palette(hist, 12, space)
    lab, lab_palette = colorspace.srgb_to_lab(hist.colors), colorspace.srgb_to_lab(result.palette)
    nearest_in_lab = ((lab[:, None, :] - lab_palette[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    chosen = colorspace.ciede2000(lab, lab_palette[result.labels])
    reference = colorspace.ciede2000(lab, lab_palette[nearest_in_lab])
    assert np.all(chosen <= reference + 1e-9)


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


def test_psnr_and_delta_e_match_a_direct_computation_over_pixels():
    image = noisy_image(seed=5)
    hist = hist_of(image)
    result = quantize.find_palette(hist, 6)
    pixels = image.reshape(-1, 3)
    lut = dict(zip(hist.keys.tolist(), result.palette[result.labels].tolist()))
    approx = np.array([lut[key] for key in quantize.pack(pixels).tolist()], dtype=np.uint8)
    mse = ((pixels.astype(float) - approx) ** 2).mean()
    assert result.psnr == pytest.approx(10 * np.log10(255**2 / mse), rel=1e-9)
    delta_e = colorspace.ciede2000(colorspace.srgb_to_lab(pixels), colorspace.srgb_to_lab(approx)).mean()
    assert result.delta_e == pytest.approx(delta_e, rel=1e-6)  # the engine measures in float32
    assert 15 < result.psnr < 40 and 0 < result.delta_e < 30


def test_psnr_of_a_known_error():
    hist = hist_of(np.array([[100, 100, 100], [120, 120, 120], [255, 0, 0]] * 2, dtype=np.uint8))
    result = quantize.find_palette(hist, 2)
    # 100 and 120 merge into 110: each off by 10 in three channels, red exact.
    np.testing.assert_array_equal(result.palette, [[110, 110, 110], [255, 0, 0]])
    mse = (4 * 3 * 100) / (6 * 3)
    assert result.psnr == pytest.approx(10 * np.log10(255**2 / mse))


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
    assert hist.unique_colors > quantize.EXACT_POINTS_LIMIT
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
    assert hist.unique_colors > quantize.EXACT_POINTS_LIMIT
    result = quantize.find_palette(hist, 256)
    # k-means over ~98k distinct points has no reason to leave entries unused; a few may merge on rounding
    assert len(result.palette) >= 0.95 * 256, len(result.palette)


def test_index_map_is_a_lookup_of_every_pixel():
    image = noisy_image(seed=12, shape=(20, 30))
    keys = quantize.pack(image)
    hist = quantize.histogram(keys)
    result = quantize.find_palette(hist, 7)
    indices = quantize.index_map(keys, hist, result)
    assert indices.shape == keys.shape and indices.dtype == np.uint8
    position = np.searchsorted(hist.keys, keys)
    np.testing.assert_array_equal(indices, result.labels[position])


def test_nearest_agrees_between_the_brute_force_and_the_kd_tree():
    rng = np.random.default_rng(13)
    points = rng.uniform(0, 255, (5000, 3))
    centers = rng.uniform(0, 255, (64, 3))
    tree = quantize.nearest(points, centers)  # > 32 centers: k-d tree
    brute = quantize.nearest(points, centers[:32])  # 32 centers: chunked brute force
    dist = ((points[:, None] - centers[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(tree, dist.argmin(axis=1))
    np.testing.assert_array_equal(brute, dist[:, :32].argmin(axis=1))


def test_measure_map_figures_for_a_given_index_map():
    rgb = np.array([[[0, 0, 0], [10, 10, 10]], [[255, 255, 255], [245, 245, 245]]], dtype=np.uint8)
    palette = np.array([[255, 255, 255], [0, 0, 0], [9, 9, 9]], dtype=np.uint8)  # entry 2 unused
    indices = np.array([[1, 1], [0, 0]], dtype=np.uint8)
    result, ranked = quantize.measure_map(rgb, None, indices, palette)
    assert result.hex_codes() == ["#000000", "#ffffff"]  # tie broken by color; unused entry dropped
    np.testing.assert_array_equal(result.palette[ranked], [[[0, 0, 0]] * 2, [[255, 255, 255]] * 2])
    assert result.psnr == pytest.approx(10 * np.log10(255**2 / 50))


def test_measure_map_ignores_transparent_pixels():
    rgb = np.array([[[0, 0, 0], [90, 0, 0]]], dtype=np.uint8)
    alpha = np.array([[255, 0]], dtype=np.uint8)
    palette = np.array([[0, 0, 0]], dtype=np.uint8)
    result, _ = quantize.measure_map(rgb, alpha, np.zeros((1, 2), np.uint8), palette)
    assert result.psnr == float("inf")
    np.testing.assert_allclose(result.shares, [1.0])


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


@pytest.mark.parametrize("photo", ["china.jpg", "kodim20.png"])  # binned and exact paths
def test_what_the_histogram_keeps_for_later_palettes_stays_within_its_accounting(corpus, photo):
    from app import pipeline

    hist = pipeline.prepare((corpus / photo).read_bytes(), 50_000_000).hist
    for space in quantize.COLOR_SPACES:
        for k in (2, 16, 256):
            quantize.find_palette(hist, k, space)
    for k in range(2, 65):  # the page's slider: every RGB k it draws keeps its bins and seeds
        quantize.find_palette(hist, k, "rgb", measure_delta_e=False)
    held = hist.keys.nbytes + hist.counts.nbytes + hist.work_bytes
    assert held <= quantize.CACHED_BYTES_PER_COLOR * hist.unique_colors
    assert hist.work_bytes > 0


def test_a_histogram_counted_in_parts_on_several_cores_matches_numpy_unique():
    rng = np.random.default_rng(21)
    keys = rng.integers(0, 1 << 12, 300_000).astype(np.uint32) * 4099 % (1 << 24)  # repeats across the parts
    hist = quantize.histogram(keys)
    present, counts = np.unique(keys, return_counts=True)
    np.testing.assert_array_equal(hist.keys, present)
    np.testing.assert_array_equal(hist.counts, counts)
    assert hist.keys.dtype == np.uint32 and hist.counts.dtype == np.int64


def test_kmeans_plusplus_picks_the_seeds_scikit_learn_picks():
    from sklearn.cluster import kmeans_plusplus as sklearn_kmeans_plusplus

    rng = np.random.default_rng(7)
    points = (rng.random((3000, 3)) * 255).astype(np.float32)
    weights = rng.integers(1, 50, len(points)).astype(np.float64)
    for k in (2, 16, 100):
        expected, _ = sklearn_kmeans_plusplus(points, k, sample_weight=weights, random_state=11)
        np.testing.assert_allclose(quantize.kmeans_plusplus(points, k, weights, 11), expected, atol=1e-4)


def test_kmeans_plusplus_seeds_for_k_are_the_head_of_the_seeds_for_a_larger_k_with_fixed_trials():
    rng = np.random.default_rng(8)
    points = rng.random((2000, 3)) * 255
    weights = rng.integers(1, 30, len(points)).astype(np.float64)
    longest = quantize.kmeans_plusplus(points, 64, weights, 3, trials=quantize.SEED_TRIALS)
    for k in (2, 9, 33):
        np.testing.assert_array_equal(quantize.kmeans_plusplus(points, k, weights, 3, trials=quantize.SEED_TRIALS),
                                      longest[:k])


def test_a_seed_chain_drawn_in_turns_gives_the_seeds_drawn_at_once():
    rng = np.random.default_rng(9)
    points = rng.random((1500, 3)) * 255
    weights = rng.integers(1, 30, len(points)).astype(np.float64)
    at_once = quantize.kmeans_plusplus(points, 40, weights, 5, trials=quantize.SEED_TRIALS)
    chain = quantize.SeedChain(points, weights, 5, quantize.SEED_TRIALS)
    for n in (2, 2, 17, 9, 40):
        np.testing.assert_array_equal(chain.head(n), at_once[:n])

def test_a_palette_does_not_depend_on_which_k_the_photo_saw_before():
    # The seed chains and sums kept for the photo must give the same answer in any order.
    pixels = noisy_image(seed=21, shape=(160, 200))
    first = {k: quantize.find_palette(hist_of(pixels), k) for k in (3, 20, 40)}
    hist = hist_of(pixels)
    assert hist.unique_colors > quantize.EXACT_POINTS_LIMIT
    for k in (40, 20, 3):  # the longest chains are drawn first this time
        again = quantize.find_palette(hist, k)
        np.testing.assert_array_equal(again.palette, first[k].palette)
        np.testing.assert_array_equal(again.labels, first[k].labels)
        assert (again.psnr, again.delta_e) == (first[k].psnr, first[k].delta_e)


def test_starts_shrink_as_k_grows_and_minibatch_competes_where_it_wins():
    counts = [quantize.starts(k) for k in range(2, 257)]
    assert counts == sorted(counts, reverse=True) and counts[0] > 1 and counts[-1] == 1
    assert quantize.MIN_K <= quantize.MBK_KS[0] <= quantize.MBK_KS[1] <= 64


def test_the_median_steps_never_raise_the_weighted_mean_ciede2000():
    rng = np.random.default_rng(23)
    colors = rng.integers(0, 256, (3000, 3)).astype(np.uint8)
    lab = colorspace.srgb_to_lab(colors).astype(np.float32)
    weights = rng.integers(1, 20, len(colors)).astype(np.float64)
    palette = colors[:6]
    before = np.dot(quantize.nearest_perceptual(lab, palette)[1], weights)
    after = np.dot(quantize.nearest_perceptual(lab, quantize._perceptual_steps(lab, weights, palette, median=True)[0])[1], weights)
    assert after <= before


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
    with pytest.raises(quantize.Cancelled):
        quantize.find_palette(hist, 9, space, cancelled=lambda: asked.append(1) or len(asked) >= 3)
    assert len(asked) == 3
    # The hook belongs to that call only: the next one on this thread runs to the end.
    assert len(quantize.find_palette(hist, 9, space).palette) == 9


# --- seeding bins ----------------------------------------------------------------------------


def fine_in_one_channel(channel: int) -> quantize.Histogram:
    """65,536 colors: 256 levels in one channel, 32 and 8 levels (5 bits and 3 bits deep) in the others."""
    levels = [np.arange(0, 256, 8), np.arange(0, 256, 32)]
    levels.insert(channel, np.arange(256))
    grid = np.meshgrid(*levels, indexing="ij")
    return hist_of(np.stack(grid, axis=-1).reshape(-1, 3))


@pytest.mark.parametrize("channel", [0, 1, 2])
def test_seeding_bins_get_finer_on_the_channel_that_splits_the_most_bins(channel):
    hist = fine_in_one_channel(channel)
    assert quantize._occupied(hist, (5, 5, 5)) == 32 * 32 * 8
    bits = quantize._coarse_bits(hist, 10_000, quantize.EXACT_POINTS_LIMIT, by_channel=True)
    assert bits == tuple(6 if c == channel else 5 for c in range(3))
    assert quantize._occupied(hist, bits) == 64 * 32 * 8
    # A bit on every channel at once gives the same number of bins here, at 6/6/6.
    assert quantize._coarse_bits(hist, 10_000, quantize.EXACT_POINTS_LIMIT) == (6, 6, 6)


def test_seeding_bins_take_the_coarsest_rung_with_enough_bins_and_the_colors_when_none_has():
    hist = fine_in_one_channel(2)
    limit = quantize.EXACT_POINTS_LIMIT
    assert quantize._coarse_bits(hist, 100, limit, by_channel=True) == (5, 5, 5)
    # A rung refines only the channels with the fewest bits: red and green take theirs (splitting
    # nothing) before blue takes a seventh.
    bits = quantize._coarse_bits(hist, 20_000, limit, by_channel=True)
    assert bits == (6, 6, 7) and quantize._occupied(hist, bits) == 32 * 8 * 128
    assert quantize._coarse_bits(hist, 10**6, limit, by_channel=True) is None
    assert quantize._coarse_bits(hist, 10**6, hist.unique_colors) is None
    points, weights, _ = quantize._coarse(hist, "rgb", 10**6, limit, by_channel=True)
    assert len(points) == hist.unique_colors and weights.sum() == hist.pixels


def test_seeding_bins_are_the_weighted_means_of_their_colors():
    hist = fine_in_one_channel(0)
    points, weights, _ = quantize._coarse(hist, "rgb", 10_000, quantize.EXACT_POINTS_LIMIT, by_channel=True)
    assert len(points) == 64 * 32 * 8 and weights.sum() == hist.pixels
    # Each 6/5/5 bin holds 4 reds (of 256) at one green and one blue: their mean red is the middle of the four.
    np.testing.assert_allclose(np.sort(np.unique(points[:, 0]))[:2], [1.5, 5.5])


@pytest.mark.parametrize("photo, bits", [("kodim07.png", (6, 5, 5)), ("kodim20.png", (5, 5, 6)), ("kodim13.png", (5, 5, 6))])
def test_photos_seeded_on_bins_finer_in_one_channel_stay_ahead_of_libimagequant_at_k_256(corpus, photo, bits):
    from app import pipeline
    from bench import jobs, peers
    from testsupport.needs import require

    require(peers.BY_NAME["libimagequant"].available(), "imagequant is not installed", "pip install -r requirements-dev.txt")
    prepared = pipeline.prepare((corpus / photo).read_bytes(), 50_000_000)
    hist = prepared.hist
    seed_bins = min(quantize.SEED_BINS_PER_CENTER * 256, quantize.SEED_BINS_MAX)
    assert quantize._coarse_bits(hist, seed_bins, quantize.EXACT_POINTS_LIMIT, by_channel=True) == bits
    # Fewer than half the bins that a bit on every channel gives (what the seeding and coarse steps cost).
    assert quantize._occupied(hist, bits) < quantize._occupied(hist, (6, 6, 6)) / 2
    theirs = peers.libimagequant(peers.Photo(photo, prepared.decoded.rgb), 256, 120.0).approx
    assert quantize.find_palette(hist, 256).psnr > jobs.psnr(prepared.decoded.rgb, theirs) + 0.05


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
    differences = colorspace.ciede2000_to_entries(hist.lab, colorspace.srgb_to_lab(palette).astype(np.float32), labels)
    now = quantize.summarize(hist, palette, labels, differences)
    later = quantize.summarize(hist, palette, labels, measure_delta_e=False)
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
        quantize.PaletteFit(**parts)
    with pytest.raises(ValueError, match="either delta_e or measure_delta_e"):
        quantize.PaletteFit(**parts, delta_e=1.0, measure_delta_e=lambda: 1.0)


# --- the perceptual spaces' assignment and median steps ------------------------------------------


def colorful_hist(seed=3) -> quantize.Histogram:
    """More distinct colors than the perceptual spaces handle one by one: they cluster on bins."""
    hist = hist_of(noisy_image(seed=seed, shape=(480, 640)))
    assert hist.unique_colors > quantize.PERCEPTUAL_EXACT_LIMIT
    return hist


@pytest.mark.parametrize("entries, with_grid", [(9, True), (9, False), (80, True)])
def test_nearest_perceptual_takes_the_candidate_with_the_smallest_ciede2000_the_nearer_on_ties(entries, with_grid):
    hist = colorful_hist()
    palette = hist.colors[:: hist.unique_colors // entries][:entries]
    grid = hist.lattice("lab") if with_grid else None
    labels, differences = quantize.nearest_perceptual(hist.lab, palette, grid=grid)
    # The candidates as the search finds them: the 3 entries nearest in CIELAB.
    lab_palette = colorspace.srgb_to_lab(palette).astype(np.float32)
    if with_grid and entries <= quantize.LATTICE_FEW_MAX_K:
        from app import lattice
        near = lattice.nearest_few(grid, grid.snap(lab_palette), 3)
    else:
        near = quantize._kd_tree(lab_palette).query(hist.lab, k=3)[1]
    each = np.stack([colorspace.ciede2000(hist.lab, lab_palette[near[:, i]]) for i in range(3)], axis=1)
    best = np.argmin(each, axis=1)  # the first of equal minima
    rows = np.arange(hist.unique_colors)
    assert np.array_equal(labels, near[rows, best])
    assert np.array_equal(differences, each[rows, best])


def test_nearest_perceptual_stops_between_blocks_once_cancelled():
    hist = colorful_hist()
    asked = []
    with quantize._cancellable(lambda: asked.append(1) or len(asked) >= 2):
        with pytest.raises(quantize.Cancelled):
            quantize.nearest_perceptual(hist.lab, hist.colors[:8], grid=hist.lattice("lab"))
    assert len(asked) == 2  # once said, the answer is kept: no thread asks again
    asked.clear()
    with quantize._cancellable(lambda: asked.append(1) and False):
        quantize.nearest_perceptual(hist.lab, hist.colors[:8], grid=hist.lattice("lab"))
    assert len(asked) >= hist.unique_colors // quantize.NEAREST_PERCEPTUAL_BLOCK


@pytest.mark.parametrize("space", ["lab", "oklab"])
def test_on_a_colorful_photo_the_median_steps_kept_lowered_the_error_over_every_color_too(monkeypatch, space):
    # Where the fine bins judge the steps (MEDIAN_SURE_GAIN), this is a measured property, not a checked one:
    # the fit does not assign every color to both palettes then. This test measures it over every color.
    hist = colorful_hist()
    starts, steps, assign = [], quantize._perceptual_steps, quantize.nearest_perceptual
    passes = []  # per fit, the assignments of every color

    def recorded_steps(lab, weights, palette, median=False):
        if median:
            starts.append(palette)
        return steps(lab, weights, palette, median)

    def recorded_assign(lab, palette, *args, **kwargs):
        if lab is hist.lab:
            passes[-1] += 1
        return assign(lab, palette, *args, **kwargs)

    monkeypatch.setattr(quantize, "_perceptual_steps", recorded_steps)
    monkeypatch.setattr(quantize, "nearest_perceptual", recorded_assign)
    for k in (3, 8, 16):
        passes.append(0)
        fit = quantize.find_palette(hist, k, space)
        _, differences = assign(hist.lab, starts[-1], grid=hist.lattice("lab"))
        without_median = float(np.dot(differences, hist.weights) / hist.weights.sum())
        assert fit.delta_e <= without_median + 1e-9
    assert 1 in passes  # the fine bins judged the steps at least once, and every color was assigned once


def test_the_fine_bins_judge_only_where_they_are_many_times_the_coarse_ones():
    hist = colorful_hist()
    fine_bins = len(quantize._bins(hist, "lab", quantize.FINE_BITS)[1])
    assert quantize._judging_bins(hist, fine_bins // quantize.MEDIAN_CHECK_FINER) is not None
    assert quantize._judging_bins(hist, fine_bins // quantize.MEDIAN_CHECK_FINER + 1) is None
    assert quantize._judging_bins(hist_of(noisy_image(seed=3)), 1) is None  # few colors: every color judges
    judging = quantize._judging_bins(hist, 1)
    good = quantize.find_palette(hist, 8, "lab").palette
    poor = np.roll(good, 1, axis=1)  # the same entries with their channels swapped
    assert quantize._total_difference(judging, good) < quantize._total_difference(judging, poor)


def test_fine_bins_at_small_k_are_the_coarsest_with_enough_bins_a_center_and_never_finer_than_fine_bits():
    hist = fine_in_one_channel(2)  # 8,192 bins at 5/5/5, 16,384 at 5/5/6 and at 6/6/6
    assert len(quantize._fine(hist, "rgb", 2)[1]) == 32 * 8 * 32  # 1,024 asked: the 5/5/5 bins
    assert len(quantize._fine(hist, "rgb", 24)[1]) == 32 * 8 * 64  # 12,288 asked: 5/5/6
    np.testing.assert_array_equal(quantize._fine(hist, "rgb", 24)[0], quantize._bins(hist, "rgb", (5, 5, 6))[0])
    # More than 6/6/6 holds: 6/6/6, as without k (the perceptual spaces).
    np.testing.assert_array_equal(quantize._fine(hist, "rgb", 64)[0], quantize._fine(hist, "rgb")[0])
    np.testing.assert_array_equal(quantize._fine(hist, "rgb")[0], quantize._bins(hist, "rgb", quantize.FINE_BITS)[0])


@pytest.mark.parametrize("k", [3, 24, 64])
def test_lloyd_steps_of_several_starts_taken_together_give_each_start_its_own_centers(k):
    from app import lattice

    rng = np.random.default_rng(70 + k)
    points = rng.uniform(0, 255, (3_000, 3)).astype(np.float32)  # coarse bins' means
    weights = rng.integers(1, 40, 3_000).astype(np.float64)
    grid = lattice.Lattice.of(points, 8.0)
    rows = quantize.weighted_rows(points, weights)
    starting = [quantize.kmeans_plusplus(points, k, weights, seed) for seed in range(4)]
    starting.append(points[:k].copy())  # float32, as MiniBatchKMeans's centers are
    starting.append(np.repeat(points[:1].astype(np.float64), k, axis=0))  # every center but one loses its points
    together = quantize._lloyd_each(grid, starting, quantize.COARSE_STEPS, rows, grid.search_rows())
    for start, centers in zip(starting, together):
        np.testing.assert_array_equal(centers, quantize.lloyd(grid, points, weights, start, quantize.COARSE_STEPS, rows))
    each = lattice.nearest_each(grid, [grid.snap(c) for c in together], with_distances=True)
    for centers, labels, squared in zip(together, *each):
        alone = lattice.nearest(grid, grid.snap(centers))
        np.testing.assert_array_equal(labels, alone.labels)
        np.testing.assert_array_equal(squared, alone.squared_distances)
