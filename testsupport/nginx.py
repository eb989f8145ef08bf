"""Debian's nginx with the README's configuration, in front of one or more app servers on 127.0.0.1.

Shared by tests/test_nginx.py and bench/bench_scaleout.py: the configuration is the
README's block as it stands, with its upstream pointed at the given ports, its
listen address at a free loopback port, and its files under a temp dir.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from testsupport.servers import ROOT, free_port


def nginx_binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def readme_nginx_config() -> str:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```nginx\n(.*?)```", readme, re.DOTALL)
    assert len(blocks) == 1, "the README should show one nginx configuration"
    return blocks[0]


def nginx_config(app_ports: list[int], nginx_port: int, folder: Path, access_log: bool = False) -> str:
    """The README's configuration as it stands, pointed at these app ports, this port and folder."""
    site = readme_nginx_config()
    assert re.search(r"^\s*server 127\.0\.0\.1:8000;", site, re.MULTILINE)
    assert re.search(r"^\s*listen 80;", site, re.MULTILINE)
    servers = " ".join(f"server 127.0.0.1:{port};" for port in app_ports)
    site = site.replace("server 127.0.0.1:8000;", servers, 1)
    site = re.sub(r"^(\s*)listen 80;", rf"\1listen 127.0.0.1:{nginx_port};", site, flags=re.MULTILINE)
    temp = "\n".join(f"    {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                             "uwsgi", "scgi"))
    log = (f"    log_format upstream '$request_method $uri $status $request_length $upstream_addr';\n"
           f"    access_log {folder / 'access.log'} upstream;") if access_log else "    access_log off;"
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (f"{user}pid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'} warn;\n"
            f"events {{ worker_connections 1024; }}\nhttp {{\n{log}\n{temp}\n{site}\n}}\n")


@contextmanager
def nginx(app_ports: list[int], folder: Path, access_log: bool = False) -> Iterator[str]:
    """Run nginx in the foreground (stopped by its PID afterwards); yields its base URL."""
    binary = nginx_binary()
    assert binary, "nginx is not installed (apt-get install -y nginx)"
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = folder / "nginx.conf"
    config.write_text(nginx_config(app_ports, port, folder, access_log))
    check = subprocess.run([binary, "-t", "-p", str(folder), "-c", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen([binary, "-p", str(folder), "-c", str(config), "-g", "daemon off;"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2):
                    break
            except OSError:
                error_log = folder / "error.log"
                assert process.poll() is None and time.monotonic() < deadline, (
                    error_log.read_text() if error_log.exists() else "nginx did not start")
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
