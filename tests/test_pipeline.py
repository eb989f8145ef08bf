"""app.pipeline: the whole job, bytes in and bytes out, checked by decoding what comes out."""

import io

import numpy as np
import pytest
from PIL import Image

from app import ciede2000, histograms, pipeline, png, quantize, summary

BIG = 100_000_000


def to_bytes(array: np.ndarray, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt, **options)
    return buffer.getvalue()


def photo_like(seed=0, shape=(96, 128)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, 128 + 100 * np.sin(x / 9.0) * np.cos(y / 7.0)], axis=-1)
    return np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)


def few_colors(n: int, shape=(30, 40), seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    colors = rng.choice(1 << 24, size=n, replace=False)
    colors = np.stack([(colors >> 16) & 255, (colors >> 8) & 255, colors & 255], axis=1).astype(np.uint8)
    index = rng.integers(0, n, shape)
    index.flat[:n] = np.arange(n)
    return colors[index]


def render(data: bytes, **options) -> tuple[pipeline.Prepared, pipeline.Rendered]:
    prepared = pipeline.prepare(data, BIG)
    return prepared, pipeline.render(prepared, pipeline.Options(**options))


def rgba_of(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def colors_in(rgba: np.ndarray) -> set[tuple[int, int, int]]:
    visible = rgba[..., 3] > 0
    return {tuple(int(v) for v in c) for c in rgba[..., :3][visible]}


def palette_set(rendered: pipeline.Rendered) -> set[tuple[int, int, int]]:
    return {tuple(int(v) for v in c) for c in rendered.result.palette}


def ihdr_bit_depth(data: bytes) -> int:
    assert data[12:16] == b"IHDR"
    return data[24]


# --- prepare ---------------------------------------------------------------------------------


def test_prepare_counts_pixels_and_unique_colors():
    rgb = photo_like()
    data = to_bytes(rgb)
    prepared = pipeline.prepare(data, BIG)
    assert prepared.source_bytes == len(data)
    assert prepared.keys.shape == (96 * 128,)
    assert prepared.hist.pixels == 96 * 128
    assert prepared.hist.unique_colors == len(np.unique(rgb.reshape(-1, 3), axis=0))
    assert {"decode_ms", "histogram_ms"} <= set(prepared.timings)
    assert prepared.nbytes >= rgb.nbytes + prepared.keys.nbytes


def test_prepare_counts_only_visible_pixels():
    rgb = few_colors(5)
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:10] = 0
    rgb[:10] = (255, 0, 255)  # a color that exists only under alpha 0
    prepared = pipeline.prepare(to_bytes(np.dstack([rgb, alpha])), BIG)
    assert prepared.hist.pixels == int((alpha > 0).sum())
    assert prepared.hist.unique_colors == len(np.unique(rgb[alpha > 0], axis=0))
    assert 0xFF00FF not in prepared.hist.keys.tolist()


def test_prepare_refuses_a_fully_transparent_image():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255
    with pytest.raises(Exception) as info:
        pipeline.prepare(to_bytes(rgba), BIG)
    assert getattr(info.value, "code", None) == "unusable_image"


# --- at most k colors, exactly the reported palette --------------------------------------------


@pytest.mark.parametrize("k", [2, 3, 8, 16, 64, 256])
def test_output_png_has_at_most_k_colors_and_exactly_the_palette(k):
    prepared, rendered = render(to_bytes(photo_like()), k=k)
    assert rendered.mime_type == "image/png"
    rgba = rgba_of(rendered.data)
    assert rgba.shape[:2] == (96, 128)
    assert (rendered.width, rendered.height) == (128, 96)
    found = colors_in(rgba)
    assert len(found) <= k
    assert found == palette_set(rendered)
    assert len(rendered.result.palette) == len(palette_set(rendered))  # no duplicates


@pytest.mark.parametrize("space", ["rgb", "oklab", "lab"])
@pytest.mark.parametrize("method", ["kmeans", "mediancut", "octree"])
def test_every_method_and_space_gives_exactly_the_palette(space, method):
    _, rendered = render(to_bytes(photo_like(seed=2)), k=6, color_space=space, method=method)
    found = colors_in(rgba_of(rendered.data))
    assert 2 <= len(found) <= 6
    assert found == palette_set(rendered)


def test_dithering_uses_only_palette_colors():
    _, rendered = render(to_bytes(photo_like(seed=3)), k=4, dither="floyd-steinberg")
    rgba = rgba_of(rendered.data)
    found = colors_in(rgba)
    assert found <= palette_set(rendered) and len(found) <= 4
    # shares match what is in the file
    counts = {c: 0 for c in found}
    for c in map(tuple, rgba[..., :3].reshape(-1, 3).tolist()):
        counts[c] += 1
    for color, share in zip(rendered.result.palette, rendered.result.shares):
        assert counts[tuple(int(v) for v in color)] / rgba[..., 0].size == pytest.approx(share)


def test_palette_sorted_by_share_with_hex_and_shares_that_match_the_file():
    _, rendered = render(to_bytes(photo_like(seed=4)), k=7)
    rgba = rgba_of(rendered.data)
    keys = histograms.pack(rgba[..., :3])
    counts = dict(zip(*np.unique(keys, return_counts=True)))
    shares = rendered.result.shares
    assert np.all(np.diff(shares) <= 0)
    assert float(shares.sum()) == pytest.approx(1.0)
    for code, color, share in zip(rendered.result.hex_codes(), rendered.result.palette, shares):
        assert code == "#%02x%02x%02x" % tuple(int(v) for v in color)
        assert counts[int(histograms.pack(color[None])[0])] / keys.size == pytest.approx(share)


def test_psnr_and_delta_e_match_the_written_file():
    rgb = photo_like(seed=5)
    _, rendered = render(to_bytes(rgb), k=5)
    out = rgba_of(rendered.data)[..., :3]
    mse = ((rgb.astype(float) - out) ** 2).mean()
    assert rendered.result.psnr == pytest.approx(10 * np.log10(255**2 / mse), rel=1e-9)
    delta_e = ciede2000.between_srgb(rgb.reshape(-1, 3), out.reshape(-1, 3)).mean()
    assert rendered.result.delta_e == pytest.approx(delta_e, rel=1e-6)  # the engine measures in float32


def test_a_render_leaves_the_mean_ciede2000_until_it_is_read_and_it_is_the_eager_figure():
    rgb = photo_like(seed=6)
    prepared, rendered = render(to_bytes(rgb), k=16)
    assert not rendered.result.delta_e_measured  # an answer that is only the file never pays for it
    eager = quantize.find_palette(pipeline.prepare(to_bytes(rgb), 10**8).hist, 16)
    np.testing.assert_array_equal(rendered.result.palette, eager.palette)
    assert rendered.result.delta_e == eager.delta_e and rendered.result.delta_e_measured


# --- fewer colors than k -----------------------------------------------------------------------


@pytest.mark.parametrize("n, k", [(2, 2), (5, 16), (16, 16), (40, 256), (256, 256)])
def test_k_or_fewer_unique_colors_come_back_pixel_identical(n, k):
    rgb = few_colors(n)
    prepared, rendered = render(to_bytes(rgb), k=k)
    assert prepared.hist.unique_colors == n
    np.testing.assert_array_equal(rgba_of(rendered.data)[..., :3], rgb)
    assert np.all(rgba_of(rendered.data)[..., 3] == 255)
    assert rendered.result.psnr == float("inf") and rendered.result.delta_e == 0.0
    assert len(rendered.result.palette) == n


def test_few_colors_with_transparency_come_back_identical():
    rgb = few_colors(3)
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[::3, ::2] = 0
    _, rendered = render(to_bytes(np.dstack([rgb, alpha])), k=8)
    out = rgba_of(rendered.data)
    np.testing.assert_array_equal(out[..., 3], alpha)
    np.testing.assert_array_equal(out[..., :3][alpha > 0], rgb[alpha > 0])


# --- alpha -------------------------------------------------------------------------------------


def test_colors_under_alpha_0_take_no_part_in_the_palette():
    rgb = photo_like(seed=6)
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, :40] = 0
    rgb[:, :40] = (255, 0, 255)  # loud magenta, 31% of the pixels, all invisible
    _, rendered = render(to_bytes(np.dstack([rgb, alpha])), k=4)
    for color in rendered.result.palette:
        assert not (color[0] > 200 and color[1] < 60 and color[2] > 200), rendered.result.hex_codes()
    out = rgba_of(rendered.data)
    np.testing.assert_array_equal(out[..., 3], alpha)
    assert colors_in(out) == palette_set(rendered)
    # the same visible pixels with nothing hidden give the same palette
    _, opaque = render(to_bytes(np.ascontiguousarray(photo_like(seed=6)[:, 40:])), k=4)
    np.testing.assert_array_equal(rendered.result.palette, opaque.result.palette)


@pytest.mark.parametrize("method", ["kmeans", "mediancut", "octree"])
@pytest.mark.parametrize("dither", ["none", "floyd-steinberg"])
def test_hidden_colors_stay_out_of_the_palette_for_every_method(method, dither):
    rgb = photo_like(seed=6)
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, :40] = 0
    rgb[:, :40] = (255, 0, 255)
    _, rendered = render(to_bytes(np.dstack([rgb, alpha])), k=4, method=method, dither=dither)
    distance = np.abs(rendered.result.palette.astype(int) - [255, 0, 255]).max(axis=1)
    assert distance.min() > 20, rendered.result.hex_codes()


def test_binary_alpha_gives_a_paletted_png_with_a_transparent_entry():
    rgb = photo_like(seed=7)
    alpha = np.where((np.arange(128)[None, :] // 8 + np.arange(96)[:, None] // 8) % 2 == 0, 255, 0).astype(np.uint8)
    _, rendered = render(to_bytes(np.dstack([rgb, alpha])), k=6)
    image = Image.open(io.BytesIO(rendered.data))
    assert image.mode == "P"
    assert "transparency" in image.info
    assert ihdr_bit_depth(rendered.data) == 4 == rendered.bit_depth  # 6 colors + 1 clear entry
    out = rgba_of(rendered.data)
    np.testing.assert_array_equal(out[..., 3], alpha)
    assert len(colors_in(out)) <= 6


def test_partial_alpha_is_kept_exactly():
    rgb = photo_like(seed=8)
    alpha = np.tile(np.linspace(0, 255, 128).astype(np.uint8), (96, 1))
    _, rendered = render(to_bytes(np.dstack([rgb, alpha])), k=5)
    out = rgba_of(rendered.data)
    np.testing.assert_array_equal(out[..., 3], alpha)
    assert colors_in(out) == palette_set(rendered)


def test_reported_bit_depth_is_the_bit_depth_written_with_partial_alpha():
    rgb = photo_like(seed=8)
    alpha = np.tile(np.linspace(0, 255, 128).astype(np.uint8), (96, 1))
    _, rendered = render(to_bytes(np.dstack([rgb, alpha])), k=5)
    assert rendered.bit_depth == ihdr_bit_depth(rendered.data)


def test_k_256_with_transparency_and_many_colors_renders():
    rgb = photo_like(seed=9)
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:5] = 0
    prepared, rendered = render(to_bytes(np.dstack([rgb, alpha])), k=256)
    assert prepared.hist.unique_colors > 256
    out = rgba_of(rendered.data)
    np.testing.assert_array_equal(out[..., 3], alpha)
    assert colors_in(out) == palette_set(rendered) and len(colors_in(out)) <= 256


# --- bit depth and size ------------------------------------------------------------------------


@pytest.mark.parametrize("k, bits", [(2, 1), (4, 2), (16, 4), (256, 8)])
def test_paletted_png_bit_depth_for_k(k, bits):
    _, rendered = render(to_bytes(photo_like(seed=10, shape=(128, 160))), k=k)
    assert len(rendered.result.palette) == k
    assert ihdr_bit_depth(rendered.data) == bits == rendered.bit_depth
    assert rendered.data[25] == 3  # color type: indexed


def test_small_k_png_is_far_smaller_than_a_24_bit_png():
    from app import imaging

    rgb = photo_like(seed=11, shape=(256, 320))
    prepared, rendered = render(to_bytes(rgb), k=4)
    png24 = imaging.encode_rgb_png(prepared.decoded.rgb)
    assert len(rendered.data) * 3 < len(png24)


@pytest.mark.parametrize("fmt, mime, pil_format", [("jpeg", "image/jpeg", "JPEG"), ("webp", "image/webp", "WEBP")])
def test_jpeg_and_webp_output(fmt, mime, pil_format):
    _, rendered = render(to_bytes(photo_like()), k=8, fmt=fmt)
    assert rendered.mime_type == mime
    assert rendered.bit_depth is None
    image = Image.open(io.BytesIO(rendered.data))
    assert image.format == pil_format and image.size == (128, 96)


# --- determinism -------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [{"k": 7}, {"k": 30, "color_space": "oklab"}, {"k": 5, "color_space": "lab"},
                                     {"k": 4, "dither": "floyd-steinberg"}, {"k": 9, "fmt": "webp"}])
def test_same_image_and_options_give_the_same_bytes(options):
    data = to_bytes(photo_like(seed=12))
    prepared, first = render(data, **options)
    again = pipeline.render(prepared, pipeline.Options(**options))
    _, fresh = render(data, **options)  # a fresh prepare too
    assert first.data == again.data == fresh.data
    np.testing.assert_array_equal(first.result.palette, fresh.result.palette)


def test_render_does_not_change_the_prepared_photo():
    prepared = pipeline.prepare(to_bytes(photo_like(seed=13)), BIG)
    rgb, keys = prepared.decoded.rgb.copy(), prepared.keys.copy()
    pipeline.render(prepared, pipeline.Options(k=3, dither="floyd-steinberg"))
    pipeline.render(prepared, pipeline.Options(k=40, max_side=20))
    np.testing.assert_array_equal(prepared.decoded.rgb, rgb)
    np.testing.assert_array_equal(prepared.keys, keys)


# --- options -----------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 257, 0, -1, True, False, 2.5, 16.0])
def test_bad_k_is_refused_naming_the_value(k):
    prepared = pipeline.prepare(to_bytes(few_colors(3)), BIG)
    with pytest.raises(ValueError) as info:
        pipeline.render(prepared, pipeline.Options(k=k))
    assert repr(k) in str(info.value)


@pytest.mark.parametrize(
    "options, named",
    [({"color_space": "hsv"}, "'hsv'"), ({"dither": "ordered"}, "'ordered'"), ({"method": "magic"}, "'magic'"),
     ({"fmt": "gif"}, "'gif'"), ({"max_side": 0}, "0")],
)
def test_bad_options_are_refused_naming_the_value(options, named):
    with pytest.raises(ValueError) as info:
        pipeline.Options(k=4, **options).check()
    assert named in str(info.value)


def test_max_side_shrinks_the_image_but_keeps_palette_and_figures():
    data = to_bytes(photo_like(seed=14, shape=(120, 200)))
    prepared, full = render(data, k=6)
    preview = pipeline.render(prepared, pipeline.Options(k=6, max_side=50))
    assert (preview.width, preview.height) == (50, 30)
    assert Image.open(io.BytesIO(preview.data)).size == (50, 30)
    np.testing.assert_array_equal(preview.result.palette, full.result.palette)
    np.testing.assert_array_equal(preview.result.shares, full.result.shares)
    assert (preview.result.psnr, preview.result.delta_e) == (full.result.psnr, full.result.delta_e)
    assert colors_in(rgba_of(preview.data)) <= palette_set(full)


def test_max_side_larger_than_the_image_changes_nothing():
    prepared, full = render(to_bytes(photo_like(seed=14)), k=6)
    assert pipeline.render(prepared, pipeline.Options(k=6, max_side=5000)).data == full.data


def test_timings_are_reported():
    prepared, rendered = render(to_bytes(photo_like()), k=4)
    assert {"decode_ms", "histogram_ms"} <= set(prepared.timings)  # paid once per photo
    assert {"quantize_ms", "encode_ms"} <= set(rendered.timings)  # paid per k
    timings = {**prepared.timings, **rendered.timings}
    assert all(isinstance(v, float) and v >= 0 for v in timings.values())


def test_exif_orientation_carries_through_to_the_output():
    rgb = photo_like(shape=(40, 60))
    exif = Image.Exif()
    exif[0x0112] = 8
    _, rendered = render(to_bytes(rgb, exif=exif.tobytes()), k=3)
    assert (rendered.width, rendered.height) == (40, 60)
    assert Image.open(io.BytesIO(rendered.data)).size == (40, 60)


def test_grayscale_16_bit_input_renders():
    values = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)
    _, rendered = render(to_bytes(values), k=4)
    out = rgba_of(rendered.data)
    assert np.all(out[..., 0] == out[..., 1]) and np.all(out[..., 1] == out[..., 2])  # still gray
    assert len(colors_in(out)) == 4


# --- any small image keeps the contract ----------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    height=st.integers(1, 24),
    width=st.integers(1, 24),
    n_colors=st.integers(1, 80),
    k=st.integers(2, 64),
    alpha_kind=st.sampled_from(["none", "binary", "partial"]),
    seed=st.integers(0, 2**16),
)
def test_any_small_image_keeps_the_contract(height, width, n_colors, k, alpha_kind, seed):
    rng = np.random.default_rng(seed)
    colors = rng.integers(0, 256, (n_colors, 3), dtype=np.uint8)
    rgb = colors[rng.integers(0, n_colors, (height, width))]
    alpha = None
    if alpha_kind == "binary":
        alpha = np.where(rng.random((height, width)) < 0.3, 0, 255).astype(np.uint8)
    elif alpha_kind == "partial":
        alpha = rng.integers(0, 256, (height, width)).astype(np.uint8)
    if alpha is not None:
        alpha.flat[0] = 255  # at least one visible pixel
    data = to_bytes(rgb if alpha is None else np.dstack([rgb, alpha]))
    prepared, rendered = render(data, k=k)
    out = rgba_of(rendered.data)
    assert out.shape[:2] == (height, width)
    expected_alpha = np.full((height, width), 255, np.uint8) if alpha is None else alpha
    np.testing.assert_array_equal(out[..., 3], expected_alpha)
    visible = expected_alpha > 0
    found = colors_in(out)
    assert found == palette_set(rendered) and len(found) <= k
    assert rendered.result.shares.sum() == pytest.approx(1.0)
    if prepared.hist.unique_colors <= k:
        np.testing.assert_array_equal(out[..., :3][visible], rgb[visible])


def test_a_plain_map_is_looked_up_as_it_is_encoded_and_agrees_with_the_engine_s_index_map():
    rng = np.random.default_rng(11)
    rgb = rng.integers(0, 256, size=(3 * png.BAND_BYTES // 400, 400, 3)).astype(np.uint8)
    prepared = pipeline.prepare(to_bytes(rgb), 10**8)
    rendered = pipeline.render(prepared, pipeline.Options(k=16))
    result, indices = pipeline.palette_and_indices(prepared, pipeline.Options(k=16))
    assert isinstance(indices, np.ndarray)  # the public map is an array, made whole
    expected = summary.index_map(prepared.keys, prepared.hist, result).reshape(rgb.shape[:2])
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(rendered.data))), expected)
