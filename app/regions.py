"""Regions of an index map: 4-connected labelling from horizontal runs.

Pure numpy and scipy. label_regions() numbers every 4-connected patch of one
palette index; app/borders.py lists the borders between them,
app/region_sums.py reads their pixels and color sums, and app/cleaning.py
merges on those.

Why runs: a 12 MP map has a few hundred thousand regions but only a couple
of million horizontal runs of one index, numbered in raster order. Two runs
one above the other share pixel edges along a "stretch": between two
consecutive places where a run starts in either row. Every run of the upper
row and of the lower row starts at a stretch, so counting run starts along
the stretches numbers both runs of every stretch without a per-pixel map.
Linking the stretches whose two runs have one index and taking connected
components of that small graph labels every color at once; the stretches
whose runs differ, with the runs side by side in a row, are all the borders
(app/borders.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from app import parallel

# Index given to transparent pixels while labelling: they form regions that never merge.
CLEAR = 256


@dataclass(frozen=True)
class Regions:
    """Every run's region, regions numbered in the order of their first pixel (raster order)."""

    shape: tuple[int, int]
    count: int
    index: np.ndarray  # (count,) int32 palette index of each region; CLEAR for transparent ones
    size: np.ndarray  # (count,) int64 pixels
    run_first: np.ndarray  # (runs,) flat position where each horizontal run of one index begins, ascending
    run_region: np.ndarray  # (runs,) intp region of each run
    # Runs one above the other with different indices, and the pixel edges each pair shares (int32).
    upper_run: np.ndarray
    lower_run: np.ndarray
    stacked_length: np.ndarray

    @cached_property
    def run_lengths(self) -> np.ndarray:
        """(runs,) pixels of each run (made once: reading the regions' pixels and making a map both need it)."""
        return np.diff(self.run_first, append=self.shape[0] * self.shape[1])

    @cached_property
    def of_pixel(self) -> np.ndarray:
        """(H, W) int32 region of every pixel (made on first use: cleaning reads regions from the runs)."""
        return np.repeat(self.run_region.astype(np.int32), self.run_lengths).reshape(self.shape)

    def pixels_of(self, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat positions (ascending) of the pixels of the regions where `wanted` holds, and their regions.

        Read from the runs, so the cost follows those pixels, not the image.
        """
        runs = np.flatnonzero(wanted[self.run_region])
        lengths = self.run_lengths[runs]
        ends = np.cumsum(lengths)
        # 32-bit positions when they fit: at a strong setting most of a photo's pixels are listed.
        position_type = np.int32 if self.shape[0] * self.shape[1] < 2**31 else np.int64
        positions = np.arange(ends[-1] if len(ends) else 0, dtype=position_type)
        positions += np.repeat((self.run_first[runs] - (ends - lengths)).astype(position_type), lengths)
        return positions, np.repeat(self.run_region[runs], lengths)

    @property
    def visible(self) -> np.ndarray:
        return self.index != CLEAR


def run_starts(values: np.ndarray) -> np.ndarray:
    """(H, W) bool: where a horizontal run of one value begins (every row's first pixel, and each change)."""
    starts = np.ones(values.shape, dtype=bool)
    np.not_equal(values[:, 1:], values[:, :-1], out=starts[:, 1:])
    return starts


def label_regions(indices: np.ndarray, alpha: np.ndarray | None = None, starts: np.ndarray | None = None) -> Regions:
    """Number the 4-connected regions of one index; fully transparent pixels form regions of CLEAR.

    `starts`, run_starts(indices), may be given when the map has no transparent pixel.
    """
    from scipy.sparse import csr_matrix  # on first use: scipy's import is a good part of a command's start-up
    from scipy.sparse.csgraph import connected_components

    values = indices
    if alpha is not None and (alpha == 0).any():
        values = np.where(alpha == 0, CLEAR, indices.astype(np.uint16))
        starts = None
    height, width = values.shape
    pixels = height * width
    number_type = np.int32 if pixels < 2**31 else np.int64
    starts = run_starts(values) if starts is None else starts
    runs_before_row = np.zeros(height + 1, dtype=number_type)
    # Counted as bytes into 16-bit sums when a row is narrower than 2**16: four times faster than bools' own sum.
    np.cumsum(starts.view(np.uint8).sum(axis=1, dtype=np.uint16 if width < 2**16 else np.int64),
              out=runs_before_row[1:])
    # Two bands of rows side by side, one per core.
    if pixels >= 2 * _BAND_PIXELS and height >= 2:
        middle = height // 2
        bands = parallel.side_by_side(lambda: _Band.of(values, starts, runs_before_row, 0, middle, number_type),
                                      lambda: _Band.of(values, starts, runs_before_row, middle, height, number_type))
    else:
        bands = [_Band.of(values, starts, runs_before_row, 0, height, number_type)]
    run_first, upper, lower, upper_run, lower_run, stacked_length = (
        np.concatenate([getattr(band, field) for band in bands]) for field in _Band.FIELDS)
    run_count = len(run_first)
    # Linked runs, row by row: `upper` ascends, so the links come in row order of a sparse matrix.
    row_starts = np.zeros(run_count + 1, dtype=number_type)
    np.cumsum(np.bincount(upper, minlength=run_count), out=row_starts[1:])
    links = csr_matrix((np.ones(len(upper), np.int8), lower, row_starts), shape=(run_count, run_count))
    # Components are numbered from their lowest run: by first pixel in raster order.
    count, region_of_run = connected_components(links, directed=False)
    region_of_run = region_of_run.astype(np.intp)  # read as numbers to gather by: intp is fastest

    def index_of_regions() -> np.ndarray:
        index = np.zeros(count, dtype=np.int32)
        index[region_of_run] = values.ravel()[run_first]
        return index

    def size_of_regions() -> np.ndarray:
        return np.bincount(region_of_run, weights=np.diff(run_first, append=pixels), minlength=count).astype(np.int64)

    if len(bands) > 1:  # a large map: one on each core
        index, size = parallel.side_by_side(index_of_regions, size_of_regions)
    else:
        index, size = index_of_regions(), size_of_regions()
    return Regions(shape=(height, width), count=count, index=index, size=size, run_first=run_first,
                   run_region=region_of_run, upper_run=upper_run, lower_run=lower_run, stacked_length=stacked_length)


# Below this many pixels a map is labelled in one band: a thread costs more than it saves.
_BAND_PIXELS = 1 << 18


@dataclass(frozen=True)
class _Band:
    """The runs that begin in some rows, and the stretches between each of those rows and the next."""

    FIELDS = ("run_first", "upper", "lower", "upper_run", "lower_run", "stacked_length")
    run_first: np.ndarray  # flat positions where runs begin
    upper: np.ndarray  # runs one above the other with one index: linked
    lower: np.ndarray
    upper_run: np.ndarray  # runs one above the other with different indices, and the pixel edges they share
    lower_run: np.ndarray
    stacked_length: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray, starts: np.ndarray, runs_before_row: np.ndarray, first: int, last: int,
           number_type) -> _Band:
        """Rows first..last-1 of the map (the last row has no stretch below it)."""
        width = values.shape[1]
        flat_starts, flat = starts.ravel(), values.ravel()
        offset = first * width
        run_first = np.flatnonzero(flat_starts[offset:last * width])
        run_first += offset
        stop = min(last, values.shape[0] - 1)  # rows with a row below them
        if stop <= first:
            empty = np.zeros(0, dtype=number_type)
            return cls(run_first, empty, empty, empty, empty, empty)
        # Positions within the band; the row below is read through views one row further on.
        stretches = np.flatnonzero(starts[first + 1:stop + 1] | starts[first:stop])
        band_starts, band_values = flat_starts[offset:], flat[offset:]
        upper = np.cumsum(band_starts[stretches], dtype=number_type)
        upper += runs_before_row[first] - 1
        lower = np.cumsum(band_starts[width:][stretches], dtype=number_type)
        lower += runs_before_row[first + 1] - 1
        joined = band_values[stretches] == band_values[width:][stretches]
        # Positions, not masks: picking by a list of positions is several times faster than by a mask.
        across = np.flatnonzero(~joined)
        joined = np.flatnonzero(joined)
        next_stretch = np.empty_like(stretches)
        next_stretch[:-1] = stretches[1:]
        next_stretch[-1:] = (stop - first) * width
        lengths = (next_stretch[across] - stretches[across]).astype(number_type)
        return cls(run_first, upper[joined], lower[joined], upper[across], lower[across], lengths)


def first_of_each(ascending: np.ndarray) -> np.ndarray:
    """Where each value of a non-decreasing array first appears."""
    begins = np.empty(len(ascending), dtype=bool)
    begins[:1] = True
    np.not_equal(ascending[1:], ascending[:-1], out=begins[1:])
    return np.flatnonzero(begins)
