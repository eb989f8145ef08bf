"""Answers that are files: the bytes as an attachment with a plain download name."""

from __future__ import annotations

from flask import Response


def attachment(data: bytes, mime_type: str, filename: str, image_id: str | None) -> Response:
    """The file as a download; X-Image-Id carries the token to send instead of the photo next time."""
    response = Response(data, content_type=mime_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    if image_id:
        response.headers["X-Image-Id"] = image_id
    return response
