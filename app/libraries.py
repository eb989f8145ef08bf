"""scikit-learn and scipy, imported when first needed, and thread limits for BLAS and OpenMP."""

from __future__ import annotations

import sys
import threading

import numpy as np
from threadpoolctl import ThreadpoolController


# scikit-learn and scipy.spatial take 1-2 s to import, more than the whole job on a 12 MP photo,
# and only some palettes need them: they are imported when first needed. The server imports
# them when it creates the app (preload), so no request pays; the command line starts the
# import in a thread (preload_in_background) while it decodes the photo and counts its colors.
_preloading: threading.Thread | None = None


def preload() -> None:
    """Import the libraries that some palettes need, now rather than during a request, their BLAS on one thread."""
    import scipy.spatial  # noqa: F401
    import sklearn.cluster  # noqa: F401

    one_blas_thread()


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
_blas_limited_for: tuple[bool, ...] | None = None
_limit_lock = threading.Lock()


def _controller() -> tuple[tuple[bool, ...], ThreadpoolController]:
    """threadpoolctl's view of the loaded libraries. It finds them by reading the process's maps, about 1 ms
    a call: it is made once, and again when scikit-learn or scipy (which bring their own libraries) have
    been imported since."""
    global _threadpools
    loaded = tuple(name in sys.modules for name in ("sklearn.cluster", "scipy.spatial"))
    if _threadpools is None or _threadpools[0] != loaded:
        _threadpools = (loaded, ThreadpoolController())
    return _threadpools


def one_blas_thread() -> None:
    """BLAS on one thread for the whole process, from now on: the server calls it as it starts (preload) and the
    command line first thing, so every sum is made the same way whatever ran before it in the process.

    Small fits lose more to library threads than they gain, and the engine
    splits its large work over the cores itself (app/parallel.py). BLAS's
    limit is the process's, so it is set for good rather than around each
    fit: lifted between fits, OpenBLAS's threads woke for later calls and
    spun, and a 12 MP slider move took 94 ms of server CPU instead of 40
    (bench_live); a float64 dot product also gives other last bits on two
    threads than on one. Libraries imported since the last call (scipy and
    scikit-learn bring their own BLAS) are limited by the next.
    """
    global _blas_limited_for
    with _limit_lock:
        loaded, controller = _controller()
        if _blas_limited_for != loaded:
            controller.limit(limits=1, user_api="blas")
            _blas_limited_for = loaded


def single_threaded():
    """A context in which OpenMP runs on one thread in the calling thread (its limit is each thread's own), and
    BLAS is on one thread (one_blas_thread)."""
    one_blas_thread()
    return _controller()[1].limit(limits=1, user_api="openmp")


def kd_tree(points: np.ndarray):
    if _preloading is not None:
        _preloading.join()
    from scipy.spatial import cKDTree

    return cKDTree(points)
