"""A photo's distinct colors and how often each occurs: what every palette is found from."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from app import colorspace, lattice, parallel


# Lattice steps per unit of each space for the exact nearest-entry search (app/lattice.py).
LATTICE_SCALES = {"rgb": 1.0, "lab": 64.0, "oklab": 65536.0}
# What a photo's Histogram holds per distinct color once palettes have been found in every
# space, for cache accounting: key, count, RGB, CIELAB, float weight, three bin numbers (no
# longer kept: room for the means of the more sets of bins RGB asks for at small k), the
# lattices of three spaces and the RGB one's float32 rows (lattice.py), OKLab points, the
# weighted rows of RGB's exact Lloyd step (32 bytes: the slider's every palette takes that
# step), and allowances for the bins' means, weights and lattices (32 bytes a bin and space:
# photos have about three or more colors a fine bin, 12 MP ones ten, and a coarse bin holds
# several fine ones).
CACHED_BYTES_PER_COLOR = (4 + 8 + 3 + 12 + 8 + 3 * 4
                          + 3 * lattice.Lattice.BYTES_PER_POINT + lattice.Lattice.BYTE_ROWS_PER_POINT
                          + 12 + 3 * 11 + 3 * 4 + 32)


@dataclass(frozen=True)
class Histogram:
    """The distinct visible colors of an image and how often each occurs."""

    keys: np.ndarray  # (n,) uint32 packed 0xRRGGBB, ascending
    counts: np.ndarray  # (n,) int64
    # What every palette for this photo reuses (points of each space, lattices, coarse bins).
    # Filled on first use, small beside the pixels; two threads filling one entry at once
    # compute the same value.
    _work: dict = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def colors(self) -> np.ndarray:
        return unpack(self.keys)

    @cached_property
    def weights(self) -> np.ndarray:
        return self.counts.astype(np.float64)

    def reuse(self, key: tuple, make):
        """The per-photo value under key, made once."""
        value = self._work.get(key)
        if value is None:
            value = self._work[key] = make()
        return value

    def points(self, color_space: str) -> np.ndarray:
        """The colors as points of a clustering space (float32 in the perceptual ones)."""
        if color_space == "rgb":
            return self.colors
        if color_space == "lab":
            return self.lab
        space = colorspace.SPACES[color_space]
        return self.reuse(("points", color_space), lambda: space.from_srgb(self.colors).astype(np.float32))

    def lattice(self, color_space: str) -> lattice.Lattice:
        return self.reuse(("lattice", color_space),
                          lambda: lattice.Lattice.of(self.points(color_space), LATTICE_SCALES[color_space]))

    @property
    def work_bytes(self) -> int:
        """Bytes held by the per-photo work cache and cached copies."""
        total = sum(getattr(v, "nbytes", 0) for v in self._work.values())
        total += sum(getattr(a, "nbytes", 0) for v in self._work.values() if isinstance(v, tuple) for a in v)
        return total + sum(self.__dict__[name].nbytes for name in ("colors", "lab", "weights") if name in self.__dict__)

    @cached_property
    def lab(self) -> np.ndarray:
        """The colors in CIELAB, kept for every CIEDE2000 measured on this photo.

        float32 halves the time CIEDE2000 takes; its error is far below 0.001.
        """
        return colorspace.srgb_to_lab(self.colors).astype(np.float32)

    @property
    def unique_colors(self) -> int:
        return len(self.keys)

    @property
    def pixels(self) -> int:
        return int(self.counts.sum())


def pack(rgb: np.ndarray) -> np.ndarray:
    """Pack (..., 3) uint8 colors into uint32 keys 0xRRGGBB, flattened."""
    flat = np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1, 3)
    padded = np.zeros((len(flat), 4), np.uint8)
    # Little-endian uint32 of bytes (B, G, R, 0) is 0x00RRGGBB.
    padded[:, 0], padded[:, 1], padded[:, 2] = flat[:, 2], flat[:, 1], flat[:, 0]
    return padded.view("<u4").ravel()


def unpack(keys: np.ndarray) -> np.ndarray:
    """Unpack uint32 keys 0xRRGGBB into (n, 3) uint8 colors."""
    keys = np.asarray(keys, dtype=np.uint32)
    return np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], axis=1).astype(np.uint8)


def histogram(keys: np.ndarray) -> Histogram:
    """Count the distinct colors among packed pixel keys.

    By sorting: 5 bytes a pixel at the peak, where a count table of every
    possible color is 128 MB whatever the photo. Each core sorts and counts
    its own share of the pixels (numpy lets go of the GIL while it sorts);
    the shares' histograms, a few hundred thousand colors each, are merged.
    """
    keys = np.asarray(keys, dtype=np.uint32)
    shares = parallel.map_ranges(len(keys), lambda first, last: _sorted_counts(keys[first:last]))
    if len(shares) == 1:
        present, counts = shares[0]
    else:
        present, counts = _sorted_counts(np.concatenate([p for p, _ in shares]),
                                         np.concatenate([c for _, c in shares]))
    return Histogram(keys=present, counts=counts)


def _sorted_counts(keys: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys, ascending, and how often each occurs (or the sum of its weights)."""
    if weights is None:
        ordered = np.sort(keys)
    else:
        order = np.argsort(keys, kind="stable")
        ordered, weights = keys[order], weights[order]
    if not len(ordered):
        return np.zeros(0, np.uint32), np.zeros(0, np.int64)
    change = np.empty(len(ordered), dtype=bool)
    change[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    del change
    if weights is None:
        counts = np.diff(starts, append=len(ordered))
    else:
        counts = np.add.reduceat(weights, starts)
    return ordered[starts], counts.astype(np.int64)
