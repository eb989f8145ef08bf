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
never pixel by pixel; see app/merging.py. clean() is the recipe; the refit is
app/palette_refit.py's, the cleaned map and its figures app/cleaned_map.py's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app import histograms, parallel, summary
from app.borders import borders
from app.cleaned_figures import sum_of_squares
from app.cleaned_map import MovablePixels, cleaned_map_and_figures
from app.merging import Merged, merge_small_regions
from app.palette_refit import entry_sums, move_specks, refit_palette
from app.region_sums import hold_most_pixels, pixels_of_regions, sums_of_regions, sums_of_regions_beside
from app.regions import Regions, label_regions, run_starts
from app.specks import NONE, Specks, settle_specks
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
    visible = None if alpha is None else alpha.ravel() > 0
    settling = min_region >= 2 and (visible is None or visible.all())  # specks are settled (app/specks.py)
    indices, starts = _index_map(indices, rgb.shape[:2], with_starts=made_here and settling)
    palette = np.asarray(palette, dtype=np.uint8)
    keys = histograms.pack(rgb) if keys is None else keys
    if hist is None:
        hist = histograms.histogram(keys if visible is None else keys[visible])
    if color_labels is None:
        color_labels = _labels_of_colors(hist, keys, visible, indices)
    indices, specks, regions = _settle_specks_and_label(indices, alpha, settling, starts, made_here)
    small = (regions.size < min_region) & regions.visible
    # Only pixels of small regions can move: their sums give the means merging needs
    # and the corrections the refit needs. They are read in the pool while the borders are found.
    # At a strong setting, where they are most pixels, only their sums are read, run by run: the pixels that
    # moved are read from the cleaned map at the end.
    strong = hold_most_pixels(regions, small, len(keys))
    if strong:  # the runs' sums are chunks of work, started in the pool while this thread finds the borders
        sums, graph = sums_of_regions_beside(regions, small, keys, lambda: borders(regions, small, both_ways=False))
        movable = _movable(sums, strong)
    else:
        with parallel.in_background(lambda: _read_movable(regions, small, keys, strong)) as small_pixels_soon:
            graph = borders(regions, small, both_ways=False)
        movable = _movable(small_pixels_soon.result(), strong)
    # The refit's starting sums come from the histogram alone: they are made on the other core meanwhile.
    merged, (counts, sums_before) = parallel.side_by_side(
        lambda: merge_small_regions(regions, movable.sums, graph, palette, min_region),
        lambda: _sums_from_the_histogram(hist, color_labels, len(palette), specks, keys, indices))
    del graph
    final_index, after = _with_thin_regions_merged(merged, regions, keys, palette, min_region, min_depth)
    moved_region = regions.visible & (final_index != regions.index)
    if min_depth and (moved_region & ~small).any():  # thin regions of any size moved: read their pixels too
        movable = _movable(_read_movable(regions, moved_region, keys, strong), strong)
    refit = refit_palette(counts, sums_before, regions, moved_region, final_index, movable.sums)
    cleaned, fit = cleaned_map_and_figures(indices, alpha, regions, final_index, moved_region, specks, movable, refit,
                                           keys, hist, color_labels, strong)
    if after is None or refit.joined:  # regions joined (two refitted entries became one color)
        after = int(label_regions(cleaned, alpha).visible.sum())
    return Cleaned(indices=cleaned, result=fit, regions_before=int(regions.visible.sum()) + len(specks),
                   regions_after=after)


def _settle_specks_and_label(indices: np.ndarray, alpha: np.ndarray | None, settling: bool,
                             starts: np.ndarray | None, made_here: bool) -> tuple[np.ndarray, Specks, Regions]:
    """The map with its specks settled, the specks, and the regions of that map. `starts` are the map's
    run_starts() when _index_map() made them."""
    # Single pixels walled in by one region are settled first (app/specks.py): labelling, borders and merging
    # then have fewer of everything. Only from min_region 2 on, in a map with no transparent pixel (whose
    # regions never merge).
    specks = NONE
    if settling:
        starts = run_starts(indices) if starts is None else starts
        indices, specks = settle_specks(indices, starts, owned=made_here)
    return indices, specks, label_regions(indices, alpha, starts if settling else None)


def _read_movable(regions: Regions, wanted: np.ndarray, keys: np.ndarray, strong: bool):
    """The pixels of the regions where `wanted` holds, or at a strong setting only their sums."""
    return sums_of_regions(regions, wanted, keys) if strong else pixels_of_regions(regions, wanted, keys)


def _movable(read, strong: bool) -> MovablePixels:
    return MovablePixels(pixels=None, sums=read) if strong else MovablePixels(pixels=read, sums=read.sums)


def _sums_from_the_histogram(hist: histograms.Histogram, color_labels: np.ndarray, entries: int, specks: Specks,
                             keys: np.ndarray, filled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The entries' pixel counts and color sums in the map that was labelled; and what the figures need of the
    photo alone (made once a photo: its colors in CIELAB, the sum of its squares), off the merging's core."""
    sums = entry_sums(hist, color_labels, entries)
    move_specks(*sums, specks, keys, filled)
    _ = hist.lab, sum_of_squares(hist)  # computed and kept on the photo's histogram now
    return sums


def _with_thin_regions_merged(merged: Merged, regions: Regions, keys: np.ndarray, palette: np.ndarray,
                              min_region: int, min_depth: float) -> tuple[np.ndarray, int | None]:
    """Each region's final entry (0 for transparent ones), once thin regions merged too when min_depth asks;
    and the visible regions left, when known without labelling the cleaned map."""
    index_of_region, after = merged.index_of_region, merged.regions
    if min_depth:
        index_of_region = merge_thin_regions(regions, index_of_region, keys, palette, min_region, min_depth)
        after = None
    return np.where(regions.visible, index_of_region, 0), after


def _index_map(indices, shape: tuple[int, int], with_starts: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The index map as an (H, W) array, and with_starts where its runs start (regions.run_starts), else None.

    One read row by row from a lookup of the pixels (the pipeline's map
    before cleaning) is made in two halves of rows side by side when it is
    large, a block of rows at a time: its run starts are found while the
    block is in cache.
    """
    if isinstance(indices, np.ndarray):
        indices = indices.reshape(shape)
        return indices, run_starts(indices) if with_starts else None
    made = np.empty(shape, dtype=np.uint8)
    starts = np.ones(shape, dtype=bool) if with_starts else None

    def rows(first: int, last: int) -> None:
        for top in range(first, last, _BLOCK_ROWS):
            block = made[top:min(top + _BLOCK_ROWS, last)]
            if hasattr(indices, "rows_into"):  # the pipeline's lookup, read straight into place
                indices.rows_into(top, block)
            else:
                block[:] = indices[top:top + len(block)]
            if with_starts:
                np.not_equal(block[:, 1:], block[:, :-1], out=starts[top:top + len(block), 1:])

    height = shape[0]
    if made.size < _HALVES_PIXELS:
        rows(0, height)
    else:
        parallel.side_by_side(lambda: rows(0, height // 2), lambda: rows(height // 2, height))
    return made, starts


# From this many pixels on, a lookup is read into an index map in two halves side by side.
_HALVES_PIXELS = 1 << 19
# Rows of a lookup read at once: a few hundred kilobytes at 12 MP, in cache for the run starts.
_BLOCK_ROWS = 64


def _labels_of_colors(hist, keys, visible, indices) -> np.ndarray:
    """The entry of each histogram color, for a map where every color has one entry."""
    lut = np.zeros(1 << 24, dtype=np.uint8)
    flat = indices.ravel()
    lut[keys if visible is None else keys[visible]] = flat if visible is None else flat[visible]
    if not np.array_equal(lut[keys] if visible is None else lut[keys[visible]], flat if visible is None else flat[visible]):
        raise ValueError("this index map gives one color several entries (dithered?): cleaning needs one entry per color")
    return lut[hist.keys]
