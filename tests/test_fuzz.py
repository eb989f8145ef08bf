"""A short fuzz run over the decode path: hypothesis mutates the bytes of real files.

Seeds are real photos from the shared corpus (the small ones whole, crops
of others re-encoded in every format we read) plus generated images in odd
modes. Each mutated file must decode to well-formed pixels within the pixel
limit, or be refused with an ImageError that says why: no other exception,
no warning, no hang. The run is bounded to well under a minute;
FUZZ_EXAMPLES raises it for a longer hunt.
"""

from __future__ import annotations

import functools
import io
import os
import re
import time
import zlib

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from app import errors, imaging
from testsupport.corpus import CORPUS

MAX_PIXELS = 2_000_000
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4000"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@functools.cache
def seeds() -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    photo = None
    if CORPUS.is_dir():
        for name in ("flower.jpg", "china.jpg"):  # small real JPEGs, whole, with their own markers
            found[name] = (CORPUS / name).read_bytes()
        with Image.open(CORPUS / "kodim23.png") as kodim:
            photo = kodim.convert("RGB").crop((300, 150, 396, 222))
    if photo is None:  # without the corpus: a generated picture, so the run still means something
        y, x = np.mgrid[0:72, 0:96]
        photo = Image.fromarray(np.stack([x * 2, y * 3, (x * y) % 256], axis=2).astype(np.uint8))
    found.update({
        "crop.png": _encode(photo, "PNG"),
        "crop.jpg": _encode(photo, "JPEG", quality=85),
        "crop-progressive.jpg": _encode(photo, "JPEG", progressive=True),
        "crop-cmyk.jpg": _encode(photo.convert("CMYK"), "JPEG"),
        "crop.webp": _encode(photo, "WEBP"),
        "crop.gif": _encode(photo.convert("P"), "GIF"),
        "crop.bmp": _encode(photo, "BMP"),
        "crop.tif": _encode(photo, "TIFF", compression="tiff_lzw"),
        "crop-rgba.png": _encode(photo.convert("RGBA"), "PNG"),
        "crop-la.png": _encode(photo.convert("LA"), "PNG"),
        "crop-16bit.png": _encode(Image.fromarray((np.asarray(photo.convert("L"), np.uint16) * 257)), "PNG"),
        "crop-float.tif": _encode(Image.fromarray(np.asarray(photo.convert("L"), np.float32) / 255), "TIFF"),
        "crop-1bit.png": _encode(photo.convert("1"), "PNG"),
        "crop-exif-rotated.jpg": _encode(photo, "JPEG", exif=_rotation_exif()),
        "anim.gif": _encode(photo.convert("P"), "GIF", save_all=True,
                            append_images=[photo.rotate(90).convert("P"), photo.rotate(180).convert("P")]),
        "pages.tif": _encode(photo, "TIFF", save_all=True, append_images=[photo.rotate(90)]),
    })
    return found


def _rotation_exif() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90
    return exif.tobytes()


INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFF)


@st.composite
def mutated_files(draw) -> tuple[str, bytes]:
    """A seed file with one to eight mutations, biased towards its headers."""
    name = draw(st.sampled_from(sorted(seeds())))
    data = bytearray(seeds()[name])
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        span = min(len(data), 600) if draw(st.booleans()) else len(data)
        at = draw(st.integers(0, span - 1))
        kind = draw(st.sampled_from(["flip", "byte", "int16", "int32", "insert", "delete", "truncate", "repeat"]))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            data[at] = draw(st.sampled_from(INTERESTING) | st.integers(0, 255))
        elif kind in ("int16", "int32"):
            width = 2 if kind == "int16" else 4
            value = draw(st.sampled_from([0, 1, 2**(8 * width) - 1, 2**(8 * width - 1), 65535, 60000]))
            order = draw(st.sampled_from(["big", "little"]))
            data[at:at + width] = value.to_bytes(width, order)
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 256))]
        elif kind == "truncate":
            del data[at:]
        else:  # repeat a slice: duplicated chunks, markers and frames
            length = draw(st.integers(1, 512))
            data[at:at] = data[at:at + length]
    if name.endswith(".png") and draw(st.booleans()):
        data = fix_png_checksums(data)  # get past the CRC checks, into the chunk parsers and the decoder
    return name, bytes(data)


def fix_png_checksums(data: bytearray) -> bytearray:
    """Recompute the CRC of every chunk whose length still fits the file."""
    at = 8
    while at + 12 <= len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        end = at + 8 + length
        if end + 4 > len(data):
            break
        data[end:end + 4] = zlib.crc32(data[at + 4:end]).to_bytes(4, "big")
        at = end + 4
    return data


@FUZZ
@given(sample=mutated_files())
def test_mutated_files_decode_cleanly_or_are_refused_in_words(sample):
    name, data = sample
    started = time.perf_counter()
    try:
        decoded = imaging.decode(data, MAX_PIXELS)
    except imaging.ImageError as error:
        assert error.code in errors.IMAGE_ERROR_STATUS, f"{name}: unknown code {error.code}"
        assert isinstance(error.message, str) and len(error.message) > 10
        assert "Traceback" not in error.message and not re.search(r"/\w+/", error.message), error.message
    else:
        height, width = decoded.rgb.shape[:2]
        assert decoded.rgb.dtype == np.uint8 and decoded.rgb.shape == (height, width, 3)
        assert 1 <= width * height <= MAX_PIXELS
        if decoded.alpha is not None:
            assert decoded.alpha.dtype == np.uint8 and decoded.alpha.shape == (height, width)
    elapsed = time.perf_counter() - started
    assert elapsed < 3.0, f"{name}: decoding {len(data)} mutated bytes took {elapsed:.1f} s"


def test_every_seed_decodes_before_mutation():
    """The seeds are good files: otherwise the fuzz run only tests the refusals."""
    for name, data in seeds().items():
        decoded = imaging.decode(data, MAX_PIXELS)
        assert decoded.width > 0 and decoded.height > 0, name
