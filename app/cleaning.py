"""Clean regions: no 4-connected patch of one color smaller than min_region pixels.

Pure numpy and scipy. Every region under the threshold merges into a
neighbour: the one whose palette color is nearest (RGB) to the region's own
mean color in the original, ties going to the longest shared border, then
the lower number. A speck of sky in a tree joins the sky, not whichever
color the k-means happened to give it. Then one Lloyd step refits the
palette to the cleaned regions: each entry becomes the mean of the original
pixels that now carry it. Both keep the error the cleaning costs below that
of the classic facet reduction of paint-by-number generators
(bench/bench_regions.py).

Merging runs in vectorized rounds on the graph of regions (app/regions.py),
never pixel by pixel; see merge_small_regions().
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app import colorspace, parallel, quantize
from app.regions import CLEAR, Borders, Regions, borders, group_borders, label_regions

MAX_MIN_REGION = 1_000_000
# Rounds merged in the exact smallest-first order before long chains switch to halving.
EXACT_ROUNDS = 48


@dataclass(frozen=True)
class Cleaned:
    """A cleaned index map, its palette refitted and sorted by share, and figures measured on it."""

    indices: np.ndarray  # (H, W) uint8
    result: quantize.PaletteFit  # labels is empty: colors no longer map to one entry
    regions_before: int
    regions_after: int


@dataclass(frozen=True)
class Merged:
    index_of_region: np.ndarray  # (regions,) the palette index each region ends with
    regions: int  # visible regions left; neighbours never share an index


def check_min_region(min_region: int) -> None:
    if isinstance(min_region, bool) or not isinstance(min_region, (int, np.integer)):
        raise ValueError(f"min_region must be a whole number of pixels, got {min_region!r}")
    if not 0 <= min_region <= MAX_MIN_REGION:
        raise ValueError(f"min_region must be between 0 and {MAX_MIN_REGION:,} pixels, got {min_region}")


def clean(
    indices: np.ndarray,
    palette: np.ndarray,
    rgb: np.ndarray,
    alpha: np.ndarray | None,
    min_region: int,
    hist: quantize.Histogram | None = None,
    keys: np.ndarray | None = None,
    color_labels: np.ndarray | None = None,
) -> Cleaned:
    """Merge every region under min_region pixels into a neighbour, then refit the palette.

    A region stays smaller only when it has no visible neighbour: the whole
    image (or a patch walled in by transparent pixels) is smaller.
    `hist` and `keys` are the photo's histogram and packed pixels, computed
    when not given. `color_labels`, the entry of each histogram color, may be
    given when `indices` maps every color to one entry (k-means without
    dithering); it spares two passes over the pixels.
    """
    check_min_region(min_region)
    palette = np.asarray(palette, dtype=np.uint8)
    keys = quantize.pack(rgb) if keys is None else keys
    visible = None if alpha is None else alpha.ravel() > 0
    if hist is None:
        hist = quantize.histogram(keys if visible is None else keys[visible])
    if color_labels is None:
        color_labels = _labels_of_colors(hist, keys, visible, indices)
    regions = label_regions(indices, alpha)
    small = (regions.size < min_region) & regions.visible
    # Only pixels of small regions can move: their sums give the means merging needs
    # and the corrections the refit needs. They are read while the borders are found.
    small_pixels, graph = parallel.side_by_side(lambda: _small_pixels(regions, small, keys),
                                                lambda: borders(regions, small, both_ways=False))
    merged = merge_small_regions(regions, small_pixels.sums, graph, palette, min_region)
    del graph
    final_index = np.where(regions.visible, merged.index_of_region, 0)
    sums = small_pixels.sums

    # One Lloyd step with the labels fixed: each entry becomes the mean of its pixels.
    entries = len(palette)
    counts = np.bincount(color_labels, weights=hist.counts, minlength=entries)
    entry_sums = np.stack([np.bincount(color_labels, weights=hist.counts * hist.colors[:, c], minlength=entries)
                           for c in range(3)], axis=1)
    moved = np.flatnonzero(small & (final_index != regions.index))
    for sign, entry in ((-1, regions.index[moved]), (1, final_index[moved])):
        counts += sign * np.bincount(entry, weights=regions.size[moved], minlength=entries)
        for c in range(3):
            entry_sums[:, c] += sign * np.bincount(entry, weights=sums[moved, c], minlength=entries)
    used = np.flatnonzero(counts > 0)
    refit = np.clip(np.rint(entry_sums[used] / counts[used, None]), 0, 255).astype(np.uint8)
    # Entries that rounded to one color become one; then sort by share, ties by color.
    refit_keys, joined = np.unique(quantize.pack(refit), return_inverse=True)
    totals = np.bincount(joined, weights=counts[used], minlength=len(refit_keys))
    order = np.lexsort((refit_keys, -totals))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    new_of_old = np.zeros(entries, dtype=np.intp)
    new_of_old[used] = rank[joined]
    final_palette = quantize.unpack(refit_keys[order])
    # Every region takes its final entry, renumbered: the map is made from the runs (while the figures are
    # measured), and the moved pixels are those of the regions whose entry changed.
    renumber = new_of_old.astype(np.uint8)
    moved_region = np.zeros(regions.count, dtype=bool)
    moved_region[moved] = True
    moving = np.flatnonzero(moved_region[small_pixels.region])
    moved_keys, moved_entries = small_pixels.keys[moving], renumber[final_index[small_pixels.region[moving]]]
    del small_pixels, moving
    sorted_sums = np.zeros((len(final_palette), 3))
    np.add.at(sorted_sums, new_of_old[used], entry_sums[used])

    def figures() -> quantize.PaletteFit:
        return quantize.PaletteFit(
            palette=final_palette,
            shares=totals[order] / totals.sum(),
            labels=np.zeros(0, np.uint8),
            psnr=_psnr(hist, final_palette, sorted_sums, totals[order]),
            delta_e=_mean_delta_e(hist, new_of_old[color_labels], moved_keys, moved_entries, final_palette),
        )

    def cleaned_map() -> np.ndarray:
        cleaned = np.repeat(renumber[final_index[regions.run_region]], regions.run_lengths).reshape(indices.shape)
        if not regions.visible.all():  # transparent pixels keep their own entry, renumbered
            clear = alpha == 0
            cleaned[clear] = renumber[indices[clear]]
        return cleaned

    fit, cleaned = parallel.side_by_side(figures, cleaned_map)  # figures first: CIEDE2000 uses the pool itself
    after = merged.regions
    if len(refit_keys) < len(used):  # two refitted entries became one color: their neighbours joined
        after = int(label_regions(cleaned, alpha).visible.sum())
    return Cleaned(indices=cleaned, result=fit, regions_before=int(regions.visible.sum()), regions_after=after)


@dataclass(frozen=True)
class _SmallPixels:
    keys: np.ndarray  # (n,) packed colors of the pixels of small regions, in raster order
    region: np.ndarray  # (n,) their regions
    sums: np.ndarray  # (regions, 3) float64 sums of the colors of each small region's pixels (R, G, B)


def _small_pixels(regions: Regions, small: np.ndarray, keys: np.ndarray) -> _SmallPixels:
    positions, region = regions.pixels_of(small)
    small_keys = keys[positions]  # rgb may be a strided view: never copy it whole
    del positions
    # A packed key is 0x00RRGGBB: little-endian, its bytes are B, G, R, 0.
    channels = small_keys.astype("<u4", copy=False).view(np.uint8).reshape(-1, 4)
    sums = np.zeros((regions.count, 3))
    for channel, byte in enumerate((2, 1, 0)):
        sums[:, channel] = np.bincount(region, weights=channels[:, byte], minlength=regions.count)
    return _SmallPixels(keys=small_keys, region=region, sums=sums)


def _labels_of_colors(hist, keys, visible, indices) -> np.ndarray:
    """The entry of each histogram color, for a map where every color has one entry."""
    lut = np.zeros(1 << 24, dtype=np.uint8)
    flat = indices.ravel()
    lut[keys if visible is None else keys[visible]] = flat if visible is None else flat[visible]
    if not np.array_equal(lut[keys] if visible is None else lut[keys[visible]], flat if visible is None else flat[visible]):
        raise ValueError("this index map gives one color several entries (dithered?): cleaning needs one entry per color")
    return lut[hist.keys]


def merge_small_regions(regions: Regions, sums: np.ndarray, graph: Borders, palette: np.ndarray,
                        min_region: int) -> Merged:
    """The palette index every region ends with once no region under min_region has a neighbour left.

    `graph` holds the borders of every region under min_region, from its
    side (borders(regions, small, both_ways=False)): a region over it never
    moves, and what it touches is seen from the small side.

    In a round, every small region that no smaller small region touches
    merges into its chosen neighbour. That is the order of the classic
    one-at-a-time merge, smallest first: a region's turn comes once the
    smaller ones around it have merged (or grown past the threshold), and
    what happens farther away does not change its choice. A chain of ever
    larger small regions would take one round per link; after EXACT_ROUNDS
    the rest merge by pointer trees, which halves every chain per round.
    Neighbours of one index that a merge brings together become one region.
    Each round the smallest small region with a neighbour merges, so the
    rounds end.

    Regions keep their numbers: a merged one points at the region that took
    it, so a round costs only what its borders and merges touch. Rows are
    picked by lists of positions, not by masks, which numpy does several
    times faster.
    """
    from scipy.sparse import coo_matrix  # on first use, as in app/regions.py
    from scipy.sparse.csgraph import connected_components

    palette = np.asarray(palette, dtype=np.float64)
    count = regions.count
    size, index, sums = regions.size.copy(), regions.index.copy(), sums.copy()
    parent = np.arange(count, dtype=np.int32)
    current = parent.copy()  # the group each border end now belongs to
    local = np.zeros(count, dtype=np.int32)  # scratch: a region's number among those a round touches
    flag = np.zeros(count, dtype=bool)  # scratch, all False between uses
    source, target, length = graph.source, graph.target, graph.length
    rounds = 0
    while len(source):  # every source is a group under min_region
        runs = _Runs.of(source)
        chooser = source[runs.starts]
        if rounds < EXACT_ROUNDS:
            # A small region merges once no smaller small region touches it (smaller: by size, then number).
            size_s, size_t = size[source], size[target]
            smaller = (size_t < size_s) | ((size_t == size_s) & (target < source))
            smaller &= size_t < min_region
            ready = np.flatnonzero(~np.logical_or.reduceat(smaller, runs.starts))
            merging, into = chooser[ready], _choose(chooser, runs, ready, target, length, size, index, sums, palette)
        else:
            every = np.arange(len(chooser))
            choice = _choose(chooser, runs, every, target, length, size, index, sums, palette)
            ready = np.flatnonzero(_odd_depth(chooser, choice, size, min_region))
            merging, into = chooser[ready], choice[ready]
        rounds += 1
        index[merging] = index[into]
        current[merging] = into
        # Neighbours of one index that a merge brought together: only borders from or to a merged region.
        flag[merging] = True
        touched = np.flatnonzero(flag[source] | flag[target])
        flag[merging] = False
        a, b = current[source[touched]], current[target[touched]]
        together = np.flatnonzero((a != b) & (index[a] == index[b]))
        # One group per merge, with the same-index neighbours it brought together.
        first, second = np.concatenate([merging, a[together]]), np.concatenate([into, b[together]])
        flag[first] = True
        flag[second] = True
        nodes = np.flatnonzero(flag).astype(np.int32)
        flag[nodes] = False
        local[nodes] = np.arange(len(nodes), dtype=np.int32)
        links = coo_matrix((np.ones(len(first), np.int8), (local[first], local[second])), shape=(len(nodes), len(nodes)))
        _, group = connected_components(links, directed=False)
        # Groups are numbered in the order of their first node, which is their lowest number: it stands for them.
        new_group = np.ones(len(group), dtype=bool)
        new_group[1:] = group[1:] > np.maximum.accumulate(group)[:-1]
        rep = nodes[np.flatnonzero(new_group)][group]
        moved = np.flatnonzero(nodes != rep)
        gone, taker = nodes[moved], rep[moved]
        np.add.at(size, taker, size[gone])
        for channel in range(3):
            np.add.at(sums[:, channel], taker, sums[gone, channel])
        parent[gone] = taker
        current[nodes] = rep
        # Borders now run between groups; only those from a group still under min_region matter.
        a, b = current[source], current[target]
        kept = np.flatnonzero((a != b) & (size[a] < min_region))
        graph = group_borders(a[kept], b[kept], length[kept], count, distinct=True)
        source, target, length = graph.source, graph.target, graph.length
    root = parent
    while not np.array_equal(root[root], root):
        root = root[root]
    alive = (root == np.arange(count)) & (index != CLEAR)
    return Merged(index_of_region=index[root], regions=int(alive.sum()))


@dataclass(frozen=True)
class _Runs:
    """The borders of each source, a run of consecutive entries in a list sorted by source."""

    starts: np.ndarray  # (sources,) where each run begins
    lengths: np.ndarray  # (sources,) its entries

    @classmethod
    def of(cls, source: np.ndarray) -> _Runs:
        starts = _first_of_each(source)
        return cls(starts=starts, lengths=np.diff(starts, append=len(source)))

    def entries(self, runs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The entries of these runs, in order; for each, its place in `runs`; where each run begins among them."""
        lengths = self.lengths[runs]
        ends = np.cumsum(lengths)
        begins = ends - lengths
        which = np.repeat(np.arange(len(runs), dtype=np.int32), lengths)
        return np.arange(ends[-1] if len(ends) else 0) + (self.starts[runs] - begins)[which], which, begins


def _odd_depth(chooser: np.ndarray, choice: np.ndarray, size: np.ndarray, min_region: int) -> np.ndarray:
    """Which choosers merge: pointing only at larger regions, those at odd depth of the pointer trees."""
    upward = (size[choice] >= min_region) | (size[chooser] < size[choice]) | (
        (size[chooser] == size[choice]) & (chooser < choice))
    nodes = np.unique(np.concatenate([chooser, choice]))
    tree = np.arange(len(nodes))
    tree[np.searchsorted(nodes, chooser[upward])] = np.searchsorted(nodes, choice[upward])
    return upward & (_depth(tree)[np.searchsorted(nodes, chooser)] % 2 == 1)


def _choose(chooser, runs: _Runs, which: np.ndarray, target, length, size, index, sums, palette) -> np.ndarray:
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
    mean = sums[chooser] / size[chooser, None]
    cost = np.zeros(len(target))
    for channel in range(3):  # one channel at a time: no (borders, 3) copies
        difference = np.ascontiguousarray(mean[:, channel])[run]
        difference -= np.ascontiguousarray(palette[:, channel])[entry]
        difference *= difference
        cost += difference
    best = cost == np.minimum.reduceat(cost, starts)[run]
    candidates = np.flatnonzero(best)
    chosen = candidates[_first_of_each(run[candidates])]
    other_color = best & (entry != entry[chosen][run])
    if other_color.any():  # equally far colors: the longest border wins, then the lowest number
        tied = np.zeros(len(starts), dtype=bool)
        tied[run[other_color]] = True
        candidates = np.flatnonzero(best & tied[run])
        ranked = candidates[np.lexsort((candidates, -length[positions[candidates]], run[candidates]))]
        firsts = ranked[_first_of_each(run[ranked])]
        chosen[run[firsts]] = firsts
    return target[chosen]


def _first_of_each(ascending: np.ndarray) -> np.ndarray:
    """Where each value of a non-decreasing array first appears."""
    begins = np.empty(len(ascending), dtype=bool)
    begins[:1] = True
    np.not_equal(ascending[1:], ascending[:-1], out=begins[1:])
    return np.flatnonzero(begins)


def _depth(parent: np.ndarray) -> np.ndarray:
    """Distance of every node to the root of its tree, by pointer doubling."""
    depth = (parent != np.arange(len(parent))).astype(np.int64)
    ancestor = parent
    while True:
        next_ancestor = ancestor[ancestor]
        if np.array_equal(next_ancestor, ancestor):
            return depth
        depth = depth + depth[ancestor]
        ancestor = next_ancestor


def _psnr(hist: quantize.Histogram, palette: np.ndarray, entry_sums: np.ndarray, entry_counts: np.ndarray) -> float:
    """Exact PSNR from sums: sum |x - p|^2 = sum |x|^2 - sum over entries of (2 p.S - n |p|^2)."""
    colors = hist.colors.astype(np.float64)
    total_square = float(np.dot((colors**2).sum(axis=1), hist.counts))
    p = palette.astype(np.float64)
    error = total_square - float((2 * (p * entry_sums).sum(axis=1) - entry_counts * (p**2).sum(axis=1)).sum())
    return quantize.psnr(max(error, 0.0), hist.pixels)


def _mean_delta_e(hist, usual_entry, moved_keys, moved_entries, palette) -> float:
    """Exact mean CIEDE2000 over visible pixels.

    A color's pixels keep the entry the color had before cleaning, except
    those of merged regions: each color counts once at its usual entry, and
    the merged pixels as (color, entry) pairs of their own.
    """
    pairs = (moved_keys.astype(np.uint64) << 8) | moved_entries
    pairs.sort()
    starts = np.flatnonzero(np.concatenate([[True], pairs[1:] != pairs[:-1]])) if len(pairs) else np.zeros(0, np.intp)
    pair_counts = np.diff(starts, append=len(pairs))
    pairs = pairs[starts]
    pair_colors = np.searchsorted(hist.keys, (pairs >> 8).astype(np.uint32))
    moved_per_color = np.bincount(pair_colors, weights=pair_counts, minlength=hist.unique_colors)
    palette_lab = colorspace.srgb_to_lab(palette).astype(np.float32)
    usual_delta = colorspace.ciede2000(hist.lab, palette_lab[usual_entry])
    moved_delta = colorspace.ciede2000(hist.lab[pair_colors], palette_lab[(pairs & 255).astype(np.intp)])
    total = np.dot(usual_delta.astype(np.float64), hist.counts - moved_per_color)
    total += np.dot(moved_delta.astype(np.float64), pair_counts)
    return float(total / hist.pixels)
