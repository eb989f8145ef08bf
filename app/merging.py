"""Merging small regions into neighbours, in vectorized rounds on the graph of regions.

Pure numpy; app/cleaning.py calls merge_small_regions() on the
regions of app/regions.py and the borders of app/borders.py, never pixel by pixel.
Each region's choice of neighbour is app/neighbour_choice.py's; the groups and
pointer trees that merges make are followed by app/pointer_trees.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from app import parallel
from app.borders import Borders, group_borders, seamed
from app.neighbour_choice import BorderRuns, choose_neighbours
from app.pointer_trees import lowest_linked, odd_depth
from app.regions import CLEAR, Regions

# Rounds merged in the exact smallest-first order before long chains switch to halving.
EXACT_ROUNDS = 48


@dataclass(frozen=True)
class Merged:
    index_of_region: np.ndarray  # (regions,) the palette index each region ends with
    regions: int  # visible regions left; neighbours never share an index


def merge_small_regions(regions: Regions, sums: np.ndarray, graph: Borders, palette: np.ndarray,
                        min_region: int, wanting: np.ndarray | None = None) -> Merged:
    """The palette index every region ends with once no region under min_region has a neighbour left.

    "Small" regions are those under min_region pixels, and those `wanting`
    says must merge whatever their size (too thin, say): once such a region
    has merged, its group is small only by its size. `graph` holds the
    borders of every small region, from its side (borders(regions, small,
    both_ways=False)): a region that is not small never moves, and what it
    touches is seen from the small side. `sums` are the sums of the colors
    of every small region's pixels.

    In a round, every small region that no smaller small region touches
    merges into its chosen neighbour. That is the order of the classic
    one-at-a-time merge, smallest first: a region's turn comes once the
    smaller ones around it have merged (or grown past the threshold), and
    what happens farther away does not change its choice. A chain of ever
    larger small regions would take one round per link; after EXACT_ROUNDS
    the rest merge by pointer trees, which halves every chain per round.
    Neighbours of one index that a merge brings together become one region.
    Each round the smallest small region with a neighbour merges, so the
    rounds end: every group ranked before another has borders listed, since
    a group with a member that waited for nobody never wants to merge.

    Regions keep their numbers: a merged one points at the region that took
    it, so a round costs only what its borders and merges touch. Rows are
    picked by lists of positions, not by masks, which numpy does several
    times faster. A round with a long list of borders (the first few at
    12 MP) chooses and regroups in two halves of its choosers side by side,
    one per core; the halves meet at a seam, since a group stands for its
    lowest member and the borders come sorted by group.
    """
    palette = np.asarray(palette, dtype=np.float64)
    count = regions.count
    # 32-bit sizes and one array of sums per channel: what a round gathers most, kept compact.
    size = regions.size.astype(np.int32 if regions.size.sum() < 2**31 else np.int64)
    index, channel_sums = regions.index.copy(), np.ascontiguousarray(sums.T)
    parent = np.arange(count)  # numbers as intp: numpy gathers by intp numbers fastest
    current = parent.copy()  # the group each border end now belongs to
    local = np.zeros(count, dtype=np.intp)  # scratch: a region's number among those a round touches
    flag = np.zeros(count, dtype=bool)  # scratch, all False between uses
    wanting = np.zeros(count, dtype=bool) if wanting is None else wanting.copy()
    any_wanting = bool(wanting.any())
    # A group's rank, smallest first (by size, then number); groups that wait for nobody (not small, not
    # wanting) rank last. A region is ready when it ranks before every neighbour.
    rank = _ranks(np.arange(count), size, wanting, min_region, count)
    source, target, length = graph.source, graph.target, graph.length
    # A small region whose one neighbour waits for nobody (a speck inside a large region: most small regions
    # at 12 MP) is ready in the first round and has one choice; no other region touches it, so no merge
    # brings neighbours together through it. All of them are settled here, before the rounds.
    runs = BorderRuns.of(source)
    alone = runs.starts[(runs.lengths == 1) & (rank[target[runs.starts]] == _LAST)]
    if len(alone):
        gone, taker = source[alone], target[alone]
        index[gone], parent[gone], current[gone] = index[taker], taker, taker
        wanting[gone] = False
        np.add.at(size, taker, size[gone])  # a group that waits for nobody never chooses: its sums are not read
        others = np.ones(len(source), dtype=bool)
        others[alone] = False
        source, target, length = source[others], target[others], length[others]
        runs = BorderRuns.of(source)
    rounds = 0
    while len(source):  # every source is a group under min_region
        chooser = source[runs.starts]
        # A long list is worked in two halves of its choosers side by side, one per core.
        halves = [0, len(chooser) // 2, len(chooser)] if len(source) >= _HALVES_ENTRIES else [0, len(chooser)]
        if rounds < EXACT_ROUNDS:
            # A small region merges once no smaller small region touches it.
            def ready_and_chosen(first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
                """Of choosers first..last-1, the ready ones and the neighbour each joins."""
                begin, end = runs.bounds(first, last)
                ready = np.flatnonzero(np.minimum.reduceat(rank[target[begin:end]], runs.starts[first:last] - begin)
                                       > size[chooser[first:last]].astype(np.int64) * count + chooser[first:last])
                ready += first
                return ready, choose_neighbours(chooser, runs, ready, target, length, size, index, channel_sums, palette)

            parts = parallel.side_by_side(*(partial(ready_and_chosen, first, last)
                                            for first, last in zip(halves[:-1], halves[1:])))
            ready, into = np.concatenate([ready for ready, _ in parts]), np.concatenate([i for _, i in parts])
        else:
            every = np.arange(len(chooser))
            choice = choose_neighbours(chooser, runs, every, target, length, size, index, channel_sums, palette)
            ready = np.flatnonzero(odd_depth(chooser, choice, size, (size < min_region) | wanting))
            into = choice[ready]
        merging = chooser[ready]
        rounds += 1
        if not len(merging):  # cannot happen (see the docstring): a hang, were it to, is worse than an error
            raise RuntimeError("a merge round merged nothing: a group ranked before its neighbours has no borders listed")
        index[merging] = index[into]
        current[merging] = into
        # Neighbours of one index that a merge brought together: only borders from or to a merged region. A
        # small group's borders are all listed from its side, so those of a merged one are its run: the borders
        # to it are the same pairs the other way round, and a link joins its two ends whichever way it points.
        # A long list of merges is read in two halves side by side.
        def brought_together(merged: np.ndarray, taker: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            positions, which, _ = runs.entries(merged)
            a, b = taker[which], current[target[positions]]
            together = np.flatnonzero((a != b) & (index[a] == index[b]))
            return a[together], b[together]

        pieces = [0, len(ready) // 2, len(ready)] if len(source) >= _HALVES_ENTRIES else [0, len(ready)]
        parts = parallel.side_by_side(*(partial(brought_together, ready[first:last], into[first:last])
                                        for first, last in zip(pieces[:-1], pieces[1:])))
        # One group per merge, with the same-index neighbours it brought together.
        first, second = (np.concatenate([ends, *(part[side] for part in parts)])
                         for side, ends in enumerate((merging, into)))
        if len(first) > _FEW_NODES:
            flag[first] = True
            flag[second] = True
            nodes = np.flatnonzero(flag)
            flag[nodes] = False
        else:  # a late round touches a few groups: sorting them beats scanning every region
            nodes = np.unique(np.concatenate([first, second]))
        local[nodes] = np.arange(len(nodes))
        # A group stands for its lowest number.
        rep = nodes[lowest_linked(len(nodes), local[first], local[second])]
        moved = np.flatnonzero(nodes != rep)
        gone, taker = nodes[moved], rep[moved]
        np.add.at(size, taker, size[gone])
        for channel in channel_sums:
            np.add.at(channel, taker, channel[gone])
        parent[gone] = taker
        current[nodes] = rep
        if any_wanting:  # a group still wants to merge when one of its members does and has not merged yet
            # ... and none of its members waited for nobody: a merge only deepens the region that takes it,
            # and the sums of such a member are not kept (only those of small or wanting regions are).
            flag[merging] = True
            still = np.flatnonzero(wanting[nodes] & ~flag[nodes])
            flag[merging] = False
            wanting[nodes] = False
            wanting[rep[still]] = True
            wanting[rep[rank[nodes] == _LAST]] = False
        rank[nodes] = _ranks(nodes, size, wanting, min_region, count)
        # Borders now run between groups; only those from a group still under min_region matter.
        def regrouped(first: int, last: int) -> Borders:
            """The borders of choosers first..last-1, between their groups now."""
            begin, end = runs.bounds(first, last)
            a, b = current[source[begin:end]], current[target[begin:end]]
            kept = np.flatnonzero((a != b) & (rank[a] < _LAST))
            return group_borders(a[kept], b[kept], length[begin:end][kept], count, distinct=True)

        parts = parallel.side_by_side(*(partial(regrouped, first, last) for first, last in zip(halves[:-1], halves[1:])))
        graph = parts[0] if len(parts) == 1 else seamed(*parts, int(chooser[halves[1]]), count)
        source, target, length = graph.source, graph.target, graph.length
        runs = BorderRuns.of(source)
    root = parent
    while not np.array_equal(root[root], root):
        root = root[root]
    alive = (root == np.arange(count)) & (index != CLEAR)
    return Merged(index_of_region=index[root], regions=int(alive.sum()))


# Up to this many merges and joins, a round finds the groups it touches by sorting them, not by a pass over
# every region.
_FEW_NODES = 4096

# From this many borders on, a round works in two halves side by side: a thread costs more than it saves.
_HALVES_ENTRIES = 1 << 17


# The rank of a group that waits for nobody: above every size * count + number.
_LAST = np.iinfo(np.int64).max


def _ranks(groups: np.ndarray, size: np.ndarray, wanting: np.ndarray, min_region: int, count: int) -> np.ndarray:
    """size * count + number for the groups still under min_region or wanting to merge, _LAST for the others."""
    ranks = size[groups].astype(np.int64) * count + groups
    ranks[(size[groups] >= min_region) & ~wanting[groups]] = _LAST
    return ranks
