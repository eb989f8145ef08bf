"""Per-color passes split across the machine's cores: numpy and BLAS let go of the GIL in their loops.

Each part writes its own slice of the output, so the result is the same
whatever the number of threads or the order they finish in.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")

# A part smaller than this costs more to hand over than it saves (on a busy machine a hand-over
# waits for the other core: the fine bins' Lloyd steps, ~35,000 means at 12 MP, stay on one).
MIN_PART = 32768
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_this_thread = threading.local()


def workers() -> int:
    """Threads a per-color pass is split into (for libraries that take a count, such as scipy's)."""
    return _workers()


def _workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:  # made on first use, so a forked worker process gets its own
        if _pool is None:
            _pool = ThreadPoolExecutor(_workers(), thread_name_prefix="kmeans-engine", initializer=_in_the_pool)
        return _pool


def _in_the_pool() -> None:
    # A step running in the pool does its passes in one part: waiting there for its own parts,
    # queued behind other such steps, it could wait for ever.
    _this_thread.one_part = True


def for_ranges(n: int, work: Callable[[int, int], None]) -> None:
    """Call work(start, stop) over [0, n) in parts, one per core, and wait for all of them."""
    map_ranges(n, work)


def one_part():
    """Within it, this thread does its per-color passes in one part, itself (as the pool's threads always do).

    For steps already run side by side on the cores (side_by_side): split
    again, their parts would only queue behind each other in the pool.
    """
    return thread_value(_this_thread, "one_part", True)


def _in_one_part() -> bool:
    return bool(getattr(_this_thread, "one_part", False))


@contextmanager
def thread_value(local: threading.local, name: str, value) -> Iterator[None]:
    """Within it, local.name is value on this thread; whatever it was before comes back after."""
    outer = getattr(local, name, None)
    setattr(local, name, value)
    try:
        yield
    finally:
        setattr(local, name, outer)


def map_ranges(n: int, work: Callable[[int, int], T]) -> list[T]:
    """work(start, stop) over [0, n) in parts, one per core; their results in order."""
    parts = 1 if _in_one_part() else min(_workers(), max(1, n // MIN_PART))
    if parts == 1:
        return [work(0, n)]
    bounds = [n * i // parts for i in range(parts + 1)]
    # The calling thread does the first part itself: one hand-over fewer, and on a busy machine
    # it does not wait for a core to come free before any work starts.
    futures = [_executor().submit(work, a, b) for a, b in zip(bounds[1:-1], bounds[2:])]
    try:
        first = work(bounds[0], bounds[1])
    finally:
        wait(futures)  # as side_by_side(): a part that failed or was cancelled here leaves none running behind
    return [first] + [future.result() for future in futures]


def side_by_side(first: Callable[[], T], *others: Callable[[], T]) -> list[T]:
    """first() on this thread while the others run in the pool; their results in order.

    For independent steps of one job. The others must not wait on the pool themselves, but for one
    exception: the result of a future submitted to the pool before them, which waits on nothing (the
    queue is first in, first out, so that future is running or done by the time one of them waits; used
    by perceptual.fit for its RGB competitor's score).
    """
    if _workers() == 1 or _in_one_part():  # a pool thread waiting on the pool could wait for ever
        return [first()] + [other() for other in others]
    futures = [_executor().submit(other) for other in others]
    try:
        mine = first()
    finally:
        # Whatever first() did, the others are done before this returns or raises: a step
        # cancelled here never goes on in the pool behind the caller's back.
        wait(futures)
    return [mine] + [future.result() for future in futures]


@contextmanager
def in_background(work: Callable[[], T]) -> Iterator[Future]:
    """work() in the pool while the block runs; its future, for a result needed later in the same job.

    Leaving the block waits for work() whatever happened in it, as side_by_side() does: a step never goes
    on in the pool behind the caller's back. On one core, work() runs here before the block.
    work() must not wait on the pool itself.
    """
    if _workers() == 1 or _in_one_part():
        done: Future = Future()
        try:
            done.set_result(work())
        except BaseException as error:  # noqa: BLE001 - handed to whoever asks for the result, as the pool does
            done.set_exception(error)
        yield done
        return
    future = _executor().submit(work)
    try:
        yield future
    finally:
        wait([future])
