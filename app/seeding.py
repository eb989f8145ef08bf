"""k-means++ seeds, drawn as a chain that serves every k."""

from __future__ import annotations

import threading

import numpy as np


def minibatch_random(seed: int, n_points: int) -> np.random.RandomState:
    """The random stream with which MiniBatchKMeans(random_state=seed) draws its k-means++ seeds.

    Its own k-means++ goes through scikit-learn's general-purpose distance
    routine at every step, half of its fit at k = 32; the seeds are drawn
    here and handed to it. With at most 3 * MBK_BATCH points it first draws
    a validation sample of them all, then the seeds.
    """
    random = np.random.RandomState(seed)
    random.randint(0, n_points, n_points)  # its validation sample: every point, as there are few
    return random


def kmeans_plusplus(points: np.ndarray, n_clusters: int, weights: np.ndarray,
                    seed: int | np.random.RandomState, trials: int | None = None) -> np.ndarray:
    """Weighted greedy k-means++ seeds: scikit-learn's algorithm and random stream, without its overhead.

    Each new center is the best of 2 + log(k) candidates (or `trials`) drawn
    in proportion to weight times squared distance. scikit-learn's
    `kmeans_plusplus` checks its arguments and computes distances through a
    general-purpose routine on every one of the k steps, which was 40% of a
    small photo's request; here a step is a few numpy operations on (trials, n) arrays.
    """
    return SeedChain(points, weights, seed, trials or 2 + int(np.log(n_clusters))).head(n_clusters)


class SeedChain:
    """k-means++ seeds drawn step by step as they are asked for (kmeans_plusplus's algorithm).

    head(n) draws up to n seeds and returns the first n: with a fixed number
    of trials a step, the seeds drawn for a smaller n are the head of those
    for a larger one, whether drawn at once or in turns. Kept for a photo,
    two threads may ask at once: a lock keeps the draws in order.
    """

    def __init__(self, points: np.ndarray, weights: np.ndarray, seed: int | np.random.RandomState, trials: int):
        points = np.asarray(points, dtype=np.float64)
        n, dims = points.shape
        # Rows [x, 1, |x|^2]: their product with a candidate's [-2 c, |c|^2, 1] is |x - c|^2 for every
        # point in one matrix product, where a product and two sums took three times as long.
        self._rows = np.empty((dims + 2, n))
        self._rows[:dims] = points.T
        self._rows[dims] = 1.0
        self._rows[dims + 1] = np.einsum("ij,ij->i", points, points)
        self._weights = np.asarray(weights, dtype=np.float64)
        self._random = seed if isinstance(seed, np.random.RandomState) else np.random.RandomState(seed)
        self._trials = trials
        self._lock = threading.Lock()
        first = self._random.choice(n, p=self._weights / self._weights.sum())
        self._chosen = [int(first)]
        self._closest = self._squared_distances(np.array([first]))[0]
        self._potential = self._closest @ self._weights

    @property
    def nbytes(self) -> int:
        return self._rows.nbytes + self._closest.nbytes  # the weights are the bins' own, counted with them

    def head(self, n: int) -> np.ndarray:
        """The first n seeds, (n, dims) float64."""
        with self._lock:
            while len(self._chosen) < n:
                self._step()
            return self._rows[:-2, self._chosen[:n]].T.copy()

    def _squared_distances(self, chosen: np.ndarray) -> np.ndarray:
        """(candidates, n) squared distances of every point to each chosen point."""
        dims = len(self._rows) - 2
        candidates = np.empty((len(chosen), dims + 2))
        candidates[:, :dims] = -2.0 * self._rows[:dims, chosen].T
        candidates[:, dims] = self._rows[dims + 1, chosen]
        candidates[:, dims + 1] = 1.0
        found = candidates @ self._rows
        return np.maximum(found, 0.0, out=found)

    def _step(self) -> None:
        draws = self._random.uniform(size=self._trials) * self._potential
        chosen = np.searchsorted(np.cumsum(self._weights * self._closest), draws)
        np.minimum(chosen, len(self._weights) - 1, out=chosen)  # (np.clip costs ten times as much)
        distances = self._squared_distances(chosen)
        np.minimum(distances, self._closest, out=distances)
        potentials = distances @ self._weights
        best = int(np.argmin(potentials))
        self._potential, self._closest = potentials[best], distances[best]
        self._chosen.append(int(chosen[best]))
