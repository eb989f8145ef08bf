"""Bytes to pixels and pixels back to bytes, in memory, under limits.

Decoding applies the EXIF orientation, converts an embedded ICC profile to
sRGB and brings every mode to 8-bit RGB plus an optional alpha channel.
Encoding writes a paletted PNG at the smallest bit depth that holds the
palette, or JPEG/WebP on request.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms, ImageOps

from app import png

FORMATS = ("png", "jpeg", "webp")
# The formats we document and decode (Pillow's names; its JPEG opener also takes MPO, the JPEG
# many phones write). Pillow knows some forty more (DDS, FITS, PSD...): more attack surface than
# anyone needs here.
INPUT_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
_UNSUPPORTED = "This file is not an image we can read. Use JPEG, PNG, WebP, GIF, BMP or TIFF."
MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_SRGB = ImageCms.createProfile("sRGB")
_SRGB_PROFILE = ImageCms.ImageCmsProfile(_SRGB)
STRIP_PIXELS = 1 << 20  # pixels copied out of Pillow at a time


class ImageError(ValueError):
    """An upload that cannot be used; `code` says why (see app.errors for statuses)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Decoded:
    """Decoded pixels, stored once: 4 bytes a pixel, B, G, R and a zero byte.

    Read as little-endian uint32 each pixel is its color key 0x00RRGGBB, and
    read backwards it is RGB; so `keys` and `rgb` are two views of one buffer
    instead of a 3-byte and a 4-byte copy side by side. Both are read-only.
    """

    pixels: np.ndarray  # (H, W, 4) uint8 B, G, R, 0; sRGB, upright
    alpha: np.ndarray | None  # (H, W) uint8, or None when fully opaque
    source_format: str  # "JPEG", "PNG", ...

    @property
    def rgb(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB: a view, not contiguous."""
        return self.pixels[:, :, 2::-1]

    @property
    def keys(self) -> np.ndarray:
        """(H*W,) uint32 0x00RRGGBB of every pixel: a view."""
        return self.pixels.view("<u4").reshape(-1)

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def nbytes(self) -> int:
        return self.pixels.nbytes + (0 if self.alpha is None else self.alpha.nbytes)

    def pil_rgb(self) -> Image.Image:
        """The pixels as a Pillow RGB image (Pillow's own copy, 4 bytes a pixel)."""
        return Image.frombuffer("RGB", (self.width, self.height), self.pixels, "raw", "BGRX", 0, 1)


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Identify an image and check its size from the header, before decoding it."""
    if not data:
        raise ImageError("unsupported_image", "The file is empty. Choose a photo to upload.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # our own pixel limit replaces Pillow's bomb warning
            image = Image.open(io.BytesIO(data), formats=INPUT_FORMATS)
    except Image.DecompressionBombError as error:
        # Pillow refuses headers claiming over twice its own limit before we see the size;
        # that is a too-large image, not an unreadable one.
        claimed = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(claimed.group(1)) / 1e6:.1f} megapixels" if claimed else "more pixels than we accept"
        raise ImageError(
            "too_many_pixels",
            f"The image is {size}; the limit is {max_pixels / 1e6:.1f} megapixels. Resize it and try again.",
        ) from None
    except Exception:  # any decoder's failure to read a header: NotImplementedError, OSError, struct.error...
        raise ImageError("unsupported_image", _UNSUPPORTED) from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(
            "too_many_pixels",
            f"The image is {width}x{height} = {width * height / 1e6:.1f} megapixels; "
            f"the limit is {max_pixels / 1e6:.1f} megapixels. Resize it and try again.",
        )
    if width < 1 or height < 1:
        raise ImageError("unusable_image", f"The image has no pixels ({width}x{height}).")
    return image


def decode(data: bytes, max_pixels: int) -> Decoded:
    """Decode the first frame of an image to upright sRGB pixels and alpha."""
    image = open_image(data, max_pixels)
    source_format = image.format or "unknown"
    # The whole file to the decoder in one call (Pillow's default hands it over 64 KB at a time): one
    # release of the GIL instead of dozens, each of which another busy thread could hold up.
    image.decodermaxblock = max(image.decodermaxblock, len(data))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image.load()  # first frame or page only
            ImageOps.exif_transpose(image, in_place=True)  # not a copy when already upright
            image = _to_srgb(image)
            pixels, alpha = _to_pixels_alpha(image)
    except ImageError:
        raise
    except NotImplementedError:  # a variant of the format that Pillow cannot decode
        raise ImageError("unsupported_image", _UNSUPPORTED) from None
    except Exception:  # Pillow raises many types for broken data, MemoryError included
        raise ImageError(
            "unusable_image", "The image is damaged or truncated and cannot be decoded. Try saving it again."
        ) from None
    return Decoded(pixels=pixels, alpha=alpha, source_format=source_format)


def _to_srgb(image: Image.Image) -> Image.Image:
    """Convert pixels from an embedded ICC profile to sRGB; leave others as they are."""
    icc = image.info.get("icc_profile")
    if not icc:
        return image
    if image.mode in ("P", "PA"):  # palette colors are in the profile's space too
        image = image.convert("RGBA" if image.mode == "PA" or "transparency" in image.info else "RGB")
    if image.mode not in ("RGB", "RGBA", "CMYK", "L", "LA"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ImageCms.PyCMSError):
        return image  # a broken profile is ignored, as browsers do
    mode = {"RGBA": "RGB", "LA": "L"}.get(image.mode, image.mode)
    try:
        transform = ImageCms.buildTransform(source, _SRGB, mode, "RGB")
        if mode == "RGB" and _is_srgb(source, transform):
            return image  # before any copy: an sRGB photo's pixels are taken as they are
        alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
        converted = ImageCms.applyTransform(image.convert(mode), transform)
    except ImageCms.PyCMSError:
        return image
    if alpha is not None:
        converted.putalpha(alpha)
    return converted


def _ramps() -> Image.Image:
    """Every level of red alone, green alone, blue alone and gray: four rows of 256 pixels."""
    levels = np.arange(256, dtype=np.uint8)
    ramps = np.zeros((4, 256, 3), np.uint8)
    for channel in range(3):
        ramps[channel, :, channel] = levels
    ramps[3] = levels[:, None]
    return Image.fromarray(ramps)


_RAMPS = _ramps()


def _is_srgb(source: ImageCms.ImageCmsProfile, transform: ImageCms.ImageCmsTransform) -> bool:
    """Whether a profile is sRGB itself: converting by it would leave every color as it is.

    Most camera and web JPEGs that carry a profile carry sRGB's; LittleCMS
    converts them to sRGB at 12 ms a megapixel (150 ms for a 12 MP photo) and
    moves 0.4% of all colors by one level, its rounding. It is sRGB when it is
    a matrix-and-curves profile with sRGB's primaries, and its curves map each
    channel's 256 levels to themselves (within that one level).
    """
    profile, srgb = source.profile, _SRGB_PROFILE.profile
    try:
        if not profile.is_matrix_shaper:
            return False
        for colorant, expected in ((profile.red_colorant, srgb.red_colorant), (profile.green_colorant, srgb.green_colorant),
                                   (profile.blue_colorant, srgb.blue_colorant)):
            if colorant is None or max(abs(a - b) for a, b in zip(colorant[0], expected[0])) > 1e-3:
                return False
    except (AttributeError, TypeError, ValueError):
        return False
    mapped = np.asarray(ImageCms.applyTransform(_RAMPS, transform), dtype=np.int16)
    return int(np.abs(mapped - np.asarray(_RAMPS, dtype=np.int16)).max()) <= 1


def _to_pixels_alpha(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Bring any Pillow mode to B, G, R, 0 pixels and an alpha channel that is None when opaque.

    Pillow holds RGB at 4 bytes a pixel already: its "BGRX" packer writes that
    layout in one copy, and the image is let go before anything else is made.
    """
    mode = image.mode
    width, height = image.size
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        gray = _high_depth_to_8bit(np.asarray(image), mode)
        pixels = np.zeros((height, width, 4), np.uint8)
        pixels[:, :, 0] = pixels[:, :, 1] = pixels[:, :, 2] = gray
        return _read_only(pixels), None
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode in ("P", "L", "RGB") and "transparency" in image.info)
    alpha = None
    if has_alpha:
        image = image.convert("RGBA")
        alpha = np.asarray(image.getchannel("A"))
        if alpha.min() == 255:
            alpha = None
    if image.mode != "RGB":
        image = image.convert("RGB")
    return _read_only(pillow_to_array(image, "BGRX", 4)), alpha


def pillow_to_array(image: Image.Image, rawmode: str, channels: int) -> np.ndarray:
    """A Pillow image's pixels in a numpy array, copied a strip at a time.

    Image.tobytes (and so np.asarray) gathers the whole image in pieces and
    then joins them: two full-size copies beside the image. Strips keep it to one.
    """
    width, height = image.size
    out = np.empty((height, width, channels) if channels > 1 else (height, width), np.uint8)
    rows = max(1, STRIP_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        strip = image.crop((0, top, width, min(height, top + rows)))
        out[top : top + rows] = np.frombuffer(strip.tobytes("raw", rawmode), np.uint8).reshape(out[top : top + rows].shape)
    return out


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _high_depth_to_8bit(values: np.ndarray, mode: str) -> np.ndarray:
    """Scale 16-bit, 32-bit integer and float gray to 0-255.

    16-bit modes use their full range 0-65535. Floats whose values all lie in
    0-1 are taken as 0-1 and other floats as 0-255. 32-bit integers are taken
    as 0-255 unless they exceed it, and then as 16-bit (how 16-bit files
    often arrive in that mode).
    """
    values = np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    top = values.max() if values.size else 0.0
    if mode.startswith("I;16") or (mode == "I" and top > 255.0):
        values = values / np.float32(257.0)
    elif mode == "F" and values.min(initial=0.0) >= 0.0 and top <= 1.0:
        values = values * np.float32(255.0)
    return np.rint(np.clip(values, 0, 255)).astype(np.uint8)


def encode(
    indices: np.ndarray,
    palette: np.ndarray,
    alpha: np.ndarray | None = None,
    fmt: str = "png",
    quality: int = 90,
    compress_level: int = 3,
) -> bytes:
    """Encode an index map and its palette.

    indices: an array, or anything that hands out its rows (app/png.py's IndexRows).

    PNG is paletted at 1, 2, 4 or 8 bits (app/png.py), with one transparent entry when
    the alpha is binary. Partial alpha keeps its values in an RGBA PNG, by Pillow at
    compress_level: zlib level 3 writes a 12 MP PNG in under half the time of the default 6,
    for files about 12% larger (measured on the camera photos at k=16).
    JPEG and WebP add colors of their own by nature; they are for sharing,
    not for exactness.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    binary_alpha = alpha is not None and np.isin(alpha, (0, 255)).all()
    if fmt == "png" and (alpha is None or binary_alpha) and len(palette) + (alpha is not None) <= 256:
        return png.paletted(indices, palette, alpha)
    indices = np.asarray(indices)
    buffer = io.BytesIO()
    rgb = np.asarray(palette, dtype=np.uint8)[indices]
    if alpha is not None and fmt != "jpeg":
        image = Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA")
    else:
        image = Image.fromarray(rgb, mode="RGB")
    options = {"quality": quality} if fmt != "png" else {"compress_level": compress_level}
    image.save(buffer, fmt.upper(), **options)
    return buffer.getvalue()


def png_bit_depth(data: bytes) -> int | None:
    """The bit depth a PNG was written with (per palette index or channel), from its header."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 25:
        return None
    return data[24]


def encode_rgb_png(rgb: np.ndarray, alpha: np.ndarray | None = None) -> bytes:
    """A plain 24-bit (or 32-bit with alpha) PNG, the size to compare with."""
    buffer = io.BytesIO()
    image = Image.fromarray(rgb if alpha is None else np.dstack([rgb, alpha]))
    image.save(buffer, "PNG")
    return buffer.getvalue()


def shrink_nearest(indices: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale an index map by nearest neighbor so it never gains colors."""
    height, width = indices.shape[:2]
    scale = max(height, width) / max_side
    if scale <= 1:
        return indices
    rows = (np.arange(max(1, round(height / scale))) * scale).astype(np.intp)
    cols = (np.arange(max(1, round(width / scale))) * scale).astype(np.intp)
    return indices[np.ix_(np.minimum(rows, height - 1), np.minimum(cols, width - 1))]


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """A JPEG for showing the original in any browser, whatever its own format was."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def resize_long_side(decoded: Decoded, side: int) -> Decoded:
    """The picture with its longer side at `side` pixels (Lanczos, up or down), transparency flattened on white."""
    image = decoded.pil_rgb()
    if decoded.alpha is not None:
        paper = Image.new("RGB", image.size, (255, 255, 255))
        paper.paste(image, mask=Image.fromarray(decoded.alpha))
        image = paper
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return Decoded(pixels=_read_only(pillow_to_array(image, "BGRX", 4)), alpha=None, source_format=decoded.source_format)
