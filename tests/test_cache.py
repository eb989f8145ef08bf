"""app.cache.PhotoCache: bounded in bytes, least recently used out first, expiring after a TTL."""

import threading

from app.cache import PhotoCache


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make(max_bytes=100, ttl=60.0):
    clock = FakeClock()
    return PhotoCache(max_bytes, ttl, clock=clock), clock


def test_put_and_get_round_trip():
    cache, _ = make()
    value = object()
    token = cache.put(value, 10)
    assert isinstance(token, str) and len(token) >= 16
    assert cache.get(token) is value
    assert len(cache) == 1 and cache.nbytes == 10


def test_tokens_are_unique_and_unguessable():
    cache, _ = make(max_bytes=10_000)
    tokens = {cache.put(i, 1) for i in range(500)}
    assert len(tokens) == 500
    assert all(t.isascii() and "/" not in t for t in tokens)


def test_unknown_token_is_a_miss():
    cache, _ = make()
    cache.put("a", 1)
    assert cache.get("no-such-token") is None
    assert cache.get("") is None


def test_bytes_stay_within_the_bound():
    cache, _ = make(max_bytes=100)
    for i in range(50):
        cache.put(i, 30)
        assert cache.nbytes <= 100
    assert len(cache) == 3 and cache.nbytes == 90


def test_least_recently_used_is_evicted_first():
    cache, clock = make(max_bytes=100)
    a = cache.put("a", 40)
    clock.advance(1)
    b = cache.put("b", 40)
    clock.advance(1)
    assert cache.get(a) == "a"  # a is now the most recently used
    clock.advance(1)
    c = cache.put("c", 40)  # needs room: b goes
    assert cache.get(b) is None
    assert cache.get(a) == "a" and cache.get(c) == "c"
    assert cache.nbytes == 80


def test_a_big_item_evicts_as_many_as_needed():
    cache, _ = make(max_bytes=100)
    tokens = [cache.put(i, 20) for i in range(5)]
    big = cache.put("big", 70)
    assert big is not None
    assert [cache.get(t) for t in tokens] == [None, None, None, None, 4]
    assert cache.nbytes == 90


def test_oversize_items_are_refused_without_evicting_anything():
    cache, _ = make(max_bytes=100)
    keep = cache.put("keep", 60)
    assert cache.put("huge", 101) is None
    assert cache.get(keep) == "keep" and cache.nbytes == 60


def test_an_item_exactly_the_size_of_the_cache_fits():
    cache, _ = make(max_bytes=100)
    token = cache.put("all", 100)
    assert token is not None and cache.get(token) == "all"


def test_a_zero_byte_cache_keeps_nothing():
    cache, _ = make(max_bytes=0)
    assert cache.put("x", 1) is None
    assert len(cache) == 0


def test_items_expire_after_the_ttl():
    cache, clock = make(ttl=60)
    token = cache.put("x", 10)
    clock.advance(59.9)
    assert cache.get(token) == "x"
    clock.advance(60.1)
    assert cache.get(token) is None
    assert len(cache) == 0 and cache.nbytes == 0


def test_each_use_restarts_the_ttl():
    cache, clock = make(ttl=60)
    token = cache.put("x", 10)
    for _ in range(5):
        clock.advance(50)
        assert cache.get(token) == "x"
    clock.advance(61)
    assert cache.get(token) is None


def test_expiry_frees_the_bytes_of_every_old_item():
    cache, clock = make(max_bytes=100, ttl=10)
    old = [cache.put(i, 20) for i in range(3)]
    clock.advance(5)
    fresh = cache.put("fresh", 20)
    clock.advance(6)  # the first three are 11 s old, fresh is 6 s old
    assert cache.get(fresh) == "fresh"
    assert all(cache.get(t) is None for t in old)
    assert cache.nbytes == 20 and len(cache) == 1


def test_expired_items_make_room_before_anything_fresh_is_evicted():
    cache, clock = make(max_bytes=100, ttl=10)
    stale = cache.put("stale", 50)
    clock.advance(8)
    fresh = cache.put("fresh", 50)
    clock.advance(3)  # stale expired, fresh still alive
    newest = cache.put("newest", 50)
    assert cache.get(fresh) == "fresh" and cache.get(newest) == "newest" and cache.get(stale) is None


def test_the_real_clock_is_the_default():
    cache = PhotoCache(10, 60)
    token = cache.put("x", 1)
    assert cache.get(token) == "x"


def test_concurrent_puts_and_gets_keep_the_byte_count_right():
    cache = PhotoCache(1000, 60)
    errors = []

    def work(offset: int) -> None:
        try:
            for i in range(300):
                token = cache.put((offset, i), 7)
                cache.get(token)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert cache.nbytes == 7 * len(cache) <= 1000
