"""The Docker image, checked without a Docker engine.

hadolint lints the Dockerfile. Then the image is rebuilt as closely as this machine
allows: a folder laid out by the Dockerfile's own COPY lines (minus what .dockerignore
leaves out), and the Dockerfile's own ENV, CMD and HEALTHCHECK, read from it rather
than copied here, run with this test run's venv. The checks that need the network
(a fresh venv of requirements.txt alone, wheels for every platform) are marked
`deploy`: the README's test command leaves them out, and CI runs them in a stage of
their own with the real image in a real Docker engine (tests/test_container.py).
"""

from __future__ import annotations

import json
import logging
import os
import re
import runpy
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path, PurePosixPath

import psutil
import pytest

from app import settings
from testsupport.forms import multipart
from testsupport.images import png_bytes
from testsupport.servers import free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
SECRET_NAME = "secret-name.png"


# --- reading the Dockerfile -------------------------------------------------------------

def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    result, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = pending + stripped
        pending = ""
        keyword, _, arguments = whole.partition(" ")
        result.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return result


def exec_form(arguments: str) -> list[str]:
    """A command as Docker runs it: a JSON array as is, anything else through /bin/sh -c."""
    if arguments.startswith("["):
        command = json.loads(arguments)
        assert isinstance(command, list) and all(isinstance(part, str) for part in command), arguments
        return command
    return ["/bin/sh", "-c", arguments]


def last(parsed, keyword: str) -> str | None:
    found = [arguments for name, arguments in parsed if name == keyword]
    return found[-1] if found else None


def image_command(parsed) -> list[str]:
    entrypoint, cmd = last(parsed, "ENTRYPOINT"), last(parsed, "CMD")
    assert entrypoint or cmd, "the Dockerfile has no CMD or ENTRYPOINT"
    if entrypoint:
        command = exec_form(entrypoint)
        # Docker appends CMD to an exec-form ENTRYPOINT and ignores it after a shell-form one.
        return command + (exec_form(cmd) if cmd and entrypoint.startswith("[") else [])
    return exec_form(cmd)


def image_env(parsed) -> dict[str, str]:
    env: dict[str, str] = {}
    for name, arguments in parsed:
        if name != "ENV":
            continue
        words = shlex.split(arguments)
        pairs = [word.partition("=") for word in words] if "=" in words[0] else [(words[0], "=", " ".join(words[1:]))]
        for key, _, value in pairs:
            assert "$" not in value, f"ENV {key}: this test does not expand variables, got {value!r}"
            env[key] = value
    return env


def healthcheck_command(parsed) -> list[str]:
    arguments = last(parsed, "HEALTHCHECK")
    assert arguments, "the Dockerfile has no HEALTHCHECK"
    match = re.fullmatch(r"((?:--\S+\s+)*)CMD\s+(.+)", arguments)
    assert match, f"HEALTHCHECK should be [--options] CMD command, got {arguments!r}"
    return exec_form(match.group(2))


@pytest.fixture(scope="module")
def dockerfile():
    return instructions(DOCKERFILE.read_text())


# --- the build context and the image's files --------------------------------------------

def _pattern_regex(pattern: str) -> re.Pattern:
    parts = re.split(r"(\*\*/|\*\*|\*|\?)", pattern.strip("/"))
    table = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(table.get(part, re.escape(part)) for part in parts))


def ignore_rules(root: Path) -> list[tuple[bool, re.Pattern]]:
    rules = []
    path = root / ".dockerignore"
    for line in path.read_text().splitlines() if path.exists() else []:
        line = line.strip()
        if line and not line.startswith("#"):
            rules.append((not line.startswith("!"), _pattern_regex(line.lstrip("!").strip())))
    return rules


def ignored(relative: str, rules) -> bool:
    """Docker's rule: the last pattern matching the path, or one of its parent folders, decides."""
    parts = PurePosixPath(relative).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict = False
    for excludes, regex in rules:
        if any(regex.fullmatch(candidate) for candidate in candidates):
            verdict = excludes
    return verdict


def lay_out_image(parsed, context: Path, target: Path) -> Path:
    """Copy what the Dockerfile's COPY lines copy into target (standing for /); returns WORKDIR."""
    rules = ignore_rules(context)
    workdir = PurePosixPath("/")
    for name, arguments in parsed:
        if name == "WORKDIR":
            workdir = workdir / arguments
            (target / workdir.relative_to("/")).mkdir(parents=True, exist_ok=True)
        elif name in ("COPY", "ADD"):
            words = [word for word in shlex.split(arguments) if not word.startswith("--")]
            assert name == "COPY", "use COPY, not ADD"
            *sources, destination = words
            into = workdir / destination
            for source in sources:
                origin = context / source
                assert origin.exists(), f"COPY {source}: no such file in the build context"
                assert not ignored(source.rstrip("/"), rules), f"COPY {source}: .dockerignore leaves it out"
                if origin.is_dir():
                    for path in sorted(origin.rglob("*")):
                        relative = path.relative_to(context).as_posix()
                        if path.is_file() and not ignored(relative, rules):
                            copy = target / into.relative_to("/") / path.relative_to(origin)
                            copy.parent.mkdir(parents=True, exist_ok=True)
                            shutil.copy2(path, copy)
                else:
                    copy = target / into.relative_to("/")
                    if destination.endswith("/") or len(sources) > 1:
                        copy = copy / origin.name
                    copy.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, copy)
    return target / workdir.relative_to("/")


def build_image_venv(venv: Path) -> Path:
    """A fresh venv holding requirements.txt and nothing else, installed as the Dockerfile does
    (wheels only, so the image needs no compiler). It needs the package index: deploy stage only."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
               "--no-cache-dir", "--only-binary=:all:", "-r", str(ROOT / "requirements.txt")]
    result = subprocess.run(install, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"installing requirements.txt failed:\n{result.stdout}\n{result.stderr}"
    return venv


@pytest.fixture(scope="module")
def image_venv() -> Path:
    """The venv the image's command runs in here: this test run's own, so that the README's test
    command needs no network. That requirements.txt alone is enough is checked by
    test_a_fresh_venv_of_requirements_txt_serves (deploy stage) and by the real image (test_container.py)."""
    return Path(sys.executable).parent.parent


def container_env(parsed, venv: Path, home: Path, **overrides: str) -> dict[str, str]:
    """The Dockerfile's ENV on this machine: the venv's Python first on PATH, HOME (set by the
    Dockerfile) moved under this test's folder."""
    path = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    env = {"PATH": path, "LANG": "C.UTF-8", **image_env(parsed), **overrides}
    env["HOME"] = str(home / "home")
    (home / "home").mkdir(exist_ok=True)
    return env


# --- a small request ---------------------------------------------------------------------

def post_quantize(base: str, k: int) -> dict:
    body, content_type = multipart(("k", str(k)), ("image", (SECRET_NAME, png_bytes())))
    request = urllib.request.Request(base + "/api/quantize", data=body, method="POST",
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
        return json.load(response)


# --- the image's command, running ----------------------------------------------------------

class Server:
    def __init__(self, process: subprocess.Popen, base: str, port: int, env: dict, stderr: Path, stdout: Path):
        self.process, self.base, self.port, self.env = process, base, port, env
        self.stderr_path, self.stdout_path = stderr, stdout

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def output(self) -> str:
        return self.stdout_path.read_text(errors="replace") + self.stderr()


@pytest.fixture(scope="module")
def server(dockerfile, image_venv, tmp_path_factory):
    """The Dockerfile's CMD in the image's layout, with its ENV and a free PORT.

    HOST is the one change: the image listens on 0.0.0.0, this test on 127.0.0.1 only.
    """
    tmp = tmp_path_factory.mktemp("image")
    workdir = lay_out_image(dockerfile, ROOT, tmp / "root")
    port = free_port()
    env = container_env(dockerfile, image_venv, tmp, PORT=str(port), HOST="127.0.0.1")
    stdout, stderr = tmp / "stdout.log", tmp / "stderr.log"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(image_command(dockerfile), cwd=workdir, env=env, stdout=out, stderr=err)
    running = Server(process, f"http://127.0.0.1:{port}", port, env, stderr, stdout)
    try:
        try:
            wait_for_http(running.base + "/healthz", process, seconds=60)
        except RuntimeError as error:
            pytest.fail(f"{error}\n{running.output()}")
        yield running
    finally:
        if process.poll() is None:  # a test failed before the SIGTERM test ran
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def test_hadolint_finds_nothing():
    result = subprocess.run([str(Path(sys.executable).with_name("hadolint")), "--no-color", str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_base_image_is_a_pinned_slim_python_311(dockerfile):
    base = last(dockerfile, "FROM")
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base or ""), base


def test_requirements_are_installed_first_and_alone(dockerfile):
    copies = [i for i, (name, _) in enumerate(dockerfile) if name == "COPY"]
    installs = [i for i, (name, arguments) in enumerate(dockerfile) if name == "RUN" and "pip install" in arguments]
    assert dockerfile[copies[0]][1].split() == ["requirements.txt", "./"], "copy requirements.txt first, alone"
    assert len(installs) == 1 and copies[0] < installs[0] < copies[1], "install it before the code, so the layer caches"
    words = shlex.split(dockerfile[installs[0]][1])
    assert {"--no-cache-dir", "--only-binary=:all:", "-r", "requirements.txt"} <= set(words), words
    assert "requirements-dev.txt" not in DOCKERFILE.read_text()


def test_the_image_runs_as_a_numeric_non_root_user(dockerfile):
    user = last(dockerfile, "USER")
    assert user and re.fullmatch(r"\d+(:\d+)?", user) and int(user.split(":")[0]) != 0, user
    names = [name for name, _ in dockerfile]
    assert names.index("USER") > max(i for i, name in enumerate(names) if name in ("RUN", "COPY"))


def test_requirements_pin_every_line():
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    unpinned = [line for line in lines if line and not re.fullmatch(r"[A-Za-z0-9._\[\],-]+==[A-Za-z0-9.+!-]+", line)]
    assert not unpinned, f"pin these with ==: {unpinned}"


@pytest.mark.deploy  # asks the package index
@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_every_requirement_has_a_wheel_for_the_image(arch, tmp_path):
    """The image installs wheels only: each pin needs one for CPython 3.11 on glibc 2.36 (bookworm),
    on PCs and on ARM boxes such as a NAS or a Raspberry Pi."""
    platforms = [f"manylinux2014_{arch}"] + [f"manylinux_2_{minor}_{arch}" for minor in range(17, 37)]
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
               "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
               "--target", str(tmp_path / "target"), "-r", str(ROOT / "requirements.txt")]
    command += [f"--platform={platform}" for platform in platforms]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_dockerignore_keeps_the_context_small():
    rules = ignore_rules(ROOT)
    for kept in ("requirements.txt", "gunicorn.conf.py", "app/__init__.py", "templates/base.html",
                 "static/style.css"):
        assert not ignored(kept, rules), kept
    for left_out in (".git/HEAD", ".venv/bin/python", "tests/conftest.py", "app/__pycache__/api.cpython-311.pyc",
                     "requirements-dev.txt", "Dockerfile"):
        assert ignored(left_out, rules), left_out


def test_the_image_config_listens_on_every_interface(dockerfile, image_venv, tmp_path):
    """The image's ENV alone, nothing overridden: gunicorn binds 0.0.0.0:$PORT with gthread."""
    env = container_env(dockerfile, image_venv, tmp_path)
    result = subprocess.run(image_command(dockerfile) + ["--print-config"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    config = dict(re.findall(r"^(\w+)\s+= (.*)$", result.stdout, re.MULTILINE))
    assert config["bind"] == f"['0.0.0.0:{env['PORT']}']"
    assert config["worker_class"] == "gthread"
    assert config["wsgi_app"] == "app:create_app()"
    assert config["accesslog"] == "None"


def test_the_image_serves_health_the_page_and_its_files(server):
    with urllib.request.urlopen(server.base + "/healthz", timeout=10) as response:
        assert response.status == 200
        assert json.load(response) == {"status": "ok"}
    # The page and its stylesheet: the templates and static folders made it into the image.
    with urllib.request.urlopen(server.base + "/", timeout=10) as response:
        assert response.status == 200 and response.headers.get_content_type() == "text/html"
    with urllib.request.urlopen(server.base + "/static/style.css", timeout=10) as response:
        assert response.status == 200 and response.headers.get_content_type() == "text/css"


def test_the_image_quantizes_and_logs_one_line_without_the_file_name(server):
    answer = post_quantize(server.base, k=4)
    assert answer["k"] == 4 and answer["colors"] <= 4 and answer["original"]["pixels"] == 48 * 32

    deadline = time.monotonic() + 10
    while "/api/quantize" not in server.stderr() and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = [line for line in server.stderr().splitlines() if "/api/quantize" in line]
    assert len(lines) == 1, server.output()
    assert re.search(r" POST /api/quantize 200 \d+\.\dms pixels=1536 k=4$", lines[0]), lines[0]
    assert "secret-name" not in server.output()


def test_a_path_cannot_forge_a_log_line(client, caplog):
    caplog.set_level(logging.INFO, logger="kmeans_filter.access")
    client.get("/nothing%0A127.0.0.1 POST /api/quantize 200 1.0ms pixels=1 k=2")
    [line] = [record.getMessage() for record in caplog.records if record.name == "kmeans_filter.access"]
    assert "\n" not in line and line.startswith("GET /nothing%0A127.0.0.1%20POST%20/api/quantize%20200") and " 404 " in line, line


def test_the_healthcheck_command_works(dockerfile, server):
    command = healthcheck_command(dockerfile)
    assert not any(tool in " ".join(command) for tool in ("curl", "wget")), "slim images have neither"
    ok = subprocess.run(command, env=server.env, capture_output=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    nobody = subprocess.run(command, env={**server.env, "PORT": str(free_port())}, capture_output=True, timeout=30)
    assert nobody.returncode != 0, "the healthcheck passes with no server listening"


def wait_until_a_worker_holds(master_pid: int, client_port: int, seconds: float = 20) -> None:
    """Until a worker has accepted the connection from client_port: it is then reading the body."""
    master = psutil.Process(master_pid)
    deadline = time.monotonic() + seconds
    while not any(connection.raddr and connection.raddr.port == client_port
                  for worker in master.children() for connection in worker.net_connections()):
        assert time.monotonic() < deadline, "no worker took the connection"
        time.sleep(0.05)


def test_sigterm_finishes_the_request_in_flight_then_exits_cleanly(server):
    """Graceful shutdown: an upload half sent when SIGTERM arrives still gets its answer."""
    body, content_type = multipart(("k", "3"), ("image", (SECRET_NAME, png_bytes())))
    head = (f"POST /api/quantize HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nAccept: application/json\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as client:
        client.sendall(head + body[: len(body) // 2])
        wait_until_a_worker_holds(server.process.pid, client.getsockname()[1])
        stopped = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        client.sendall(body[len(body) // 2:])
        response = b""
        while chunk := client.recv(65536):
            response += chunk
    assert response.startswith(b"HTTP/1.1 200"), response[:200]
    grace = int(server.env.get("GRACEFUL_TIMEOUT", settings.load({})["GRACEFUL_TIMEOUT"]))
    assert server.process.wait(timeout=grace + 15) == 0, server.output()
    assert time.monotonic() - stopped < grace, "the workers were killed at the graceful timeout, not drained"


def test_the_compose_file_is_the_one_in_the_readme_and_uses_real_settings():
    compose = (ROOT / "docker-compose.yml").read_text()
    readme = (ROOT / "README.md").read_text()
    docker = re.search(r"<!-- section:docker -->(.*?)<!-- /section:docker -->", readme, re.DOTALL).group(1)
    assert "docker build -t kmeans-filter . && docker run -p 8000:8000 kmeans-filter" in docker
    shown = re.search(r"```yaml\n(.*?)```", docker, re.DOTALL).group(1).splitlines()
    assert shown == [line for line in compose.splitlines() if not line.lstrip().startswith("#")]

    environment = re.search(r"^    environment:\n((?:      .*\n)+)", compose, re.MULTILINE).group(1)
    names = re.findall(r"^      ([A-Za-z_]+):", environment, re.MULTILINE)
    assert names and set(names) <= {s.name for s in settings.SETTINGS}, names
    grace = re.search(r"^    stop_grace_period: (\d+)s$", compose, re.MULTILINE)
    assert grace and int(grace.group(1)) > settings.load({})["GRACEFUL_TIMEOUT"], "Docker would kill requests in flight"


# --- gunicorn.conf.py reads app/settings.py -------------------------------------------------

def read_gunicorn_conf(monkeypatch, **env: str) -> dict:
    for setting in settings.SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_gunicorn_conf_defaults_come_from_settings(monkeypatch):
    conf = read_gunicorn_conf(monkeypatch)
    defaults = {s.name: s.default for s in settings.SETTINGS}
    assert conf["bind"] == [f"{defaults['HOST']}:{defaults['PORT']}"]
    assert (conf["threads"], conf["timeout"], conf["graceful_timeout"]) == (
        defaults["THREADS"], defaults["TIMEOUT"], defaults["GRACEFUL_TIMEOUT"])
    assert (conf["max_requests"], conf["max_requests_jitter"]) == (
        defaults["MAX_REQUESTS"], defaults["MAX_REQUESTS_JITTER"])
    assert conf["loglevel"] == defaults["LOG_LEVEL"]
    assert conf["workers"] == max(1, len(os.sched_getaffinity(0)) // 2)
    assert conf["worker_class"] == "gthread" and conf["accesslog"] is None


def test_gunicorn_conf_follows_the_environment(monkeypatch):
    conf = read_gunicorn_conf(monkeypatch, HOST="::", PORT="9001", WEB_CONCURRENCY="3", THREADS="8", TIMEOUT="30",
                              GRACEFUL_TIMEOUT="5", MAX_REQUESTS="0", LOG_LEVEL="WARNING")
    assert conf["bind"] == ["[::]:9001"]
    assert (conf["workers"], conf["threads"], conf["timeout"], conf["graceful_timeout"]) == (3, 8, 30, 5)
    assert (conf["max_requests"], conf["loglevel"]) == (0, "warning")


def test_gunicorn_conf_refuses_a_bad_value_by_name(monkeypatch):
    with pytest.raises(ValueError, match=r"^THREADS must be a whole number, got 'many'$"):
        read_gunicorn_conf(monkeypatch, THREADS="many")


@pytest.mark.deploy  # installs requirements.txt from the package index
def test_a_fresh_venv_of_requirements_txt_serves_the_image_command(dockerfile, tmp_path):
    """requirements.txt alone is enough: the image's command, in a venv holding nothing else, serves a quantize."""
    venv = build_image_venv(tmp_path / "venv")
    workdir = lay_out_image(dockerfile, ROOT, tmp_path / "root")
    port = free_port()
    env = container_env(dockerfile, venv, tmp_path, PORT=str(port), HOST="127.0.0.1")
    with open(tmp_path / "server.log", "wb") as log:
        process = subprocess.Popen(image_command(dockerfile), cwd=workdir, env=env, stdout=log, stderr=log)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process, seconds=60)
        answer = post_quantize(f"http://127.0.0.1:{port}", k=5)
        assert answer["colors"] <= 5 and answer["original"]["pixels"] == 48 * 32
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0, (tmp_path / "server.log").read_text()


def test_a_bad_web_concurrency_is_named_in_one_line_before_gunicorn_starts(dockerfile, image_venv, tmp_path):
    """gunicorn itself would die on int('abc') with a traceback; the image's command names the setting."""
    env = container_env(dockerfile, image_venv, tmp_path, WEB_CONCURRENCY="abc")
    result = subprocess.run(image_command(dockerfile), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == "kmeans-filter: WEB_CONCURRENCY must be a whole number, got 'abc'"
    assert "Traceback" not in result.stderr


def test_the_image_user_has_a_group_of_its_own_id_and_a_home_that_exists(dockerfile):
    runs = " ".join(arguments for name, arguments in dockerfile if name == "RUN")
    user = last(dockerfile, "USER")
    uid, gid = user.split(":")
    assert re.search(rf"groupadd\b[^&]*--gid {gid}\b", runs), "USER names a group that the image does not create"
    assert re.search(rf"useradd\b[^&]*--uid {uid}\b[^&]*--gid {gid}\b", runs)
    assert "--system" not in runs, "useradd --system warns that uid 10001 is greater than SYS_UID_MAX"
    home = image_env(dockerfile)["HOME"]
    assert home in ("/tmp", "/app"), f"HOME={home}: a folder that exists in the image, also under --read-only"
