"""The README's nginx configuration, run by Debian's nginx in front of gunicorn.

gunicorn's gthread workers give a connection a thread once its first bytes arrive,
and a client that then stalls, in its headers or its upload, keeps that thread:
gunicorn has no timeout for it. A buffering proxy is the defense gunicorn's own
documentation names, and this checks that the README's configuration is one:
with 50 stalled-header connections and 8 stalled uploads at nginx, /healthz still
answers within 1 s. The control shows the same attack on bare gunicorn.
"""

from __future__ import annotations

import re
import socket
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests

from testsupport.needs import require
from testsupport import nginx as testsupport_nginx
from testsupport.images import png_bytes
from testsupport.servers import gunicorn

ROOT = Path(__file__).resolve().parents[1]
STALLED_HEADERS = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow"  # never finished
STALLED_UPLOAD_MB = 10


def nginx_binary() -> str:
    found = testsupport_nginx.nginx_binary()
    require(bool(found), "nginx is missing", "apt-get install -y nginx")
    return found


@contextmanager
def nginx(app_port: int, folder: Path):
    nginx_binary()
    with testsupport_nginx.nginx([app_port], folder) as base:
        yield base


def stall(base: str, stack: ExitStack, headers: int, uploads: int) -> None:
    """Open connections that send part of their headers, or part of an upload, and then nothing."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    for _ in range(headers):
        sock = stack.enter_context(socket.create_connection((host, int(port)), timeout=10))
        sock.sendall(STALLED_HEADERS)
    for _ in range(uploads):
        sock = stack.enter_context(socket.create_connection((host, int(port)), timeout=10))
        head = (f"POST /api/quantize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x"
                f"\r\nContent-Length: {STALLED_UPLOAD_MB * 2**20}\r\n\r\n").encode()
        sock.sendall(head + b"--x\r\n" + b"y" * 2**20)
    time.sleep(1.0)  # let them arrive and take whatever they take


def health_seconds(base: str) -> float:
    started = time.monotonic()
    response = requests.get(base + "/healthz", timeout=1.0)
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    return time.monotonic() - started


def test_bare_gunicorn_is_tied_up_by_stalled_headers(tmp_path):
    """The control: as many stalled-header connections as threads, and gunicorn answers no one."""
    with gunicorn(tmp_path / "gunicorn.log", WEB_CONCURRENCY="1", THREADS="2") as (_, base):
        assert health_seconds(base) < 1
        with ExitStack() as stack:
            stall(base, stack, headers=2, uploads=0)
            with pytest.raises(requests.Timeout):
                health_seconds(base)
        assert health_seconds(base) < 1  # the stalled clients gone, it answers again


def test_behind_the_readmes_nginx_stalled_clients_do_not_reach_the_app(tmp_path):
    with gunicorn(tmp_path / "gunicorn.log") as (_, app_base), nginx(int(app_base.rsplit(":", 1)[1]), tmp_path) as base:
        with ExitStack() as stack:
            stall(base, stack, headers=50, uploads=8)
            seconds = [health_seconds(base) for _ in range(5)]
            assert max(seconds) < 1, seconds
            photo = (ROOT.parent / "shared" / "corpus" / "kodim05.png")
            if photo.exists():
                response = requests.post(base + "/api/quantize", files={"image": ("p.png", photo.read_bytes())},
                                         data={"k": "6"}, headers={"Accept": "application/json"}, timeout=60)
                assert response.status_code == 200 and response.json()["colors"] <= 6


def photo_of_size(size: int) -> bytes:
    """A real PNG padded after its end to exactly size bytes (decoders stop at IEND)."""
    photo = png_bytes()
    return photo + bytes(size - len(photo))


def test_behind_the_readmes_nginx_the_limit_is_the_photo_and_its_413_is_json(tmp_path):
    """MAX_UPLOAD_MB is the photo's limit, not the request's: nginx and the app leave room for the form."""
    nginx_binary()
    limit_mb = int(re.search(r"client_max_body_size (\d+)m;\s+# MAX_UPLOAD_MB \((\d+)\)",
                             testsupport_nginx.readme_nginx_config()).group(2))
    with gunicorn(tmp_path / "gunicorn.log", MAX_UPLOAD_MB=str(limit_mb)) as (_, app_base), \
            nginx(int(app_base.rsplit(":", 1)[1]), tmp_path) as base:
        just_fits = requests.post(base + "/api/quantize", files={"image": ("p.png", photo_of_size(limit_mb * 2**20))},
                                  data={"k": "4", "max_side": "64"}, headers={"Accept": "application/json"}, timeout=60)
        assert just_fits.status_code == 200, just_fits.text[:300]
        by_the_app = requests.post(base + "/api/quantize", data={"k": "4"}, timeout=60,
                                   files={"image": ("p.png", photo_of_size(limit_mb * 2**20 + 1))})
        by_nginx = requests.post(base + "/api/quantize", data={"k": "4"}, timeout=60,
                                 files={"image": ("p.png", photo_of_size((limit_mb + 2) * 2**20))})
        for refused in (by_the_app, by_nginx):
            assert refused.status_code == 413
            assert refused.headers["Content-Type"].startswith("application/json")
            error = refused.json()["error"]
            assert error["code"] == "too_large" and f"limit of {limit_mb} MB" in error["message"]
        assert "nginx" not in by_nginx.text


def test_the_compose_files_nginx_config_is_the_readmes_block():
    site = testsupport_nginx.readme_nginx_config()
    compose = (ROOT / "nginx-compose.conf").read_text()
    compose = "".join(line for line in compose.splitlines(keepends=True) if not line.startswith("#"))
    upstream = re.compile(r"^(\s*)server \S+;.*$", re.MULTILINE)
    assert upstream.sub(r"\1server UPSTREAM;", site) == upstream.sub(r"\1server UPSTREAM;", compose)
    assert re.search(r"^\s*server replica:8000;", compose, re.MULTILINE)
    assert "nginx-compose.conf" in (ROOT / "docker-compose.yml").read_text()
