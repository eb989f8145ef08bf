import os
from pathlib import Path

import pytest

from app import create_app

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
if not CORPUS.is_dir():
    CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus"
IN_CI = os.environ.get("CI") == "true"


@pytest.fixture
def app():
    return create_app({"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        if IN_CI:
            pytest.fail(f"the photo corpus is missing at {CORPUS}")
        pytest.skip(f"the photo corpus is missing at {CORPUS}")
    return CORPUS


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process, seconds: float = 30.0) -> None:
    import time
    import urllib.request

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


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The real thing: gunicorn with the project's config, on 127.0.0.1. Yields its base URL."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}"]
    if (root / "gunicorn.conf.py").exists():
        command += ["-c", "gunicorn.conf.py"]
    command.append("app:create_app()")
    env = {**os.environ, "PORT": str(port)}
    log = open(tmp_path_factory.mktemp("gunicorn") / "server.log", "wb")  # read it when a test fails
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(base + "/healthz", process)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
