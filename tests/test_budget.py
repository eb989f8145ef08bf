"""app/budget.py and app/admission.py: the memory budget, its ledgers, and requests admitted, kept waiting or refused."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import re
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests
from PIL import Image

from flask import g

from app import admission, budget, create_app
from app.cache import PhotoCache, content_id
from testsupport.servers import gunicorn

MB = 2**20


def png(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    return buffer.getvalue()


def post(client, data: bytes, **fields):
    """POST /api/quantize with a multipart body built in memory (the test client would spool it to a file)."""
    boundary = "budget-test-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in {"k": "4", **fields}.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="x.png"\r\n'
                 "Content-Type: image/png\r\n\r\n".encode() + data + f"\r\n--{boundary}--\r\n".encode())
    return client.post("/api/quantize", data=b"".join(parts), content_type=f"multipart/form-data; boundary={boundary}",
                       headers={"Accept": "application/json"})


# --- what a request takes -----------------------------------------------------------------------


def test_the_estimate_grows_with_pixels_and_with_the_costlier_options():
    plain = budget.request_bytes(12_000_000)
    assert budget.request_bytes(48_000_000) > 3.9 * (plain - budget.FIXED_REQUEST_BYTES)
    assert budget.request_bytes(12_000_000, dither="floyd-steinberg") > plain
    assert budget.request_bytes(12_000_000, method="mediancut") > budget.request_bytes(12_000_000, dither="x")
    assert budget.request_bytes(12_000_000, color_space="lab") > plain
    assert budget.request_bytes(12_000_000, upload_bytes=5 * MB) == plain + 10 * MB


def test_the_estimates_stay_within_the_targets_per_pixel():
    """Issue 11: at most 12 bytes a pixel in RGB without dithering, 20 with lab and dithering (at 48 MP)."""
    pixels = 48_000_000
    assert budget.request_bytes(pixels) / pixels <= 12
    assert budget.request_bytes(pixels, dither="floyd-steinberg", color_space="lab") / pixels <= 20


# --- how much memory there is --------------------------------------------------------------------


@pytest.mark.parametrize("content, expected", [("536870912\n", 512 * MB), ("max\n", None),
                                               ("9223372036854771712\n", None)])
def test_the_cgroup_limit_is_read_and_no_limit_means_the_machine(tmp_path, monkeypatch, content, expected):
    limit = tmp_path / "memory.max"
    limit.write_text(content)
    monkeypatch.setattr(budget, "_cgroup_paths", lambda: [str(tmp_path / "missing"), str(limit)])
    assert budget.detected_memory() == (expected or budget.machine_memory())


def test_the_own_cgroup_is_looked_up_for_v1_and_v2(monkeypatch):
    paths = budget._cgroup_paths()
    assert "/sys/fs/cgroup/memory.max" in paths and "/sys/fs/cgroup/memory/memory.limit_in_bytes" in paths
    with open("/proc/self/cgroup") as file:
        own = [line.split(":", 2)[2].rstrip("/") for line in file.read().splitlines()
               if line.split(":", 2)[1] in ("", "memory") or "memory" in line.split(":", 2)[1].split(",")]
    for path in own:
        assert any(candidate.startswith("/sys/fs/cgroup") and path in candidate for candidate in paths), path


def test_memory_mb_defaults_to_what_was_detected(monkeypatch):
    monkeypatch.setattr(budget, "detected_memory", lambda: 3000 * MB)
    app = create_app({"TESTING": True})
    assert app.extensions["memory_budget"].total == 3000 * MB
    assert create_app({"TESTING": True, "MEMORY_MB": 700}).extensions["memory_budget"].total == 700 * MB


def test_the_process_holds_its_own_memory():
    memory = create_app({"TESTING": True, "MEMORY_MB": 100_000}).extensions["memory_budget"]
    own = memory.ledger.baselines()
    assert own > 20 * MB and abs(own - budget.process_memory()) < 200 * MB


# --- the ledgers -----------------------------------------------------------------------------------


def test_a_local_ledger_holds_up_to_its_limit():
    ledger = budget.LocalLedger()
    assert ledger.try_hold(60, 100) and not ledger.try_hold(41, 100) and ledger.try_hold(40, 100)
    ledger.release(60)
    assert ledger.used() == 40


def _hold_in_child(ledger, nbytes, ready, finish):
    ledger.try_hold(nbytes, 10**12)
    ready.set()
    finish.wait(10)


def test_the_shared_ledger_is_shared_across_forked_processes_and_a_dead_ones_part_is_freed():
    ledger = budget.SharedLedger(rows=8)
    context = multiprocessing.get_context("fork")
    ready, finish = context.Event(), context.Event()
    child = context.Process(target=_hold_in_child, args=(ledger, 300, ready, finish))
    child.start()
    try:
        assert ready.wait(10)
        assert ledger.used() == 300
        assert ledger.try_hold(200, 600) and not ledger.try_hold(101, 600)
    finally:
        finish.set()
        child.join(10)
    assert ledger.used() == 500  # it exited without letting go: gunicorn's child_exit calls forget
    ledger.forget(child.pid)
    assert ledger.used() == 200
    ledger.release(200)
    assert ledger.used() == 0


# --- admission -------------------------------------------------------------------------------------


def test_a_request_waits_for_room_and_goes_ahead_when_it_comes():
    memory = budget.Budget(1000 * MB)
    memory.hold_baseline(100 * MB)
    first = memory.reservation()
    first.grow_to(700 * MB, wait_seconds=0)
    released = threading.Timer(0.3, first.release)
    released.start()
    started = time.monotonic()
    second = memory.reservation()
    second.grow_to(500 * MB, wait_seconds=5)
    assert 0.25 < time.monotonic() - started < 3
    second.release()
    assert memory.ledger.used() == 100 * MB


def test_no_room_within_the_wait_is_busy_and_more_than_the_budget_never_fits():
    memory = budget.Budget(1000 * MB)
    memory.hold_baseline(100 * MB)
    memory.reservation().grow_to(700 * MB, wait_seconds=0)
    started = time.monotonic()
    with pytest.raises(budget.Busy):
        memory.reservation().grow_to(300 * MB, wait_seconds=0.3)
    assert 0.25 < time.monotonic() - started < 2
    with pytest.raises(budget.NeverFits) as refused:
        memory.reservation().grow_to(801 * MB, wait_seconds=5)
    assert refused.value.available == 1000 * MB - 100 * MB - 100 * MB  # less headroom and the baseline


def test_the_cache_gives_way_first_and_counts_against_the_budget():
    memory = budget.Budget(1000 * MB)
    cache = PhotoCache(800 * MB, 600, budget=memory)
    memory.give_way = cache.give_way
    kept = [cache.put(f"photo {i}", 200 * MB, key=f"key{i}") for i in range(4)]
    assert None not in kept[:4] and memory.ledger.used() == 800 * MB
    assert cache.put("photo 5", 200 * MB, key="key5") is None or cache.get("key0") is None  # over 900: one goes
    memory.reservation().grow_to(500 * MB, wait_seconds=0)  # no wait: the cache makes room at once
    assert memory.ledger.used() <= memory.limit and cache.nbytes <= 400 * MB
    assert cache.get("key3") is not None or cache.get("key5") is not None, "the most recent photo stays"


def test_content_ids_follow_the_bytes_and_are_their_sha256():
    # The page computes the same id to ask before it uploads (issue 14), so no server secret goes in.
    assert content_id(b"photo") == content_id(b"photo") == hashlib.sha256(b"photo").hexdigest()
    assert content_id(b"photo") != content_id(b"photo!")
    assert content_id(b"photo").isascii() and len(content_id(b"photo")) == 64


# --- through the app -----------------------------------------------------------------------------------


def test_the_same_photo_sent_again_gets_the_same_image_id_and_is_not_decoded_again():
    client = create_app({"TESTING": True}).test_client()
    data = png(seed=3)
    first = post(client, data).get_json()
    again = post(client, data, k="6").get_json()
    other = post(client, png(seed=4)).get_json()
    assert first["image_id"] == again["image_id"] != other["image_id"]
    assert "decode_ms" in first["timings"] and again["k"] == 6
    assert len(client.application.extensions["photo_cache"]) == 2


def test_a_photo_that_could_never_fit_is_413_naming_the_budget():
    app = create_app({"TESTING": True, "MEMORY_MB": 100_000, "CACHE_MB": 0})
    memory = app.extensions["memory_budget"]
    # What is left for photos once this process's own memory is held: make it about 30 MB.
    memory.total = int((memory.ledger.baselines() + 30 * MB) / (1 - budget.HEADROOM_FRACTION)) + 1
    response = post(app.test_client(), png(3000, 2000), dither="floyd-steinberg")
    assert response.status_code == 413, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert error["code"] == "too_many_pixels"
    assert f"MEMORY_MB = {memory.total // MB}" in error["message"] and "6.0 megapixels" in error["message"]
    assert post(app.test_client(), png(64, 48)).status_code == 200  # a small one still fits


def test_uploads_arriving_together_hold_their_bodies_before_their_headers_are_read():
    app = create_app({"TESTING": True, "MEMORY_MB": 100_000, "CACHE_MB": 0, "MEMORY_WAIT_SECONDS": 0})
    memory = app.extensions["memory_budget"]
    blocker = memory.reservation()
    blocker.grow_to(memory.room_for_requests() - 100_000, wait_seconds=0)  # less than twice this upload
    data = png(300, 200, seed=9)
    assert len(data) > 50_000
    response = post(app.test_client(), data)
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "busy"
    blocker.release()
    assert post(app.test_client(), data).status_code == 200


def test_no_room_within_the_wait_is_503_busy_with_retry_after():
    app = create_app({"TESTING": True, "MEMORY_MB": 100_000, "CACHE_MB": 0, "MEMORY_WAIT_SECONDS": 1})
    memory = app.extensions["memory_budget"]
    other_request = memory.reservation()
    other_request.grow_to(memory.room_for_requests() - 10 * MB, wait_seconds=0)
    started = time.monotonic()
    response = post(app.test_client(), png(2000, 1500))
    assert 0.9 < time.monotonic() - started < 5
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    error = response.get_json()["error"]
    assert error["code"] == "busy" and "busy" in error["message"] and "Try again" in error["message"]
    other_request.release()
    assert post(app.test_client(), png(2000, 1500)).status_code == 200  # room again: served
    assert memory.ledger.used() == memory.ledger.baselines(), "every request let go of what it held"


def test_an_image_id_request_is_admitted_too():
    app = create_app({"TESTING": True, "MEMORY_MB": 100_000, "MEMORY_WAIT_SECONDS": 0})
    client = app.test_client()
    token = post(client, png(400, 300)).get_json()["image_id"]
    memory = app.extensions["memory_budget"]
    blocker = memory.reservation()
    blocker.grow_to(memory.limit - memory.ledger.used() - MB, wait_seconds=0)  # room for the form, not the photo
    response = client.post("/api/quantize", data={"image_id": token, "k": "5"}, headers={"Accept": "application/json"})
    assert response.status_code == 503, "a request was served with no room in the budget"
    assert response.get_json()["error"]["code"] == "busy"
    blocker.release()


def budget_lines(log: Path) -> list[int]:
    return [int(mb) for mb in re.findall(r"processes hold (\d+) MB", log.read_text())]


def wait_for_lines(log: Path, count: int, seconds: float = 60) -> list[int]:
    deadline = time.monotonic() + seconds
    while len(budget_lines(log)) < count:
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.2)
    return budget_lines(log)


def test_under_gunicorn_the_workers_share_one_ledger_and_a_killed_workers_part_is_freed(tmp_path):
    log = tmp_path / "gunicorn.log"
    with gunicorn(log, WEB_CONCURRENCY="2", THREADS="2", LOG_LEVEL="info") as (process, base):
        holds = wait_for_lines(log, 2)
        master = psutil.Process(process.pid)
        workers = master.children()
        everyone = (master.memory_info().rss + sum(w.memory_info().rss for w in workers)) // MB
        # The last worker to load holds its own memory in a ledger that already has the master's
        # and the other worker's: one ledger for the whole server, not one per process.
        print("ledger holds", holds, "RSS of the server", everyone)
        assert max(holds) >= 0.75 * everyone, (holds, everyone)
        victim = workers[0]
        victim.kill()  # as the kernel's OOM killer would: no chance to let go of anything
        holds_after = wait_for_lines(log, 3)
        # The replacement sees the master, the surviving worker and itself: the dead one's part was freed.
        assert holds_after[-1] < max(holds) + 0.5 * (max(holds) - min(holds)) + 60, (holds, holds_after)
        assert holds_after[-1] <= 1.25 * everyone, (holds_after, everyone)
        assert requests.get(base + "/healthz", timeout=10).status_code == 200


def test_a_request_waiting_in_one_worker_makes_another_workers_cache_give_way():
    ledger = budget.SharedLedger(rows=8)
    idle_worker, busy_worker = budget.Budget(1000 * MB, ledger), budget.Budget(1000 * MB, ledger)
    cache = PhotoCache(800 * MB, 600, budget=idle_worker)
    idle_worker.give_way = cache.give_way
    for i in range(4):
        assert cache.put(f"photo {i}", 200 * MB, key=f"key{i}")
    assert ledger.used() == 800 * MB
    relief = idle_worker.start_relief()
    started = time.monotonic()
    busy_worker.reservation().grow_to(400 * MB, wait_seconds=5)  # its own cache is empty: it must wait
    assert time.monotonic() - started < 2 and relief.is_alive()
    assert cache.nbytes <= 400 * MB and cache.get("key3") == "photo 3", "least recently used photos went first"


def test_cleaning_and_templates_reserve_what_they_were_measured_to_take():
    plain = budget.request_bytes(12_000_000)
    cleaned = budget.request_bytes(12_000_000, min_region=1000)
    # Measured peaks through the app (k = 16, 12 MP, bench_regions table 4): 31-32 bytes a pixel at 40 px,
    # 38 at 1,000 px, 60-64 at 1,000,000 px (most of the photo in regions under the threshold).
    assert 38 * 12_000_000 <= cleaned - budget.FIXED_REQUEST_BYTES <= 46 * 12_000_000
    assert cleaned > plain and budget.request_bytes(12_000_000, min_region=40) == cleaned
    strongest = budget.request_bytes(12_000_000, min_region=1_000_000)
    assert 64 * 12_000_000 <= strongest - budget.FIXED_REQUEST_BYTES <= 72 * 12_000_000
    # A template: the photo decoded, then a working copy of at most 2400 x 2400, whatever the photo's size
    # (measured 68 bytes a working pixel).
    assert budget.request_bytes(0, template=True) >= 68 * 2400 * 2400
    small, large = budget.request_bytes(400_000, template=True), budget.request_bytes(12_000_000, template=True)
    assert small > budget.request_bytes(400_000, min_region=40)
    assert large - small == int(budget.PLAIN_BYTES_PER_PIXEL * 11_600_000)


def few_colors_png(width: int, height: int) -> bytes:
    """Many pixels, four colors: its histogram is tiny beside its pixels."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[: height // 2, :, 0] = 200
    rgb[:, : width // 2, 2] = 120
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    return buffer.getvalue()


def test_palettes_and_the_curve_of_a_kept_photo_reserve_its_histogram_not_its_pixels():
    app = create_app({"TESTING": True, "MEMORY_MB": 100_000, "MEMORY_WAIT_SECONDS": 0})
    client = app.test_client()
    token = post(client, few_colors_png(3000, 2000)).get_json()["image_id"]
    memory = app.extensions["memory_budget"]
    cache = app.extensions["photo_cache"]
    pixels_estimate = budget.request_bytes(6_000_000)
    histogram_estimate = budget.histogram_request_bytes(4)
    assert histogram_estimate + 10 * MB < 40 * MB < pixels_estimate
    blocker = memory.reservation()
    blocker.grow_to(memory.limit - memory.ledger.used() - 40 * MB, wait_seconds=0)  # room for the histogram only
    try:
        palettes = client.post("/api/palettes", data={"image_id": token, "ks": "2-6"})
        assert palettes.status_code == 200, palettes.get_data(as_text=True)[:300]
        assert [p["colors"] for p in palettes.get_json()["palettes"]] == [2, 3, 4, 4, 4]
        curve = client.post("/api/curve", data={"image_id": token})
        assert curve.status_code == 200, curve.get_data(as_text=True)[:300]
        assert len(cache) == 1, "the kept photo did not have to give way"
        # The pixels' work still reserves the pixels' peak: the recolor does not fit.
        recolor = client.post("/api/quantize", data={"image_id": token, "k": "4"}, headers={"Accept": "application/json"})
        assert recolor.status_code == 503 and recolor.get_json()["error"]["code"] == "busy"
    finally:
        blocker.release()
    assert memory.ledger.used() == memory.ledger.baselines() + cache.nbytes, "every request let go of what it held"


def test_a_histogram_request_never_reserves_more_than_the_pixels_would():
    colorful = 10_000_000  # more colors than a small photo's pixels' whole peak
    assert budget.histogram_request_bytes(colorful) > budget.request_bytes(10_000)
    app = create_app({"TESTING": True, "MEMORY_MB": 100_000})
    with app.test_request_context("/api/palettes", method="POST"):
        admission.admit_histogram(colorful, 10_000)
        assert g.memory_reservation.nbytes == budget.request_bytes(10_000)
        g.memory_reservation.release()


def test_the_estimate_takes_the_options_as_the_option_table_parsed_them():
    """min_region=00 is 0 (no cleaning) to the form's parser, and so to the memory estimate."""
    app = create_app({"TESTING": True, "MEMORY_MB": 100_000, "CACHE_MB": 0, "MEMORY_WAIT_SECONDS": 0})
    memory = app.extensions["memory_budget"]
    data = few_colors_png(2000, 1500)
    plain, cleaned = budget.request_bytes(3_000_000), budget.request_bytes(3_000_000, min_region=5)
    blocker = memory.reservation()
    blocker.grow_to(memory.limit - memory.ledger.used() - (plain + cleaned) // 2, wait_seconds=0)
    try:
        response = post(app.test_client(), data, min_region="00", dither="none")
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        assert response.get_json()["options"]["min_region"] == 0
        assert post(app.test_client(), data, min_region="5").status_code == 503  # cleaning does not fit
    finally:
        blocker.release()


def test_work_takes_what_the_endpoint_was_sent_and_defaults_for_the_rest():
    Work = admission.Work
    work = Work.of({"k": 8, "color_space": "lab", "dither": "floyd-steinberg", "min_region": 0, "ks": (2, 3)})
    assert work == Work(dither="floyd-steinberg", color_space="lab")
    assert work.bytes_for(1_000_000, upload_bytes=10) == budget.request_bytes(
        1_000_000, dither="floyd-steinberg", color_space="lab", upload_bytes=10)
    assert Work.of({"min_region": 40}, template=True).bytes_for(100) == budget.request_bytes(
        100, min_region=40, template=True)
