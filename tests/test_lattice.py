"""app.lattice: the exact nearest-center search the engine runs over every distinct color."""

import numpy as np
import pytest

from app import lattice, parallel


def brute_force(points, centers):
    distances = ((points[:, None, :].astype(np.float64) - centers[None, :, :]) ** 2).sum(axis=2)
    return distances.argmin(axis=1), distances.min(axis=1)


@pytest.mark.parametrize("k", [1, 2, 7, 64, 256])
def test_nearest_matches_a_full_comparison_on_integer_colors(k):
    rng = np.random.default_rng(k)
    colors = rng.integers(0, 256, (50_000, 3))
    centers = rng.integers(0, 256, (k, 3)).astype(np.float64)
    found = lattice.nearest(lattice.Lattice.of(colors, 1.0), centers)
    labels, squared = brute_force(colors, centers)
    np.testing.assert_array_equal(found.labels, labels)  # argmin: ties go to the lower index
    np.testing.assert_array_equal(found.squared_distances, squared)


def test_ties_go_to_the_lower_index_and_duplicates_never_win():
    colors = np.array([[10, 10, 10], [20, 20, 20], [15, 15, 15]])
    centers = np.array([[20, 20, 20], [10, 10, 10], [10, 10, 10], [20, 20, 20]], dtype=np.float64)
    found = lattice.nearest(lattice.Lattice.of(colors, 1.0), centers)
    assert found.labels.tolist() == [1, 0, 0]  # [15]*3 is as far from both: the lower index
    assert found.squared_distances.tolist() == [0, 0, 75]


def test_a_scaled_lattice_finds_the_nearest_center_of_float_points():
    rng = np.random.default_rng(3)
    points = rng.uniform(-100, 100, (20_000, 3))
    grid = lattice.Lattice.of(points, 64.0)
    centers = rng.uniform(-100, 100, (40, 3))
    found = lattice.nearest(grid, grid.snap(centers))
    labels, squared = brute_force(grid.coordinates.T, grid.snap(centers))
    np.testing.assert_array_equal(found.labels, labels)
    # On the lattice the answer can differ from the float one only between near-equal centers.
    true_labels, true_squared = brute_force(points, centers)
    chosen = ((points - centers[found.labels]) ** 2).sum(axis=1)
    assert np.all(chosen <= true_squared + 2 * np.sqrt(true_squared) * 3 / 64 + 1e-3)


def test_the_answer_does_not_depend_on_how_the_work_is_split(monkeypatch):
    rng = np.random.default_rng(5)
    grid = lattice.Lattice.of(rng.integers(0, 256, (100_000, 3)), 1.0)
    centers = rng.integers(0, 256, (32, 3)).astype(np.float64)
    split = lattice.nearest(grid, centers)
    monkeypatch.setattr(parallel, "_workers", lambda: 1)
    whole = lattice.nearest(grid, centers)
    np.testing.assert_array_equal(split.labels, whole.labels)
    np.testing.assert_array_equal(split.squared_distances, whole.squared_distances)


@pytest.mark.parametrize("k", [0, 257])
def test_the_number_of_centers_is_bounded(k):
    with pytest.raises(ValueError, match="centers"):
        lattice.nearest(lattice.Lattice.of(np.zeros((3, 3)), 1.0), np.zeros((k, 3)))


@pytest.mark.parametrize("k,count", [(3, 3), (16, 3), (64, 2), (40, 1)])
def test_nearest_few_are_the_nearest_in_order(k, count):
    rng = np.random.default_rng(k)
    colors = rng.integers(0, 256, (20_000, 3))
    centers = rng.integers(0, 256, (k, 3)).astype(np.float64)
    found = lattice.nearest_few(lattice.Lattice.of(colors, 1.0), centers, count)
    distances = ((colors[:, None, :] - centers[None]) ** 2).sum(axis=2)
    expected = np.argsort(distances, axis=1, kind="stable")[:, :count]  # ties: lower index first
    np.testing.assert_array_equal(found, expected)
    np.testing.assert_array_equal(found[:, 0], lattice.nearest(lattice.Lattice.of(colors, 1.0), centers).labels)


@pytest.mark.parametrize("k", [2, 17, 256])
def test_labels_alone_are_those_of_the_full_answer(k):
    rng = np.random.default_rng(40 + k)
    grid = lattice.Lattice.of(rng.integers(0, 256, (50_000, 3)), 1.0)
    centers = rng.integers(0, 256, (k, 3)).astype(np.float64)
    np.testing.assert_array_equal(lattice.nearest_labels(grid, centers), lattice.nearest(grid, centers).labels)
