"""app.clustering: competing starts and what a palette depends on."""

import numpy as np

from app import binning, clustering, quantize
from testsupport.engine import hist_of, noisy_image


def test_a_palette_does_not_depend_on_which_k_the_photo_saw_before():
    # The seed chains and sums kept for the photo must give the same answer in any order.
    pixels = noisy_image(seed=21, shape=(160, 200))
    first = {k: quantize.find_palette(hist_of(pixels), k) for k in (3, 20, 40)}
    hist = hist_of(pixels)
    assert hist.unique_colors > binning.EXACT_POINTS_LIMIT
    for k in (40, 20, 3):  # the longest chains are drawn first this time
        again = quantize.find_palette(hist, k)
        np.testing.assert_array_equal(again.palette, first[k].palette)
        np.testing.assert_array_equal(again.labels, first[k].labels)
        assert (again.psnr, again.delta_e) == (first[k].psnr, first[k].delta_e)


def test_starts_shrink_as_k_grows_and_minibatch_competes_where_it_wins():
    counts = [clustering.starts(k) for k in range(2, 257)]
    assert counts == sorted(counts, reverse=True) and counts[0] > 1 and counts[-1] == 1
    assert quantize.MIN_K <= clustering.MBK_KS[0] <= clustering.MBK_KS[1] <= 64


def test_minibatch_fits_whatever_the_number_of_points_it_is_given():
    # Its few passes must leave it at least two steps (after one it has no inertia and fails): on a photo's own
    # colors (fewer than its batch: each pass is one step) and on coarse bins (more than its batch).
    rng = np.random.default_rng(5)
    for colors in (clustering.MBK_KS[1] + 1, 300, binning.EXACT_POINTS_LIMIT, 60_000):
        keys = rng.choice(1 << 24, size=colors, replace=False).astype(np.uint32)
        pixels = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], axis=1).astype(np.uint8)
        hist = hist_of(np.repeat(pixels, rng.integers(1, 4, colors), axis=0)[None])
        assert hist.unique_colors == colors
        for k in clustering.MBK_KS:
            fit = quantize.find_palette(hist, k, measure_delta_e=False)
            assert len(fit.palette) <= k and len(fit.labels) == colors
