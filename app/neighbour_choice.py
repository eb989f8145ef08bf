"""Which neighbour a small region joins: the merge rule, on borders listed in runs by source.

Pure numpy; app/merging.py calls choose_neighbours() each round.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.regions import first_of_each


@dataclass(frozen=True)
class BorderRuns:
    """The borders of each source, a run of consecutive entries in a list sorted by source."""

    starts: np.ndarray  # (sources,) where each run begins
    lengths: np.ndarray  # (sources,) its entries

    @classmethod
    def of(cls, source: np.ndarray) -> BorderRuns:
        starts = first_of_each(source)
        return cls(starts=starts, lengths=np.diff(starts, append=len(source)))

    def bounds(self, first: int, last: int) -> tuple[int, int]:
        """Where runs first..last-1 begin and end among the entries."""
        begin = int(self.starts[first])
        return begin, int(self.starts[last - 1] + self.lengths[last - 1]) if last > first else begin

    def entries(self, runs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The entries of these runs, in order; for each, its place in `runs`; where each run begins among them."""
        lengths = self.lengths[runs]
        ends = np.cumsum(lengths)
        begins = ends - lengths
        which = np.repeat(np.arange(len(runs)), lengths)
        return np.arange(ends[-1] if len(ends) else 0) + (self.starts[runs] - begins)[which], which, begins


def choose_neighbours(chooser, runs: BorderRuns, which: np.ndarray, target, length, size, index, channel_sums,
                      palette) -> np.ndarray:
    """The neighbour each of the sources runs[which] joins: nearest palette color to the source's mean, then
    longest border, then lowest number.

    The borders come sorted by (source, target), so each source's candidates
    form one run and the ties resolve within it without sorting. Neighbours
    of one index end in one group whichever of them is chosen (the others
    join it as neighbours of one index), so only ties between different
    colors, equally far, need the border lengths.
    """
    if len(which) == 0:
        return np.zeros(0, dtype=target.dtype)
    positions, run, starts = runs.entries(which)
    target = target[positions]
    chooser = chooser[which]
    entry = index[target]
    chooser_size = size[chooser]
    cost = np.zeros(len(target))
    for channel, sums in enumerate(channel_sums):  # one channel at a time: no (borders, 3) copies
        mean = sums[chooser]
        mean /= chooser_size
        difference = mean[run]
        difference -= np.ascontiguousarray(palette[:, channel])[entry]
        difference *= difference
        cost += difference
    best = cost == np.minimum.reduceat(cost, starts)[run]
    candidates = np.flatnonzero(best)
    chosen = candidates[first_of_each(run[candidates])]
    other_color = best & (entry != entry[chosen][run])
    if other_color.any():  # equally far colors: the longest border wins, then the lowest number
        tied = np.zeros(len(starts), dtype=bool)
        tied[run[other_color]] = True
        candidates = np.flatnonzero(best & tied[run])
        ranked = candidates[np.lexsort((candidates, -length[positions[candidates]], run[candidates]))]
        firsts = ranked[first_of_each(run[ranked])]
        chosen[run[firsts]] = firsts
    return target[chosen]
