"""A small in-memory cache of prepared photos, bounded in bytes and in time: the first level.

It lets the k slider re-quantize a photo without the photo travelling
again. Each worker process has its own. Photos are kept under their
content_id, the SHA-256 of the bytes uploaded: the same photo sent again
finds its place instead of taking a second one, and the page can ask for a
photo by the hash it computes itself. With REDIS_URL set, a miss here is
looked up in the cache every worker and replica shares (app/shared_cache.py);
a miss there too is answered with 410 and the page sends the photo again.

When a memory budget is given (app/budget.py), every byte kept is held in
it, and the cache gives way first: a request that needs room makes it drop
its least recently used photos (give_way), and a photo that does not fit in
the budget is simply not kept.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from typing import Any, Callable


def content_id(data: bytes) -> str:
    """The photo's image_id: the SHA-256 of its bytes as uploaded, in hex. The page computes the same
    to ask for a photo before it uploads it; the README says what that lets a holder of the photo learn."""
    return hashlib.sha256(data).hexdigest()


class _NoBudget:
    def try_hold(self, nbytes: int) -> bool:
        return True

    def release(self, nbytes: int) -> None:
        pass


class PhotoCache:
    def __init__(self, max_bytes: int, ttl_seconds: float, clock: Callable[[], float] = time.monotonic,
                 budget=None):
        self.max_bytes = max_bytes
        self.ttl = ttl_seconds
        self._clock = clock
        self._budget = budget if budget is not None else _NoBudget()
        self._items: OrderedDict[str, tuple[float, int, Any]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def put(self, value: Any, nbytes: int, key: str | None = None) -> str | None:
        """Keep a value under key (a content_id; a random token if None); returns the key,
        or None when it cannot fit. A value already kept under key is replaced."""
        if nbytes > self.max_bytes:
            return None
        token = key if key is not None else secrets.token_urlsafe(16)
        with self._lock:
            self._expire()
            if token in self._items:
                self._drop(token)
            while self._bytes + nbytes > self.max_bytes:
                self._drop(next(iter(self._items)))
            while not self._budget.try_hold(nbytes):
                if not self._items:
                    return None  # the budget has no room for it, even with the cache empty
                self._drop(next(iter(self._items)))
            self._items[token] = (self._clock(), nbytes, value)
            self._bytes += nbytes
        return token

    def give_way(self, nbytes: int) -> int:
        """Drop least recently used photos until nbytes are freed or none is left; returns the bytes freed."""
        freed = 0
        with self._lock:
            while self._items and freed < nbytes:
                freed += self._drop(next(iter(self._items)))
        return freed

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
        """A kept value grew or shrank (a photo's palettes): count its new size, in the cache and in the
        budget, making room by dropping other values; a value that no longer fits at all is dropped itself."""
        if token is None:
            return
        with self._lock:
            item = self._items.get(token)
            if item is None:
                return
            grown = nbytes - item[1]
            if grown < 0:
                self._budget.release(-grown)
            else:
                while not self._budget.try_hold(grown):
                    others = [t for t in self._items if t != token]
                    if not others:
                        self._drop(token)
                        return
                    self._drop(others[0])
            self._bytes += grown
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

    def _drop(self, token: str) -> int:
        _, nbytes, _ = self._items.pop(token)
        self._bytes -= nbytes
        self._budget.release(nbytes)
        return nbytes
