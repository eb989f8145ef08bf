"""Paletted PNG, written band by band on every core.

Pillow writes a PNG on one core, from an index map that must exist in full
first. Here the index rows are asked for a band at a time (the caller may
make them on demand, as pipeline's lookup of pixel keys does), and each band
is packed to the bit depth and deflated by itself in a thread: the deflate and
numpy let go of the GIL, so a 12 MP result takes about half the wall time on
two cores. The bands are a fixed number of bytes whatever the core count,
so the same image always gives the same file.

Rows are written with PNG filter 0 (none), as libpng and pngquant do for
paletted images: a filter predicts a byte from its neighbours, which means
nothing for palette indices.

Deflate is ISA-L's (the isal package), at its level 2: on the corpus at k = 16
and 256 its files are within 2% of zlib level 1's (the I/O floor's) and 0-6%
larger than zlib level 3's, at a fifth to an eighth of zlib 3's time (a 12 MP
result at k = 256: 36 ms against 211 ms of CPU).
"""

from __future__ import annotations

import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np
from isal import isal_zlib

from app import parallel

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Uncompressed bytes a band holds: small enough to give both cores work on a 1 MP result,
# large enough that a band's own deflate dictionary costs nothing measurable (0.1% of a file).
BAND_BYTES = 1 << 19
DEFLATE_LEVEL = 2  # ISA-L's levels are 0-3; its 3 came out larger than its 2 on every camera photo
ZLIB_LEVEL_HINT = 1  # what the zlib header says of the compression: "fast"
_ADLER_BASE = 65521
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


class IndexRows(Protocol):
    """An index map, or anything that hands out its rows: shape (height, width), rows[a:b] as uint8."""

    shape: tuple[int, ...]

    def __getitem__(self, rows: slice) -> np.ndarray: ...


def bit_depth(colors: int) -> int:
    """The smallest PNG palette bit depth that holds this many colors."""
    for bits in (1, 2, 4, 8):
        if colors <= 1 << bits:
            return bits
    raise ValueError(f"a PNG palette holds at most 256 colors, got {colors}")


def paletted(indices: IndexRows, palette: np.ndarray, alpha: np.ndarray | None = None) -> bytes:
    """A paletted PNG of the index map at the smallest bit depth that holds the palette.

    alpha, when given, must be binary (0 or 255): its clear pixels take an extra, fully transparent
    palette entry.
    """
    entries = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    clear = None
    transparency = b""
    if alpha is not None:
        clear = len(entries)
        entries = np.vstack([entries, np.zeros((1, 3), np.uint8)])
        transparency = bytes([255] * clear + [0])
    height, width = indices.shape[:2]
    bits = bit_depth(len(entries))
    row_bytes = 1 + (width * bits + 7) // 8  # the filter byte, then the packed indices
    rows_per_band = max(1, BAND_BYTES // row_bytes)
    bands = [(top, min(height, top + rows_per_band)) for top in range(0, height, rows_per_band)]

    def deflate(number: int) -> tuple[bytes, int, int]:
        top, bottom = bands[number]
        band = np.asarray(indices[top:bottom], dtype=np.uint8)
        if clear is not None:
            band = np.where(alpha[top:bottom] == 0, np.uint8(clear), band)
        raw = _filtered_rows(band, bits)
        compressor = isal_zlib.compressobj(DEFLATE_LEVEL, isal_zlib.DEFLATED, -isal_zlib.MAX_WBITS)
        # Every band but the last ends on a byte boundary with no final-block mark (a sync
        # flush), so the raw deflate streams of the bands join into one.
        last = number == len(bands) - 1
        data = compressor.compress(raw) + compressor.flush(isal_zlib.Z_FINISH if last else isal_zlib.Z_SYNC_FLUSH)
        return data, isal_zlib.adler32(raw), len(raw)

    parts = _on_every_core(deflate, len(bands))
    checksum = 1
    for _, band_checksum, length in parts:
        checksum = _adler32_combine(checksum, band_checksum, length)
    stream = _ZLIB_HEADER + b"".join(data for data, _, _ in parts) + struct.pack(">I", checksum)
    header = struct.pack(">IIBBBBB", width, height, bits, 3, 0, 0, 0)  # color type 3: paletted
    return b"".join([
        SIGNATURE,
        _chunk(b"IHDR", header),
        _chunk(b"PLTE", entries.tobytes()),
        _chunk(b"tRNS", transparency) if transparency else b"",
        _chunk(b"IDAT", stream),
        _chunk(b"IEND", b""),
    ])


def _filtered_rows(band: np.ndarray, bits: int) -> bytes:
    """Rows packed at `bits` per index (first index in the high bits), each after a filter byte 0."""
    rows, width = band.shape
    per_byte = 8 // bits
    packed_width = -(-width // per_byte)
    out = np.zeros((rows, 1 + packed_width), np.uint8)
    if bits == 8:
        out[:, 1:] = band
        return out.tobytes()
    if width % per_byte:
        band = np.pad(band, ((0, 0), (0, packed_width * per_byte - width)))
    groups = band.reshape(rows, packed_width, per_byte)
    packed = out[:, 1:]
    for position in range(per_byte):
        packed |= groups[:, :, position] << np.uint8(8 - bits * (position + 1))
    return out.tobytes()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", isal_zlib.crc32(body, isal_zlib.crc32(kind)))


def _zlib_header() -> bytes:
    """CMF (deflate, 32 KB window) and FLG (the level hint, and the check bits that make the pair divisible by 31)."""
    cmf = 0x78
    flg = ZLIB_LEVEL_HINT << 6
    flg += (31 - (cmf * 256 + flg) % 31) % 31
    return bytes([cmf, flg])


_ZLIB_HEADER = _zlib_header()


def _adler32_combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of two byte strings joined, from theirs (zlib's adler32_combine)."""
    remainder = second_length % _ADLER_BASE
    low = first & 0xFFFF
    high = (remainder * low) % _ADLER_BASE
    low = (low + (second & 0xFFFF) + _ADLER_BASE - 1) % _ADLER_BASE
    high = (high + (first >> 16) + (second >> 16) + _ADLER_BASE - remainder) % _ADLER_BASE
    return low | (high << 16)


def _on_every_core(work, count: int) -> list:
    """[work(0), ..., work(count - 1)], this thread taking every core's share but the pool's: a thread of
    its own has a malloc arena of its own too, and every new one made the 12 MP request's peak 3-4 MB higher."""
    helpers = parallel.workers() - 1
    if count == 1 or helpers == 0:
        return [work(number) for number in range(count)]
    mine = range(0, count, helpers + 1)
    theirs = {number: _executor(helpers).submit(work, number) for number in range(count) if number % (helpers + 1)}
    done = {number: work(number) for number in mine}
    return [done[number] if number in done else theirs[number].result() for number in range(count)]


def _executor(threads: int) -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:  # made on first use, so a forked worker process gets its own
        if _pool is None:
            _pool = ThreadPoolExecutor(threads, thread_name_prefix="png")
        return _pool
