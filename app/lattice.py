"""Exact nearest center for every distinct color: one matrix product and one minimum per block.

The colors sit on an integer lattice: RGB values as they are, CIELAB and
OKLab scaled and rounded (a step of 1/64 in CIELAB, far below what the
eye or the error figures can tell). Centers are rounded to the same
lattice. For a color x and center j the product of [x, 1] with
[-512 c_j, 256 |c_j|^2 + j] is 256 (|x - c_j|^2 - |x|^2) + j: an integer
far below 2**53, so float64 holds it exactly. Its minimum over j names the
nearest center in its low 8 bits (ties go to the lower index, as argmin
does) and the squared distance above them. The minimum runs down the
columns of a (k, block) matrix, which numpy vectorizes along the block:
several times faster than an argmin along short rows, or a k-d tree.

8-bit colors (RGB) with at most 64 centers, the slider's palettes, go in
float32 at half the memory traffic and twice the lanes: centered on 128,
the product of [x', |x'|^2, 1] with [-128 c'_j, 64, 64 |c'_j|^2 + j] is
64 |x - c_j|^2 + j, and every partial sum of it stays below 2**24 in
magnitude (at most 64 * (12 * 128**2 + 1)), so float32 holds each one
exactly whatever order the product adds them in. Same labels, same
distances, 2-3 times faster.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from app import parallel

# Colors per matrix product: the (k, block) float64 products, about BLOCK_VALUES of them (1 MB),
# stay in cache; at k = 256 a 2048-color block took 1.6 times as long as a 512-color one.
BLOCK_VALUES = 1 << 17
MAX_BLOCK = 4096
# ... but the searches of Lloyd steps on bins (_search_sets: a few thousand to 30,000 points, 8-128 centers in all)
# take blocks of half that: their whole step is a few ms, and at 64k values their steps took 5-10% less CPU than at
# 128k on kodim23 (k = 8-48, coarse and fine bins; 32k was no better than 64k).
SETS_BLOCK_VALUES = 1 << 16
# The float32 search's (k, block) products: 128k of them (512 kB) was the fastest of 32k-256k at k = 8-64.
BYTE_BLOCK_VALUES = 1 << 17
BYTE_MAX_BLOCK = 8192
MAX_CENTERS = 256  # the index must fit the low 8 bits
# Centers of 8-bit colors searched in float32: the index fits the low 6 bits, and 64 * (12 * 128**2 + 1) < 2**24.
BYTE_MAX_CENTERS = 64
# A lattice of at most this many points (the coarse bins: a few thousand) can be searched from its search_rows, on one
# thread (it is never split below parallel.MIN_PART anyway).
SMALL_POINTS = parallel.MIN_PART
_BYTE_INDEX = float(BYTE_MAX_CENTERS)  # the float32 search's encoded index: below it the label, above it the distance


@dataclass(frozen=True)
class Lattice:
    """Points of one space on an integer lattice, stored by coordinate for the products."""

    coordinates: np.ndarray  # (3, n) float32 integers (exact below 2**24)
    scale: float  # lattice steps per unit of the space

    BYTES_PER_POINT = 12
    BYTE_ROWS_PER_POINT = 20  # what an 8-bit lattice keeps besides, once searched for few centers (byte_rows)

    @classmethod
    def of(cls, points: np.ndarray, scale: float) -> "Lattice":
        points = np.asarray(points)
        if scale == 1.0 and np.issubdtype(points.dtype, np.integer):  # already on the lattice (RGB colors)
            return cls(np.ascontiguousarray(points.T, dtype=np.float32), scale)
        rounded = np.rint(np.asarray(points, dtype=np.float64).T * scale)
        return cls(np.ascontiguousarray(rounded, dtype=np.float32), scale)

    def __len__(self) -> int:
        return self.coordinates.shape[1]

    @property
    def nbytes(self) -> int:
        byte_rows = self.__dict__.get("byte_rows")
        return self.coordinates.nbytes + (0 if byte_rows is None else byte_rows.nbytes)

    def search_rows(self) -> np.ndarray | None:
        """[x, 1] as the rows of a (4, n) float64 array when the lattice has at most SMALL_POINTS points, else None:
        for a caller that searches it many times (Lloyd steps on coarse bins, a tenth of a ms each), which hands
        them to every search (search_rows=) rather than have each copy the coordinates block by block. Not kept."""
        n = self.coordinates.shape[1]
        if n > SMALL_POINTS:
            return None
        search_rows = np.empty((4, n))
        search_rows[:3] = self.coordinates
        search_rows[3] = 1.0
        return search_rows

    @cached_property
    def byte_rows(self) -> np.ndarray | None:
        """[x - 128, |x - 128|^2, 1] as the rows of a (5, n) float32 array, when every point is an 8-bit color
        (scale 1, integer coordinates 0..255): the float32 search's operand. None otherwise.
        Made on the first search for few centers and kept with the lattice."""
        coordinates = self.coordinates
        if self.scale != 1.0 or not coordinates.size or coordinates.min() < 0 or coordinates.max() > 255:
            return None
        byte_rows = np.empty((5, coordinates.shape[1]), dtype=np.float32)
        np.subtract(coordinates, 128.0, out=byte_rows[:3])
        np.einsum("ij,ij->j", byte_rows[:3], byte_rows[:3], out=byte_rows[3])
        byte_rows[4] = 1.0
        return byte_rows

    def snap(self, centers: np.ndarray) -> np.ndarray:
        """Centers of the space rounded to the lattice."""
        return np.rint(np.asarray(centers, dtype=np.float64) * self.scale)


@dataclass(frozen=True)
class Nearest:
    labels: np.ndarray  # (n,) index of the nearest center
    squared_distances: np.ndarray  # (n,) float64, in lattice units (exact integers)


def _encode(centers: np.ndarray, count: int) -> np.ndarray:
    """The (k, 4) rows [-512 c_j, 256 |c_j|^2 + j] whose product with [x, 1] names the nearest center."""
    lattice_centers = np.asarray(centers, dtype=np.float64)
    k = len(lattice_centers)
    if not 1 <= count <= k <= MAX_CENTERS:
        raise ValueError(f"between {count} and {MAX_CENTERS} centers for {count} nearest, got {k}")
    encoded = np.empty((k, 4))
    encoded[:, :3] = -512.0 * lattice_centers
    encoded[:, 3] = 256.0 * np.einsum("ij,ij->i", lattice_centers, lattice_centers) + np.arange(k)
    return encoded


def _blocks(coordinates: np.ndarray, first: int, last: int, centers: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """Points first..last in blocks sized for that many centers, each as the (4, n) rows [x, 1] (one buffer, reused)."""
    size = max(256, min(MAX_BLOCK, BLOCK_VALUES // centers))
    block = _block_buffer(size)
    for start in range(first, last, size):
        stop = min(start + size, last)
        points = block[:, : stop - start]
        points[:3] = coordinates[:, start:stop]
        yield start, stop, points


_buffers = threading.local()


def _block_buffer(size: int) -> np.ndarray:
    """A (4, size) buffer whose last row is ones, kept by each thread: a fresh one of 128 kB
    is mapped from the system and faulted in page by page, 3 ms a palette at 12 MP."""
    buffer = getattr(_buffers, "block", None)
    if buffer is None or buffer.shape[1] < size:
        buffer = _buffers.block = np.ones((4, max(size, MAX_BLOCK)))
    return buffer[:, :size]


def nearest(lattice: Lattice, centers: np.ndarray, then: Callable[[int, int, np.ndarray], None] | None = None,
            search_rows: np.ndarray | None = None) -> Nearest:
    """The nearest of the centers (already on the lattice) for every point, exactly.

    then(first, last, labels): more work on a part of the points once its
    labels are known, on the same core, while the other parts go on.
    search_rows: the lattice's search_rows(), when the caller keeps them.
    """
    labels, squared = _nearest(lattice, centers, with_distances=True, then=then, search_rows=search_rows)
    return Nearest(labels, squared)


def nearest_labels(lattice: Lattice, centers: np.ndarray, search_rows: np.ndarray | None = None) -> np.ndarray:
    """nearest(lattice, centers).labels, without working out the distances (what a Lloyd step needs)."""
    return _nearest(lattice, centers, with_distances=False, search_rows=search_rows)[0]


def nearest_each(lattice: Lattice, center_sets: list[np.ndarray], with_distances: bool = False,
                 search_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """nearest() for several sets of centers (on the lattice) of as many centers each, in one product a block:
    (sets, n) labels, each row as nearest(lattice, centers).labels gives it, and with_distances their squared
    distances. On one thread: for the few thousand coarse points of several k-means starts.
    search_rows: the lattice's search_rows(), when the caller keeps them.
    """
    sizes = [len(centers) for centers in center_sets]
    if len(set(sizes)) != 1:
        raise ValueError(f"every set must have as many centers, got sets of {sizes}")
    encoded = np.concatenate([_encode(centers, 1) for centers in center_sets])
    return _search_sets(lattice, encoded, len(center_sets), with_distances, search_rows)


def _search_sets(lattice: Lattice, encoded: np.ndarray, sets: int, with_distances: bool,
                 search_rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """nearest_each for centers already encoded, set after set, on this thread."""
    count = len(encoded) // sets
    n = lattice.coordinates.shape[1]
    labels = np.empty((sets, n), dtype=np.intp)
    squared = np.empty((sets, n)) if with_distances else None
    size = max(256, min(MAX_BLOCK, SETS_BLOCK_VALUES // len(encoded)))
    block = None if search_rows is not None else _block_buffer(min(size, max(n, 1)))
    for start in range(0, n, size):
        stop = min(start + size, n)
        if search_rows is not None:
            points = search_rows[:, start:stop]
        else:
            points = block[:, : stop - start]
            points[:3] = lattice.coordinates[:, start:stop]
        best = np.minimum.reduce((encoded @ points).reshape(sets, count, stop - start), axis=1)
        _decode(best, labels[:, start:stop], None if squared is None else squared[:, start:stop], points)
    return labels, squared


def _decode(best: np.ndarray, labels: np.ndarray, squared: np.ndarray | None = None, points: np.ndarray | None = None,
            index: float = 256.0) -> None:
    """Write the labels (the encoded minima `best` modulo `index`) and, into squared when given, the squared
    distances: what is above the index, plus |x|^2 of the points' rows [x, ...] when given (the float64 search
    leaves it out of the product)."""
    above = np.floor(best * (1.0 / index))
    labels[...] = best - index * above
    if squared is not None:
        squared[...] = above if points is None else above + np.einsum("ij,ij->j", points[:3], points[:3])


def _encode_bytes(centers: np.ndarray) -> np.ndarray | None:
    """The (k, 5) float32 rows [-128 c', 64, 64 |c'|^2 + j] (c' = c - 128) for the float32 search,
    or None when the centers are not few 8-bit colors."""
    centers = np.asarray(centers, dtype=np.float64)
    k = len(centers)
    if not 1 <= k <= BYTE_MAX_CENTERS or centers.min() < 0 or centers.max() > 255 \
            or not np.array_equal(centers, np.rint(centers)):
        return None
    centered = centers - 128.0
    encoded = np.empty((k, 5), dtype=np.float32)
    encoded[:, :3] = -128.0 * centered
    encoded[:, 3] = _BYTE_INDEX
    encoded[:, 4] = _BYTE_INDEX * np.einsum("ij,ij->i", centered, centered) + np.arange(k)
    return encoded


def _nearest(lattice: Lattice, centers: np.ndarray, with_distances: bool,
             then: Callable[[int, int, np.ndarray], None] | None = None,
             search_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    if len(centers) <= BYTE_MAX_CENTERS and lattice.byte_rows is not None:
        few = _encode_bytes(centers)
        if few is not None:
            return _nearest_bytes(lattice.byte_rows, few, with_distances, then)
    encoded = _encode(centers, 1)
    if search_rows is not None and then is None:
        labels, squared = _search_sets(lattice, encoded, 1, with_distances, search_rows)
        return labels[0], None if squared is None else squared[0]
    coordinates = lattice.coordinates
    n = coordinates.shape[1]
    labels = np.empty(n, dtype=np.intp)
    squared = np.empty(n) if with_distances else None

    def part(first: int, last: int) -> None:
        for start, stop, points in _blocks(coordinates, first, last, len(encoded)):
            best = np.min(encoded @ points, axis=0)
            _decode(best, labels[start:stop], None if squared is None else squared[start:stop], points)
        if then is not None:
            then(first, last, labels[first:last])

    parallel.for_ranges(n, part)
    return labels, squared


def _nearest_bytes(byte_rows: np.ndarray, encoded: np.ndarray, with_distances: bool,
                   then: Callable[[int, int, np.ndarray], None] | None) -> tuple[np.ndarray, np.ndarray | None]:
    """_nearest in float32 on an 8-bit lattice's byte_rows, centers encoded by _encode_bytes."""
    n = byte_rows.shape[1]
    labels = np.empty(n, dtype=np.intp)
    squared = np.empty(n) if with_distances else None
    size = max(256, min(BYTE_MAX_BLOCK, BYTE_BLOCK_VALUES // len(encoded)))

    def part(first: int, last: int) -> None:
        for start in range(first, last, size):
            stop = min(start + size, last)
            best = np.min(encoded @ byte_rows[:, start:stop], axis=0)
            _decode(best, labels[start:stop], None if squared is None else squared[start:stop], index=_BYTE_INDEX)
        if then is not None:
            then(first, last, labels[first:last])

    parallel.for_ranges(n, part)
    return labels, squared


def nearest_few(lattice: Lattice, centers: np.ndarray, count: int) -> np.ndarray:
    """The `count` nearest centers (on the lattice) of every point, nearest first: (n, count) indices.

    The same product as nearest(); after each column minimum that entry is
    set aside (the encoded values of a column are all different) and the
    minimum taken again.
    """
    encoded = _encode(centers, count)
    coordinates = lattice.coordinates
    n = coordinates.shape[1]
    found = np.empty((n, count), dtype=np.intp)

    def part(first: int, last: int) -> None:
        for start, stop, points in _blocks(coordinates, first, last, len(encoded)):
            values = encoded @ points
            for rank in range(count):
                best = values.min(axis=0)
                _decode(best, found[start:stop, rank])
                if rank + 1 < count:
                    values[values == best] = np.inf

    parallel.for_ranges(n, part)
    return found
