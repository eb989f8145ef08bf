"""Random index maps of blobs and specks, for the tests of regions, their sums and their borders."""

from __future__ import annotations

import numpy as np


def random_map(seed: int, shape=(37, 53), colors=5, blobs: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if not blobs:
        return rng.integers(0, colors, shape).astype(np.uint8)
    coarse = rng.integers(0, colors, (shape[0] // 4 + 1, shape[1] // 4 + 1))
    values = np.kron(coarse, np.ones((4, 4), dtype=np.int64))[: shape[0], : shape[1]]
    specks = rng.random(shape) < 0.15
    values[specks] = rng.integers(0, colors, specks.sum())
    return values.astype(np.uint8)
