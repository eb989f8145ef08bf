"""A small in-memory cache of prepared photos, bounded in bytes and in time.

It lets the k slider re-quantize a photo without the photo travelling
again. Each worker process has its own; a miss is answered with 410 and
the page simply sends the photo again.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from typing import Any, Callable


class PhotoCache:
    def __init__(self, max_bytes: int, ttl_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.max_bytes = max_bytes
        self.ttl = ttl_seconds
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, int, Any]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def put(self, value: Any, nbytes: int) -> str | None:
        """Keep a value; returns its token, or None when it cannot fit."""
        if nbytes > self.max_bytes:
            return None
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._expire()
            while self._bytes + nbytes > self.max_bytes:
                self._drop(next(iter(self._items)))
            self._items[token] = (self._clock(), nbytes, value)
            self._bytes += nbytes
        return token

    def get(self, token: str) -> Any | None:
        with self._lock:
            self._expire()
            item = self._items.get(token)
            if item is None:
                return None
            self._items[token] = (self._clock(), item[1], item[2])
            self._items.move_to_end(token)
            return item[2]

    def recount(self, token: str | None, nbytes: int) -> None:
        """A kept value grew or shrank (a photo's fits): count its new size, making room by dropping others.

        A value that no longer fits at all is dropped itself.
        """
        if token is None:
            return
        with self._lock:
            item = self._items.get(token)
            if item is None:
                return
            self._bytes += nbytes - item[1]
            self._items[token] = (item[0], nbytes, item[2])
            if nbytes > self.max_bytes:
                self._drop(token)
                return
            while self._bytes > self.max_bytes:
                self._drop(next(t for t in self._items if t != token))

    def _expire(self) -> None:
        deadline = self._clock() - self.ttl
        while self._items and next(iter(self._items.values()))[0] < deadline:
            self._drop(next(iter(self._items)))

    def _drop(self, token: str) -> None:
        _, nbytes, _ = self._items.pop(token)
        self._bytes -= nbytes
