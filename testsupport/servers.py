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


REDIS_SERVER = Path("/usr/bin/redis-server")


class RedisServer:
    """Debian's redis-server on a free loopback port, as the README runs it: nothing on disk, LRU-bounded.

    Its working directory is a temp dir of the caller's; stop() and start() again keep the port.
    """

    def __init__(self, workdir: Path, maxmemory_mb: int = 64, port: int | None = None):
        self.workdir = workdir
        self.port = port or free_port()
        self.maxmemory_mb = maxmemory_mb
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [str(REDIS_SERVER), "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.workdir),
                "--save", "", "--appendonly", "no", "--maxmemory", f"{self.maxmemory_mb}mb",
                "--maxmemory-policy", "allkeys-lru", "--protected-mode", "yes", "--daemonize", "no",
                "--logfile", str(self.workdir / "redis.log")]

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(self.command(), cwd=self.workdir, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with code {self.process.returncode}; see its log in "
                                   f"{self.workdir}")
            if self.ping():
                return self
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING within 15 s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@contextmanager
def redis_server(workdir: Path, **options) -> Iterator[RedisServer]:
    server = RedisServer(workdir, **options).start()
    try:
        yield server
    finally:
        server.stop()
