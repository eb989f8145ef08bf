"""scikit-learn and scipy, imported when first needed, and thread limits for BLAS and OpenMP."""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from typing import Iterator

import numpy as np
from threadpoolctl import ThreadpoolController


# scikit-learn and scipy.spatial take 1-2 s to import, more than the whole job on a 12 MP photo,
# and only some palettes need them: they are imported when first needed. The server imports
# them when it creates the app (preload), so no request pays; the command line starts the
# import in a thread (preload_in_background) while it decodes the photo and counts its colors.
_preloading: threading.Thread | None = None


def preload() -> None:
    """Import the libraries that some palettes need, now rather than during a request."""
    import scipy.spatial  # noqa: F401
    import sklearn.cluster  # noqa: F401


def preload_in_background() -> None:
    """Start preload() in a thread; the engine waits for it before it uses those libraries."""
    global _preloading
    if _preloading is None:
        _preloading = threading.Thread(target=preload, name="preload", daemon=True)
        _preloading.start()


def sklearn_cluster():
    """sklearn.cluster, once any import started in the background has finished."""
    if _preloading is not None:
        _preloading.join()
    import sklearn.cluster

    return sklearn.cluster


_threadpools: tuple[tuple[bool, ...], ThreadpoolController] | None = None
# single_threaded()'s BLAS limit is process-wide: the first thread in sets it, the last one out lifts it (each
# thread restoring what it found would lift it under a thread still inside, or leave it set for good).
_limit_lock = threading.Lock()
_limit_users = 0
_limiters: list = []


def _controller() -> tuple[tuple[bool, ...], ThreadpoolController]:
    """threadpoolctl's view of the loaded libraries. It finds them by reading the process's maps, about 1 ms
    a call: it is made once, and again when scikit-learn or scipy (which bring their own libraries) have
    been imported since."""
    global _threadpools
    loaded = tuple(name in sys.modules for name in ("sklearn.cluster", "scipy.spatial"))
    if _threadpools is None or _threadpools[0] != loaded:
        _threadpools = (loaded, ThreadpoolController())
    return _threadpools


@contextmanager
def single_threaded() -> Iterator[None]:
    """A context in which BLAS and OpenMP run on one thread: small fits lose more to their threads than they
    gain. BLAS's limit is the process's: threads inside at once share it, and the last one out lifts it.
    OpenMP's is the calling thread's own, set and lifted by it."""
    _, controller = _shared_blas_limit()
    try:
        with controller.limit(limits=1, user_api="openmp"):
            yield
    finally:
        _lift_blas_limit()


def _shared_blas_limit() -> tuple[tuple[bool, ...], ThreadpoolController]:
    global _limit_users
    with _limit_lock:
        loaded, controller = _controller()
        if not _limiters or _limiters[-1][0] != loaded:  # libraries imported since the limit was set get it too
            _limiters.append((loaded, controller.limit(limits=1, user_api="blas")))
        _limit_users += 1
    return loaded, controller


def _lift_blas_limit() -> None:
    global _limit_users
    with _limit_lock:
        _limit_users -= 1
        if not _limit_users:
            while _limiters:
                _limiters.pop()[1].restore_original_limits()


def kd_tree(points: np.ndarray):
    if _preloading is not None:
        _preloading.join()
    from scipy.spatial import cKDTree

    return cKDTree(points)
