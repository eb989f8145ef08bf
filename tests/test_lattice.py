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


@pytest.mark.parametrize("k", [2, 64, 65])
def test_colors_at_the_corners_of_the_cube_are_matched_exactly(k, monkeypatch):
    # The largest products the float32 search adds (k <= 64): colors and centers at opposite corners.
    corners = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)])
    rng = np.random.default_rng(k)
    colors = np.concatenate([corners, rng.integers(0, 256, (30_000, 3))])
    centers = np.concatenate([corners[[0, 7]], rng.integers(0, 256, (k - 2, 3))]).astype(np.float64)
    searched_in_float32 = []
    float32_search = lattice._nearest_bytes
    monkeypatch.setattr(lattice, "_nearest_bytes",
                        lambda *args: searched_in_float32.append(True) or float32_search(*args))
    found = lattice.nearest(lattice.Lattice.of(colors, 1.0), centers)
    assert bool(searched_in_float32) == (k <= lattice.BYTE_MAX_CENTERS)  # the path this test is about was taken
    labels, squared = brute_force(colors, centers)
    np.testing.assert_array_equal(found.labels, labels)
    np.testing.assert_array_equal(found.squared_distances, squared)


def test_few_centers_on_8_bit_colors_take_the_float32_search_and_others_do_not():
    rng = np.random.default_rng(8)
    colors = lattice.Lattice.of(rng.integers(0, 256, (5_000, 3)), 1.0)
    assert colors.byte_rows is not None and colors.nbytes == 5_000 * (12 + lattice.Lattice.BYTE_ROWS_PER_POINT)
    assert lattice.Lattice.of(rng.integers(0, 300, (5_000, 3)), 1.0).byte_rows is None  # beyond 8 bits
    assert lattice.Lattice.of(rng.uniform(0, 1, (5_000, 3)), 64.0).byte_rows is None  # a scaled lattice
    assert lattice._encode_bytes(np.full((64, 3), 10.0)) is not None
    assert lattice._encode_bytes(np.full((65, 3), 10.0)) is None
    assert lattice._encode_bytes(np.array([[10.0, 10.0, 256.0]])) is None
    assert lattice._encode_bytes(np.array([[10.0, 10.5, 20.0]])) is None


def test_centers_the_float32_search_cannot_take_get_the_exact_answer_all_the_same():
    rng = np.random.default_rng(9)
    colors = rng.integers(0, 256, (20_000, 3))
    centers = np.array([[-40.0, 10.0, 300.0], [128.0, 128.0, 128.0], [255.0, 0.0, 0.0]])
    found = lattice.nearest(lattice.Lattice.of(colors, 1.0), centers)
    labels, squared = brute_force(colors, centers)
    np.testing.assert_array_equal(found.labels, labels)
    np.testing.assert_array_equal(found.squared_distances, squared)


@pytest.mark.parametrize("k", [3, 64, 200])
def test_a_search_from_the_kept_rows_of_a_small_lattice_gives_the_same_answer(k):
    rng = np.random.default_rng(60 + k)
    grid = lattice.Lattice.of(rng.uniform(0, 255, (6_000, 3)), 8.0)  # coarse bins' means, on their finer lattice
    centers = grid.snap(rng.uniform(0, 255, (k, 3)))
    search_rows = grid.search_rows()
    assert search_rows is not None and search_rows.shape == (4, 6_000)
    kept, fresh = lattice.nearest(grid, centers, search_rows=search_rows), lattice.nearest(grid, centers)
    np.testing.assert_array_equal(kept.labels, fresh.labels)
    np.testing.assert_array_equal(kept.squared_distances, fresh.squared_distances)
    np.testing.assert_array_equal(lattice.nearest_labels(grid, centers, search_rows), fresh.labels)
    assert lattice.Lattice.of(rng.uniform(0, 255, (lattice.SMALL_POINTS + 1, 3)), 8.0).search_rows() is None


def test_sets_of_different_sizes_are_refused_by_name():
    grid = lattice.Lattice.of(np.zeros((10, 3), dtype=np.uint8), 1.0)
    with pytest.raises(ValueError, match=r"\[3, 4\]"):
        lattice.nearest_each(grid, [np.zeros((3, 3)), np.zeros((4, 3))])
