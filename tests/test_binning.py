"""app.binning: the coarse and fine RGB bins the clustering starts on."""

import numpy as np
import pytest

from app import binning, histograms, quantize
from testsupport.engine import hist_of


def fine_in_one_channel(channel: int) -> histograms.Histogram:
    """65,536 colors: 256 levels in one channel, 32 and 8 levels (5 bits and 3 bits deep) in the others."""
    levels = [np.arange(0, 256, 8), np.arange(0, 256, 32)]
    levels.insert(channel, np.arange(256))
    grid = np.meshgrid(*levels, indexing="ij")
    return hist_of(np.stack(grid, axis=-1).reshape(-1, 3))


@pytest.mark.parametrize("channel", [0, 1, 2])
def test_seeding_bins_get_finer_on_the_channel_that_splits_the_most_bins(channel):
    hist = fine_in_one_channel(channel)
    assert binning.occupied(hist, (5, 5, 5)) == 32 * 32 * 8
    bits = binning.coarse_bits(hist, 10_000, binning.EXACT_POINTS_LIMIT, by_channel=True)
    assert bits == tuple(6 if c == channel else 5 for c in range(3))
    assert binning.occupied(hist, bits) == 64 * 32 * 8
    # A bit on every channel at once gives the same number of bins here, at 6/6/6.
    assert binning.coarse_bits(hist, 10_000, binning.EXACT_POINTS_LIMIT) == (6, 6, 6)


def test_seeding_bins_take_the_coarsest_rung_with_enough_bins_and_the_colors_when_none_has():
    hist = fine_in_one_channel(2)
    limit = binning.EXACT_POINTS_LIMIT
    assert binning.coarse_bits(hist, 100, limit, by_channel=True) == (5, 5, 5)
    # A rung refines only the channels with the fewest bits: red and green take theirs (splitting
    # nothing) before blue takes a seventh.
    bits = binning.coarse_bits(hist, 20_000, limit, by_channel=True)
    assert bits == (6, 6, 7) and binning.occupied(hist, bits) == 32 * 8 * 128
    assert binning.coarse_bits(hist, 10**6, limit, by_channel=True) is None
    assert binning.coarse_bits(hist, 10**6, hist.unique_colors) is None
    points, weights, _ = binning.coarse(hist, "rgb", 10**6, limit, by_channel=True)
    assert len(points) == hist.unique_colors and weights.sum() == hist.pixels


def test_seeding_bins_are_the_weighted_means_of_their_colors():
    hist = fine_in_one_channel(0)
    points, weights, _ = binning.coarse(hist, "rgb", 10_000, binning.EXACT_POINTS_LIMIT, by_channel=True)
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
    seed_bins = min(binning.SEED_BINS_PER_CENTER * 256, binning.SEED_BINS_MAX)
    assert binning.coarse_bits(hist, seed_bins, binning.EXACT_POINTS_LIMIT, by_channel=True) == bits
    # Fewer than half the bins that a bit on every channel gives (what the seeding and coarse steps cost).
    assert binning.occupied(hist, bits) < binning.occupied(hist, (6, 6, 6)) / 2
    theirs = peers.libimagequant(peers.Photo(photo, prepared.decoded.rgb), 256, 120.0).approx
    assert quantize.find_palette(hist, 256).psnr > jobs.psnr(prepared.decoded.rgb, theirs) + 0.05


def test_fine_bins_at_small_k_are_the_coarsest_with_enough_bins_a_center_and_never_finer_than_fine_bits():
    hist = fine_in_one_channel(2)  # 8,192 bins at 5/5/5, 16,384 at 5/5/6 and at 6/6/6
    assert len(binning.fine(hist, "rgb", 2)[1]) == 32 * 8 * 32  # 1,024 asked: the 5/5/5 bins
    assert len(binning.fine(hist, "rgb", 24)[1]) == 32 * 8 * 64  # 12,288 asked: 5/5/6
    np.testing.assert_array_equal(binning.fine(hist, "rgb", 24)[0], binning.means(hist, "rgb", (5, 5, 6))[0])
    # More than 6/6/6 holds: 6/6/6, as without k (the perceptual spaces).
    np.testing.assert_array_equal(binning.fine(hist, "rgb", 64)[0], binning.fine(hist, "rgb")[0])
    np.testing.assert_array_equal(binning.fine(hist, "rgb")[0], binning.means(hist, "rgb", binning.FINE_BITS)[0])
