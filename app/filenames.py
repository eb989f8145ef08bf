"""Download names: made from the upload's name with plain characters only, never a path."""

from __future__ import annotations

import re


def safe_stem(filename: str | None) -> str:
    """A download name's stem from the upload's name: plain characters only, never a path."""
    stem = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_")[:60]
    return stem or "image"


def result_name(stem: str, k: int, fmt: str) -> str:
    """For example photo-k16.png; jpeg is named .jpg."""
    return f"{stem}-k{k}.{'jpg' if fmt == 'jpeg' else fmt}"
