"""app.histograms: packing colors and counting a photo's distinct colors."""

import numpy as np
import pytest

from app import histograms, quantize
from testsupport.engine import hist_of, noisy_image


def test_pack_and_unpack_are_inverse():
    colors = np.array([[0, 0, 0], [255, 255, 255], [1, 2, 3], [255, 0, 128]], dtype=np.uint8)
    keys = histograms.pack(colors)
    assert keys.dtype == np.uint32
    assert keys.tolist() == [0x000000, 0xFFFFFF, 0x010203, 0xFF0080]
    np.testing.assert_array_equal(histograms.unpack(keys), colors)


def test_pack_flattens_an_image():
    image = noisy_image(shape=(7, 5))
    keys = histograms.pack(image)
    assert keys.shape == (35,)
    np.testing.assert_array_equal(histograms.unpack(keys).reshape(7, 5, 3), image)


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
    assert held <= histograms.CACHED_BYTES_PER_COLOR * hist.unique_colors
    assert hist.work_bytes > 0


def test_a_histogram_counted_in_parts_on_several_cores_matches_numpy_unique():
    rng = np.random.default_rng(21)
    keys = rng.integers(0, 1 << 12, 300_000).astype(np.uint32) * 4099 % (1 << 24)  # repeats across the parts
    hist = histograms.histogram(keys)
    present, counts = np.unique(keys, return_counts=True)
    np.testing.assert_array_equal(hist.keys, present)
    np.testing.assert_array_equal(hist.counts, counts)
    assert hist.keys.dtype == np.uint32 and hist.counts.dtype == np.int64
