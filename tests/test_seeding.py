"""app.seeding: k-means++ seeds and their chains."""

import numpy as np

from app import clustering, seeding


def test_kmeans_plusplus_picks_the_seeds_scikit_learn_picks():
    from sklearn.cluster import kmeans_plusplus as sklearn_kmeans_plusplus

    rng = np.random.default_rng(7)
    points = (rng.random((3000, 3)) * 255).astype(np.float32)
    weights = rng.integers(1, 50, len(points)).astype(np.float64)
    for k in (2, 16, 100):
        expected, _ = sklearn_kmeans_plusplus(points, k, sample_weight=weights, random_state=11)
        np.testing.assert_allclose(seeding.kmeans_plusplus(points, k, weights, 11), expected, atol=1e-4)


def test_kmeans_plusplus_seeds_for_k_are_the_head_of_the_seeds_for_a_larger_k_with_fixed_trials():
    rng = np.random.default_rng(8)
    points = rng.random((2000, 3)) * 255
    weights = rng.integers(1, 30, len(points)).astype(np.float64)
    longest = seeding.kmeans_plusplus(points, 64, weights, 3, trials=clustering.SEED_TRIALS)
    for k in (2, 9, 33):
        np.testing.assert_array_equal(seeding.kmeans_plusplus(points, k, weights, 3, trials=clustering.SEED_TRIALS),
                                      longest[:k])


def test_a_seed_chain_drawn_in_turns_gives_the_seeds_drawn_at_once():
    rng = np.random.default_rng(9)
    points = rng.random((1500, 3)) * 255
    weights = rng.integers(1, 30, len(points)).astype(np.float64)
    at_once = seeding.kmeans_plusplus(points, 40, weights, 5, trials=clustering.SEED_TRIALS)
    chain = seeding.SeedChain(points, weights, 5, clustering.SEED_TRIALS)
    for n in (2, 2, 17, 9, 40):
        np.testing.assert_array_equal(chain.head(n), at_once[:n])
