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


def single_threaded():
    """A context in which BLAS and OpenMP run on one thread: small fits lose more to their threads than they gain.

    threadpoolctl finds the loaded libraries by reading the process's maps,
    about 1 ms a call: the controller is made once, and again when
    scikit-learn or scipy (which bring their own libraries) have been
    imported since.
    """
    global _threadpools
    loaded = tuple(name in sys.modules for name in ("sklearn.cluster", "scipy.spatial"))
    if _threadpools is None or _threadpools[0] != loaded:
        _threadpools = (loaded, ThreadpoolController())
    return _threadpools[1].limit(limits=1)


def kd_tree(points: np.ndarray):
    if _preloading is not None:
        _preloading.join()
    from scipy.spatial import cKDTree

    return cKDTree(points)
