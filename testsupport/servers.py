"""The real server for tests and benchmarks: gunicorn with gunicorn.conf.py, on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"no answer from {url} within {seconds:.0f} s")


@contextmanager
def gunicorn(log: Path, port: int | None = None, root: Path = ROOT, **env: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """Run gunicorn as the project does (from `root`), settings overridden by `env`; yields the process and base URL."""
    port = port or free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}",
               "app:create_app()"]
    environment = {**os.environ, "PORT": str(port), **env}
    with open(log, "wb") as output:  # the server's log, to read when something fails
        process = subprocess.Popen(command, cwd=root, env=environment, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(base + "/healthz", process)
        yield process, base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
