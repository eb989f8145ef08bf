"""app.kmeans: nearest centers and Lloyd steps."""

import numpy as np
import pytest

from app import clustering, kmeans, seeding


def test_nearest_agrees_between_the_brute_force_and_the_kd_tree():
    rng = np.random.default_rng(13)
    points = rng.uniform(0, 255, (5000, 3))
    centers = rng.uniform(0, 255, (64, 3))
    tree = kmeans.nearest(points, centers)  # > 32 centers: k-d tree
    brute = kmeans.nearest(points, centers[:32])  # 32 centers: chunked brute force
    dist = ((points[:, None] - centers[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(tree, dist.argmin(axis=1))
    np.testing.assert_array_equal(brute, dist[:, :32].argmin(axis=1))


@pytest.mark.parametrize("k", [3, 24, 64])
def test_lloyd_steps_of_several_starts_taken_together_give_each_start_its_own_centers(k):
    from app import lattice

    rng = np.random.default_rng(70 + k)
    points = rng.uniform(0, 255, (3_000, 3)).astype(np.float32)  # coarse bins' means
    weights = rng.integers(1, 40, 3_000).astype(np.float64)
    grid = lattice.Lattice.of(points, 8.0)
    rows = kmeans.weighted_rows(points, weights)
    starting = [seeding.kmeans_plusplus(points, k, weights, seed) for seed in range(4)]
    starting.append(points[:k].copy())  # float32, as MiniBatchKMeans's centers are
    starting.append(np.repeat(points[:1].astype(np.float64), k, axis=0))  # every center but one loses its points
    together = kmeans.lloyd_each(grid, starting, clustering.COARSE_STEPS, rows, grid.search_rows())
    for start, centers in zip(starting, together):
        np.testing.assert_array_equal(centers, kmeans.lloyd(grid, points, weights, start, clustering.COARSE_STEPS, rows))
    each = lattice.nearest_each(grid, [grid.snap(c) for c in together], with_distances=True)
    for centers, labels, squared in zip(together, *each):
        alone = lattice.nearest(grid, grid.snap(centers))
        np.testing.assert_array_equal(labels, alone.labels)
        np.testing.assert_array_equal(squared, alone.squared_distances)
