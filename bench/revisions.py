"""A git revision's files, unpacked beside the working tree: to run an earlier app or page beside this one."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def unpacked(revision: str, paths: list[str], into: Path) -> Path:
    """These paths of the repository as they are at revision, under `into` (made if need be)."""
    archive = subprocess.run(["git", "archive", revision, *paths], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into
