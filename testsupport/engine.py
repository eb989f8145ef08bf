"""Small generated pixel sets and histograms for the engine's tests."""

import numpy as np

from app import histograms, perceptual


def hist_of(rgb) -> histograms.Histogram:
    return histograms.histogram(histograms.pack(np.asarray(rgb, dtype=np.uint8)))


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


def rgb(*colors) -> np.ndarray:
    """The given (r, g, b) colors as rows of uint8."""
    return np.array(colors, dtype=np.uint8).reshape(-1, 3)


def colorful_hist(seed=3) -> histograms.Histogram:
    """More distinct colors than the perceptual spaces handle one by one: they cluster on bins."""
    hist = hist_of(noisy_image(seed=seed, shape=(480, 640)))
    assert hist.unique_colors > perceptual.PERCEPTUAL_EXACT_LIMIT
    return hist
