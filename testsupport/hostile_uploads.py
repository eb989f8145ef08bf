"""A generated corpus of hostile uploads, built in memory: no binary blobs in the repository.

tests/test_hostile.py sends every case through the Flask test client;
tests/test_server.py sends LIVE_SUBSET through the real gunicorn.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

HOSTILE_NAME = "<script>alert(1)</script>.png"


# --- building blocks -------------------------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def photo(width: int = 48, height: int = 32, seed: int = 0) -> Image.Image:
    """A small, colorful RGB test picture: a gradient with some noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) * 7 % 256], axis=2)
    rgb = np.clip(rgb + rng.integers(-12, 12, rgb.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_with_chunk(kind: bytes, data: bytes) -> bytes:
    """A valid small PNG with one extra chunk placed before its pixel data."""
    base = encode(photo(), "PNG")
    after_ihdr = len(PNG_SIGNATURE) + 25
    return base[:after_ihdr] + png_chunk(kind, data) + base[after_ihdr:]


def png_claiming(width: int, height: int, bit_depth: int = 1, color_type: int = 0) -> bytes:
    """A PNG whose header claims a size; its pixel data is a valid run of zero rows.

    Row bytes are streamed through zlib, so a bomb of hundreds of megapixels
    is built in a few hundred kilobytes and milliseconds.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    row = b"\0" * (1 + (width * channels * bit_depth + 7) // 8)
    rows = min(height, 20_000)  # beyond that the file only needs to claim its size
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(rows)) + compressor.flush()
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def gif_frames(count: int, screen: tuple[int, int] = (64, 64)) -> bytes:
    """An animated GIF of `count` 1x1 frames, written by hand to stay small and quick.

    Frame 0 is red, every later frame is blue: a result with any blue in it
    decoded more than the first frame.
    """
    width, height = screen
    palette = bytes([255, 0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0])  # 4 entries: red, blue, black, black
    out = [b"GIF89a", struct.pack("<HHBBB", width, height, 0xF1, 0, 0), palette]
    out.append(b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00")  # loop forever
    # Frame 0 covers the whole screen in red, so that it alone decides the first frame's colors.
    out.append(b"\x21\xf9\x04\x04\x02\x00\x00\x00")
    out.append(b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0))
    out.append(_lzw_single_color(width * height, index=0))
    blue = _lzw_single_color(1, index=1)
    for i in range(1, count):
        out.append(b"\x21\xf9\x04\x04\x01\x00\x00\x00")  # no disposal, 10 ms
        out.append(b"\x2c" + struct.pack("<HHHHB", i % width, (i // width) % height, 1, 1, 0))
        out.append(blue)
    out.append(b"\x3b")
    return b"".join(out)


def _lzw_single_color(pixels: int, index: int) -> bytes:
    """GIF LZW data (min code size 2) for `pixels` copies of one palette index.

    Emits clear + index for every pixel, so the code size never grows: 3-bit
    codes throughout. Simple and valid, if not compact.
    """
    clear, end = 4, 5
    codes = []
    for _ in range(pixels):
        codes += [clear, index]
    codes.append(end)
    bits = 0
    nbits = 0
    data = bytearray()
    for code in codes:
        bits |= code << nbits
        nbits += 3
        while nbits >= 8:
            data.append(bits & 0xFF)
            bits >>= 8
            nbits -= 8
    if nbits:
        data.append(bits & 0xFF)
    blocks = b"".join(bytes([len(data[i : i + 255])]) + bytes(data[i : i + 255]) for i in range(0, len(data), 255))
    return b"\x02" + blocks + b"\x00"


def tiff_pages(count: int) -> bytes:
    """A multi-page TIFF: page 0 is red, the others blue."""
    red = Image.new("RGB", (8, 8), (255, 0, 0))
    blue = Image.new("RGB", (8, 8), (0, 0, 255))
    return encode(red, "TIFF", save_all=True, append_images=[blue] * (count - 1))


def gif_claiming(width: int, height: int) -> bytes:
    """A GIF whose logical screen claims a size, with one 1x1 frame."""
    return (
        b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + bytes([255, 0, 0, 0, 0, 255])
        + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00" + b"\x3b"
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG with its frame header rewritten to claim a size."""
    data = bytearray(encode(photo(16, 16), "JPEG"))
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def zip_file() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.png", encode(photo(), "PNG"))
    return buffer.getvalue()


def itxt(text_bytes: int) -> bytes:
    return b"Comment\0" + b"\0\0" + b"\0\0" + b"x" * text_bytes


def zlib_zeros(size: int) -> bytes:
    """`size` zero bytes, deflated a megabyte at a time: a 200 MB bomb in 200 KB."""
    compressor = zlib.compressobj(9)
    block = b"\0" * 2**20
    return b"".join(compressor.compress(block) for _ in range(size // 2**20)) + compressor.flush()


def ztxt_bomb() -> bytes:
    return b"Comment\0" + b"\0" + zlib_zeros(200 * 2**20)


def iccp(compressed: bytes) -> bytes:
    return b"icc\0\0" + compressed


def exif_huge(size: int) -> bytes:
    """TIFF-structured EXIF: one IFD claiming 65535 entries, padded to `size`."""
    head = b"MM\x00*\x00\x00\x00\x08" + struct.pack(">H", 0xFFFF)
    return head + bytes(range(256)) * ((size - len(head)) // 256)


def high_depth(mode: str) -> Image.Image:
    y, x = np.mgrid[0:24, 0:40]
    if mode == "I;16":
        return Image.fromarray((x * 1600 + y * 40).astype(np.uint16))
    if mode == "I":
        return Image.fromarray((x * 100_000 + y).astype(np.int32))
    return Image.fromarray((x / 40 + y / 100).astype(np.float32))  # "F"


def dds(fourcc: bytes = b"", pfflags: int = 0x4, dxgi_format: int | None = None) -> bytes:
    """A DDS header of the kinds Pillow cannot decode: an unknown FourCC, unknown pixel format
    flags, or a DX10 header with an unknown DXGI format (Pillow raises NotImplementedError)."""
    pixel_format = struct.pack("<II4sIIIII", 32, pfflags, fourcc.ljust(4, b"\0"), 32, 0, 0, 0, 0)
    header = struct.pack("<IIIIIII", 124, 0x1007, 16, 16, 64, 0, 0) + b"\0" * 44 + pixel_format
    header += struct.pack("<IIIII", 0x1000, 0, 0, 0, 0)
    extra = struct.pack("<IIIII", dxgi_format, 3, 0, 1, 0) if dxgi_format is not None else b""
    return b"DDS " + header + extra + b"\0" * 1024


def fits() -> bytes:
    """A FITS file (astronomy) with a 16 x 16 8-bit image: Pillow reads it, we do not."""
    cards = ["SIMPLE  =                    T", "BITPIX  =                    8", "NAXIS   =                    2",
             "NAXIS1  =                   16", "NAXIS2  =                   16", "END"]
    header = b"".join(card.ljust(80).encode() for card in cards).ljust(2880)
    return header + bytes(range(256)).ljust(2880, b"\0")


def psd() -> bytes:
    """A Photoshop file header for a 16 x 16 RGB image, raw pixel data."""
    head = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 16, 16, 8, 3)
    return head + struct.pack(">I", 0) + struct.pack(">I", 0) + struct.pack(">I", 0) + struct.pack(">H", 0) + \
        bytes(16 * 16 * 3)


def random_bytes(size: int, seed: int = 5) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


# --- the corpus ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[], bytes]
    expect: frozenset[int]  # acceptable statuses; 200 means served like any other image
    filename: str = "upload.png"
    size: tuple[int, int] | None = None  # (width, height) the result must have when served

    @property
    def valid(self) -> bool:
        return self.expect == {200}


def ok(id, make, size=None, filename="upload.png"):
    return Case(id, make, frozenset({200}), filename, size)


def bad(id, make, *statuses, filename="upload.png"):
    return Case(id, make, frozenset(statuses or (415,)), filename)


def either(id, make, *statuses):
    """Valid image data with hostile metadata: served, or refused with a 4xx. Never a 500."""
    return Case(id, make, frozenset({200, *statuses}))


def _truncated(data: bytes, keep: float) -> bytes:
    return data[: int(len(data) * keep)]


CASES = [
    # Not an image
    bad("zero-bytes", lambda: b""),
    bad("text", lambda: b"hello, this is plain text\n" * 20, filename="notes.txt"),
    bad("html", lambda: b"<!doctype html><html><body><script>alert(1)</script></body></html>", filename="x.html"),
    bad("svg", lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
                       b'<rect width="100" height="100" fill="red"/></svg>', filename="x.svg"),
    bad("pdf", lambda: b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n",
        filename="x.pdf"),
    bad("zip", zip_file, filename="photos.zip"),
    bad("random-bytes", lambda: random_bytes(65536), filename="noise.jpg"),
    # Formats Pillow decodes but we do not document: refused before any of their decoders runs
    bad("dds-unimplemented-pixel-format", lambda: dds(fourcc=b"XYZW"), filename="x.dds"),
    bad("dds-unimplemented-pfflags", lambda: dds(pfflags=0x80000), filename="x.dds"),
    bad("dds-unimplemented-dxgi-format", lambda: dds(fourcc=b"DX10", dxgi_format=0), filename="x.dds"),
    bad("dds-valid-rgba", lambda: encode(photo().convert("RGBA"), "DDS"), filename="x.dds"),
    bad("fits", fits, filename="x.fits"),
    bad("psd", psd, filename="x.psd"),
    bad("pcx", lambda: encode(photo(), "PCX"), filename="x.pcx"),
    bad("tga", lambda: encode(photo(), "TGA"), filename="x.tga"),
    bad("ppm", lambda: encode(photo(), "PPM"), filename="x.ppm"),
    bad("ico", lambda: encode(photo(), "ICO"), filename="x.ico"),
    # Broken images
    bad("truncated-jpeg", lambda: _truncated(encode(photo(200, 150), "JPEG"), 0.5), 415, 422, filename="cut.jpg"),
    bad("truncated-png", lambda: _truncated(encode(photo(200, 150), "PNG"), 0.5), 415, 422),
    bad("png-signature-only", lambda: PNG_SIGNATURE),
    bad("png-header-only", lambda: encode(photo(), "PNG")[:33], 415, 422),
    bad("jpeg-markers-only", lambda: b"\xff\xd8\xff\xd9", filename="x.jpg"),
    either("png-itxt-8mb", lambda: png_with_chunk(b"iTXt", itxt(8 * 2**20)), 415, 422),
    either("png-ztxt-bomb", lambda: png_with_chunk(b"zTXt", ztxt_bomb()), 415, 422),
    either("png-iccp-4mb-garbage", lambda: png_with_chunk(b"iCCP", iccp(zlib.compress(random_bytes(4 * 2**20)))),
           415, 422),
    either("png-iccp-zlib-bomb", lambda: png_with_chunk(b"iCCP", iccp(zlib_zeros(200 * 2**20))), 415, 422),
    either("png-exif-4mb", lambda: png_with_chunk(b"eXIf", exif_huge(4 * 2**20)), 415, 422),
    either("jpeg-icc-3mb-garbage", lambda: encode(photo(), "JPEG", icc_profile=random_bytes(3 * 2**20)), 415, 422),
    either("jpeg-exif-60kb", lambda: encode(photo(), "JPEG", exif=b"Exif\0\0" + exif_huge(60_000)), 415, 422),
    # Bombs: refused from the header
    bad("png-claims-60000x60000", lambda: png_claiming(60000, 60000), 413),
    bad("png-bomb-12000x12000", lambda: png_claiming(12000, 12000), 413),
    bad("gif-claims-65535x65535", lambda: gif_claiming(65535, 65535), 413, filename="x.gif"),
    bad("jpeg-claims-65000x65000", lambda: jpeg_claiming(65000, 65000), 413, filename="x.jpg"),
    ok("gif-5000-frames", lambda: gif_frames(5000), size=(64, 64), filename="anim.gif"),
    ok("tiff-300-pages", lambda: tiff_pages(300), size=(8, 8), filename="pages.tif"),
    # Shapes and modes: valid, served like any other
    ok("1x1", lambda: encode(Image.new("RGB", (1, 1), (10, 20, 30)), "PNG"), size=(1, 1)),
    ok("1x20000", lambda: encode(photo(1, 20000), "PNG"), size=(1, 20000)),
    ok("20000x1", lambda: encode(photo(20000, 1), "PNG"), size=(20000, 1)),
    ok("mode-I;16-png", lambda: encode(high_depth("I;16"), "PNG"), size=(40, 24)),
    ok("mode-I-tiff", lambda: encode(high_depth("I"), "TIFF"), size=(40, 24), filename="x.tif"),
    ok("mode-F-tiff", lambda: encode(high_depth("F"), "TIFF"), size=(40, 24), filename="x.tif"),
    ok("mode-1-png", lambda: encode(photo().convert("1"), "PNG"), size=(48, 32)),
    ok("mode-L-png", lambda: encode(photo().convert("L"), "PNG"), size=(48, 32)),
    ok("mode-LA-png", lambda: encode(photo().convert("LA"), "PNG"), size=(48, 32)),
    ok("mode-P-gif", lambda: encode(photo().convert("P"), "GIF"), size=(48, 32), filename="x.gif"),
    ok("cmyk-jpeg", lambda: encode(photo().convert("CMYK"), "JPEG"), size=(48, 32), filename="x.jpg"),
    ok("cmyk-tiff", lambda: encode(photo().convert("CMYK"), "TIFF"), size=(48, 32), filename="x.tif"),
    ok("half-transparent", lambda: encode(Image.merge("RGBA", (*photo().split(), Image.new("L", (48, 32), 128))),
                                          "PNG"), size=(48, 32)),
    bad("fully-transparent", lambda: encode(Image.new("RGBA", (32, 32), (255, 0, 0, 0)), "PNG"), 422),
    ok("webp", lambda: encode(photo(), "WEBP"), size=(48, 32), filename="x.webp"),
    ok("bmp", lambda: encode(photo(), "BMP"), size=(48, 32), filename="x.bmp"),
    # Mislabelled and hostile names
    ok("jpeg-named-png", lambda: encode(photo(), "JPEG"), size=(48, 32), filename="really-a-jpeg.png"),
    ok("png-named-jpg", lambda: encode(photo(), "PNG"), size=(48, 32), filename="really-a-png.jpg"),
    ok("script-name", lambda: encode(photo(), "PNG"), size=(48, 32), filename=HOSTILE_NAME),
    bad("script-name-not-image", lambda: b"<script>alert(1)</script>", filename=HOSTILE_NAME),
    ok("path-name", lambda: encode(photo(), "PNG"), size=(48, 32), filename="../../etc/passwd.png"),
    ok("windows-path-name", lambda: encode(photo(), "PNG"), size=(48, 32), filename="C:\\Users\\x\\..\\évil name.png"),
]
BY_ID = {case.id: case for case in CASES}
_DATA: dict[str, bytes] = {}


def case_data(case: Case) -> bytes:
    if case.id not in _DATA:
        _DATA[case.id] = case.make()
    return _DATA[case.id]


# The cases sent through the real server too: one of each kind.
LIVE_SUBSET = [
    "zero-bytes", "html", "random-bytes", "truncated-jpeg", "png-header-only", "png-ztxt-bomb",
    "png-claims-60000x60000", "gif-5000-frames", "tiff-300-pages", "mode-I;16-png", "cmyk-jpeg",
    "fully-transparent", "jpeg-named-png", "script-name", "script-name-not-image", "path-name",
]
