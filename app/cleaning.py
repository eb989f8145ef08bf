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

Merging runs in vectorized rounds on the graph of regions (app/regions.py, app/borders.py),
never pixel by pixel; see app/merging.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app import colorspace, histograms, parallel, summary
from app.merging import merge_small_regions
from app.borders import borders
from app.region_sums import hold_most_pixels, pixels_of_regions, sums_of_regions
from app.regions import first_of_each, label_regions, run_starts
from app.specks import NONE, settle_specks
from app.thin_regions import merge_thin_regions

MAX_MIN_REGION = 1_000_000


@dataclass(frozen=True)
class Cleaned:
    """A cleaned index map, its palette refitted and sorted by share, and figures measured on it."""

    indices: np.ndarray  # (H, W) uint8
    result: summary.PaletteFit  # labels is empty: colors no longer map to one entry
    regions_before: int
    regions_after: int


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
    hist: histograms.Histogram | None = None,
    keys: np.ndarray | None = None,
    color_labels: np.ndarray | None = None,
    min_depth: float = 0.0,
) -> Cleaned:
    """Merge every region under min_region pixels into a neighbour, then refit the palette.

    `indices` is the (H, W) index map: an array, or anything of that shape
    whose row slices give uint8 rows (a lookup made as it is read).

    A region stays smaller only when it has no visible neighbour: the whole
    image (or a patch walled in by transparent pixels) is smaller. With
    min_depth, regions with no pixel that far from their border (too thin
    for a paint-by-number's number) merge too (app/thin_regions.py).
    `hist` and `keys` are the photo's histogram and packed pixels, computed
    when not given. `color_labels`, the entry of each histogram color, may be
    given when `indices` maps every color to one entry (k-means without
    dithering); it spares two passes over the pixels.
    """
    check_min_region(min_region)
    made_here = not isinstance(indices, np.ndarray)
    indices = _index_map(indices, rgb.shape[:2])
    palette = np.asarray(palette, dtype=np.uint8)
    keys = histograms.pack(rgb) if keys is None else keys
    visible = None if alpha is None else alpha.ravel() > 0
    if hist is None:
        hist = histograms.histogram(keys if visible is None else keys[visible])
    if color_labels is None:
        color_labels = _labels_of_colors(hist, keys, visible, indices)
    # Single pixels walled in by one region are settled first (app/specks.py): labelling, borders and merging
    # then have fewer of everything. Not beside transparent pixels, whose regions never merge.
    specks, starts = NONE, None
    if min_region >= 2 and (visible is None or visible.all()):
        starts = run_starts(indices)
        indices, specks = settle_specks(indices, starts, owned=made_here)
    regions = label_regions(indices, alpha, starts)
    del starts
    small = (regions.size < min_region) & regions.visible
    # Only pixels of small regions can move: their sums give the means merging needs
    # and the corrections the refit needs. They are read in the pool while the borders are found.
    # At a strong setting, where they are most pixels, only their sums are read, run by run: the pixels that
    # moved are read from the cleaned map at the end.
    strong = hold_most_pixels(regions, small, len(keys))
    read_small = (lambda: sums_of_regions(regions, small, keys)) if strong else (
        lambda: pixels_of_regions(regions, small, keys))
    with parallel.in_background(read_small) as small_pixels_soon:
        graph = borders(regions, small, both_ways=False)
    small_pixels = None if strong else small_pixels_soon.result()
    sums = small_pixels_soon.result() if strong else small_pixels.sums
    # The refit's starting sums come from the histogram alone: they are made on the other core meanwhile,
    # and so are the colors in CIELAB that the figures' CIEDE2000 needs (made once a photo).
    def from_the_histogram() -> tuple[np.ndarray, np.ndarray]:
        entry_sums = _entry_sums(hist, color_labels, len(palette))
        _move_specks(*entry_sums, specks, keys, indices)
        _ = hist.lab  # computed and kept on the photo's histogram now, off the merging's core
        return entry_sums

    merged, (counts, entry_sums) = parallel.side_by_side(
        lambda: merge_small_regions(regions, sums, graph, palette, min_region), from_the_histogram)
    del graph
    index_of_region, after = merged.index_of_region, merged.regions
    if min_depth:
        index_of_region = merge_thin_regions(regions, index_of_region, keys, palette, min_region, min_depth)
        after = None
    final_index = np.where(regions.visible, index_of_region, 0)
    moved_region = regions.visible & (final_index != regions.index)
    if min_depth and (moved_region & ~small).any():  # thin regions of any size moved: read their pixels too
        if strong:
            sums = sums_of_regions(regions, moved_region, keys)
        else:
            small_pixels = pixels_of_regions(regions, moved_region, keys)
            sums = small_pixels.sums

    # One Lloyd step with the labels fixed: each entry becomes the mean of its pixels.
    entries = len(palette)
    moved = np.flatnonzero(moved_region)
    for sign, entry in ((-1, regions.index[moved]), (1, final_index[moved])):
        counts += sign * np.bincount(entry, weights=regions.size[moved], minlength=entries)
        for c in range(3):
            entry_sums[:, c] += sign * np.bincount(entry, weights=sums[moved, c], minlength=entries)
    used = np.flatnonzero(counts > 0)
    refit = np.clip(np.rint(entry_sums[used] / counts[used, None]), 0, 255).astype(np.uint8)
    # Entries that rounded to one color become one; then sort by share, ties by color.
    refit_keys, joined = np.unique(histograms.pack(refit), return_inverse=True)
    totals = np.bincount(joined, weights=counts[used], minlength=len(refit_keys))
    order = np.lexsort((refit_keys, -totals))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    new_of_old = np.zeros(entries, dtype=np.intp)
    new_of_old[used] = rank[joined]
    final_palette = histograms.unpack(refit_keys[order])
    # Every region takes its final entry, renumbered: the map is made from the runs, and the moved pixels
    # are those of the regions whose entry changed; both in the pool while the figures are measured.
    renumber = new_of_old.astype(np.uint8)
    sorted_sums = np.zeros((len(final_palette), 3))
    np.add.at(sorted_sums, new_of_old[used], entry_sums[used])

    # The specks moved too: those in a region that moved are among its pixels, the others are added.
    speck_region = regions.run_region[np.searchsorted(regions.run_first, specks.position, side="right") - 1]
    still = ~moved_region[speck_region]
    specks_still, entry_of_specks_still = specks.position[still], renumber[final_index[speck_region[still]]]

    def moved_pairs_from_map(cleaned: np.ndarray) -> _MovedPairs:
        listed = np.repeat(moved_region[regions.run_region], regions.run_lengths)
        flat = cleaned.ravel()
        return _MovedPairs.of(np.concatenate([keys[listed], keys[specks_still]]),  # a mask picks faster than compress()
                              np.concatenate([flat[listed], entry_of_specks_still]), hist)

    def moved_pairs() -> _MovedPairs:
        nonlocal small_pixels
        pixels, small_pixels = small_pixels, None  # let go of every small pixel once the moved ones are picked
        # Each region's new entry, or 256 when it did not move: one look-up a pixel.
        entry_of_region = np.where(moved_region, renumber[final_index].astype(np.uint16), 256)
        entry = entry_of_region[pixels.region]
        moving = entry < 256
        keys_moved = np.concatenate([np.compress(moving, pixels.keys), keys[specks_still]])
        del pixels
        return _MovedPairs.of(keys_moved, np.concatenate([np.compress(moving, entry), entry_of_specks_still]), hist)

    def figures() -> summary.PaletteFit:
        return summary.PaletteFit(
            palette=final_palette,
            shares=totals[order] / totals.sum(),
            labels=np.zeros(0, np.uint8),
            psnr=_psnr(hist, final_palette, sorted_sums, totals[order]),
            delta_e=_mean_delta_e(hist, new_of_old[color_labels], pairs_soon, final_palette),
        )

    def cleaned_map() -> np.ndarray:
        cleaned = np.repeat(renumber[final_index[regions.run_region]], regions.run_lengths).reshape(indices.shape)
        if not regions.visible.all():  # transparent pixels keep their own entry, renumbered
            clear = alpha == 0
            cleaned[clear] = renumber[indices[clear]]
        return cleaned

    if strong:  # the map first, then the moved pixels' pairs from it in the pool while the figures are measured
        cleaned = cleaned_map()
        with parallel.in_background(lambda: moved_pairs_from_map(cleaned)) as pairs_soon:
            fit = figures()
    else:
        with parallel.in_background(moved_pairs) as pairs_soon:
            fit, cleaned = parallel.side_by_side(figures, cleaned_map)  # figures here: CIEDE2000 uses the pool itself
    if after is None or len(refit_keys) < len(used):  # regions joined (two refitted entries became one color)
        after = int(label_regions(cleaned, alpha).visible.sum())
    return Cleaned(indices=cleaned, result=fit, regions_before=int(regions.visible.sum()) + len(specks),
                   regions_after=after)


def _index_map(indices, shape: tuple[int, int]) -> np.ndarray:
    """The index map as an (H, W) array. One read row by row from a lookup of the pixels (the pipeline's
    map before cleaning) is made in two halves of rows side by side when it is large."""
    if isinstance(indices, np.ndarray):
        return indices.reshape(shape)
    made = np.empty(shape, dtype=np.uint8)

    def rows(first: int, last: int) -> None:
        made[first:last] = indices[first:last]

    height = shape[0]
    if made.size < _HALVES_PIXELS:
        rows(0, height)
    else:
        parallel.side_by_side(lambda: rows(0, height // 2), lambda: rows(height // 2, height))
    return made


# From this many pixels on, a lookup is read into an index map in two halves side by side.
_HALVES_PIXELS = 1 << 19


def _labels_of_colors(hist, keys, visible, indices) -> np.ndarray:
    """The entry of each histogram color, for a map where every color has one entry."""
    lut = np.zeros(1 << 24, dtype=np.uint8)
    flat = indices.ravel()
    lut[keys if visible is None else keys[visible]] = flat if visible is None else flat[visible]
    if not np.array_equal(lut[keys] if visible is None else lut[keys[visible]], flat if visible is None else flat[visible]):
        raise ValueError("this index map gives one color several entries (dithered?): cleaning needs one entry per color")
    return lut[hist.keys]


def _psnr(hist: histograms.Histogram, palette: np.ndarray, entry_sums: np.ndarray, entry_counts: np.ndarray) -> float:
    """Exact PSNR from sums: sum |x - p|^2 = sum |x|^2 - sum over entries of (2 p.S - n |p|^2)."""
    colors = hist.colors.astype(np.float64)
    total_square = float(np.dot((colors**2).sum(axis=1), hist.counts))
    p = palette.astype(np.float64)
    error = total_square - float((2 * (p * entry_sums).sum(axis=1) - entry_counts * (p**2).sum(axis=1)).sum())
    return summary.psnr(max(error, 0.0), hist.pixels)


def _entry_sums(hist: histograms.Histogram, color_labels: np.ndarray, entries: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels and summed colors of each palette entry before cleaning, from the histogram."""
    counts = np.bincount(color_labels, weights=hist.counts, minlength=entries)
    sums = np.stack([np.bincount(color_labels, weights=hist.counts * hist.colors[:, c], minlength=entries)
                     for c in range(3)], axis=1)
    return counts, sums


def _move_specks(counts: np.ndarray, entry_sums: np.ndarray, specks, keys: np.ndarray, filled: np.ndarray) -> None:
    """Move the specks' pixels, in the entries' pixel counts and color sums, from their own entry to the one
    they were filled with: the sums then describe the map that was labelled."""
    if not len(specks):
        return
    colors = histograms.unpack(keys[specks.position]).astype(np.float64)
    entries = len(counts)
    for sign, entry in ((-1, specks.index), (1, filled.ravel()[specks.position])):
        counts += sign * np.bincount(entry, minlength=entries)
        for c in range(3):
            entry_sums[:, c] += sign * np.bincount(entry, weights=colors[:, c], minlength=entries)


@dataclass(frozen=True)
class _MovedPairs:
    """The pixels of merged regions as distinct (histogram color, new entry) pairs, and how many of each."""

    colors: np.ndarray  # (pairs,) position in the histogram
    entries: np.ndarray  # (pairs,) new palette entry
    counts: np.ndarray  # (pairs,) pixels
    per_color: np.ndarray  # (histogram colors,) moved pixels of each color

    @classmethod
    def of(cls, keys: np.ndarray, entries: np.ndarray, hist: histograms.Histogram) -> _MovedPairs:
        pairs = keys.astype(np.uint32, copy=False) << 8  # a 24-bit color and an 8-bit entry: one 32-bit number
        pairs |= entries.astype(np.uint32, copy=False)
        pairs.sort()
        starts = first_of_each(pairs)
        counts = np.diff(starts, append=len(pairs))
        pairs = pairs[starts]
        colors = np.searchsorted(hist.keys, pairs >> 8)
        return cls(colors=colors, entries=(pairs & 255).astype(np.intp), counts=counts,
                   per_color=np.bincount(colors, weights=counts, minlength=hist.unique_colors))


def _mean_delta_e(hist, usual_entry, moved_soon, palette) -> float:
    """Exact mean CIEDE2000 over visible pixels.

    A color's pixels keep the entry the color had before cleaning, except
    those of merged regions: each color counts once at its usual entry, and
    the merged pixels as (color, entry) pairs of their own (`moved_soon`, a
    future of _MovedPairs, made in the pool meanwhile).
    """
    palette_lab = colorspace.srgb_to_lab(palette).astype(np.float32)
    usual_delta = colorspace.ciede2000(hist.lab, palette_lab[usual_entry])
    moved = moved_soon.result()
    moved_delta = colorspace.ciede2000(hist.lab[moved.colors], palette_lab[moved.entries])
    total = np.dot(usual_delta.astype(np.float64), hist.counts - moved.per_color)
    total += np.dot(moved_delta.astype(np.float64), moved.counts)
    return float(total / hist.pixels)
