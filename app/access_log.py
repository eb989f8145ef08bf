"""One access-log line per request, with the request's figures: never the image or its file name.

Each response also carries a Server-Timing header, which the browser's resource timing shows
(bench/bench_live.py reads it): the request's time in the app; the CPU its own thread used, and the
whole process (the engine's pool threads and any other request's work included) meanwhile; and the
time the process spent in Python's garbage collector meanwhile. Wall time well above the CPU is time
waiting: for a core (other processes), for the GIL, or for a lock such as a photo's one k-means at a
time (app/fits.py).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote

from flask import Response, g, request

log = logging.getLogger("kmeans_filter.access")


@dataclass(frozen=True)
class Figures:
    pixels: int
    k: int | str  # one k, or a range or list of them for the curve and the contact sheet


class _CollectorClock:
    """Seconds the process has spent in the garbage collector so far (every thread's collections)."""

    def __init__(self) -> None:
        self.total = 0.0
        self._began: dict[int, float] = {}

    def __call__(self, phase: str, info: dict) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._began[threading.get_ident()] = now
        else:
            began = self._began.pop(threading.get_ident(), None)
            if began is not None:
                self.total += now - began


_collector = _CollectorClock()
gc.callbacks.append(_collector)


def note(pixels: int, k: int | str) -> None:
    """Tell this request's log line its figures (kept on flask.g for the rest of the request)."""
    g.log_figures = Figures(pixels, k)


def start() -> None:
    g.started = time.perf_counter()
    g.cpu_started = time.thread_time()
    g.process_started = time.process_time()
    g.gc_started = _collector.total


def write_line(response: Response) -> Response:
    figures: Figures | None = g.get("log_figures")
    now = time.perf_counter()
    wall_ms = (now - g.get("started", now)) * 1000
    cpu_ms = (time.thread_time() - g.get("cpu_started", time.thread_time())) * 1000
    process_ms = (time.process_time() - g.get("process_started", time.process_time())) * 1000
    gc_ms = (_collector.total - g.get("gc_started", _collector.total)) * 1000
    response.headers["Server-Timing"] = (f"app;dur={wall_ms:.1f}, cpu;dur={cpu_ms:.1f}, process;dur={process_ms:.1f}, "
                                         f"gc;dur={gc_ms:.1f}")
    # The path is quoted back so that a %0A in it cannot start a forged log line.
    log.info(
        "%s %s %s %.1fms pixels=%s k=%s",
        request.method,
        quote(request.path, safe="/:@!$&'()*+,;=-._~"),
        response.status_code,
        wall_ms,
        "-" if figures is None else figures.pixels,
        "-" if figures is None else figures.k,
    )
    return response
