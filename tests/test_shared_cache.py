"""app.shared_cache and the two cache levels, against Debian's real redis-server and real gunicorn.

Two Flask apps stand for two workers (or replicas) that share one Redis; then two
gunicorn servers do the same for real.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import redis

from app import create_app, histograms, imaging, shared_cache
from app.cache import content_id
from app.shared_cache import PhotoFacts, SharedCache, SharedPhoto, pack_histogram, unpack_histogram
from testsupport.forms import client_multipart, multipart
from testsupport.images import gradient, png_bytes
from testsupport.needs import require
from testsupport.servers import REDIS_SERVER, gunicorn, redis_server



@pytest.fixture
def redis_url(tmp_path):
    require(REDIS_SERVER.exists(), "redis-server is missing", "apt-get install redis-server")
    with redis_server(tmp_path) as server:
        yield server


def photo_bytes(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return png_bytes(np.clip(gradient(96, 64).astype(int) + rng.integers(-9, 9, (64, 96, 3)), 0, 255).astype(np.uint8))


def worker(server, **config):
    """One app, as one gunicorn worker would build it, pointed at the shared Redis."""
    return create_app({"TESTING": True, "REDIS_URL": server.url, **config}).test_client()


def ask(client, path="/api/quantize", **fields):
    image = fields.pop("image", None)
    parts = [(name, str(value)) for name, value in fields.items()]
    if image is not None:
        parts.append(("image", ("photo.png", image)))
    return client.post(path, headers={"Accept": "application/json"}, **client_multipart(*parts))


# --- the stored form ---------------------------------------------------------------------------------

def test_histograms_survive_packing_exactly_and_shrink():
    keys = histograms.pack(gradient(300, 200))
    hist = histograms.histogram(keys)
    packed = pack_histogram(hist)
    again = unpack_histogram(packed)
    assert again.keys.dtype == np.uint32 and np.array_equal(again.keys, hist.keys)
    assert np.array_equal(again.counts, hist.counts)
    assert len(packed) < hist.keys.nbytes + hist.counts.nbytes


def test_image_id_is_the_sha256_of_the_bytes_as_uploaded():
    data = photo_bytes()
    assert content_id(data) == hashlib.sha256(data).hexdigest()


def test_put_then_read_back_with_expiry_renewed(redis_url):
    cache = SharedCache(redis_url.url, ttl_seconds=600)
    hist = histograms.histogram(histograms.pack(gradient()))
    facts = PhotoFacts("holiday", 48, 32, 1234, "PNG")
    assert cache.put("ab" * 32, SharedPhoto(facts, hist), b"the upload")
    found = cache.photo("ab" * 32)
    assert found.facts == facts and np.array_equal(found.hist.keys, hist.keys)
    assert cache.source("ab" * 32) == b"the upload"
    raw = redis.Redis.from_url(redis_url.url)
    assert 590 <= raw.ttl(shared_cache.KEY_PREFIX + "ab" * 32) <= 600
    assert cache.photo("cd" * 32) is None and cache.source("cd" * 32) is None


def test_the_server_runs_without_persistence_and_bounded(redis_url):
    config = redis.Redis.from_url(redis_url.url).config_get("*")
    assert config["save"] == "" and config["appendonly"] == "no"
    assert config["maxmemory-policy"] == "allkeys-lru" and int(config["maxmemory"]) == 64 * 2**20


# --- two workers, one Redis ---------------------------------------------------------------------------

def test_a_photo_uploaded_to_one_worker_is_served_by_another_by_its_hash(redis_url):
    first, second = worker(redis_url), worker(redis_url)
    data = photo_bytes()
    answer = ask(first, image=data, k=6)
    assert answer.status_code == 200
    image_id = answer.get_json()["image_id"]
    assert image_id == hashlib.sha256(data).hexdigest()
    again = ask(second, image_id=image_id, k=6)
    assert again.status_code == 200, again.get_data(as_text=True)
    body, reference = again.get_json(), answer.get_json()
    assert body["image"] == reference["image"] and body["palette"] == reference["palette"]
    assert body["original"] == reference["original"] and body["image_id"] == image_id
    assert body["filename"] == "photo-k6.png"


def test_the_curve_from_another_worker_needs_the_histogram_only(redis_url, monkeypatch):
    first, second = worker(redis_url), worker(redis_url)
    data = photo_bytes(1)
    image_id = ask(first, image=data, k=4).get_json()["image_id"]
    reference = ask(first, "/api/curve", image_id=image_id).get_json()

    def no_decoding(*args, **kwargs):
        raise AssertionError("the curve needs no pixels")

    monkeypatch.setattr(imaging, "decode", no_decoding)
    curve = ask(second, "/api/curve", image_id=image_id)
    assert curve.status_code == 200 and curve.get_json() == reference


def test_palettes_from_another_worker_need_no_decoding_and_outlive_it(redis_url, monkeypatch):
    first, second = worker(redis_url), worker(redis_url)
    data = photo_bytes(8)
    reference = ask(first, "/api/palettes", image=data, ks="2-6", color_space="lab").get_json()
    image_id = reference["image_id"]
    real_decode = imaging.decode

    def no_decoding(*args, **kwargs):
        raise AssertionError("palettes need the histogram only")

    monkeypatch.setattr(imaging, "decode", no_decoding)
    served = ask(second, "/api/palettes", image_id=image_id, ks="2-6", color_space="lab")
    assert served.status_code == 200, served.get_data(as_text=True)
    body = served.get_json()
    assert body["palettes"] == reference["palettes"] and body["timings"]["found"] == 5
    assert {key: body[key] for key in ("width", "height", "bytes", "unique_colors", "image_id")} == \
        {key: reference[key] for key in ("width", "height", "bytes", "unique_colors", "image_id")}
    photo_cache = second.application.extensions["photo_cache"]
    entry = photo_cache.get(image_id)  # the histogram alone, its palettes counted in its bytes
    assert entry.prepared is None and len(entry.fits) == 5 and photo_cache.nbytes == entry.nbytes > entry.fits.nbytes
    # What the engine keeps per color for later palettes (lattices, bins, CIELAB) is counted as well.
    assert entry.nbytes >= entry.hist.work_bytes + entry.fits.nbytes

    monkeypatch.setattr(imaging, "decode", real_decode)
    quantized = ask(second, image_id=image_id, k=4, color_space="lab")  # needs pixels: decoded now, once
    assert quantized.status_code == 200 and quantized.get_json()["palette"] == reference["palettes"][2]["palette"]
    again = ask(second, "/api/palettes", image_id=image_id, ks="2-7", color_space="lab").get_json()
    assert again["timings"] == {**again["timings"], "found": 1, "cached": 5}  # kept through the decode
    assert again["palettes"][:5] == reference["palettes"]


def test_the_same_photo_sent_twice_is_one_entry(redis_url):
    first, second = worker(redis_url), worker(redis_url)
    data = photo_bytes(2)
    ids = {ask(client, image=data, k=3).get_json()["image_id"] for client in (first, second, first)}
    assert ids == {hashlib.sha256(data).hexdigest()}
    assert len(redis.Redis.from_url(redis_url.url).keys(shared_cache.KEY_PREFIX + "*")) == 1


def test_an_unknown_hash_is_410_so_the_page_uploads(redis_url):
    response = ask(worker(redis_url), image_id=hashlib.sha256(b"never sent").hexdigest(), k=3)
    assert response.status_code == 410 and response.get_json()["error"]["code"] == "image_expired"


def test_redis_evicting_a_photo_means_410_not_a_failure(redis_url):
    first, second = worker(redis_url), worker(redis_url)
    image_id = ask(first, image=photo_bytes(3), k=3).get_json()["image_id"]
    assert ask(second, "/api/curve", image_id=image_id).status_code == 200  # second holds the histogram only
    redis.Redis.from_url(redis_url.url).delete(shared_cache.KEY_PREFIX + image_id)
    response = ask(second, image_id=image_id, k=3)  # needs pixels: their source is gone
    assert response.status_code == 410 and response.get_json()["error"]["code"] == "image_expired"


def test_redis_down_falls_back_to_each_worker_and_recovers(redis_url, caplog, monkeypatch):
    monkeypatch.setattr(shared_cache, "STAND_ASIDE_SECONDS", 0.3)
    first, second = worker(redis_url), worker(redis_url)
    data = photo_bytes(4)
    image_id = ask(first, image=data, k=5).get_json()["image_id"]
    redis_url.stop()
    caplog.set_level(logging.WARNING, logger="kmeans_filter.shared_cache")
    started = time.monotonic()
    assert ask(first, image_id=image_id, k=5).status_code == 200  # its own cache still has it
    for _ in range(3):
        gone = ask(second, image_id=image_id, k=5)
        assert gone.status_code == 410 and gone.get_json()["error"]["code"] == "image_expired"
    assert ask(second, image=data, k=5).status_code == 200  # the page's resend
    assert ask(second, image_id=image_id, k=5).status_code == 200
    assert time.monotonic() - started < 5
    down = [r for r in caplog.records if "cannot be used" in r.getMessage()]
    assert len(down) == 1  # logged once for this worker, not once per request

    redis_url.start()
    time.sleep(0.4)
    other = photo_bytes(5)
    image_id = ask(first, image=other, k=3).get_json()["image_id"]
    assert ask(second, image_id=image_id, k=3).status_code == 200
    assert any("is back" in r.getMessage() for r in caplog.records)


def test_a_hung_redis_costs_one_short_timeout_then_nothing(redis_url, monkeypatch):
    monkeypatch.setattr(shared_cache, "STAND_ASIDE_SECONDS", 30)
    client = worker(redis_url)
    os.kill(redis_url.process.pid, 19)  # SIGSTOP: connections open, no answers
    try:
        started = time.monotonic()
        assert ask(client, image=photo_bytes(6), k=3).status_code == 200
        first = time.monotonic() - started
        started = time.monotonic()
        assert ask(client, image=photo_bytes(7), k=3).status_code == 200
        second = time.monotonic() - started
    finally:
        os.kill(redis_url.process.pid, 18)  # SIGCONT
    assert first < shared_cache.SOCKET_TIMEOUT_SECONDS * 2 + 2
    assert second < first


# --- real gunicorn, two servers ---------------------------------------------------------------------

def post(base: str, path: str, *fields) -> tuple[int, dict]:
    body, content_type = multipart(*fields)
    request = urllib.request.Request(base + path, data=body, method="POST",
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_real_servers_share_photos_through_redis_and_survive_it_going(redis_url, tmp_path, corpus):
    data = (corpus / "kodim23.png").read_bytes()
    image_id = hashlib.sha256(data).hexdigest()
    env = {"REDIS_URL": redis_url.url, "WEB_CONCURRENCY": "1", "LOG_LEVEL": "warning"}
    with gunicorn(tmp_path / "a.log", **env) as (_, a), gunicorn(tmp_path / "b.log", **env) as (_, b):
        assert post(b, "/api/quantize", ("k", "8"), ("image_id", image_id))[0] == 410  # asked by hash: not yet
        status, uploaded = post(a, "/api/quantize", ("k", "8"), ("image", ("kodim23.png", data)))
        assert status == 200 and uploaded["image_id"] == image_id
        status, served = post(b, "/api/quantize", ("k", "8"), ("image_id", image_id))
        assert status == 200 and served["image"] == uploaded["image"] and served["filename"] == "kodim23-k8.png"

        redis_url.stop()
        assert post(a, "/api/quantize", ("k", "9"), ("image_id", image_id))[0] == 200  # a's own cache
        other = (corpus / "kodim03.png").read_bytes()
        status, answer = post(a, "/api/curve", ("image", ("kodim03.png", other)))
        assert status == 200 and answer["image_id"] == hashlib.sha256(other).hexdigest()  # kept by a alone
        status, error = post(b, "/api/curve", ("image_id", answer["image_id"]))
        assert status == 410 and error["error"]["code"] == "image_expired"
        assert post(b, "/api/curve", ("image", ("kodim03.png", other)))[0] == 200  # the page's resend
        assert post(b, "/api/curve", ("image_id", answer["image_id"]))[0] == 200
    for log in ("a.log", "b.log"):
        text = (tmp_path / log).read_text()
        assert "Traceback" not in text, text[-2000:]
    assert "cannot be used" in (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()


def test_real_servers_answer_palettes_of_a_photo_the_other_took_and_keep_them_through_its_decode(
        redis_url, tmp_path, corpus):
    data = (corpus / "cam_xiaomi_mi9t_12mp_orient6.jpg").read_bytes()  # 12 MP, turned by its EXIF
    env = {"REDIS_URL": redis_url.url, "WEB_CONCURRENCY": "1", "LOG_LEVEL": "warning"}
    with gunicorn(tmp_path / "a.log", **env) as (_, a), gunicorn(tmp_path / "b.log", **env) as (_, b):
        status, uploaded = post(a, "/api/palettes", ("ks", "6,8"), ("image", ("phone.jpg", data)))
        assert status == 200
        image_id = uploaded["image_id"]
        status, served = post(b, "/api/palettes", ("ks", "6,8"), ("image_id", image_id))
        assert status == 200 and served["palettes"] == uploaded["palettes"]
        assert served["timings"]["found"] == 2  # b found them from the histogram Redis holds
        for key in ("width", "height", "bytes", "unique_colors"):
            assert served[key] == uploaded[key], key
        assert served["height"] > served["width"]  # upright, as a's decode saw it

        status, quantized = post(b, "/api/quantize", ("k", "8"), ("image_id", image_id), ("max_side", "64"))
        assert status == 200 and quantized["palette"] == uploaded["palettes"][1]["palette"]
        status, again = post(b, "/api/palettes", ("ks", "6,8"), ("image_id", image_id))
        assert status == 200 and again["timings"]["cached"] == 2 and again["palettes"] == uploaded["palettes"]
    for log in ("a.log", "b.log"):
        text = (tmp_path / log).read_text()
        assert "Traceback" not in text, text[-2000:]


def test_a_redis_url_without_its_scheme_is_refused_by_name():
    from app import settings

    with pytest.raises(ValueError, match=r"REDIS_URL must start with redis://.*'localhost:6379'"):
        settings.load({"REDIS_URL": "localhost:6379"})
    assert settings.load({"REDIS_URL": "rediss://cache.internal:6380/1"})["REDIS_URL"] == "rediss://cache.internal:6380/1"


def test_an_unreadable_entry_in_redis_is_a_miss_not_a_failure(redis_url):
    client = worker(redis_url)
    raw = redis.Redis.from_url(redis_url.url)
    image_id = hashlib.sha256(b"someone else's bytes").hexdigest()
    for facts, hist in ((b"{not json", b"x"), (b'{"stem": "a"}', b"x"), (b'{"stem": "a", "width": 1, "height": 1, '
                                                                        b'"source_bytes": 1, "source_format": "PNG"}',
                                                                        b"not zlib")):
        raw.hset(shared_cache.KEY_PREFIX + image_id, mapping={"facts": facts, "hist": hist, "source": b"x"})
        response = ask(client, "/api/curve", image_id=image_id)
        assert response.status_code == 410 and response.get_json()["error"]["code"] == "image_expired"
