"""The real image in a real Docker engine: CI's deploy stage (`bash .ci/deploy`), not the README's test command.

The base image is a STAND-IN. No container registry can be reached here, so
python:3.11.x-slim-bookworm cannot be pulled: .ci/stand-in-base builds a minimal
Debian bookworm with Debian's Python 3.11 as a venv in /usr/local (where the
official image has python and pip) and tags it with the Dockerfile's FROM. The
Dockerfile itself is the repository's, unchanged. Containers use the host's network
(the engine runs without a bridge) and listen on 127.0.0.1 at a free port.

Needs DOCKER_HOST pointing at that engine; without it these tests skip, or fail in CI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from testsupport.needs import require
from testsupport.corpus import CORPUS
from testsupport.servers import free_port

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "kmeans-filter"  # the tag docker-compose.yml names, so compose runs this very build
PHOTO_12MP = CORPUS / "cam_olympus_ep3_12mp.jpg"
KILLED_WORKER = re.compile(r"SIGKILL|WORKER TIMEOUT|out of memory|was sent code|Worker \(pid:\d+\) exited", re.I)


def docker(*args: str, timeout: float = 120, check: bool = True, env: dict | None = None) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **(env or {})})
    if check and result.returncode:
        raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout.strip()


@pytest.fixture(scope="module")
def engine() -> None:
    require(bool(os.environ.get("DOCKER_HOST")), "no Docker engine (DOCKER_HOST is not set)",
            "`bash .ci/deploy` starts one and builds the stand-in base")
    docker("version")


def base_tag() -> str:
    return re.search(r"^FROM\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE).group(1).split("@")[0]


@pytest.fixture(scope="module")
def image(engine) -> str:
    """The repository's Dockerfile, built on the stand-in base."""
    comment = docker("image", "inspect", base_tag(), "--format", "{{.Comment}}")
    assert "stand-in" in comment, f"{base_tag()} is not the stand-in base that .ci/stand-in-base makes: {comment!r}"
    started = time.monotonic()
    docker("build", "--network", "host", "-t", IMAGE, str(ROOT), timeout=900)
    print(f"docker build: {time.monotonic() - started:.0f} s")
    return IMAGE


@dataclass
class Container:
    name: str
    port: int
    base: str = field(init=False)

    def __post_init__(self):
        self.base = f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        result = subprocess.run(["docker", "logs", self.name], capture_output=True, text=True, timeout=60)
        return result.stdout + result.stderr

    def state(self, template: str) -> str:
        return docker("inspect", "--format", template, self.name)

    def exec(self, *command: str) -> str:
        return docker("exec", self.name, *command)


def start(image: str, *options: str, **env: str) -> Container:
    port = free_port()
    name = f"kmeans-test-{uuid.uuid4().hex[:10]}"
    settings = {"PORT": str(port), "HOST": "127.0.0.1", **env}
    flags = [f"--env={key}={value}" for key, value in settings.items()]
    docker("run", "-d", "--name", name, "--network", "host", *flags, *options, image)
    container = Container(name, port)
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(container.base + "/healthz", timeout=2).status_code == 200:
                return container
        except requests.RequestException:
            pass
        if time.monotonic() > deadline or container.state("{{.State.Running}}") != "true":
            logs = container.logs()
            remove(container)
            pytest.fail(f"the container did not answer /healthz:\n{logs[-3000:]}")
        time.sleep(0.3)


def remove(container: Container) -> None:
    subprocess.run(["docker", "rm", "-f", container.name], capture_output=True, timeout=60)


@pytest.fixture
def running(image):
    started: list[Container] = []

    def run(*options: str, **env: str) -> Container:
        container = start(image, *options, **env)
        started.append(container)
        return container

    yield run
    for container in started:
        remove(container)


def quantize(base: str, photo: bytes, retry_busy: bool = False, **fields: str) -> requests.Response:
    """POST /api/quantize; with retry_busy, a 503 is retried after its Retry-After, as the page does."""
    for _ in range(40):
        response = requests.post(base + "/api/quantize", files={"image": ("photo.jpg", photo)},
                                 data={"k": "16", **fields}, headers={"Accept": "application/json"}, timeout=180)
        if not (retry_busy and response.status_code == 503):
            return response
        assert response.json()["error"]["code"] == "busy"
        time.sleep(float(response.headers["Retry-After"]))
    raise AssertionError("still busy after 40 tries")


def test_the_image_serves_health_and_a_12_megapixel_photo(running):
    container = running()
    assert requests.get(container.base + "/healthz", timeout=10).json() == {"status": "ok"}
    response = quantize(container.base, PHOTO_12MP.read_bytes(), k="8")
    assert response.status_code == 200, response.text[:300]
    answer = response.json()
    assert answer["original"]["pixels"] == 4032 * 3024 and answer["colors"] <= 8 and answer["result"]["full_resolution"]


def test_the_app_runs_as_uid_and_gid_10001_whose_group_exists_with_a_home(running):
    container = running()
    assert container.exec("id", "-u") == "10001" and container.exec("id", "-g") == "10001"
    assert container.exec("getent", "group", "10001").startswith("kmeans:")
    assert container.exec("sh", "-c", 'test -d "$HOME" && echo "$HOME"') == "/tmp"
    assert "SYS_UID_MAX" not in docker("history", "--no-trunc", IMAGE)


def test_the_healthcheck_turns_healthy(running):
    # The Dockerfile's own HEALTHCHECK command, checked every 2 s instead of 30 s to keep the stage short.
    container = running("--health-interval=2s", "--health-start-period=0s")
    deadline = time.monotonic() + 60
    while (status := container.state("{{.State.Health.Status}}")) != "healthy":
        assert status in ("starting", "healthy") and time.monotonic() < deadline, status
        time.sleep(0.5)
    log = json.loads(container.state("{{json .State.Health.Log}}"))
    assert log and log[-1]["ExitCode"] == 0


def test_a_plain_docker_stop_finishes_the_requests_in_flight_and_exits_0(running):
    container = running()
    photo = (CORPUS / "cam_nokia83_9mp.jpg").read_bytes()
    answers: list[int | str] = []

    def client() -> None:
        try:
            answers.append(quantize(container.base, photo, k="8").status_code)
        except requests.RequestException as error:
            answers.append(type(error).__name__)

    clients = [threading.Thread(target=client) for _ in range(3)]
    for thread in clients:
        thread.start()
    time.sleep(1.0)  # the uploads are in: the three requests are being worked on
    stopped = time.monotonic()
    docker("stop", container.name, timeout=60)  # Docker's default: SIGTERM, then SIGKILL after 10 s
    for thread in clients:
        thread.join(60)
    assert answers == [200, 200, 200], f"{answers}\n{container.logs()[-3000:]}"
    assert container.state("{{.State.ExitCode}}") == "0", container.logs()[-3000:]
    assert time.monotonic() - stopped < 10, "Docker had to kill it"


def test_a_read_only_container_with_a_tmpfs_tmp_works(running):
    container = running("--read-only", "--tmpfs", "/tmp")
    response = quantize(container.base, (CORPUS / "kodim01.png").read_bytes(), k="6")
    assert response.status_code == 200, response.text[:300]
    assert "Read-only file system" not in container.logs() and "Traceback" not in container.logs()


def test_512_mb_serves_four_concurrent_12_megapixel_photos_without_a_killed_worker(running):
    """The defaults fit a 512 MB container: four 12 MP requests at once all succeed, some after a
    wait or a retry on 503, and no worker is killed by the kernel."""
    container = running("--memory=512m", "--memory-swap=512m")
    detected = container.exec("python", "-c", "from app import budget; print(budget.detected_memory())")
    assert int(detected) == 512 * 2**20, "MEMORY_MB's default is the container's cgroup limit"
    photo = PHOTO_12MP.read_bytes()
    results: list[tuple[int, float]] = []
    busy = []

    def client() -> None:
        started = time.monotonic()
        first = requests.post(container.base + "/api/quantize", files={"image": ("photo.jpg", photo)},
                              data={"k": "16"}, headers={"Accept": "application/json"}, timeout=180)
        if first.status_code == 503:
            busy.append(first.headers.get("Retry-After"))
            time.sleep(float(first.headers["Retry-After"]))
            first = quantize(container.base, photo, retry_busy=True)
        results.append((first.status_code, time.monotonic() - started))

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(300)
    logs = container.logs()
    print(f"512 MB, 4 x 12 MP: statuses and seconds {results}, 503s first: {len(busy)}; "
          f"peak {peak_memory_mb(container)} MB")
    assert [status for status, _ in results] == [200] * 4, f"{results}\n{logs[-3000:]}"
    assert container.state("{{.State.OOMKilled}}") == "false"
    assert not KILLED_WORKER.search(logs), logs[-3000:]
    assert len(set(re.findall(r"Booting worker with pid: (\d+)", logs))) == 1, "a worker was replaced"


def peak_memory_mb(container: Container) -> str:
    for path in ("/sys/fs/cgroup/memory/memory.max_usage_in_bytes", "/sys/fs/cgroup/memory.peak"):
        try:
            return str(int(container.exec("cat", path)) // 2**20)
        except (AssertionError, ValueError):
            continue
    return "?"


def test_docker_compose_runs_the_repositorys_compose_file_on_localhost_only(image, tmp_path):
    port = free_port()
    project = f"kmeanstest{uuid.uuid4().hex[:8]}"
    compose = ["docker-compose", "--project-name", project, "--file", str(ROOT / "docker-compose.yml")]
    env = {**os.environ, "KMEANS_PORT": str(port)}
    up = subprocess.run([*compose, "up", "-d", "--no-build"], capture_output=True, text=True, timeout=300, env=env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, subprocess.run([*compose, "logs"], capture_output=True, text=True,
                                                               env=env).stdout[-3000:]
            time.sleep(0.5)
        name = docker("ps", "--filter", f"label=com.docker.compose.project={project}", "--format", "{{.Names}}")
        ports = docker("inspect", "--format", "{{json .HostConfig.PortBindings}}", name)
        assert json.loads(ports) == {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
        response = quantize(f"http://127.0.0.1:{port}", (CORPUS / "kodim03.png").read_bytes(), k="5")
        assert response.status_code == 200 and response.json()["colors"] <= 5
    finally:
        subprocess.run([*compose, "down", "--timeout", "30"], capture_output=True, timeout=300, env=env)
