"""app.png: paletted PNGs written in bands, read back by Pillow and by zlib itself."""

import io
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from app import png


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, body) of every chunk, each CRC checked."""
    assert data[:8] == png.SIGNATURE
    found, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        assert crc == zlib.crc32(kind + body)
        found.append((kind, body))
        at += 12 + length
    return found


def indices_and_palette(k: int, shape: tuple[int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Runs of one index, as a recolored photo has, so that deflate has something to find.
    runs = rng.integers(0, k, size=(shape[0], shape[1] // 7 + 1)).astype(np.uint8)
    indices = np.repeat(runs, 7, axis=1)[:, :shape[1]].copy()
    palette = rng.integers(0, 256, size=(k, 3)).astype(np.uint8)
    return indices, palette


@pytest.mark.parametrize("k, bits", [(2, 1), (4, 2), (16, 4), (17, 8), (256, 8)])
@pytest.mark.parametrize("width", [1, 7, 333, 1000])
def test_every_bit_depth_and_width_reads_back_exactly_over_several_bands(k, bits, width):
    height = 2 * png.BAND_BYTES // (1 + (width * bits + 7) // 8) + 3  # three bands, the last short
    indices, palette = indices_and_palette(k, (height, width))
    data = png.paletted(indices, palette)
    kinds = [kind for kind, _ in chunks(data)]
    assert kinds == [b"IHDR", b"PLTE", b"IDAT", b"IEND"]
    header = dict(chunks(data))[b"IHDR"]
    assert struct.unpack(">IIBBBBB", header) == (width, height, bits, 3, 0, 0, 0)
    raw = zlib.decompress(dict(chunks(data))[b"IDAT"])  # zlib checks the joined bands' Adler-32
    row_bytes = 1 + (width * bits + 7) // 8
    assert len(raw) == height * row_bytes
    assert set(raw[::row_bytes]) == {0}  # filter 0 on every row
    image = Image.open(io.BytesIO(data))
    assert image.mode == "P"
    np.testing.assert_array_equal(np.asarray(image), indices)
    np.testing.assert_array_equal(np.asarray(image.convert("RGB")), palette[indices])


def test_binary_alpha_takes_one_extra_clear_entry_in_every_band():
    width = 500
    height = 3 * png.BAND_BYTES // (1 + width) + 5
    indices, palette = indices_and_palette(200, (height, width))
    alpha = np.where(np.random.default_rng(1).random((height, width)) < 0.2, 0, 255).astype(np.uint8)
    data = png.paletted(indices, palette, alpha)
    found = dict(chunks(data))
    assert found[b"tRNS"] == bytes([255] * 200 + [0])
    assert len(found[b"PLTE"]) == 3 * 201
    rgba = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
    np.testing.assert_array_equal(rgba[..., 3], alpha)
    visible = alpha == 255
    np.testing.assert_array_equal(rgba[..., :3][visible], palette[indices][visible])


def test_rows_are_asked_for_a_band_at_a_time_and_never_whole():
    width, height = 1000, 4 * png.BAND_BYTES // 1001
    indices, palette = indices_and_palette(200, (height, width))

    class Counting:
        shape = indices.shape
        asked: list[int] = []

        def __getitem__(self, rows: slice) -> np.ndarray:
            self.asked.append(rows.stop - rows.start)
            return indices[rows]

    source = Counting()
    data = png.paletted(source, palette)
    assert len(source.asked) >= 4 and max(source.asked) < height and sum(source.asked) == height
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), indices)


def test_the_same_bytes_whatever_the_number_of_threads(monkeypatch):
    indices, palette = indices_and_palette(16, (3 * png.BAND_BYTES // 300, 600))
    on_every_core = png.paletted(indices, palette)
    monkeypatch.setattr(png.parallel, "workers", lambda: 1)
    assert png.paletted(indices, palette) == on_every_core
    monkeypatch.setattr(png.parallel, "workers", lambda: 3)
    with ThreadPoolExecutor(2) as two:
        monkeypatch.setattr(png, "_executor", lambda threads: two)
        assert png.paletted(indices, palette) == on_every_core


def test_a_single_pixel_and_a_single_color():
    data = png.paletted(np.zeros((1, 1), np.uint8), np.array([[10, 20, 30]], np.uint8))
    assert np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).tolist() == [[[10, 20, 30]]]


def test_bit_depth_boundaries():
    assert [png.bit_depth(n) for n in (1, 2, 3, 4, 5, 16, 17, 256)] == [1, 1, 2, 2, 4, 4, 8, 8]
    with pytest.raises(ValueError, match="257"):
        png.bit_depth(257)


def test_adler32_combine_agrees_with_zlib_over_the_whole():
    rng = np.random.default_rng(5)
    for first_length, second_length in ((0, 10), (10, 0), (1, 65521), (70000, 123457), (5, 3)):
        first, second = rng.bytes(first_length), rng.bytes(second_length)
        joined = png._adler32_combine(zlib.adler32(first), zlib.adler32(second), second_length)
        assert joined == zlib.adler32(first + second)
