"""app.imaging: bytes to pixels (formats, modes, orientation, ICC, alpha, limits) and back."""

import io
import struct

import numpy as np
import pytest
from PIL import Image, ImageCms

from app import imaging

BIG = 100_000_000


def to_bytes(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def decode(data: bytes) -> imaging.Decoded:
    return imaging.decode(data, BIG)


def pattern(width=24, height=16) -> np.ndarray:
    """A few flat color blocks: exact in lossless formats, tolerable in lossy ones."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[..., 0] = np.where(x < width // 2, 220, 30)
    rgb[..., 1] = np.where(y < height // 2, 200, 40)
    rgb[..., 2] = np.where((x // 4 + y // 4) % 2 == 0, 180, 60)
    return rgb


def png_ihdr(data: bytes) -> tuple[int, int, int, int]:
    """(width, height, bit depth, color type) read straight from the PNG header."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height, depth, color_type = struct.unpack(">IIBB", data[16:26])
    return width, height, depth, color_type


def png_chunks(data: bytes) -> list[bytes]:
    chunks, pos = [], 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        chunks.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return chunks


# --- ICC profiles made here, so the test needs no file from the machine ------------------------

D50 = (0.9642, 1.0, 0.8249)
SRGB_COLORANTS_D50 = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))


def _xyz_tag(v):
    return b"XYZ " + bytes(4) + b"".join(struct.pack(">i", round(c * 65536)) for c in v)


def _curve_tag(gamma):
    return b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)


def _desc_tag(text):
    ascii_text = text.encode() + b"\0"
    return b"desc" + bytes(4) + struct.pack(">I", len(ascii_text)) + ascii_text + bytes(8 + 3 + 67)


def _assemble_profile(color_space: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    """A minimal ICC v2 display profile: header, tag table, tags."""
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, tag in tags:
        tag += bytes(-len(tag) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(tag))
        body += tag
    header = struct.pack(">I4sI4s4s4s", offset + len(body), b"lcms", 0x02100000, b"mntr", color_space, b"XYZ ")
    header += struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + bytes(20 + 8 + 4)
    header += b"".join(struct.pack(">i", round(c * 65536)) for c in D50)
    header += bytes(128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body


def _common_tags(name: str) -> list[tuple[bytes, bytes]]:
    return [(b"desc", _desc_tag(name)), (b"cprt", b"text" + bytes(4) + b"none\0"), (b"wtpt", _xyz_tag(D50))]


def rgb_icc_profile(colorants, gamma: float, name: str = "kmeans-filter test") -> bytes:
    """A matrix/TRC RGB profile with the given D50 colorants and one gamma for all channels."""
    return _assemble_profile(b"RGB ", _common_tags(name) + [
        (b"rXYZ", _xyz_tag(colorants[0])), (b"gXYZ", _xyz_tag(colorants[1])), (b"bXYZ", _xyz_tag(colorants[2])),
        (b"rTRC", _curve_tag(gamma)), (b"gTRC", _curve_tag(gamma)), (b"bTRC", _curve_tag(gamma))])


def gray_icc_profile(gamma: float, name: str = "kmeans-filter gray") -> bytes:
    return _assemble_profile(b"GRAY", _common_tags(name) + [(b"kTRC", _curve_tag(gamma))])


SWAPPED_RED_BLUE = rgb_icc_profile(SRGB_COLORANTS_D50[::-1], 2.2, "red and blue swapped")
LINEAR_SRGB = rgb_icc_profile(SRGB_COLORANTS_D50, 1.0, "linear sRGB")
LINEAR_GRAY = gray_icc_profile(1.0, "linear gray")


# --- every input format ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt, options",
    [("PNG", {}), ("BMP", {}), ("TIFF", {}), ("WEBP", {"lossless": True}), ("TIFF", {"compression": "tiff_lzw"})],
)
def test_lossless_formats_decode_exactly(fmt, options):
    rgb = pattern()
    decoded = decode(to_bytes(Image.fromarray(rgb), fmt, **options))
    assert decoded.source_format == fmt
    assert (decoded.width, decoded.height) == (24, 16)
    assert decoded.rgb.dtype == np.uint8 and decoded.rgb.shape == (16, 24, 3)
    np.testing.assert_array_equal(decoded.rgb, rgb)
    assert decoded.alpha is None


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_lossy_formats_decode_close(fmt):
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[:24, :32], rgb[:24, 32:] = (220, 40, 40), (40, 200, 60)
    rgb[24:, :32], rgb[24:, 32:] = (50, 60, 220), (240, 230, 200)
    decoded = decode(to_bytes(Image.fromarray(rgb), fmt, quality=95))
    assert decoded.source_format == fmt
    assert decoded.rgb.shape == (48, 64, 3)
    for y, x in ((8, 8), (8, 56), (40, 8), (40, 56)):
        assert np.abs(decoded.rgb[y, x].astype(int) - rgb[y, x]).max() <= 6


def test_gif_first_frame_only():
    first = Image.new("P", (10, 6), 1)
    first.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * (253 * 3))
    second = Image.new("P", (10, 6), 2)
    second.putpalette(first.getpalette())
    data = to_bytes(first, "GIF", save_all=True, append_images=[second], duration=100, loop=0)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
    decoded = decode(data)
    assert decoded.source_format == "GIF"
    assert np.all(decoded.rgb == [255, 0, 0])


def test_gif_transparency_becomes_alpha():
    image = Image.new("P", (4, 2), 1)
    image.putpalette([0, 0, 0, 0, 200, 0] + [0] * (254 * 3))
    image.putpixel((0, 0), 0)
    decoded = decode(to_bytes(image, "GIF", transparency=0))
    assert decoded.alpha is not None
    assert decoded.alpha[0, 0] == 0 and decoded.alpha.sum() == 255 * 7
    assert tuple(decoded.rgb[1, 1]) == (0, 200, 0)


def test_tiff_first_page_only():
    pages = [Image.new("RGB", (8, 8), (10, 20, 30)), Image.new("RGB", (8, 8), (200, 100, 50))]
    data = to_bytes(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    assert Image.open(io.BytesIO(data)).n_frames == 2
    decoded = decode(data)
    assert np.all(decoded.rgb == [10, 20, 30])


# --- every mode --------------------------------------------------------------------------------


def test_mode_1():
    bits = np.zeros((6, 9), bool)
    bits[::2, 1::3] = True
    image = Image.fromarray(bits)
    assert image.mode == "1"
    for fmt in ("PNG", "BMP", "TIFF"):
        decoded = decode(to_bytes(image, fmt))
        np.testing.assert_array_equal(decoded.rgb, np.repeat(bits[..., None] * 255, 3, axis=2).astype(np.uint8))
        assert decoded.alpha is None


def test_mode_l():
    gray = np.arange(0, 240, 2, dtype=np.uint8).reshape(8, 15)
    decoded = decode(to_bytes(Image.fromarray(gray), "PNG"))
    np.testing.assert_array_equal(decoded.rgb, np.dstack([gray] * 3))
    assert decoded.alpha is None


def test_mode_la_keeps_alpha_exactly():
    gray = np.full((4, 5), 90, np.uint8)
    alpha = np.array([[0, 1, 127, 254, 255]] * 4, np.uint8)
    image = Image.fromarray(np.dstack([gray, alpha]), "LA")
    decoded = decode(to_bytes(image, "PNG"))
    np.testing.assert_array_equal(decoded.alpha, alpha)
    np.testing.assert_array_equal(decoded.rgb[alpha > 0], [[90, 90, 90]] * 16)


def test_mode_p():
    image = Image.new("P", (3, 2))
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
    image.putdata([0, 1, 2, 2, 1, 0])
    decoded = decode(to_bytes(image, "PNG"))
    expected = [[[255, 0, 0], [0, 255, 0], [0, 0, 255]], [[0, 0, 255], [0, 255, 0], [255, 0, 0]]]
    np.testing.assert_array_equal(decoded.rgb, expected)
    assert decoded.alpha is None


def test_mode_p_with_trns_chunk_becomes_alpha():
    image = Image.new("P", (3, 1))
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
    image.putdata([0, 1, 2])
    decoded = decode(to_bytes(image, "PNG", transparency=bytes([255, 0, 128])))
    np.testing.assert_array_equal(decoded.alpha, [[255, 0, 128]])
    assert tuple(decoded.rgb[0, 2]) == (0, 0, 255)


def test_mode_pa():
    # No file format stores PA, so the mode conversion is checked on the image itself.
    image = Image.new("PA", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255])
    image.putpixel((0, 0), (0, 255))
    image.putpixel((1, 0), (1, 40))
    pixels, alpha = imaging._to_pixels_alpha(image)
    np.testing.assert_array_equal(pixels, [[[0, 0, 255, 0], [255, 0, 0, 0]]])  # B, G, R, 0
    np.testing.assert_array_equal(imaging.Decoded(pixels, alpha, "PA").rgb, [[[255, 0, 0], [0, 0, 255]]])
    np.testing.assert_array_equal(alpha, [[255, 40]])


def test_mode_rgb_with_trns_color_becomes_alpha():
    rgb = pattern(8, 8)
    decoded = decode(to_bytes(Image.fromarray(rgb), "PNG", transparency=tuple(int(v) for v in rgb[0, 0])))
    assert decoded.alpha is not None
    np.testing.assert_array_equal(decoded.alpha == 0, np.all(rgb == rgb[0, 0], axis=2))


def test_mode_l_with_trns_gray_becomes_alpha():
    gray = np.array([[0, 50, 100, 50]], np.uint8)
    decoded = decode(to_bytes(Image.fromarray(gray), "PNG", transparency=50))
    np.testing.assert_array_equal(decoded.alpha, [[255, 0, 255, 0]])


def test_mode_rgba_keeps_partial_alpha_exactly():
    rgb = pattern(16, 4)
    alpha = np.tile(np.arange(0, 256, 17, dtype=np.uint8), (4, 1))
    decoded = decode(to_bytes(Image.fromarray(np.dstack([rgb, alpha])), "PNG"))
    np.testing.assert_array_equal(decoded.alpha, alpha)
    visible = alpha > 0
    np.testing.assert_array_equal(decoded.rgb[visible], rgb[visible])


def test_mode_rgba_fully_opaque_has_no_alpha():
    rgba = np.dstack([pattern(), np.full((16, 24), 255, np.uint8)])
    decoded = decode(to_bytes(Image.fromarray(rgba), "PNG"))
    assert decoded.alpha is None
    np.testing.assert_array_equal(decoded.rgb, rgba[..., :3])


@pytest.mark.parametrize("fmt", ["TIFF", "JPEG"])
def test_mode_cmyk(fmt):
    colors = [(255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 255, 0), (0, 0, 0, 255), (0, 0, 0, 0)]
    expected = [(0, 255, 255), (255, 0, 255), (255, 255, 0), (0, 0, 0), (255, 255, 255)]
    image = Image.new("CMYK", (8 * len(colors), 8))
    for i, color in enumerate(colors):
        image.paste(color, (8 * i, 0, 8 * i + 8, 8))
    decoded = decode(to_bytes(image, fmt, **({"quality": 100} if fmt == "JPEG" else {})))
    assert decoded.source_format == fmt
    centers = [tuple(int(v) for v in decoded.rgb[4, 8 * i + 4]) for i in range(len(colors))]
    tolerance = 0 if fmt == "TIFF" else 6
    for got, want in zip(centers, expected):
        assert max(abs(g - w) for g, w in zip(got, want)) <= tolerance, (centers, expected)


def test_mode_i16_uses_the_full_16_bit_range():
    values = np.array([[0, 257 * 128, 65535, 257 * 10]], np.uint16)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    for fmt in ("PNG", "TIFF"):
        decoded = decode(to_bytes(image, fmt))
        assert Image.open(io.BytesIO(to_bytes(image, fmt))).mode == "I;16"
        np.testing.assert_array_equal(decoded.rgb[0, :, 0], [0, 128, 255, 10])
        assert decoded.alpha is None


def test_mode_i16_dark_image_stays_dark():
    # A 16-bit image is 16-bit however dark it is: 100/65535 is black, not 100/255.
    values = np.array([[0, 100, 200, 255]], np.uint16)
    decoded = decode(to_bytes(Image.fromarray(values), "PNG"))
    np.testing.assert_array_equal(decoded.rgb[0, :, 0], [0, 0, 1, 1])


def test_mode_i_32_bit_integers():
    values = np.array([[0, 100, 255]], np.int32)
    image = Image.fromarray(values)
    assert image.mode == "I"
    decoded = decode(to_bytes(image, "TIFF"))
    np.testing.assert_array_equal(decoded.rgb[0], [[0, 0, 0], [100, 100, 100], [255, 255, 255]])


def test_mode_f_floats_between_0_and_1():
    values = np.array([[0.0, 0.25, 0.5, 1.0]], np.float32)
    image = Image.fromarray(values)
    assert image.mode == "F"
    decoded = decode(to_bytes(image, "TIFF"))
    np.testing.assert_array_equal(decoded.rgb[0, :, 0], [0, 64, 128, 255])


def test_mode_f_a_mask_of_zeros_and_ones_is_black_and_white():
    # Floats in 0-1 are scaled up, also when every value happens to be whole.
    values = np.array([[0.0, 1.0, 1.0, 0.0]], np.float32)
    decoded = decode(to_bytes(Image.fromarray(values), "TIFF"))
    np.testing.assert_array_equal(decoded.rgb[0, :, 0], [0, 255, 255, 0])


def test_mode_f_nan_and_infinity_do_not_break_decoding():
    values = np.array([[np.nan, np.inf, -np.inf, 0.5]], np.float32)
    decoded = decode(to_bytes(Image.fromarray(values), "TIFF"))
    assert decoded.rgb.shape == (1, 4, 3) and decoded.rgb.dtype == np.uint8


# --- EXIF orientation ----------------------------------------------------------------------------


def oriented(rgb: np.ndarray, orientation: int, fmt: str = "PNG") -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return to_bytes(Image.fromarray(rgb), fmt, exif=exif.tobytes())


@pytest.mark.parametrize(
    "orientation, upright",
    [
        (1, lambda a: a),
        (3, lambda a: np.rot90(a, 2)),
        (6, lambda a: np.rot90(a, -1)),  # rotate 90 clockwise to display
        (8, lambda a: np.rot90(a, 1)),  # rotate 90 counter-clockwise to display
        (2, lambda a: a[:, ::-1]),
    ],
)
def test_exif_orientation_is_applied(orientation, upright):
    rgb = pattern(30, 12)
    rgb[0, 0] = (255, 255, 255)  # mark the stored top-left corner
    decoded = decode(oriented(rgb, orientation))
    np.testing.assert_array_equal(decoded.rgb, upright(rgb))


def test_exif_orientation_6_in_a_jpeg_makes_a_portrait():
    rgb = np.zeros((40, 80, 3), np.uint8)
    rgb[:, :40] = (250, 0, 0)  # left half red, stored landscape
    decoded = decode(oriented(rgb, 6, "JPEG"))
    assert (decoded.width, decoded.height) == (40, 80)
    # rotated clockwise, the stored left half is now the top half
    assert decoded.rgb[10, 20, 0] > 200 and decoded.rgb[70, 20, 0] < 50


def test_exif_orientation_with_alpha_rotates_alpha_too():
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[0, :, 3] = 0  # stored top row transparent
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode(to_bytes(Image.fromarray(rgba), "PNG", exif=exif.tobytes()))
    assert decoded.alpha.shape == (6, 4)
    np.testing.assert_array_equal(decoded.alpha[:, -1], 0)  # now the right column
    assert decoded.alpha[:, :-1].min() == 255


# --- ICC profiles --------------------------------------------------------------------------------


def with_profile(rgb: np.ndarray, profile: bytes | None, mode: str = "RGB") -> bytes:
    image = Image.fromarray(rgb, mode)
    return to_bytes(image, "PNG", **({"icc_profile": profile} if profile else {}))


def test_without_a_profile_pixels_are_taken_as_srgb():
    rgb = pattern()
    np.testing.assert_array_equal(decode(with_profile(rgb, None)).rgb, rgb)


def test_an_embedded_srgb_profile_leaves_pixels_as_they_are():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = pattern()
    assert np.abs(decode(with_profile(rgb, srgb)).rgb.astype(int) - rgb).max() <= 1


def every_color_once() -> np.ndarray:
    keys = np.arange(1 << 24, dtype=np.uint32)[:: 1 << 6]  # every 64th color: 262,144 of them
    return np.stack([keys >> 16, (keys >> 8) & 255, keys & 255], axis=-1).astype(np.uint8).reshape(512, 512, 3)


def test_an_embedded_srgb_profile_is_not_run_at_all(monkeypatch):
    # Converting sRGB to sRGB is a no-op that LittleCMS takes 12 ms a megapixel over, moving some
    # colors by one level (its rounding): the pixels are taken exactly as stored.
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = every_color_once()
    converted = []
    apply = ImageCms.ImageCmsTransform.apply
    monkeypatch.setattr(ImageCms.ImageCmsTransform, "apply",
                        lambda transform, image, *rest: converted.append(image.size) or apply(transform, image, *rest))
    np.testing.assert_array_equal(decode(with_profile(rgb, srgb)).rgb, rgb)
    assert converted and (512, 512) not in converted  # only the ramps that tell sRGB apart


def test_a_profile_with_srgb_primaries_but_other_curves_is_still_converted():
    rgb = every_color_once()
    gamma_22 = rgb_icc_profile(SRGB_COLORANTS_D50, 2.2, "sRGB primaries, gamma 2.2")
    decoded = decode(with_profile(rgb, gamma_22)).rgb.astype(int)
    # A pure 2.2 curve is darker than sRGB's in the shadows: some colors move by more than a level.
    assert np.abs(decoded - rgb).max() > 1


def test_the_srgb_profiles_of_corpus_jpegs_leave_every_color_as_stored(corpus):
    # The IEC 61966-2.1 profile that flower.jpg and china.jpg carry (version 2): LittleCMS's conversion
    # of it to its own sRGB moves about 0.4% of all colors by a level.
    rgb = every_color_once()
    for name in ("flower.jpg", "china.jpg"):
        data = (corpus / name).read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            profile = image.info["icc_profile"]
            np.testing.assert_array_equal(decode(data).rgb, np.asarray(image.convert("RGB")))
        assert ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(profile))).startswith("sRGB")
        np.testing.assert_array_equal(decode(with_profile(rgb, profile)).rgb, rgb)


def test_a_profile_with_red_and_blue_swapped_is_converted_to_srgb():
    rgb = np.array([[[255, 0, 0], [0, 0, 255], [0, 255, 0], [200, 100, 30]]], np.uint8)
    decoded = decode(with_profile(rgb, SWAPPED_RED_BLUE))
    # Pure primaries swap; the gamma-2.2 curve moves the mixed color slightly.
    assert np.abs(decoded.rgb[0, :3].astype(int) - [[0, 0, 255], [255, 0, 0], [0, 255, 0]]).max() <= 2
    assert decoded.rgb[0, 3, 2] > decoded.rgb[0, 3, 0]  # orange-ish in the file is blue-ish on screen


def test_a_linear_light_profile_brightens_mid_gray():
    rgb = np.full((2, 2, 3), 128, np.uint8)
    decoded = decode(with_profile(rgb, LINEAR_SRGB))
    # linear 128/255 = 0.502 is sRGB 188
    assert np.abs(decoded.rgb.astype(int) - 188).max() <= 1


def test_a_gray_profile_is_applied_to_l_and_la():
    decoded = decode(to_bytes(Image.new("L", (2, 2), 128), "PNG", icc_profile=LINEAR_GRAY))
    assert np.abs(decoded.rgb.astype(int) - 188).max() <= 1
    decoded = decode(to_bytes(Image.new("LA", (2, 2), (128, 77)), "PNG", icc_profile=LINEAR_GRAY))
    assert np.abs(decoded.rgb.astype(int) - 188).max() <= 1
    np.testing.assert_array_equal(decoded.alpha, 77)


def test_a_profile_is_applied_and_alpha_is_kept():
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = [[0, 128, 255], [255, 10, 255]]
    decoded = decode(with_profile(rgba, SWAPPED_RED_BLUE, "RGBA"))
    np.testing.assert_array_equal(decoded.alpha, rgba[..., 3])
    assert decoded.rgb[0, 2, 2] >= 253 and decoded.rgb[0, 2, 0] <= 2


def test_a_profile_in_a_jpeg_is_applied():
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0] = 255
    data = to_bytes(Image.fromarray(rgb), "JPEG", quality=100, icc_profile=SWAPPED_RED_BLUE)
    decoded = decode(data)
    assert decoded.rgb[8, 8, 2] > 240 and decoded.rgb[8, 8, 0] < 15


def test_a_profile_survives_exif_rotation():
    rgb = np.zeros((4, 8, 3), np.uint8)
    rgb[..., 0] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    data = to_bytes(Image.fromarray(rgb), "JPEG", quality=100, icc_profile=SWAPPED_RED_BLUE, exif=exif.tobytes())
    decoded = decode(data)
    assert decoded.rgb.shape == (8, 4, 3)
    assert decoded.rgb[2, 2, 2] > 240 and decoded.rgb[2, 2, 0] < 15


def test_a_profile_on_a_paletted_png_is_applied():
    image = Image.new("P", (4, 4), 0)
    image.putpalette([255, 0, 0, 0, 0, 255])
    image.putpixel((0, 0), 1)
    decoded = decode(to_bytes(image, "PNG", icc_profile=SWAPPED_RED_BLUE))
    # the palette's red is the profile's blue, and the other way round
    assert np.abs(decoded.rgb[1, 1].astype(int) - [0, 0, 255]).max() <= 2
    assert np.abs(decoded.rgb[0, 0].astype(int) - [255, 0, 0]).max() <= 2


def test_a_broken_profile_is_ignored():
    rgb = pattern()
    np.testing.assert_array_equal(decode(with_profile(rgb, b"not a profile" * 20)).rgb, rgb)


def test_decode_stores_each_pixel_once_as_bgr0_with_rgb_and_keys_as_views():
    rgb = pattern()
    decoded = decode(to_bytes(Image.fromarray(rgb), "PNG"))
    assert decoded.pixels.flags["C_CONTIGUOUS"] and decoded.pixels.shape == (*rgb.shape[:2], 4)
    np.testing.assert_array_equal(decoded.pixels[..., 3], 0)
    assert np.shares_memory(decoded.rgb, decoded.pixels) and np.shares_memory(decoded.keys, decoded.pixels)
    np.testing.assert_array_equal(decoded.rgb, rgb)
    expected_keys = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    np.testing.assert_array_equal(decoded.keys, expected_keys.ravel())
    assert not decoded.pixels.flags.writeable, "the decoded photo is shared by every render: read-only"


# --- refusals ------------------------------------------------------------------------------------


def test_empty_data_is_refused():
    with pytest.raises(imaging.ImageError) as info:
        decode(b"")
    assert info.value.code == "unsupported_image"


@pytest.mark.parametrize("data", [b"hello world, not an image", b"%PDF-1.4\n" + bytes(200), bytes(1000)])
def test_non_images_are_refused(data):
    with pytest.raises(imaging.ImageError) as info:
        decode(data)
    assert info.value.code == "unsupported_image"
    assert "JPEG" in info.value.message


def test_too_many_pixels_is_refused_from_the_header():
    data = to_bytes(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(imaging.ImageError) as info:
        imaging.decode(data, max_pixels=9_999)
    assert info.value.code == "too_many_pixels"
    assert "100x100" in info.value.message
    assert imaging.decode(data, max_pixels=10_000).width == 100


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a size, followed by one tiny compressed row: a decompression bomb's shape."""
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(bytes(width + 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_before_decoding():
    bomb = png_claiming(30000, 30000)  # 900 MP claimed in a few hundred bytes
    assert len(bomb) < 1000
    with pytest.raises(imaging.ImageError) as info:
        imaging.decode(bomb, max_pixels=50_000_000)
    assert info.value.code == "too_many_pixels"
    assert "30000x30000" in info.value.message or "900.0 megapixels" in info.value.message


def test_a_truncated_image_is_unusable():
    data = to_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)), "PNG")
    with pytest.raises(imaging.ImageError) as info:
        decode(data[: len(data) // 2])
    assert info.value.code == "unusable_image"


def test_image_error_is_a_value_error_with_code_and_message():
    error = imaging.ImageError("unusable_image", "broken")
    assert isinstance(error, ValueError) and error.code == "unusable_image" and str(error) == "broken"


# --- encoding ------------------------------------------------------------------------------------


def random_indices(k: int, shape=(40, 50), seed=0) -> np.ndarray:
    indices = np.random.default_rng(seed).integers(0, k, shape).astype(np.uint8)
    indices.flat[:k] = np.arange(k)  # every entry used
    return indices


def random_palette(k: int, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    keys = rng.choice(1 << 24, size=k, replace=False)
    return np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], axis=1).astype(np.uint8)


@pytest.mark.parametrize("k, bits", [(2, 1), (3, 2), (4, 2), (5, 4), (16, 4), (17, 8), (200, 8), (256, 8)])
def test_png_is_paletted_at_the_smallest_bit_depth(k, bits):
    indices, palette = random_indices(k), random_palette(k)
    data = imaging.encode(indices, palette)
    width, height, depth, color_type = png_ihdr(data)
    assert (width, height) == (50, 40)
    assert color_type == 3  # indexed color
    assert depth == bits
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    np.testing.assert_array_equal(decoded, palette[indices])


def test_binary_alpha_gives_a_paletted_png_with_one_transparent_entry():
    k = 3
    indices, palette = random_indices(k), random_palette(k)
    alpha = np.where(np.random.default_rng(1).random(indices.shape) < 0.3, 0, 255).astype(np.uint8)
    data = imaging.encode(indices, palette, alpha)
    _, _, depth, color_type = png_ihdr(data)
    assert color_type == 3 and depth == 2  # 3 colors + 1 transparent entry
    assert b"tRNS" in png_chunks(data)
    image = Image.open(io.BytesIO(data))
    assert image.mode == "P"
    rgba = np.asarray(image.convert("RGBA"))
    np.testing.assert_array_equal(rgba[..., 3], alpha)
    visible = alpha == 255
    np.testing.assert_array_equal(rgba[..., :3][visible], palette[indices][visible])
    # the transparent entry is the only one with alpha below 255
    transparency = image.info["transparency"]  # Pillow gives a single clear index as an int
    if isinstance(transparency, bytes):
        assert [v for v in transparency if v < 255] == [0]
    else:
        assert isinstance(transparency, int) and not np.any(np.asarray(image)[visible] == transparency)


def test_binary_alpha_with_16_colors_needs_8_bits():
    indices, palette = random_indices(16), random_palette(16)
    alpha = np.full(indices.shape, 255, np.uint8)
    alpha[0, 0] = 0
    assert png_ihdr(imaging.encode(indices, palette, alpha))[2] == 8


def test_partial_alpha_is_kept_exactly():
    indices, palette = random_indices(4), random_palette(4)
    alpha = np.random.default_rng(2).integers(0, 256, indices.shape).astype(np.uint8)
    data = imaging.encode(indices, palette, alpha)
    rgba = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
    np.testing.assert_array_equal(rgba[..., 3], alpha)
    visible = alpha > 0
    np.testing.assert_array_equal(rgba[..., :3][visible], palette[indices][visible])
    colors = {tuple(c) for c in rgba[..., :3][visible]}
    assert colors <= {tuple(c) for c in palette}


@pytest.mark.parametrize("fmt, magic", [("jpeg", b"\xff\xd8\xff"), ("webp", b"RIFF")])
def test_jpeg_and_webp_output(fmt, magic):
    indices, palette = random_indices(4, (64, 96)), random_palette(4)
    data = imaging.encode(indices, palette, fmt=fmt)
    assert data.startswith(magic)
    image = Image.open(io.BytesIO(data))
    assert image.format == fmt.upper() and image.size == (96, 64)
    assert imaging.MIME_TYPES[fmt] == f"image/{fmt}"


def test_webp_output_keeps_alpha():
    indices, palette = random_indices(2, (16, 16)), random_palette(2)
    alpha = np.full((16, 16), 255, np.uint8)
    alpha[:8] = 0
    image = Image.open(io.BytesIO(imaging.encode(indices, palette, alpha, fmt="webp")))
    assert image.mode == "RGBA"
    assert np.asarray(image)[..., 3][:8].max() == 0


def test_unknown_output_format_is_refused():
    with pytest.raises(ValueError, match="'gif'"):
        imaging.encode(random_indices(2), random_palette(2), fmt="gif")


def test_encoding_is_deterministic_and_leaves_its_inputs_alone():
    indices, palette = random_indices(5), random_palette(5)
    alpha = np.where(np.random.default_rng(3).random(indices.shape) < 0.5, 0, 255).astype(np.uint8)
    copies = indices.copy(), palette.copy(), alpha.copy()
    first = imaging.encode(indices, palette, alpha)
    assert imaging.encode(indices, palette, alpha) == first
    for original, copy in zip((indices, palette, alpha), copies):
        np.testing.assert_array_equal(original, copy)


def test_paletted_png_is_far_smaller_than_a_24_bit_png():
    y, x = np.mgrid[0:256, 0:384]
    rgb = np.stack([x * 255 // 383, y, (x + y) * 255 // 638], axis=-1).astype(np.uint8)
    rgb = np.clip(rgb + np.random.default_rng(4).integers(-20, 20, rgb.shape), 0, 255).astype(np.uint8)
    indices = (rgb[..., 0] // 64).astype(np.uint8)  # 4 entries
    palette = np.array([[32, 0, 0], [96, 0, 0], [160, 0, 0], [224, 0, 0]], np.uint8)
    small = imaging.encode(indices, palette)
    full = imaging.encode_rgb_png(rgb)
    assert png_ihdr(full)[2:] == (8, 2)  # truecolor
    assert len(small) * 5 < len(full)


def test_encode_rgb_png_with_alpha_is_rgba():
    rgb, alpha = pattern(), np.full((16, 24), 7, np.uint8)
    data = imaging.encode_rgb_png(rgb, alpha)
    assert png_ihdr(data)[2:] == (8, 6)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data)))[..., 3], alpha)


def test_encode_jpeg_of_the_original():
    data = imaging.encode_jpeg(pattern())
    assert Image.open(io.BytesIO(data)).format == "JPEG"


@pytest.mark.parametrize(
    "shape, side, expected", [((100, 50), 20, (20, 10)), ((30, 90), 45, (15, 45)), ((10, 10), 40, (10, 10))]
)
def test_shrink_nearest_fits_the_longer_side_and_adds_no_values(shape, side, expected):
    indices = random_indices(7, shape)
    small = imaging.shrink_nearest(indices, side)
    assert small.shape == expected
    assert set(np.unique(small)) <= set(np.unique(indices))
    assert small[0, 0] == indices[0, 0]
