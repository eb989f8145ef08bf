"""The README's nginx configuration, run by Debian's nginx in front of gunicorn.

gunicorn's gthread workers give a connection a thread once its first bytes arrive,
and a client that then stalls, in its headers or its upload, keeps that thread:
gunicorn has no timeout for it. A buffering proxy is the defense gunicorn's own
documentation names, and this checks that the README's configuration is one:
with 50 stalled-header connections and 8 stalled uploads at nginx, /healthz still
answers within 1 s. The control shows the same attack on bare gunicorn.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests

from conftest import IN_CI
from testsupport.servers import free_port, gunicorn

ROOT = Path(__file__).resolve().parents[1]
STALLED_HEADERS = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow"  # never finished
STALLED_UPLOAD_MB = 10


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not found:
        if IN_CI:
            pytest.fail("nginx is missing: .ci/run installs Debian's nginx")
        pytest.skip("nginx is not installed (apt-get install -y nginx)")
    return found


def readme_nginx_config() -> str:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```nginx\n(.*?)```", readme, re.DOTALL)
    assert len(blocks) == 1, "the README should show one nginx configuration"
    return blocks[0]


def nginx_config(app_port: int, nginx_port: int, folder: Path) -> str:
    """The README's configuration as it stands, pointed at this test's ports and folders."""
    site = readme_nginx_config()
    assert "server 127.0.0.1:8000;" in site and re.search(r"^\s*listen 80;", site, re.MULTILINE)
    site = site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};")
    site = re.sub(r"^(\s*)listen 80;", rf"\1listen 127.0.0.1:{nginx_port};", site, flags=re.MULTILINE)
    temp = "\n".join(f"    {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                             "uwsgi", "scgi"))
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (f"{user}pid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'} warn;\n"
            f"events {{ worker_connections 1024; }}\nhttp {{\n    access_log off;\n{temp}\n{site}\n}}\n")


@contextmanager
def nginx(app_port: int, folder: Path):
    binary = nginx_binary()
    port = free_port()
    config = folder / "nginx.conf"
    config.write_text(nginx_config(app_port, port, folder))
    check = subprocess.run([binary, "-t", "-p", str(folder), "-c", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen([binary, "-p", str(folder), "-c", str(config), "-g", "daemon off;"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(base + "/healthz", timeout=2)
                break
            except requests.RequestException:
                assert process.poll() is None and time.monotonic() < deadline, (folder / "error.log").read_text()
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


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
