"""Stopping a find_palette no one waits for any more, between its steps."""

from __future__ import annotations

import threading
from typing import Callable

from app import parallel


class Cancelled(Exception):
    """find_palette stopped early: its caller's cancelled() said the palette is no longer wanted."""


# The cancelled() of the find_palette running on this thread, checked between steps (Lloyd steps,
# starts, candidate palettes). A thread-local rather than an argument of every helper.
_current = threading.local()


class _Latched:
    """A cancelled() asked by several threads of one find_palette: one at a time, and never again once it said True."""

    def __init__(self, cancelled: Callable[[], bool]):
        self._cancelled = cancelled
        self._lock = threading.Lock()
        self._said = False

    def __call__(self) -> bool:
        with self._lock:
            self._said = self._said or bool(self._cancelled())
            return self._said


def cancellable(cancelled: Callable[[], bool] | None):
    if cancelled is not None and not isinstance(cancelled, _Latched):
        cancelled = _Latched(cancelled)
    return parallel.thread_value(_current, "cancelled", cancelled)


def check() -> None:
    cancelled = current()
    if cancelled is not None and cancelled():
        raise Cancelled()


def current() -> Callable[[], bool] | None:
    """The cancelled() of the find_palette running on this thread, to hand on to the threads it starts."""
    return getattr(_current, "cancelled", None)
