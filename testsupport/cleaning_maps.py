"""Small images and their k-means maps for the cleaning tests, with an independent count of regions."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from app import histograms, quantize, summary

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
