"""One error type that carries its HTTP status, and the handlers that render it.

The API and anything asking for JSON get {"error": {"code", "message"}};
a browser gets the page with the message in words.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from app.imaging import ImageError

log = logging.getLogger(__name__)

IMAGE_ERROR_STATUS = {"unsupported_image": 415, "too_many_pixels": 413, "unusable_image": 422}


class AppError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}  # such as Retry-After on a 503

    @classmethod
    def from_image_error(cls, error: ImageError) -> "AppError":
        return cls(IMAGE_ERROR_STATUS.get(error.code, 422), error.code, error.message)


def bad_request(message: str) -> AppError:
    return AppError(400, "bad_request", message)


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def render_error(error: AppError) -> Response:
    if wants_json():
        response = jsonify(error={"code": error.code, "message": error.message})
    else:
        response = Response(render_template("error.html", error=error), mimetype="text/html")
    response.status_code = error.status
    response.headers.update(error.headers)
    if error.status == 413:
        # The body may not have been read: close rather than reset the connection.
        response.headers["Connection"] = "close"
    return response


_HTTP_MESSAGES = {
    404: ("not_found", "There is nothing at this address."),
    405: ("method_not_allowed", "This address does not accept that method."),
    413: ("too_large", "The upload is larger than the limit of {limit} MB. Send a smaller file."),
}


DRAIN_SECONDS = 2.0  # at most this long spent reading a refused upload, whatever it declared


def _drain_unread_body() -> None:
    """Read and drop the rest of an upload that is somewhat over the limit.

    Werkzeug refuses it before reading a byte. Answering then leaves the
    client still sending, and the server closes on unread data: the client
    gets a reset (a broken pipe while sending) instead of our 413. So a body
    of up to twice the limit is read and dropped, a chunk at a time, for at
    most DRAIN_SECONDS: a client that declared more than it sends, or stalls,
    gets its 413 then, not when it gives up. One that claims more than twice
    the limit is not worth the wait and is answered at once.
    """
    limit = request.max_content_length or 0
    declared = request.content_length
    if declared is not None and declared > 2 * limit:
        return
    left = declared if declared is not None else limit  # chunked: up to another limit's worth
    stream = request.environ.get("wsgi.input")
    sock = request.environ.get("gunicorn.socket")  # a read must not outlast the deadline either
    deadline = time.monotonic() + DRAIN_SECONDS
    before = sock.gettimeout() if sock is not None else None
    try:
        while left > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if sock is not None:
                sock.settimeout(remaining)
            chunk = stream.read(min(left, 64 * 1024))
            if not chunk:
                break
            left -= len(chunk)
    except Exception:  # the client went away, stalled or sent a broken chunk: nothing more to be polite to
        log.debug("stopped draining a refused upload", exc_info=True)
    finally:
        if sock is not None:
            try:
                sock.settimeout(before)
            except OSError:
                pass


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 413:
        _drain_unread_body()
    code, message = _HTTP_MESSAGES.get(status, ("bad_request" if status < 500 else "server_error", error.description or ""))
    if status == 405 and error.valid_methods:
        message += f" Use {', '.join(sorted(error.valid_methods))}."
    limit = request.max_content_length
    message = message.format(limit=round(limit / 2**20) if limit else "?")
    declared = request.content_length
    if status == 413 and limit and declared is not None and declared <= limit:
        # Within the size limit, Werkzeug's 413 means too many form parts (MAX_FORM_PARTS).
        code = "too_many_fields"
        message = (f"The form has more than {request.max_form_parts} parts. "
                   "Send the photo and its options only.")
    response = render_error(AppError(status, code, message))
    if status == 405 and error.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
    return response


def _is_malformed_body(error: Exception) -> bool:
    """gunicorn's parse errors for a body read inside the app: a bad chunk size, a chunk
    extension it refuses, a missing terminator. The client's fault, not ours."""
    return any(kind.__module__.startswith("gunicorn.http") for kind in type(error).__mro__)


def _unexpected(error: Exception) -> Response:
    if _is_malformed_body(error):
        response = render_error(bad_request("The request body is malformed (its chunked encoding is broken). "
                                             "Send the form again."))
        response.headers["Connection"] = "close"  # the rest of the stream cannot be trusted
        return response
    log.exception("unexpected error on %s %s", request.method, request.path)
    return render_error(AppError(500, "server_error", "Something went wrong on our side. Please try again."))


def register(app: Flask) -> None:
    app.register_error_handler(AppError, render_error)
    app.register_error_handler(ImageError, lambda e: render_error(AppError.from_image_error(e)))
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
