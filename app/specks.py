"""Specks: single pixels walled in by one region, settled before the map is labelled.

Pure numpy. A pixel whose four side neighbours hold one other index, as do
three or more of its corners, is a region of its own, and its side
neighbours belong to one region R (the ring of seven or eight joins them,
round three sides at least). Under any min_region of 2 or more, merging
smallest first gives it to R in the first round, whatever else happens: R
is its only neighbour and larger, and no other region touches it. So it is
filled with R's index before labelling, which then has fewer runs, regions
and borders to find (a 12 MP photo has 36,000-135,000 such specks). Filling
changes no other region: R's ring was already joined without it or any
other speck (a pixel of the ring has a side neighbour of its own index, a
speck none), and two specks never share a side. What R gains is what
the merge would have given it: the speck's pixel, its color counted in R's
mean from the photo's own pixels. The cleaning counts the specks back into
the regions before cleaning, and moves their pixels from their own palette
entry in the refit and the figures (app/palette_refit.py, app/cleaned_map.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app import parallel


@dataclass(frozen=True)
class Specks:
    """The pixels filled, and the palette index each had before."""

    position: np.ndarray  # (n,) flat positions in the map, ascending
    index: np.ndarray  # (n,) uint8 their index before filling (the map now holds their region's)

    def __len__(self) -> int:
        return len(self.position)


NONE = Specks(position=np.zeros(0, dtype=np.intp), index=np.zeros(0, dtype=np.uint8))


def settle_specks(indices: np.ndarray, starts: np.ndarray, owned: bool) -> tuple[np.ndarray, Specks]:
    """The (H, W) uint8 map with every speck given its surrounding index, and the specks.

    `starts` is the map's regions.run_starts(); it is updated to the filled
    map's, in place. The map is filled in place when `owned` (the caller
    made it), else in a copy.
    """
    height, width = indices.shape
    if height < 3 or width < 3:
        return indices, NONE
    # The specks are found first (reading only), in two bands of rows side by side on a large map, then filled.
    if indices.size < _BANDS_PIXELS:
        position, around = _specks_in_rows(indices, starts, 1, height - 1)
    else:
        middle = height // 2
        top, bottom = parallel.side_by_side(lambda: _specks_in_rows(indices, starts, 1, middle),
                                            lambda: _specks_in_rows(indices, starts, middle, height - 1))
        position, around = (np.concatenate([a, b]) for a, b in zip(top, bottom))
    if not len(position):
        return indices, NONE
    flat = indices.ravel()
    specks = Specks(position=position, index=flat[position])
    filled = indices if owned else indices.copy()
    filled.ravel()[position] = around
    flat_starts = starts.ravel()  # the speck's run and the one after it are now part of the run before
    flat_starts[position] = False
    flat_starts[position + 1] = False
    return filled, specks


# From this many pixels on, specks are looked for in two bands of rows side by side.
_BANDS_PIXELS = 1 << 19


def _specks_in_rows(indices: np.ndarray, starts: np.ndarray, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """The flat positions (ascending) of the specks in rows first..last-1 (neither the first nor the last row
    of the map), and the index around each."""
    width = indices.shape[1]
    # First the pixels where a run begins between two alike neighbours (a few percent of the map), away from
    # the edges; then those whose neighbours above, below and at the corners are alike too.
    single = indices[first:last, :-2] == indices[first:last, 2:]
    single &= starts[first:last, 1:-1]
    row, column = np.divmod(np.flatnonzero(single), width - 2)
    del single
    position = (row + first) * width + column + 1
    flat = indices.ravel()
    around = flat[position - 1]
    for offset in (-width, width):
        walled = np.flatnonzero(flat[position + offset] == around)
        position, around = position[walled], around[walled]
    corners = np.zeros(len(position), dtype=np.uint8)
    for offset in (-width - 1, -width + 1, width - 1, width + 1):
        corners += flat[position + offset] == around
    walled = np.flatnonzero(corners >= 3)
    return position[walled], around[walled]
