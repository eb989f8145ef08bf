"""Hostile input: a generated corpus of bad uploads and bad fields.

Every case goes through the Flask test client, as the API (JSON) and as the
plain form (HTML); a subset goes through the real gunicorn. Valid images in
odd shapes and modes are served like any other; everything else gets a 4xx
that says what went wrong in words. Never a 500, a traceback or a server path.

The corpus is built here, in memory: no binary blobs in the repository.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import psutil
import pytest
from bs4 import BeautifulSoup
from PIL import Image, ImageFile

from app import create_app

ROOT = Path(__file__).resolve().parents[1]
HOSTILE_NAME = "<script>alert(1)</script>.png"
LEAKS = ("Traceback", 'File "', "site-packages", "/work/", "/usr/lib", "werkzeug", "Werkzeug Debugger")
SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")


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


# --- checks ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app():
    return create_app({"TESTING": True, "CACHE_MB": 0})


@pytest.fixture
def client(app):
    return app.test_client()


def assert_clean(body: str, headers) -> None:
    """Nothing leaks and nothing hostile is reflected; the security headers are there."""
    for leak in LEAKS:
        assert leak not in body, f"the body leaks {leak!r}: {body[:300]}"
    assert "<script>alert(1)" not in body, "user text reflected unescaped"
    for name in SECURITY_HEADERS:
        assert headers.get(name), f"missing {name}"
    for name, value in headers.items():
        assert "<" not in value and "\n" not in value and "\r" not in value, f"header {name} carries {value!r}"
        assert name.lower() != "x-evil"


def check_api_answer(case: Case, status: int, headers, body: str) -> dict:
    assert status < 500, f"{case.id}: {status} {body[:300]}"
    assert status in case.expect, f"{case.id}: expected {sorted(case.expect)}, got {status}: {body[:300]}"
    assert_clean(body, headers)
    assert headers["Content-Type"].startswith("application/json")
    answer = json.loads(body)
    if status == 200:
        if case.size:
            assert (answer["width"], answer["height"]) == case.size
        assert 1 <= answer["colors"] <= answer["k"]
        assert "<" not in answer["filename"] and "/" not in answer["filename"]
    else:
        assert set(answer) == {"error"} and set(answer["error"]) == {"code", "message"}
        assert len(answer["error"]["message"]) > 10
    return answer


def multipart(*pairs: tuple[str, str | tuple[str, bytes]]) -> dict:
    """client.post keyword arguments for a multipart body built in memory.

    Werkzeug's test client would spool a large body to a temporary file (and
    leave it open); this keeps the tests' own uploads off the disk too.
    """
    boundary = "hostile-corpus-boundary-5f1c"
    body = io.BytesIO()
    for name, value in pairs:
        body.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"".encode())
        if isinstance(value, tuple):
            filename, data = value
            body.write(f'; filename="{filename}"\r\nContent-Type: application/octet-stream'.encode())
        else:
            data = value.encode()
        body.write(b"\r\n\r\n" + data + b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    return {"data": body.getvalue(), "content_type": f"multipart/form-data; boundary={boundary}"}


def post_api(client, data: bytes, filename: str, **fields):
    fields.setdefault("k", "4")
    return client.post(
        "/api/quantize", headers={"Accept": "application/json"},
        **multipart(("image", (filename, data)), *fields.items()),
    )


def post_form(client, data: bytes, filename: str, **fields):
    fields.setdefault("k", "4")
    return client.post("/", headers={"Accept": "text/html"}, **multipart(("image", (filename, data)), *fields.items()))


def visible_alert(page: BeautifulSoup):
    """The error the page shows, if any: an element with role=alert that is not hidden and has words."""
    for alert in page.select("[role=alert]"):
        if not alert.has_attr("hidden") and alert.get_text(strip=True):
            return alert
    return None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_api_answers_every_case_in_words(client, case):
    response = post_api(client, case_data(case), case.filename)
    check_api_answer(case, response.status_code, response.headers, response.get_data(as_text=True))
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_form_answers_every_case_with_a_page(client, case):
    response = post_form(client, case_data(case), case.filename)
    body = response.get_data(as_text=True)
    assert response.status_code < 500 and response.status_code in case.expect, f"{response.status_code} {body[:300]}"
    assert response.mimetype == "text/html"
    assert_clean(body, response.headers)
    page = BeautifulSoup(body, "html.parser")
    alert = visible_alert(page)
    if response.status_code == 200:
        assert alert is None, alert
        assert page.select_one("img#result-img[src^='data:image/png;base64,']")
    else:
        assert alert is not None and len(alert.get_text(strip=True)) > 10


def test_hostile_name_is_neither_reflected_nor_in_the_download_name(client):
    data = case_data(BY_ID["script-name"])
    response = client.post("/api/quantize", **multipart(("image", (HOSTILE_NAME, data)), ("k", "4")))
    assert response.status_code == 200 and response.mimetype == "image/png"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="[A-Za-z0-9_.-]+"', disposition), disposition
    page = post_form(client, data, HOSTILE_NAME).get_data(as_text=True)
    assert "alert(1)</script>" not in page
    soup = BeautifulSoup(page, "html.parser")
    assert all(script.get("src") for script in soup.find_all("script")), "an inline script appeared"


# --- bombs and many frames: cheap, and only the first frame ----------------------------------------------------------


class DecodeSpy:
    """Counts pixel decodes (ImageFile.load) and frame seeks, public or not, while a request runs."""

    def __init__(self, monkeypatch):
        self.loads = 0
        self.seeks: list[int] = []
        original_load = ImageFile.ImageFile.load

        def load(image, *args, **kwargs):
            self.loads += 1
            return original_load(image, *args, **kwargs)

        monkeypatch.setattr(ImageFile.ImageFile, "load", load)
        from PIL import GifImagePlugin, TiffImagePlugin

        for plugin_class in (GifImagePlugin.GifImageFile, TiffImagePlugin.TiffImageFile):
            seek = plugin_class._seek

            def counted(image, frame, *args, _seek=seek, **kwargs):
                self.seeks.append(frame)
                return _seek(image, frame, *args, **kwargs)

            monkeypatch.setattr(plugin_class, "_seek", counted)


@pytest.mark.parametrize(
    "case_id", ["png-claims-60000x60000", "png-bomb-12000x12000", "gif-claims-65535x65535", "jpeg-claims-65000x65000"]
)
def test_bombs_are_refused_from_the_header_before_any_decode(client, monkeypatch, case_id):
    data = case_data(BY_ID[case_id])
    spy = DecodeSpy(monkeypatch)
    process = psutil.Process()
    rss_before = process.memory_info().rss
    started = time.perf_counter()
    response = post_api(client, data, "bomb.png")
    elapsed = time.perf_counter() - started
    grown = process.memory_info().rss - rss_before
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "too_many_pixels"
    assert "megapixels" in error["message"] and "50" in error["message"], error["message"]
    assert spy.loads == 0, "pixels were decoded before the size was checked"
    assert elapsed < 0.5, f"a refused bomb took {elapsed:.2f} s"
    assert grown < 64 * 2**20, f"a refused bomb grew the process by {grown / 2**20:.0f} MB"


def test_the_pixel_limit_is_a_setting_checked_from_the_header(monkeypatch):
    client = create_app({"TESTING": True, "MAX_PIXELS": 10_000}).test_client()
    spy = DecodeSpy(monkeypatch)
    over = post_api(client, encode(photo(101, 100), "PNG"), "x.png")
    assert over.status_code == 413 and "101x100" in over.get_json()["error"]["message"]
    assert spy.loads == 0
    assert post_api(client, encode(photo(100, 100), "PNG"), "x.png").status_code == 200


@pytest.mark.parametrize("case_id", ["gif-5000-frames", "tiff-300-pages"])
def test_only_the_first_frame_or_page_is_decoded(client, monkeypatch, case_id):
    data = case_data(BY_ID[case_id])
    spy = DecodeSpy(monkeypatch)
    started = time.perf_counter()
    response = post_api(client, data, "many.gif")
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.get_json()
    assert [swatch["hex"] for swatch in answer["palette"]] == ["#ff0000"], "colors from a later frame leaked in"
    assert max(spy.seeks, default=0) == 0, f"seeked to frames {sorted(set(spy.seeks))[:5]}..."
    assert elapsed < 2.0, f"{case_id} took {elapsed:.2f} s"


def test_the_many_frames_corpus_really_has_many_frames():
    """The generated files are what they claim: otherwise the tests above prove nothing."""
    with Image.open(io.BytesIO(case_data(BY_ID["gif-5000-frames"]))) as gif:
        assert gif.n_frames == 5000
        gif.seek(4999)
        gif.load()
    with Image.open(io.BytesIO(case_data(BY_ID["tiff-300-pages"]))) as tiff:
        assert tiff.n_frames == 300
    with pytest.warns(Image.DecompressionBombWarning):
        Image.open(io.BytesIO(case_data(BY_ID["png-bomb-12000x12000"]))).close()
    bomb = case_data(BY_ID["png-bomb-12000x12000"])
    assert len(bomb) < 2**20 and len(zlib.decompress(bomb[41:-16])) == 12000 * (1 + 12000 // 8)


# --- fields ----------------------------------------------------------------------------------------------------------

SMALL_PNG = encode(photo(), "PNG")


@pytest.mark.parametrize("k", ["0", "1", "-3", "1e9", "abc", "", "2.5", "257", "99999999999", " ", "0x10", "4 colors"])
def test_bad_k_is_refused_naming_the_value(client, k):
    response = post_api(client, SMALL_PNG, "x.png", k=k)
    assert response.status_code == 400, f"k={k!r} gave {response.status_code}"
    message = response.get_json()["error"]["message"]
    assert message.startswith("k must"), message
    assert f"got {k.strip()}" in message or f"got {k.strip()!r}" in message, message


@pytest.mark.parametrize(
    "name, value",
    [("color_space", "hsv"), ("dither", "ordered"), ("method", "magic"), ("format", "gif"), ("max_side", "8"),
     ("max_side", "big"), ("format", "<b>bold</b>")],
)
def test_bad_options_are_refused_naming_the_value(client, name, value):
    response = post_api(client, SMALL_PNG, "x.png", **{name: value})
    assert response.status_code == 400
    message = response.get_json()["error"]["message"]
    assert message.startswith(name) and value.lower() in message.lower(), message
    assert_clean(response.get_data(as_text=True), response.headers)


def test_a_hostile_field_value_comes_back_escaped_on_the_page(client):
    response = post_form(client, SMALL_PNG, "x.png", format="<script>alert(1)</script>", k="<script>alert(1)</script>")
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert_clean(body, response.headers)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "alert(1)" in visible_alert(BeautifulSoup(body, "html.parser")).get_text()


def test_missing_image_is_refused(client):
    response = client.post("/api/quantize", **multipart(("k", "4")))
    assert response.status_code == 400 and "image" in response.get_json()["error"]["message"]


def test_missing_k_uses_the_default(client, app):
    response = client.post("/api/quantize", headers={"Accept": "application/json"},
                           **multipart(("image", ("x.png", SMALL_PNG))))
    assert response.status_code == 200 and response.get_json()["k"] == app.config["DEFAULT_K"]


def test_repeated_fields_are_refused(client):
    response = client.post("/api/quantize", **multipart(("image", ("x.png", SMALL_PNG)), ("k", "4"), ("k", "8")))
    assert response.status_code == 400 and "k once" in response.get_json()["error"]["message"]
    two_images = multipart(("image", ("a.png", SMALL_PNG)), ("image", ("b.png", SMALL_PNG)))
    response = client.post("/api/quantize", **two_images)
    assert response.status_code == 400 and "one image" in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": {"k": 4, "image": "aGVsbG8="}},
        {"data": SMALL_PNG, "content_type": "image/png"},
        {"data": b"k=4&image=abc", "content_type": "application/x-www-form-urlencoded"},
        {"data": b"", "content_type": "multipart/form-data; boundary=zzz"},
        {"data": b"--zzz\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\n4", "content_type":
            "multipart/form-data; boundary=zzz"},
        {"data": b"garbage", "content_type": "multipart/form-data"},
    ],
    ids=["json", "raw-png", "urlencoded", "empty-multipart", "truncated-multipart", "no-boundary"],
)
def test_bodies_that_are_not_a_multipart_upload_are_refused(client, kwargs):
    response = client.post("/api/quantize", headers={"Accept": "application/json"}, **kwargs)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert_clean(response.get_data(as_text=True), response.headers)
    assert response.get_json()["error"]["message"]


@pytest.mark.parametrize("method, path", [("GET", "/api/quantize"), ("PUT", "/api/quantize"),
                                          ("DELETE", "/api/quantize"), ("PATCH", "/"), ("POST", "/healthz")])
def test_the_wrong_method_is_refused_with_allow(client, method, path):
    response = client.open(path, method=method, headers={"Accept": "application/json"})
    assert response.status_code == 405
    assert response.headers["Allow"] and method not in response.headers["Allow"]
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert_clean(response.get_data(as_text=True), response.headers)


# --- upload size -----------------------------------------------------------------------------------------------------


def test_an_upload_over_the_limit_gets_413_in_words():
    client = create_app({"TESTING": True, "MAX_UPLOAD_MB": 1}).test_client()
    data = random_bytes(2**20 + 1000)
    response = post_api(client, data, "big.jpg")
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "too_large" and "1 MB" in error["message"]
    page = post_form(client, data, "big.jpg")
    assert page.status_code == 413 and "1 MB" in BeautifulSoup(page.data, "html.parser").get_text()


# --- the real server -------------------------------------------------------------------------------------------------

LIVE_SUBSET = [
    "zero-bytes", "html", "random-bytes", "truncated-jpeg", "png-header-only", "png-ztxt-bomb",
    "png-claims-60000x60000", "gif-5000-frames", "tiff-300-pages", "mode-I;16-png", "cmyk-jpeg",
    "fully-transparent", "jpeg-named-png", "script-name", "script-name-not-image", "path-name",
]


def test_the_real_server_answers_the_corpus_and_keeps_serving(live_server):
    import requests

    with requests.Session() as session:
        for case_id in LIVE_SUBSET:
            case = BY_ID[case_id]
            response = session.post(
                live_server + "/api/quantize",
                files={"image": (case.filename, case_data(case))},
                data={"k": "4"},
                headers={"Accept": "application/json"},
                timeout=30,
            )
            check_api_answer(case, response.status_code, response.headers, response.text)
        for k in ("0", "abc", "1e9"):
            response = session.post(live_server + "/api/quantize", files={"image": ("x.png", SMALL_PNG)},
                                    data={"k": k}, timeout=30)
            assert response.status_code == 400 and k in response.json()["error"]["message"]
        response = session.post(live_server + "/api/quantize", json={"k": 4}, timeout=30)
        assert response.status_code == 400
        response = session.get(live_server + "/api/quantize", timeout=30)
        assert response.status_code == 405 and "POST" in response.headers["Allow"]
        response = session.post(live_server + "/api/quantize", files={"image": ("x.png", SMALL_PNG)},
                                data={"k": "4"}, timeout=30)
        assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
        assert session.get(live_server + "/healthz", timeout=10).json() == {"status": "ok"}


def test_every_decoder_failure_in_pillow_is_415_never_500(client, monkeypatch):
    """Pillow raises NotImplementedError (and other types) from inside Image.open and from load()
    for variants it cannot decode; whatever it raises, the answer is 415 in words."""
    from app import imaging

    original_open = imaging.Image.open
    for kind in (NotImplementedError("Unimplemented pixel format"), struct.error("unpack"), IndexError("x"),
                 KeyError("x"), RuntimeError("x")):
        def failing_open(*args, _kind=kind, **kwargs):
            raise _kind

        monkeypatch.setattr(imaging.Image, "open", failing_open)
        response = post_api(client, SMALL_PNG, "x.png")
        assert response.status_code == 415, (kind, response.get_data(as_text=True)[:200])
        assert response.get_json()["error"]["code"] == "unsupported_image"
    monkeypatch.setattr(imaging.Image, "open", original_open)

    def failing_load(self, *args, **kwargs):
        raise NotImplementedError("a variant Pillow cannot decode")

    monkeypatch.setattr(ImageFile.ImageFile, "load", failing_load)
    response = post_api(client, SMALL_PNG, "x.png")
    assert response.status_code == 415 and response.get_json()["error"]["code"] == "unsupported_image"


def test_only_the_documented_formats_reach_a_decoder(monkeypatch):
    """Image.open is asked to try only the formats the README lists."""
    from app import imaging

    seen = []
    original_open = imaging.Image.open

    def spy(*args, **kwargs):
        seen.append(kwargs.get("formats"))
        return original_open(*args, **kwargs)

    monkeypatch.setattr(imaging.Image, "open", spy)
    imaging.decode(SMALL_PNG, 10**6)
    assert seen and set(seen[0]) == {"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"}
    for case_id in ("dds-valid-rgba", "pcx", "tga", "ppm", "ico"):
        assert min(Image.open(io.BytesIO(case_data(BY_ID[case_id]))).size) > 0, "Pillow itself reads it"
        with pytest.raises(imaging.ImageError) as refused:
            imaging.decode(case_data(BY_ID[case_id]), 10**6)
        assert refused.value.code == "unsupported_image"


def raw_exchange(base: str, raw: bytes, seconds: float = 15) -> tuple[float, bytes]:
    """Send raw bytes and read until the answer's headers and a little body are in; (seconds, answer)."""
    import socket

    host, port = base.removeprefix("http://").rsplit(":", 1)
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=seconds) as sock:
        sock.sendall(raw)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < 20:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return time.monotonic() - started, answer


def upload_head(extra: str) -> bytes:
    return ("POST /api/quantize HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
            "Content-Type: multipart/form-data; boundary=hostile\r\n" + extra + "\r\n").encode()


@pytest.mark.parametrize("chunks", [b"zz\r\n", b"-5\r\nhello\r\n0\r\n\r\n", b"5;ext \r\nhello\r\n0\r\n\r\n",
                                    b"5 ;x=1\t \r\nhello\r\n0\r\n\r\n", b"5\r\nhelloXX0\r\n\r\n"],
                         ids=["size-zz", "size-minus-5", "extension-trailing-space", "extension-tab", "no-terminator"])
def test_a_broken_chunked_body_is_400_in_words(live_server, chunks):
    _, answer = raw_exchange(live_server, upload_head("Transfer-Encoding: chunked\r\n") + chunks)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"Traceback" not in answer and b"chunked" in body


def test_an_upload_declared_over_the_limit_that_never_arrives_gets_413_at_once(live_server):
    """40 MB declared (under twice the 30 MB limit, so the server would drain it), 1 MB sent, then
    silence: the 413 comes after a bounded drain, not when the client gives up."""
    raw = upload_head(f"Content-Length: {40 * 2**20}\r\n") + b"x" * 2**20
    seconds, answer = raw_exchange(live_server, raw, seconds=20)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert seconds < 5, f"the 413 took {seconds:.1f} s"


def test_the_corpus_stays_small():
    """No case needs a big file to be hostile; the biggest ones are the metadata chunks."""
    sizes = {case.id: len(case_data(case)) for case in CASES}
    assert max(sizes.values()) < 10 * 2**20, sizes


# --- security: headers, CSP, debug, leaks, disk, fetches -------------------------------------------------------------

STRICT_SOURCES = ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "'wasm-unsafe-eval'", "*", "data:", "http:",
                  "https:", "blob:")


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def assert_strict_csp(header: str) -> None:
    directives = csp_directives(header)
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts, f"no script-src or default-src in {header!r}"
    for loose in STRICT_SOURCES:
        assert loose not in scripts, f"script-src allows {loose}: {header!r}"
    assert directives.get("object-src") == ["'none'"]
    assert directives.get("base-uri") in (["'none'"], ["'self'"])
    assert directives.get("frame-ancestors") in (["'none'"], ["'self'"])
    assert "'unsafe-eval'" not in directives.get("default-src", [])


def every_kind_of_response(client) -> dict[str, object]:
    """One response of each kind the app gives: pages, static files, JSON, every error status."""
    with client.application.test_request_context():
        static = ["/static/style.css"] + [f"/static/js/{path.name}" for path in
                                          sorted((ROOT / "static" / "js").glob("*.js"))]
    responses = {path: client.get(path) for path in ["/", "/healthz", "/api/openapi.json", *static]}
    responses["404"] = client.get("/no/such/page")
    responses["405"] = client.get("/api/quantize")
    responses["400"] = client.post("/api/quantize", json={"k": 4})
    responses["415"] = post_api(client, b"not an image", "x.png")
    responses["413-pixels"] = post_api(client, case_data(BY_ID["png-claims-60000x60000"]), "x.png")
    responses["422"] = post_api(client, case_data(BY_ID["fully-transparent"]), "x.png")
    responses["200-png"] = client.post("/api/quantize", **multipart(("image", ("x.png", SMALL_PNG)), ("k", "4")))
    responses["200-form"] = post_form(client, SMALL_PNG, "x.png")
    responses["400-form"] = post_form(client, SMALL_PNG, "x.png", k="abc")
    return responses


def test_every_response_carries_the_security_headers(client):
    for name, response in every_kind_of_response(client).items():
        assert response.status_code < 500, name
        assert response.headers.get("X-Content-Type-Options") == "nosniff", name
        assert response.headers.get("Referrer-Policy") in ("no-referrer", "same-origin", "strict-origin"), name
        assert_strict_csp(response.headers.get("Content-Security-Policy", ""))
        response.close()


def test_the_413_for_an_upload_carries_the_security_headers():
    client = create_app({"TESTING": True, "MAX_UPLOAD_MB": 1}).test_client()
    response = post_api(client, random_bytes(2**20 + 1), "x.jpg")
    assert response.status_code == 413
    assert response.headers["X-Content-Type-Options"] == "nosniff" and response.headers["Referrer-Policy"]
    assert_strict_csp(response.headers["Content-Security-Policy"])


def test_pages_run_no_inline_script_and_the_scripts_never_eval(client):
    pages = [client.get("/"), post_form(client, SMALL_PNG, "x.png"), post_form(client, b"nope", "x.png"),
             client.get("/no/such/page", headers={"Accept": "text/html"})]
    for response in pages:
        soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
        for script in soup.find_all("script"):
            assert script.get("src"), f"inline script: {str(script)[:120]}"
            assert not script.get_text(strip=True)
        for tag in soup.find_all(True):
            handlers = [name for name in tag.attrs if name.lower().startswith("on")]
            assert not handlers, f"inline event handler {handlers} on <{tag.name}>"
            for name in ("href", "src", "action", "formaction"):
                assert not str(tag.get(name, "")).strip().lower().startswith("javascript:"), str(tag)[:120]
    for path in sorted((ROOT / "static" / "js").glob("*.js")):
        source = path.read_text()
        for pattern in (r"\beval\s*\(", r"\bnew\s+Function\s*\(", r"\bset(Timeout|Interval)\s*\(\s*['\"`]"):
            assert not re.search(pattern, source), f"{path.name} matches {pattern}"


def test_an_unexpected_error_is_a_plain_500_without_details(client, monkeypatch):
    from app import pipeline

    def explode(*args, **kwargs):
        raise RuntimeError("boom at /work/main/app/secret.py line 3")

    monkeypatch.setattr(pipeline, "render", explode)
    for response in (post_api(client, SMALL_PNG, "x.png"), post_form(client, SMALL_PNG, "x.png")):
        body = response.get_data(as_text=True)
        assert response.status_code == 500
        assert "boom" not in body and "secret" not in body and "RuntimeError" not in body
        assert_clean(body, response.headers)


def test_debug_is_off_by_default(app):
    assert app.debug is False and app.config["DEBUG"] is False
    assert not app.config.get("PROPAGATE_EXCEPTIONS")


def test_debug_stays_off_whatever_the_environment_says(monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    assert create_app().debug is False


class OpenSpy:
    """Records every os.open that creates a file: all of tempfile's functions go through it."""

    def __init__(self, monkeypatch):
        self.created: list[str] = []
        original = os.open
        creating = os.O_CREAT | getattr(os, "O_TMPFILE", 0)

        def spy(path, flags, *args, **kwargs):
            if flags & creating:
                self.created.append(os.fsdecode(path))
            return original(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", spy)


def big_upload() -> bytes:
    """A 3 MB PNG, stored uncompressed: far over Werkzeug's 500 KB spooling threshold, and quick to quantize."""
    palette = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200], [240, 240, 240]], np.uint8)
    picks = np.frombuffer(random_bytes(1000 * 1000), np.uint8).reshape(1000, 1000) % len(palette)
    return encode(Image.fromarray(palette[picks]), "PNG", compress_level=0)


def test_uploads_are_never_written_to_disk(monkeypatch):
    """Neither the upload nor its decoding (libtiff, libjpeg, libwebp...) creates a file."""
    data = big_upload()
    assert len(data) > 3 * 10**6
    image = Image.open(io.BytesIO(data)).crop((0, 0, 400, 300))
    others = [encode(image, "TIFF", compression="tiff_lzw"), encode(image, "JPEG"), encode(image, "WEBP"),
              case_data(BY_ID["gif-5000-frames"])]
    client = create_app({"TESTING": True, "CACHE_MB": 0}).test_client()
    spy = OpenSpy(monkeypatch)
    for upload in (data, *others):
        response = post_api(client, upload, "big.png", format="jpeg")
        assert response.status_code == 200, response.get_data(as_text=True)[:200]
    assert spy.created == [], f"the upload touched the disk: {spy.created}"


def test_the_disk_spy_catches_werkzeugs_default_spooling(monkeypatch):
    """The control for the test above: with Flask's own Request class, the same upload goes to a temp file."""
    from flask import Request

    app = create_app({"TESTING": True, "CACHE_MB": 0})
    app.request_class = Request
    spy = OpenSpy(monkeypatch)
    with app.test_request_context("/api/quantize", method="POST",
                                  **multipart(("image", ("big.png", big_upload())), ("k", "4"))) as context:
        upload = context.request.files["image"]
        assert len(upload.read()) > 3 * 10**6
        upload.close()
    assert spy.created, "Werkzeug no longer spools big uploads: the spy proves nothing"


def test_the_app_has_no_way_to_fetch_urls():
    """No module of the app imports an HTTP or socket client."""
    import ast

    clients = {"urllib.request", "http.client", "requests", "urllib3", "httpx", "aiohttp", "socket", "ftplib",
               "smtplib", "pycurl", "urllib"}
    for path in sorted((ROOT / "app").glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.module != "urllib" else [f"urllib.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                assert name not in clients and not name.startswith(("urllib.request", "http.client")), (
                    f"{path.name} imports {name}"
                )


def test_a_url_instead_of_a_photo_is_refused_without_fetching_it(client):
    import http.server
    import threading

    hits = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(SMALL_PNG)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/photo.png"
        for fields in ([("image", url)], [("image_url", url), ("url", url)], [("image", ("x.png", url.encode()))]):
            response = client.post("/api/quantize", headers={"Accept": "application/json"}, **multipart(*fields))
            assert 400 <= response.status_code < 500
        svg = f'<svg xmlns="http://www.w3.org/2000/svg"><image href="{url}" width="9" height="9"/></svg>'.encode()
        assert post_api(client, svg, "x.svg").status_code == 415
    finally:
        server.shutdown()
        server.server_close()
    assert hits == [], f"the server fetched {hits}"


# --- the other endpoints take the same uploads -----------------------------------------------------------------------

OTHER_ENDPOINTS = ["/api/curve", "/api/contact-sheet", "/api/palette"]
BAD_FOR_EVERY_ENDPOINT = ["zero-bytes", "html", "truncated-png", "png-claims-60000x60000", "fully-transparent",
                          "script-name-not-image"]


@pytest.mark.parametrize("path", OTHER_ENDPOINTS)
def test_every_endpoint_refuses_bad_uploads_in_words(client, path):
    for case_id in BAD_FOR_EVERY_ENDPOINT:
        case = BY_ID[case_id]
        response = client.post(path, headers={"Accept": "application/json"},
                               **multipart(("image", (case.filename, case_data(case)))))
        body = response.get_data(as_text=True)
        assert response.status_code in case.expect, (path, case_id, response.status_code, body[:200])
        assert_clean(body, response.headers)
        assert response.get_json()["error"]["message"]


@pytest.mark.parametrize("path, fields", [("/api/contact-sheet", [("ks", "2,4")])] +
                         [("/api/palette", [("k", "4"), ("format", fmt)]) for fmt in ("json", "css", "gpl", "png")])
def test_every_download_names_itself_safely(client, path, fields):
    response = client.post(path, **multipart(("image", (HOSTILE_NAME, SMALL_PNG)), *fields))
    assert response.status_code == 200, response.get_data(as_text=True)[:200]
    assert re.fullmatch(r'attachment; filename="[A-Za-z0-9_.-]+"', response.headers["Content-Disposition"])
    assert b"<script>" not in response.data and b"alert(1)" not in response.data
    assert_clean(response.get_data(as_text=True) if response.mimetype != "image/png" else "", response.headers)


def test_a_form_with_thousands_of_fields_is_refused_for_what_it_is(client):
    fields = [(f"field{i}", "1") for i in range(client.application.config.get("MAX_FORM_PARTS") or 1500)]
    response = client.post("/api/quantize", **multipart(("image", ("x.png", SMALL_PNG)), *fields, ("k", "4")))
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "too_many_fields" and "parts" in error["message"], error
    assert "MB" not in error["message"], "a small form was told it is too large"
