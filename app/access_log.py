"""One access-log line per request, with the request's figures: never the image or its file name."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from urllib.parse import quote

from flask import Response, g, request

log = logging.getLogger("kmeans_filter.access")


@dataclass(frozen=True)
class Figures:
    pixels: int
    k: int | str  # one k, or a range or list of them for the curve and the contact sheet


def note(pixels: int, k: int | str) -> None:
    """Tell this request's log line its figures (kept on flask.g for the rest of the request)."""
    g.log_figures = Figures(pixels, k)


def start() -> None:
    g.started = time.perf_counter()


def write_line(response: Response) -> Response:
    figures: Figures | None = g.get("log_figures")
    # The path is quoted back so that a %0A in it cannot start a forged log line.
    log.info(
        "%s %s %s %.1fms pixels=%s k=%s",
        request.method,
        quote(request.path, safe="/:@!$&'()*+,;=-._~"),
        response.status_code,
        (time.perf_counter() - g.get("started", time.perf_counter())) * 1000,
        "-" if figures is None else figures.pixels,
        "-" if figures is None else figures.k,
    )
    return response
