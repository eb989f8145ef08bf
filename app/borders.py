"""Borders between the regions of an index map, with their lengths, from its runs (app/regions.py).

Pure numpy. borders() lists the borders that touch the regions a cleaning
has to move; app/merging.py merges on them and regroups them each round
(group_borders). A region's borders are those of its runs: with the run
before it in its row (one pixel edge) and with the runs above and below it
that hold another index (the stretches label_regions() found).

Each border found, run by run, packs into one 64-bit key, (source, target,
length) from the high bits down: one sort of plain integers (vectorized in
numpy) brings a pair's entries together, and the lengths are summed from
the low bits. Where most borders are wanted from both sides (a strong
setting), each pair is grouped once, lower number first, and then listed
both ways. Keys too wide for 64 bits (only for maps far larger than the
largest photo taken) go through a sparse matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from app import parallel
from app.regions import Regions, first_of_each


@dataclass(frozen=True)
class Borders:
    """Shared borders between regions, sorted by (source, target), each pair at most once."""

    source: np.ndarray  # (e,) intp region (numpy gathers by intp numbers fastest)
    target: np.ndarray  # (e,) intp region
    length: np.ndarray  # (e,) int64 pixel edges the two regions share


def borders(regions: Regions, keep: np.ndarray, both_ways: bool = True) -> Borders:
    """The borders between different regions, for pairs where `keep` holds for at least one side.

    Each pair comes in both directions; with both_ways=False only from the
    side(s) where `keep` holds, which is all that merging those regions needs.
    Transparent regions share no borders: nothing merges into or out of them.

    A large map is done in two halves of its runs side by side, one per
    core. Regions are numbered by first pixel, so the top half's borders
    come from the lower numbers: only the few kept regions that cross the
    middle have borders in both lists, and they are joined into the other.
    """
    if keep.all() and regions.visible.all():  # a strong setting, often: every border both ways, nothing to pick
        keep, both_ways = None, True
    run_count = len(regions.run_first)
    if run_count < 2 * _BORDER_RUNS:
        return _borders_of_runs(regions, keep, both_ways, 0, run_count)
    middle = run_count // 2
    top, bottom = parallel.side_by_side(lambda: _borders_of_runs(regions, keep, both_ways, 0, middle),
                                        lambda: _borders_of_runs(regions, keep, both_ways, middle, run_count))
    return seamed(top, bottom, int(regions.run_region[middle - 1]) + 1, regions.count)


def seamed(top: Borders, bottom: Borders, split: int, count: int) -> Borders:
    """The borders found in two halves, in one list sorted by (source, target).

    The top half's sources are mostly below `split`, the bottom half's mostly
    from it on: the few found on the other side (a region crossing the
    middle) join the other half's list, lengths of a pair in both summed.
    """
    top_end, bottom_start = np.searchsorted(top.source, split), np.searchsorted(bottom.source, split)
    low = joined_borders(_part(top, 0, top_end), _part(bottom, 0, bottom_start), count)
    high = joined_borders(_part(bottom, bottom_start, None), _part(top, top_end, None), count)
    return Borders(*(np.concatenate([getattr(low, name), getattr(high, name)]) for name in ("source", "target", "length")))


# Below this many runs a half, borders() works in one piece: a thread costs more than it saves.
_BORDER_RUNS = 1 << 16


def _part(found: Borders, start: int, stop: int | None) -> Borders:
    return Borders(found.source[start:stop], found.target[start:stop], found.length[start:stop])


def joined_borders(many: Borders, few: Borders, count: int) -> Borders:
    """Two lists of borders in one, sorted by (source, target), lengths of a pair in both summed; `few` is short."""
    if not len(few.source):
        return many
    number_bits = _bits(count - 1)
    if 2 * number_bits > 62:
        return group_borders(*(np.concatenate([getattr(many, name), getattr(few, name)]) for name in
                               ("source", "target", "length")), count, distinct=True)
    many_pairs = (many.source.astype(np.int64, copy=False) << number_bits) | many.target
    few_pairs = (few.source.astype(np.int64, copy=False) << number_bits) | few.target
    at = np.searchsorted(many_pairs, few_pairs)
    found = at < len(many_pairs)
    found[found] = many_pairs[at[found]] == few_pairs[found]
    length = many.length.copy()
    np.add.at(length, at[found], few.length[found])
    new = np.flatnonzero(~found)
    return Borders(np.insert(many.source, at[new], few.source[new]), np.insert(many.target, at[new], few.target[new]),
                   np.insert(length, at[new], few.length[new]))


def _borders_of_runs(regions: Regions, keep: np.ndarray | None, both_ways: bool, first_run: int, last_run: int
                     ) -> Borders:
    """The borders that runs first..last-1 have with the run before them and with the runs below them, grouped;
    each is packed straight into its key, with no list of sources, targets and lengths first.

    Where most borders are wanted from both sides (a strong setting: every
    region is small), each pair of regions is grouped once, as (lower
    number, higher), and then listed from the side(s) that want it: half
    the keys to sort. Otherwise each border is grouped from its wanted side.
    """
    number_bits, length_bits = _bits(regions.count - 1), _bits(regions.shape[1])  # a stretch is at most a row
    found = list(_found(regions, keep, first_run, last_run))
    once = both_ways or _mostly_wanted_twice(found)
    parts = list(_undirected(found) if once else _directed(found))
    if 2 * number_bits + length_bits > 63:
        source, target, length = (np.concatenate(column) for column in zip(*(
            (first, second, np.ones(len(first), np.int64) if length is None else length)
            for first, second, length in parts)))
        grouped = _group_in_matrix(source, target, length, regions.count)
    else:
        keys = []
        for first, second, length in parts:
            key = first << (number_bits + length_bits)
            key |= second << length_bits
            key |= 1 if length is None else length
            keys.append(key)
        keys = np.concatenate(keys)
        keys.sort()
        grouped = _grouped_keys(keys, number_bits, length_bits)
    return _from_each_side(grouped, keep, both_ways, regions.count) if once else grouped


def _mostly_wanted_twice(found) -> bool:
    """Whether half or more of the borders found are wanted from both sides."""
    twice = sum(int(np.count_nonzero(keep_first & keep_second)) for *_, keep_first, keep_second in found)
    return 2 * twice >= sum(int(np.count_nonzero(keep_first | keep_second)) for *_, keep_first, keep_second in found)


def _found(regions: Regions, keep: np.ndarray | None, first_run: int, last_run: int
           ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]]:
    """(first, second, length, keep_first, keep_second) of the borders that runs first_run..last_run-1 have with
    the run before them (length None: one pixel edge each) and with the runs below them, in two parts; regions as
    int64, and whether `keep` holds for each side (never for a transparent region's borders; None for both when
    `keep` is None: every region kept, none transparent). Two runs side by side, or one above the other with
    another index, are of different regions."""
    width = regions.shape[1]
    run_region = regions.run_region.astype(np.int64, copy=False)
    beside = _beside_another(regions.run_first[first_run:last_run], width)
    beside += first_run
    stacked = slice(*np.searchsorted(regions.upper_run, [first_run, last_run]))  # upper_run ascends
    hidden = not regions.visible.all()
    for first, second, length in ((run_region[beside - 1], run_region[beside], None),
                                  (run_region[regions.upper_run[stacked]], run_region[regions.lower_run[stacked]],
                                   regions.stacked_length[stacked])):
        keep_first, keep_second = (None, None) if keep is None else (keep[first], keep[second])
        if hidden:
            shown = regions.visible[first] & regions.visible[second]
            keep_first &= shown
            keep_second &= shown
        yield first, second, length, keep_first, keep_second


def _beside_another(run_first: np.ndarray, width: int) -> np.ndarray:
    """Which of these runs (ascending first pixels) have another run before them in their row: all but those
    that begin a row, since every row's first pixel begins a run (found by row, not by a remainder per run)."""
    beside = np.ones(len(run_first), dtype=bool)
    if len(run_first):
        row_starts = np.arange(-(-int(run_first[0]) // width) * width, int(run_first[-1]) + 1, width)
        beside[np.searchsorted(run_first, row_starts)] = False
    return np.flatnonzero(beside)


def _directed(found) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """(source, target, length) of the borders found, from each side where `keep` holds."""
    for first, second, length, keep_first, keep_second in found:
        for source, target, kept in ((first, second, keep_first), (second, first, keep_second)):
            chosen = np.flatnonzero(kept)
            yield source[chosen], target[chosen], None if length is None else length[chosen]


def _undirected(found) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """(lower region, higher region, length) of the borders found where `keep` holds on a side."""
    for first, second, length, keep_first, keep_second in found:
        kept = None if keep_first is None else keep_first | keep_second
        if kept is not None and not kept.all():  # at a strong setting every region is kept: nothing to pick
            chosen = np.flatnonzero(kept)
            first, second, length = first[chosen], second[chosen], None if length is None else length[chosen]
        yield np.minimum(first, second), np.maximum(first, second), length


def _from_each_side(pairs: Borders, keep: np.ndarray, both_ways: bool, count: int) -> Borders:
    """Borders grouped once a pair (source < target), listed from the side(s) where `keep` holds (both when
    both_ways), sorted by (source, target)."""
    if both_ways:
        forward = backward = slice(None)
    else:
        forward, backward = np.flatnonzero(keep[pairs.source]), np.flatnonzero(keep[pairs.target])
    source = np.concatenate([pairs.source[forward], pairs.target[backward]])
    target = np.concatenate([pairs.target[forward], pairs.source[backward]])
    length = np.concatenate([pairs.length[forward], pairs.length[backward]])
    number_bits = _bits(count - 1)
    length_bits = _bits(length.max()) if len(length) else 1
    if 2 * number_bits + length_bits > 63:
        return _group_in_matrix(source, target, length, count)
    # Each pair once in each direction: sorting the packed keys is all there is to do.
    keys = source << (number_bits + length_bits)
    keys |= target << length_bits
    keys |= length
    keys.sort()
    return Borders(source=keys >> (number_bits + length_bits), target=(keys >> length_bits) & ((1 << number_bits) - 1),
                   length=keys & ((1 << length_bits) - 1))


def _bits(largest: int) -> int:
    return max(int(largest).bit_length(), 1)


def group_borders(source: np.ndarray, target: np.ndarray, length: np.ndarray, count: int,
                  distinct: bool = False) -> Borders:
    """Each (source, target) pair once with its lengths summed, self-pairs dropped, sorted by (source, target).

    `distinct` says that no pair joins a region to itself.
    """
    if not distinct:
        apart = np.flatnonzero(source != target)
        source, target, length = source[apart], target[apart], length[apart]
    number_bits = _bits(count - 1)
    length_bits = _bits(length.max()) if len(length) else 1
    if 2 * number_bits + length_bits > 63:
        return _group_in_matrix(source, target, length, count)
    keys = source.astype(np.int64, copy=False) << (number_bits + length_bits)
    keys |= target.astype(np.int64, copy=False) << length_bits
    keys |= length
    keys.sort()
    return _grouped_keys(keys, number_bits, length_bits)


def _grouped_keys(keys: np.ndarray, number_bits: int, length_bits: int) -> Borders:
    """Borders from sorted keys of (source, target, length): each pair once, its lengths summed."""
    pairs = keys >> length_bits
    starts = first_of_each(pairs)
    # Each pair's lengths summed from the low bits of its entries.
    keys &= (1 << length_bits) - 1
    summed = np.add.reduceat(keys, starts) if len(keys) else keys
    pairs = pairs[starts]
    return Borders(source=pairs >> number_bits, target=pairs & ((1 << number_bits) - 1), length=summed)


def _group_in_matrix(source: np.ndarray, target: np.ndarray, length: np.ndarray, count: int) -> Borders:
    from scipy.sparse import csr_matrix  # on first use: scipy's import is a good part of a command's start-up

    pairs = csr_matrix((length.astype(np.int64), (source, target)), shape=(count, count))
    pairs.sum_duplicates()  # sorts each row's targets too
    rows = np.repeat(np.arange(count, dtype=np.intp), np.diff(pairs.indptr))
    return Borders(source=rows, target=pairs.indices.astype(np.intp), length=pairs.data.astype(np.int64))
