"""Per-request hooks: security headers and one access-log line per request."""

from __future__ import annotations

import logging
import time
from urllib.parse import quote

from flask import Flask, Response, g, request

log = logging.getLogger("kmeans_filter.access")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _start() -> None:
    g.started = time.perf_counter()


def _finish(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    details = request.environ.get("kmeans.log", {})
    # Never the image or its file name: only sizes and k. The path is quoted back so that
    # a %0A in it cannot start a forged log line.
    log.info(
        "%s %s %s %.1fms pixels=%s k=%s",
        request.method,
        quote(request.path, safe="/:@!$&'()*+,;=-._~"),
        response.status_code,
        (time.perf_counter() - g.get("started", time.perf_counter())) * 1000,
        details.get("pixels", "-"),
        details.get("k", "-"),
    )
    return response


def register(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
