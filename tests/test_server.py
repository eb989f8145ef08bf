"""The real server under faults: gunicorn with the project's config, on 127.0.0.1.

Each test group starts its own gunicorn (its settings differ from the shared
live_server's): slow clients, a killed worker, a 413 a client must really
receive, uploads kept off the disk, and memory that stays bounded.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests
from PIL import Image

from app import settings
from testsupport import servers
from testsupport.corpus import CORPUS
from testsupport.forms import multipart
from testsupport.hostile_uploads import BY_ID, LIVE_SUBSET, case_data
from testsupport.servers import free_port, wait_for_http

BOUNDARY = "server-test-boundary-9d2e"


class Server:
    def __init__(self, process: subprocess.Popen, port: int, log: Path):
        self.process = process
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = log

    def workers(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children()

    def worker_rss(self) -> int:
        return sum(worker.memory_info().rss for worker in self.workers())

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def gunicorn(tmp_path: Path, **env: str):
    """gunicorn as the project runs it (gunicorn.conf.py), with settings overridden by environment."""
    port = free_port()
    log = tmp_path / f"gunicorn-{port}.log"
    with servers.gunicorn(log, port=port, LOG_LEVEL="warning", **env) as (process, _):
        yield Server(process, port, log)


def png(width: int, height: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x ^ y) & 255], axis=2)
    rgb = rgb + rng.integers(0, 24, (height, width, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def stored_png(nbytes: int) -> bytes:
    """A PNG of about `nbytes`, stored uncompressed, with few colors so that it quantizes quickly."""
    side = int((nbytes / 3) ** 0.5)
    palette = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200], [240, 240, 240]], np.uint8)
    pixels = palette[np.random.default_rng(1).integers(0, len(palette), (side, side))]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()


def multipart_body(data: bytes, filename: str = "photo.png", **fields: str) -> bytes:
    """A body for request_head(): the fields, then the photo, with BOUNDARY."""
    return multipart(*fields.items(), ("image", (filename, data)), boundary=BOUNDARY)[0]


def request_head(length: int | None, path: str = "/api/quantize") -> bytes:
    framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{framing}\r\n\r\n"
    ).encode()


def read_response(sock: socket.socket, timeout: float = 15.0) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body, read from a raw socket."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed without a complete response: {data[:200]!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed in the middle of the response body"
        body += chunk
    return status, headers, body[:length]


def quantize(base: str, data: bytes, k: int = 8, timeout: float = 60) -> requests.Response:
    return requests.post(
        base + "/api/quantize", files={"image": ("photo.png", data)}, data={"k": str(k)},
        headers={"Accept": "application/json"}, timeout=timeout,
    )


# --- 413: answered, never reset --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_limit_server(tmp_path_factory):
    temp = tmp_path_factory.mktemp("server-tmpdir")
    with gunicorn(tmp_path_factory.mktemp("small-limit"), MAX_UPLOAD_MB="1", TMPDIR=str(temp)) as server:
        server.tmpdir = temp
        yield server


@pytest.mark.parametrize("over", [50_000, 600_000, 950_000])
def test_an_upload_a_bit_over_the_limit_gets_its_413_without_a_reset(small_limit_server, over):
    """The client sends its whole body without a broken pipe, reads the 413, and the connection holds.

    gunicorn ignores an app's Connection header and announces keep-alive; had
    the app left the body unread, gunicorn would then close on it (a broken
    pipe or an empty read for the next request on this connection).
    """
    body = multipart_body(np.random.default_rng(over).bytes(2**20 + over))
    with socket.create_connection(("127.0.0.1", small_limit_server.port), timeout=15) as sock:
        sock.sendall(request_head(len(body)))
        sock.sendall(body)  # a reset would raise BrokenPipeError / ConnectionResetError here
        status, headers, answer = read_response(sock)
        assert status == 413, answer
        error = json.loads(answer)["error"]
        assert error["code"] == "too_large" and "1 MB" in error["message"]
        assert headers["content-type"].startswith("application/json")
        if headers.get("connection") == "close":
            assert sock.recv(1) == b"", "Connection: close, yet more bytes followed"
        else:  # kept alive: the connection must really be usable
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert read_response(sock)[0] == 200


def test_a_chunked_upload_over_the_limit_gets_its_413_without_a_reset(small_limit_server):
    data = np.random.default_rng(3).bytes(2**20 + 300_000)
    body = multipart_body(data)
    with socket.create_connection(("127.0.0.1", small_limit_server.port), timeout=15) as sock:
        sock.sendall(request_head(None))
        for start in range(0, len(body), 16384):
            piece = body[start:start + 16384]
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
        status, _, answer = read_response(sock)
        assert status == 413 and json.loads(answer)["error"]["code"] == "too_large"


def test_a_huge_declared_upload_is_refused_at_once(small_limit_server):
    """A client claiming 10 GB is answered from its headers, without waiting for (or reading) the body."""
    with socket.create_connection(("127.0.0.1", small_limit_server.port), timeout=15) as sock:
        started = time.monotonic()
        sock.sendall(request_head(10 * 2**30))
        sock.sendall(b"x" * 4096)
        status, _, answer = read_response(sock, timeout=5)
        assert status == 413 and json.loads(answer)["error"]["code"] == "too_large"
        assert time.monotonic() - started < 3


def test_an_ordinary_client_reads_the_413(small_limit_server):
    response = requests.post(small_limit_server.base + "/api/quantize",
                             files={"image": ("big.jpg", np.random.default_rng(4).bytes(5 * 2**20))}, timeout=30)
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_uploads_stay_off_the_disk(small_limit_server):
    """A 900 KB upload (over Werkzeug's 500 KB spooling threshold) leaves no file in TMPDIR, open or not."""
    data = stored_png(900_000)
    assert 600_000 < len(data) < 2**20 - 2000
    seen: list[str] = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            seen.extend(os.listdir(small_limit_server.tmpdir))
            for worker in small_limit_server.workers():
                try:
                    paths = [f.path for f in worker.open_files()]
                    seen.extend(p for p in paths if p.startswith(str(small_limit_server.tmpdir)))
                except psutil.Error:
                    pass
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for _ in range(3):
            response = quantize(small_limit_server.base, data, k=4)
            assert response.status_code == 200, response.text[:300]
    finally:
        stop.set()
        watcher.join()
    assert seen == [], f"the upload went to disk: {sorted(set(seen))}"
    assert os.listdir(small_limit_server.tmpdir) == []


# --- slow clients, a killed worker, memory ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # One worker, so the killed one is known. No photo cache: it holds up to CACHE_MB by design,
    # which would hide a leak in the memory test (the cache bounds itself; bench/load.py runs with it).
    with gunicorn(tmp_path_factory.mktemp("server"), WEB_CONCURRENCY="1", CACHE_MB="0") as server:
        yield server


class Trickler(threading.Thread):
    """A client that sends its request, headers and upload alike, one byte at a time."""

    def __init__(self, port: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.request = request_head(len(body := multipart_body(png(64, 64), k="4"))) + body
        self.port = port
        self.interval = interval
        self.sent = 0
        self.error: Exception | None = None
        self.stop = threading.Event()

    def run(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                while not self.stop.is_set() and self.sent < len(self.request):
                    sock.sendall(self.request[self.sent:self.sent + 1])
                    self.sent += 1
                    time.sleep(self.interval)
        except OSError as error:
            self.error = error


def test_slow_clients_do_not_keep_others_waiting(server):
    threads_per_worker = int(settings.load()["THREADS"])
    capacity = len(server.workers()) * threads_per_worker
    slow = 3
    assert slow < capacity, f"{slow} slow clients would take all {capacity} threads: the test needs a bigger server"
    tricklers = [Trickler(server.port) for _ in range(slow)]
    for trickler in tricklers:
        trickler.start()
    try:
        time.sleep(1.5)  # past the request line and into the headers: each holds a thread by now
        photo = png(160, 120)
        latencies = []
        for _ in range(6):
            started = time.monotonic()
            response = quantize(server.base, photo, timeout=20)
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200, response.text[:300]
        assert max(latencies) < 3.0, f"others waited: {[round(t, 2) for t in latencies]}\n{server.log_tail()}"
        for trickler in tricklers:
            assert trickler.error is None and trickler.is_alive(), trickler.error
            assert 20 < trickler.sent < len(trickler.request), "the slow client was not mid-request"
    finally:
        for trickler in tricklers:
            trickler.stop.set()
        for trickler in tricklers:
            trickler.join(timeout=5)


def test_a_worker_killed_mid_request_is_replaced_and_later_requests_succeed(server):
    master = psutil.Process(server.process.pid)
    [worker] = server.workers()
    body = multipart_body(png(200, 150), k="4")
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(request_head(len(body)) + body[: len(body) // 2])  # mid-upload: the worker is reading it
        client_port = sock.getsockname()[1]
        deadline = time.monotonic() + 5
        while not any(c.raddr and c.raddr.port == client_port for c in worker.net_connections()):
            assert time.monotonic() < deadline, "the worker never took the request"
            time.sleep(0.05)
        os.kill(worker.pid, signal.SIGKILL)
        try:
            leftover = sock.recv(65536)  # the connection dies with the worker; it must not hang
        except ConnectionResetError:
            leftover = b""
        assert b"200 OK" not in leftover
    deadline = time.monotonic() + 20
    while True:
        replacements = [w for w in server.workers() if w.pid != worker.pid]
        if replacements:
            break
        assert time.monotonic() < deadline, f"no worker replaced the killed one\n{server.log_tail()}"
        time.sleep(0.1)
    wait_for_http(server.base + "/healthz", server.process, seconds=20)
    for k in (2, 8, 16):
        response = quantize(server.base, png(120, 90), k=k)
        assert response.status_code == 200 and response.json()["k"] == k
    assert master.is_running() and server.process.poll() is None


def test_memory_stays_bounded_across_requests(server, corpus_photo):
    """Once warm, more requests add nothing: no leak per request.

    Requests come from as many clients as the worker has threads, so that every
    thread's allocator pool reaches its working size during the warm-up; after
    that, a leak of even one decoded photo per request (1.2 MB) would add 48 MB
    over the 40 measured requests.
    """
    from concurrent.futures import ThreadPoolExecutor

    clients = int(settings.load()["THREADS"])

    def batch(count: int) -> int:
        with ThreadPoolExecutor(clients) as pool:
            statuses = list(pool.map(lambda i: quantize(server.base, corpus_photo, k=4 + i % 20).status_code,
                                     range(count)))
        assert statuses == [200] * count
        return server.worker_rss()

    batch(6 * clients)  # warm up: imports, allocator pools at their working size
    settled = batch(2 * clients)
    after = max(batch(5 * clients), batch(5 * clients))
    bomb = requests.post(server.base + "/api/quantize", files={"image": ("bomb.png", bomb_png())}, timeout=20)
    assert bomb.status_code == 413
    after_bomb = server.worker_rss()
    growth = (after - settled) / 2**20
    assert growth < 24, f"{10 * clients} requests grew the worker by {growth:.0f} MB"
    assert (after_bomb - after) / 2**20 < 20, "a refused bomb cost memory"


def bomb_png() -> bytes:
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 180_001)) + chunk(
        b"IEND", b"")


@pytest.fixture(scope="module")
def corpus_photo() -> bytes:
    """A real photo when the shared corpus is there (kodim23, 768x512 PNG); otherwise a generated one like it."""
    path = CORPUS / "kodim23.png"
    return path.read_bytes() if path.is_file() else png(768, 512)


def test_hostile_uploads_crash_no_worker_and_log_no_traceback(server, small_limit_server):
    """The corpus of bad uploads, then the logs: no worker died (same pids), no traceback was logged."""
    pids = sorted(w.pid for w in server.workers())
    with requests.Session() as session:
        for case_id in LIVE_SUBSET:
            case = BY_ID[case_id]
            response = session.post(server.base + "/api/quantize", files={"image": (case.filename, case_data(case))},
                                    data={"k": "4"}, timeout=30)
            assert response.status_code in case.expect, (case_id, response.status_code, response.text[:200])
    assert sorted(w.pid for w in server.workers()) == pids, "a worker died on hostile input"
    for each in (server, small_limit_server):
        log = each.log.read_text(errors="replace")
        assert "Traceback" not in log and "Error handling request" not in log, each.log_tail(60)
