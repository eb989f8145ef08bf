"""Weighted Lloyd steps and the sums they take: the arithmetic under every palette."""

from __future__ import annotations

import numpy as np

from app import cancel, lattice, libraries


def lloyd(grid: lattice.Lattice, points, weights, centers: np.ndarray, steps: int,
          rows: np.ndarray | None = None) -> np.ndarray:
    """Up to `steps` weighted Lloyd steps, each point taking its nearest center on the lattice; stops when no
    label changes.

    rows: weighted_rows(points, weights), when the caller keeps them.
    """
    if rows is None:
        rows = weighted_rows(points, weights)
    search_rows = grid.search_rows() if steps > 1 else None
    labels = None
    for _ in range(steps):
        cancel.check()
        new_labels = lattice.nearest_labels(grid, grid.snap(centers), search_rows)
        if labels is not None and np.array_equal(new_labels, labels):
            break
        labels = new_labels
        centers = lloyd_update(rows, labels, centers)
    return centers


def lloyd_each(grid: lattice.Lattice, starting: list[np.ndarray], steps: int, rows: np.ndarray,
                search_rows: np.ndarray | None) -> list[np.ndarray]:
    """lloyd() from several starts of as many centers each, their steps taken together: one search and one update
    a step for all the starts not settled yet. Each start's centers come out as its own lloyd() gives them.
    search_rows: grid.search_rows(), which the caller keeps for its own search.

    (A start whose labels did not change is settled: lloyd() stops there. The update sums each start's
    points in the same order as lloyd() does, so every sum and center is the same float.)
    """
    centers = [np.array(start, dtype=np.float64) for start in starting]
    count = len(centers[0])
    repeated = np.tile(rows, len(centers))  # each start's rows one after the other: one bincount a row for all
    n = rows.shape[1]
    labels: list[np.ndarray | None] = [None] * len(centers)
    going = list(range(len(centers)))
    for _ in range(steps):
        cancel.check()
        found = lattice.nearest_each(grid, [grid.snap(centers[start]) for start in going], search_rows=search_rows)[0]
        moving = [(start, new) for start, new in zip(going, found)
                  if labels[start] is None or not np.array_equal(new, labels[start])]
        if not moving:
            break
        going = [start for start, _ in moving]
        grouped = np.concatenate([new + place * count for place, (_, new) in enumerate(moving)])
        settling = np.concatenate([centers[start] for start in going])
        moved = lloyd_update(repeated[:, : len(moving) * n], grouped, settling)
        for place, (start, new) in enumerate(moving):
            labels[start] = new
            centers[start] = moved[place * count:(place + 1) * count]
    return centers


def lloyd_update(rows: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Each center moved to the weighted mean of its points (rows: weighted_rows); one left without points stays put.

    The sums and quotients of row_means, without its stack and error state (a coarse step is a tenth of a ms).
    """
    groups = len(centers)
    total = np.bincount(labels, weights=rows[0], minlength=groups)
    sums = np.empty((groups, len(rows) - 1))
    for dimension, row in enumerate(rows[1:]):
        sums[:, dimension] = np.bincount(labels, weights=row, minlength=groups)
    moved = np.array(centers, dtype=np.float64)
    np.divide(sums, total[:, None], out=moved, where=(total > 0)[:, None])
    return moved


def weighted_rows(points, weights) -> np.ndarray:
    """[w, w x_0, w x_1, w x_2] as the rows of one float64 array: what each Lloyd update sums by label."""
    rows = np.empty((points.shape[1] + 1, len(points)))
    rows[0] = weights
    np.multiply(np.asarray(points).T, weights, out=rows[1:])
    return rows


def squared_error(grid: lattice.Lattice, weights: np.ndarray, centers: np.ndarray) -> float:
    return float(np.dot(lattice.nearest(grid, grid.snap(centers)).squared_distances, weights))


def group_means(points, weights, labels, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """The weighted mean of the points in each group (NaN for an empty one) and each group's weight."""
    return row_means(weighted_rows(points, weights), labels, groups)


def row_means(rows: np.ndarray, labels: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """group_means from weighted_rows(points, weights): what a Lloyd update and the bins' means both sum."""
    total = np.bincount(labels, weights=rows[0], minlength=groups)
    sums = np.stack([np.bincount(labels, weights=row, minlength=groups) for row in rows[1:]], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / total[:, None], total


def weighted_means(points, weights, labels, centers):
    """One Lloyd update; a center that lost all its points stays where it was."""
    return lloyd_update(weighted_rows(points, weights), labels, centers)


def nearest(points: np.ndarray, centers: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Index of the nearest center (squared Euclidean) for every point, exactly."""
    centers = np.asarray(centers, dtype=np.float64)
    if len(centers) > 32:  # a k-d tree wins once there are many centers
        return libraries.kd_tree(centers).query(points)[1]
    center_norms = (centers**2).sum(axis=1)
    out = np.empty(len(points), dtype=np.intp)
    for start in range(0, len(points), chunk):
        block = np.asarray(points[start : start + chunk], dtype=np.float64)
        # |x-c|^2 - |x|^2 = |c|^2 - 2 x.c ; |x|^2 does not change the argmin.
        out[start : start + chunk] = np.argmin(center_norms - 2.0 * block @ centers.T, axis=1)
    return out
