"""Properties of the engine, for any small image and any k (hypothesis).

Whatever the pixels, k, color space, method and dithering: the result has
the image's size, at most k colors (and no more than the image had), and
comes out byte for byte the same twice. With k at least the number of
colors already there, k-means gives the image back unchanged.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from app import histograms, pipeline, quantize, summary
from testsupport.images import png_bytes

# No example database: nothing is written into the working tree; failures print their reproduction blob.
PROPERTY = settings(max_examples=120, deadline=None, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow])
MAX_PIXELS = 10_000


@st.composite
def images(draw, alpha: bool = False) -> np.ndarray:
    """An (H, W, 3|4) uint8 image up to 24x24: flat, few-colored, noisy, or anything in between."""
    height = draw(st.integers(1, 24))
    width = draw(st.integers(1, 24))
    channels = 4 if alpha else 3
    style = draw(st.sampled_from(["palette", "noise", "gradient"]))
    if style == "palette":
        palette = draw(arrays(np.uint8, (draw(st.integers(1, 12)), channels)))
        picks = draw(arrays(np.intp, (height, width), elements=st.integers(0, len(palette) - 1)))
        image = palette[picks]
    elif style == "noise":
        image = draw(arrays(np.uint8, (height, width, channels)))
    else:
        y, x = np.mgrid[0:height, 0:width]
        base = np.stack([x * 10, y * 10, (x + y) * 5, np.full_like(x, 255)][:channels], axis=2)
        image = (base + draw(st.integers(0, 255))).astype(np.uint8)
    if alpha:
        image[..., 3] = np.where(image[..., 3] < 64, 0, image[..., 3])  # some fully transparent pixels
        if not (image[..., 3] > 0).any():
            image[0, 0, 3] = 255  # at least one visible pixel: a fully clear image is refused by design
    return np.ascontiguousarray(image)


def distinct(pixels: np.ndarray) -> int:
    return len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0))


ks = st.one_of(st.integers(2, 8), st.integers(2, 256))
options = st.builds(
    pipeline.Options,
    k=ks,
    color_space=st.sampled_from(quantize.COLOR_SPACES),
    dither=st.sampled_from(pipeline.DITHERS),
    method=st.sampled_from(pipeline.METHODS),
    fmt=st.just("png"),
)


@PROPERTY
@given(pixels=images(), options=options)
def test_a_render_keeps_the_size_has_at_most_k_colors_and_repeats_exactly(pixels, options):
    data = png_bytes(pixels)
    first = pipeline.render(pipeline.prepare(data, MAX_PIXELS), options)
    second = pipeline.render(pipeline.prepare(data, MAX_PIXELS), options)
    assert first.data == second.data, "the same image and options gave different bytes"

    with Image.open(io.BytesIO(first.data)) as result:
        assert result.size == (pixels.shape[1], pixels.shape[0])
        assert result.mode in ("P", "1", "L")  # paletted: the palette is the whole story
        used = result.convert("RGB").getcolors(maxcolors=1 << 16)
    assert used is not None
    assert len(used) <= options.k, f"{len(used)} colors for k={options.k}"
    assert len(used) <= distinct(pixels)
    assert len(first.result.palette) <= options.k
    assert {tuple(int(v) for v in color) for _, color in used} <= {tuple(int(v) for v in row)
                                                                    for row in first.result.palette}
    assert abs(float(np.sum(first.result.shares)) - 1.0) < 1e-9


@PROPERTY
@given(pixels=images(alpha=True), k=ks, color_space=st.sampled_from(quantize.COLOR_SPACES))
def test_transparent_pixels_stay_transparent_and_visible_ones_get_at_most_k_colors(pixels, k, color_space):
    data = png_bytes(pixels)
    rendered = pipeline.render(pipeline.prepare(data, MAX_PIXELS), pipeline.Options(k=k, color_space=color_space))
    again = pipeline.render(pipeline.prepare(data, MAX_PIXELS), pipeline.Options(k=k, color_space=color_space))
    assert rendered.data == again.data
    with Image.open(io.BytesIO(rendered.data)) as result:
        rgba = np.asarray(result.convert("RGBA"))
    assert rgba.shape[:2] == pixels.shape[:2]
    clear = pixels[..., 3] == 0
    assert (rgba[..., 3][clear] == 0).all(), "a transparent pixel became visible"
    assert (rgba[..., 3][~clear] > 0).all(), "a visible pixel became transparent"
    visible_colors = {tuple(c) for c in rgba[..., :3][~clear].reshape(-1, 3)}
    assert len(visible_colors) <= k


@PROPERTY
@given(pixels=images(), k=ks, color_space=st.sampled_from(quantize.COLOR_SPACES))
def test_the_engine_alone_is_deterministic_and_exact_when_k_suffices(pixels, k, color_space):
    keys = histograms.pack(pixels)
    hist = histograms.histogram(keys)
    first = quantize.find_palette(hist, k, color_space)
    second = quantize.find_palette(hist, k, color_space)
    indices = summary.index_map(keys, hist, first)
    assert np.array_equal(first.palette, second.palette) and np.array_equal(first.labels, second.labels)
    assert np.array_equal(indices, summary.index_map(keys, hist, second))
    assert indices.shape == (pixels.shape[0] * pixels.shape[1],)
    assert len(first.palette) <= min(k, hist.unique_colors)
    assert indices.max() < len(first.palette)
    if hist.unique_colors <= k:
        assert np.array_equal(first.palette[indices].reshape(pixels.shape), pixels), "lossless case changed pixels"
        assert first.psnr == float("inf") and first.delta_e == 0.0


@pytest.mark.parametrize("k", [0, 1, -3, 257, 10**9, 2.5, "4", True, None])
def test_the_engine_refuses_a_bad_k_naming_it(k):
    hist = histograms.histogram(histograms.pack(np.zeros((2, 2, 3), np.uint8)))
    with pytest.raises(ValueError, match=f"k must .*got {k!r}"):
        quantize.find_palette(hist, k)
