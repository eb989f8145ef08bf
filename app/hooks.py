"""Per-request hooks: security headers and one access-log line per request (app/access_log.py)."""

from __future__ import annotations

from flask import Flask, Response

from app import access_log

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


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def register(app: Flask) -> None:
    app.before_request(access_log.start)
    app.after_request(access_log.write_line)
    app.after_request(_security_headers)  # after_request runs last-registered first: headers, then the log
