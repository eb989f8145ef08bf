"""The page: GET / serves it, and a plain form POST to / answers it with both images."""

from __future__ import annotations

import base64

from flask import Blueprint, current_app, render_template

from app import imaging
from app.api import describe, run_quantize
from app.errors import AppError

bp = Blueprint("web", __name__)

PREVIEW_SIDE = 1600


def page_settings() -> dict:
    config = current_app.config
    return {
        "default_k": config["DEFAULT_K"],
        "slider_max_k": min(config["SLIDER_MAX_K"], config["MAX_K"]),
        "max_k": config["MAX_K"],
        "max_upload_mb": config["MAX_UPLOAD_MB"],
    }


@bp.get("/")
def index():
    return render_template("index.html", settings=page_settings(), answer=None, error=None)


@bp.post("/")
def index_form():
    """Without JavaScript: quantize the posted photo and show original and result."""
    try:
        prepared, options, rendered, stem, token = run_quantize()
    except AppError as error:
        page = render_template("index.html", settings=page_settings(), answer=None, error=error)
        return page, error.status
    answer = describe(prepared, options, rendered, stem, token)
    preview = imaging.shrink_nearest(prepared.decoded.rgb, PREVIEW_SIDE)
    original = imaging.encode_jpeg(preview)
    answer["original_image"] = "data:image/jpeg;base64," + base64.b64encode(original).decode("ascii")
    return render_template("index.html", settings=page_settings(), answer=answer, error=None)
