"""The HTTP API: POST /api/quantize, GET /healthz, GET /api/openapi.json."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from app import downloads
from app.openapi import openapi_document
from app.photos import recolor_request

bp = Blueprint("api", __name__)


@bp.post("/api/quantize")
def recolor() -> Response:
    """The photo in k colors: the image file, or its figures as JSON when the client asks for JSON."""
    photo, recolored = recolor_request()
    rendered = recolored.rendered
    if request.accept_mimetypes.best_match([rendered.mime_type, "application/json"]) == "application/json":
        return jsonify(recolored.as_answer(photo.token))
    response = downloads.attachment(rendered.data, rendered.mime_type, recolored.filename, photo.token)
    response.headers["X-Colors"] = str(recolored.colors)
    return response


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/api/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document(current_app.config))
