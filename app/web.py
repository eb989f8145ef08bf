"""The page: GET / serves it, and a plain form POST to / answers it with both images.

With JavaScript the page talks to the API (static/js/); without it the
form posts here and gets the same page back with original, result,
figures and palette filled in.
"""

from __future__ import annotations

import base64

from flask import Blueprint, current_app, render_template, request

from app import imaging
from app.api import describe, download, result_filename, run_quantize
from app.errors import AppError

bp = Blueprint("web", __name__)

# Longest side of the original shown beside the result on the no-JS page, and the
# largest preview the page's script asks for (it asks for less on small screens).
PREVIEW_SIDE = 1600
COLOR_SPACES = (("rgb", "RGB"), ("oklab", "OKLab"), ("lab", "CIELAB"))
DITHERS = (("none", "None"), ("floyd-steinberg", "Floyd–Steinberg"))


def page_settings() -> dict:
    config = current_app.config
    return {
        "default_k": config["DEFAULT_K"],
        "slider_max_k": min(config["SLIDER_MAX_K"], config["MAX_K"]),
        "max_k": config["MAX_K"],
        "max_upload_mb": config["MAX_UPLOAD_MB"],
        "preview_side": PREVIEW_SIDE,
    }


def human_bytes(count: int | None) -> str:
    if count is None:
        return "–"
    for unit, size in (("MB", 2**20), ("KB", 2**10)):
        if count >= size:
            return f"{count / size:.{1 if count < 100 * size else 0}f} {unit}"
    return f"{count} bytes"


def render_page(answer: dict | None = None, error: AppError | None = None, status: int = 200):
    """The page, keeping whatever the form asked for so a failed POST can be fixed and resent."""
    chosen = {
        "k": request.form.get("k", "") if request.method == "POST" else "",
        "color_space": request.form.get("color_space", "rgb"),
        "dither": request.form.get("dither", "none"),
    }
    if answer:
        chosen = {"k": str(answer["k"]), **answer["options"]}
    page = render_template(
        "index.html", settings=page_settings(), answer=answer, error=error, chosen=chosen,
        color_spaces=COLOR_SPACES, dithers=DITHERS, human_bytes=human_bytes,
    )
    return page, status


@bp.get("/")
def index():
    return render_page()


@bp.post("/")
def index_form():
    """Without JavaScript: quantize the posted photo and show original and result."""
    try:
        prepared, options, rendered, stem, token = run_quantize()
    except AppError as error:
        return render_page(error=error, status=error.status)
    answer = describe(prepared, options, rendered, stem, token)
    preview = imaging.shrink_nearest(prepared.decoded.rgb, PREVIEW_SIDE)
    original = imaging.encode_jpeg(preview)
    answer["original_image"] = "data:image/jpeg;base64," + base64.b64encode(original).decode("ascii")
    answer["total_ms"] = round(sum(answer["timings"].values()))
    return render_page(answer=answer)


@bp.post("/download")
def download_form():
    """Without JavaScript: the full-resolution result of the page's last answer, as an attachment."""
    try:
        prepared, options, rendered, stem, token = run_quantize()
    except AppError as error:
        return render_page(error=error, status=error.status)
    return download(rendered.data, rendered.mime_type, result_filename(stem, options), token)
