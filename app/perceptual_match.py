"""Each color's perceptually nearest palette entry: the smallest CIEDE2000 among its nearest entries in CIELAB."""

from __future__ import annotations

import numpy as np

from app import cancel, ciede2000, colorspace, lattice, libraries, parallel

# Up to this many entries the candidates are found on the colors' CIELAB lattice, above by a k-d tree.
LATTICE_FEW_MAX_K = 64
# nearest_perceptual's colors a step: candidates and their CIEDE2000 stay in cache.
NEAREST_PERCEPTUAL_BLOCK = 16384


def nearest_perceptual(
    lab_colors: np.ndarray, palette: np.ndarray, candidates: int = 3, grid: lattice.Lattice | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Assign each color the palette entry with the smallest CIEDE2000, and that difference.

    Clustering in a perceptual space moves the centers; assigning by the
    metric itself is what lowers the mean difference. The candidates are the
    few entries nearest in CIELAB, where CIEDE2000's minimum almost always lies:
    found on the colors' CIELAB lattice when it is given (up to 64 entries,
    where that beats a k-d tree), else by a k-d tree. Of equal differences
    the nearer candidate wins.

    Each core takes its part of the colors a block at a time: candidates,
    their differences and the choice, while the block is in cache. The
    caller's cancelled() is asked between blocks.
    """
    lab_palette = colorspace.srgb_to_lab(palette).astype(lab_colors.dtype)
    count = min(candidates, len(palette))
    n = len(lab_colors)
    labels = np.empty(n, dtype=np.intp)
    differences = np.empty(n, dtype=np.result_type(lab_colors.dtype, np.float32))
    chosen = np.empty(n, dtype=differences.dtype)  # the difference to one candidate, a block at a time
    measure = ciede2000.differences_to_entries(lab_colors, lab_palette, chosen)
    if grid is not None and len(palette) <= LATTICE_FEW_MAX_K:
        snapped = grid.snap(lab_palette)
        near_of = lambda first, last: lattice.nearest_few(  # noqa: E731
            lattice.Lattice(grid.coordinates[:, first:last], grid.scale), snapped, count)
    else:
        tree = libraries.kd_tree(lab_palette)
        near_of = lambda first, last: (  # noqa: E731
            tree.query(lab_colors[first:last], k=count)[1].reshape(last - first, count))
    cancelled = cancel.current()

    def part(first: int, last: int) -> None:
        for start in range(first, last, NEAREST_PERCEPTUAL_BLOCK):
            if cancelled is not None and cancelled():
                raise cancel.Cancelled()
            stop = min(start + NEAREST_PERCEPTUAL_BLOCK, last)
            near = near_of(start, stop)
            best, best_labels = differences[start:stop], labels[start:stop]
            measure(start, stop, near[:, 0])
            best[:], best_labels[:] = chosen[start:stop], near[:, 0]
            for rank in range(1, count):
                measure(start, stop, near[:, rank])
                closer = chosen[start:stop] < best
                np.copyto(best, chosen[start:stop], where=closer)
                np.copyto(best_labels, near[:, rank], where=closer)

    parallel.for_ranges(n, part)
    return labels, differences
