"""The second-level photo cache, in Redis, shared by every worker and replica (on with REDIS_URL).

Each photo is one Redis hash under its content_id (the SHA-256 of the upload):
  facts   JSON: the download name's stem, width, height, bytes and format
  hist    its color histogram, compact: delta-coded uint32 keys and uint32 counts, zlib'd
          (about 0.7 MB for a 12 MP photo; the decoded pixels would be about 50 MB)
  source  the upload's bytes as sent (JPEG stays JPEG), for the requests that need pixels
One key per photo, so Redis' LRU evicts a photo whole. Redis bounds it all: every key
expires CACHE_SECONDS after its last use, and its maxmemory with an allkeys-lru policy
caps the total (see the README). Nothing is written to disk as long as Redis runs with
`save ""` and `appendonly no`.

Redis down or slow never fails a request: every call has a short socket timeout, and
after a failure the cache stands aside for a few seconds (each worker then serves from
its own cache, and answers 410 for what it lacks, so the page sends the photo again).
That is logged once when it happens and once when Redis is back.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.histograms import Histogram

log = logging.getLogger("kmeans_filter.shared_cache")

KEY_PREFIX = "kmeans-filter:photo:"
# Loopback or a LAN answers in well under a millisecond; this only bounds a hung server.
SOCKET_TIMEOUT_SECONDS = 0.5
# After a failure, how long the cache stands aside before it tries Redis again.
STAND_ASIDE_SECONDS = 2.0


@dataclass(frozen=True)
class PhotoFacts:
    """What palettes and figures need of a photo besides its histogram."""

    stem: str
    width: int
    height: int
    source_bytes: int
    source_format: str


@dataclass(frozen=True)
class SharedPhoto:
    facts: PhotoFacts
    hist: Histogram


def pack_histogram(hist: Histogram) -> bytes:
    """Keys ascending, so their differences are small and zlib shrinks them about 4x."""
    steps = np.diff(hist.keys, prepend=np.uint32(0)).astype("<u4")
    return zlib.compress(steps.tobytes() + hist.counts.astype("<u4").tobytes(), 1)


def unpack_histogram(data: bytes) -> Histogram:
    raw = np.frombuffer(zlib.decompress(data), dtype="<u4")
    n = len(raw) // 2
    keys = np.cumsum(raw[:n], dtype=np.uint32)
    return Histogram(keys=keys, counts=raw[n:].astype(np.int64))


class SharedCache:
    """Photos in Redis by content_id; every method answers None or False when Redis cannot be used."""

    def __init__(self, url: str, ttl_seconds: int, clock: Callable[[], float] = time.monotonic):
        self.ttl = int(ttl_seconds)
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),  # a failed call falls back at once; the page resends if need be
            health_check_interval=0,
        )
        self._where = _describe(url)
        self._clock = clock
        self._aside_until = 0.0
        self._down = False
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self._clock() >= self._aside_until

    def put(self, image_id: str, photo: SharedPhoto, source: bytes) -> bool:
        key = KEY_PREFIX + image_id
        facts = json.dumps(asdict(photo.facts)).encode()
        fields = {"facts": facts, "hist": pack_histogram(photo.hist), "source": source}

        def store(pipe) -> None:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, self.ttl)

        return self._run(store) is not None

    def photo(self, image_id: str) -> SharedPhoto | None:
        """The facts and histogram of a photo (not its source), its expiry renewed."""
        key = KEY_PREFIX + image_id

        def read(pipe) -> None:
            pipe.hmget(key, ["facts", "hist"])
            pipe.expire(key, self.ttl)

        answers = self._run(read)
        if not answers or answers[0][0] is None or answers[0][1] is None:
            return None
        facts, hist = answers[0]
        try:
            return SharedPhoto(PhotoFacts(**json.loads(facts)), unpack_histogram(hist))
        except (ValueError, TypeError, zlib.error):  # not what put() wrote (another version, say): a miss
            log.warning("Redis at %s holds an unreadable photo entry; treating it as missing", self._where)
            return None

    def source(self, image_id: str) -> bytes | None:
        """The bytes of a photo as uploaded, its expiry renewed."""
        key = KEY_PREFIX + image_id

        def read(pipe) -> None:
            pipe.hget(key, "source")
            pipe.expire(key, self.ttl)

        answers = self._run(read)
        return None if not answers else answers[0]

    def _run(self, commands: Callable[[redis.client.Pipeline], None]) -> list | None:
        if not self.available:
            return None
        try:
            with self._client.pipeline(transaction=False) as pipe:
                commands(pipe)
                answers = pipe.execute()
        except (redis.RedisError, OSError) as error:
            self._stand_aside(error)
            return None
        if self._down:
            with self._lock:
                if self._down:
                    self._down = False
                    log.warning("Redis at %s is back: photos are shared between workers again", self._where)
        return answers

    def _stand_aside(self, error: Exception) -> None:
        with self._lock:
            self._aside_until = self._clock() + STAND_ASIDE_SECONDS
            if not self._down:
                self._down = True
                log.warning("Redis at %s cannot be used (%s: %s): each worker serves from its own cache, "
                            "and the page resends photos it lacks, until Redis is back",
                            self._where, type(error).__name__, error)


def _describe(url: str) -> str:
    """The URL without a password, for the log."""
    head, _, tail = url.rpartition("@")
    return url if not head else url.split("://", 1)[0] + "://…@" + tail
