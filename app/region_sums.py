"""The pixels and color sums of some regions of an index map (app/regions.py), read from its runs.

Cleaning needs them only for the regions that can move (app/cleaning.py):
at a weak setting those pixels are few and listed, at a strong one they are
most of the photo and summed run by run.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, TypeVar

import numpy as np

from app import parallel
from app.regions import Regions

T = TypeVar("T")


@dataclass(frozen=True)
class Pixels:
    """The pixels of some regions, in raster order, and the sums of their colors per region."""

    keys: np.ndarray  # (n,) packed colors (0xRRGGBB)
    region: np.ndarray  # (n,) their regions
    sums: np.ndarray  # (regions, 3) float64 sums of R, G and B over each wanted region; zero for the others


def hold_most_pixels(regions: Regions, wanted: np.ndarray, pixels: int) -> bool:
    """Whether the regions where `wanted` holds have half of the photo's `pixels` or more (a strong setting)."""
    return 2 * int(regions.size[wanted].sum()) >= pixels


def pixels_of_regions(regions: Regions, wanted: np.ndarray, keys: np.ndarray) -> Pixels:
    """The packed colors (`keys`, one per pixel) of the pixels of the regions where `wanted` holds.

    When they are most of the pixels (a strong setting), they are read in
    order rather than picked one by one: listing positions costs more then.
    """
    if hold_most_pixels(regions, wanted, len(keys)):
        region = np.repeat(regions.run_region, regions.run_lengths)
        if wanted.all():
            chosen = np.ascontiguousarray(keys)  # a view of the photo's pixels, when it is contiguous
        else:
            listed = wanted[region]
            chosen, region = np.compress(listed, keys), np.compress(listed, region)
            del listed
    else:
        positions, region = regions.pixels_of(wanted)
        chosen = keys[positions]  # the photo's pixels may be a strided view: never copy them whole
        del positions
    sums = np.zeros((regions.count, 3))
    # bincount wants intp numbers and float64 weights: converted once, into one buffer, not per channel.
    numbers, weights = region.astype(np.intp, copy=False), np.empty(len(region))
    for channel, column in enumerate(_rgb_columns(chosen)):
        np.copyto(weights, column)
        sums[:, channel] = np.bincount(numbers, weights=weights, minlength=regions.count)
    del numbers, weights
    return Pixels(keys=chosen, region=region, sums=sums)


def _rgb_columns(keys: np.ndarray) -> list[np.ndarray]:
    """The R, G and B bytes of packed keys (0x00RRGGBB), as views: little-endian, a key's bytes are B, G, R, 0."""
    channels = np.ascontiguousarray(keys).astype("<u4", copy=False).view(np.uint8).reshape(-1, 4)
    return [channels[:, byte] for byte in (2, 1, 0)]


def sums_of_regions(regions: Regions, wanted: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """(count, 3) float64 sums of R, G and B over the pixels of each region where `wanted` holds (zero elsewhere).

    For a strong setting, where most pixels are wanted: every run is summed
    where it lies in the photo (one reduceat a channel), then the wanted runs
    by region. No pixel is listed or given its region, which costs more than
    the sums themselves.
    """
    return sums_of_regions_beside(regions, wanted, keys, lambda: None)[0]


def sums_of_regions_beside(regions: Regions, wanted: np.ndarray, keys: np.ndarray, meanwhile: Callable[[], T]
                           ) -> tuple[np.ndarray, T]:
    """sums_of_regions(), and what meanwhile() gives: the pool starts on the runs' sums while this thread does
    meanwhile(), then this thread helps with the chunks left (RunSums)."""
    summing = RunSums(regions, keys)
    with parallel.in_background(summing.help) as helping:
        done = meanwhile()
        summing.help()
    helping.result()  # a chunk the pool failed on is never summed: its error, not unset sums
    return summing.of_regions(wanted), done


class RunSums:
    """The color sums of every run of a map, made in chunks taken in turn by every thread that helps().

    The pool starts on them while cleaning finds the borders, and cleaning
    helps with what is left (sums_of_regions_beside): whoever is free sums
    the next chunk, and each chunk is written to its own place, so the sums
    are the same whoever made them.
    """

    CHUNKS = 16

    def __init__(self, regions: Regions, keys: np.ndarray):
        self._regions, self._columns, self._pixels = regions, _rgb_columns(keys), len(keys)
        runs = len(regions.run_first)
        self._bounds = [runs * i // self.CHUNKS for i in range(self.CHUNKS + 1)]
        self._per_run = np.empty((3, runs))  # a row a channel: each chunk writes, and the regions read, in order
        self._next_chunk = itertools.count()  # its next() is one step under the GIL: each chunk goes to one thread

    def help(self) -> None:
        """Sum chunks until none is left to start."""
        for chunk in self._next_chunk:
            if chunk >= self.CHUNKS:
                return
            self._sum_runs(self._bounds[chunk], self._bounds[chunk + 1])

    def _sum_runs(self, first: int, last: int) -> None:
        run_first = self._regions.run_first
        if first == last:
            return
        # A run's sum is a whole number below 255 * width: exact in float32 when that is below 2**24.
        exact_type = np.float32 if 255 * self._regions.shape[1] < 2**24 else np.float64
        begin, end = int(run_first[first]), int(run_first[last]) if last < len(run_first) else self._pixels
        weights, starts = np.empty(end - begin, dtype=exact_type), run_first[first:last] - begin
        for channel, column in enumerate(self._columns):
            np.copyto(weights, column[begin:end])
            self._per_run[channel, first:last] = np.add.reduceat(weights, starts)

    def of_regions(self, wanted: np.ndarray) -> np.ndarray:
        """The sums of the regions where `wanted` holds, once every chunk is summed (help() has returned on
        every thread that helped)."""
        regions = self._regions
        if wanted.all():  # at a strong setting, often: nothing to pick
            region, per_run = regions.run_region, self._per_run
        else:
            runs = np.flatnonzero(wanted[regions.run_region])
            region, per_run = regions.run_region[runs], self._per_run[:, runs]
        # Half of the runs on each core: the sums are whole numbers, exact in float64 whatever the order they add in.
        parts = parallel.map_ranges(len(region), lambda first, last: np.stack(
            [np.bincount(region[first:last], weights=sums[first:last], minlength=regions.count) for sums in per_run],
            axis=1))
        return parts[0] if len(parts) == 1 else sum(parts[1:], parts[0])
