"""The page: GET / serves it, and a plain form POST to / answers it with both images.

With JavaScript the page talks to the API (static/js/); without it the
form posts here and gets the same page back with original, result,
figures and palette filled in.
"""

from __future__ import annotations

import base64

from flask import Blueprint, current_app, render_template, request

from app import downloads, imaging, options, paint_by_number
from app.errors import AppError
from app.photos import recolor_request

bp = Blueprint("web", __name__)

# Longest side of the original shown beside the result on the no-JS page.
PREVIEW_SIDE = 1600
# "Clean up specks" on the page: min_region in pixels of a PREVIEW_SIDE view. The script scales
# them to the photo's full size, so a level looks alike on any photo; the no-JS form sends them as they are.
SPECK_LEVELS = (("Off", 0), ("Light", 10), ("Medium", 40), ("Strong", 160))


def page_settings() -> dict:
    config = current_app.config
    min_k, max_k = options.K.bounds(config)
    return {
        "default_k": options.K.default_in(config),
        "min_k": min_k,
        "slider_max_k": min(config["SLIDER_MAX_K"], max_k),
        "max_k": max_k,
        "default_ks": ",".join(map(str, options.KS.default_in(config))),
        "max_upload_mb": config["MAX_UPLOAD_MB"],
        "preview_side": PREVIEW_SIDE,
        "speck_levels": SPECK_LEVELS,
        "template_side": paint_by_number.WORKING_SIDE,
        "template_min_region": options.TEMPLATE_MIN_REGION.default_in(config),
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
        "color_space": request.form.get("color_space", options.COLOR_SPACE.default),
        "dither": request.form.get("dither", options.DITHER.default),
        "min_region": request.form.get("min_region", "0"),
    }
    if answer:
        chosen = {"k": str(answer["k"]), **answer["options"]}
    page = render_template(
        "index.html", settings=page_settings(), answer=answer, error=error, chosen=chosen,
        color_spaces=options.COLOR_SPACE.page_choices(), dithers=options.DITHER.page_choices(),
        human_bytes=human_bytes,
    )
    return page, status


@bp.get("/")
def index():
    return render_page()


@bp.post("/")
def index_form():
    """Without JavaScript: recolor the posted photo and show original and result."""
    try:
        photo, recolored = recolor_request()
    except AppError as error:
        return render_page(error=error, status=error.status)
    answer = recolored.as_answer(photo.token)
    preview = imaging.shrink_nearest(photo.prepared.decoded.rgb, PREVIEW_SIDE)
    original = imaging.encode_jpeg(preview)
    answer["original_image"] = "data:image/jpeg;base64," + base64.b64encode(original).decode("ascii")
    answer["total_ms"] = round(sum(answer["timings"].values()))
    return render_page(answer=answer)


@bp.post("/download")
def download_form():
    """Without JavaScript: the full-resolution result of the page's last answer (its image_id), as an attachment."""
    try:
        photo, recolored = recolor_request()
    except AppError as error:
        return render_page(error=error, status=error.status)
    rendered = recolored.rendered
    return downloads.attachment(rendered.data, rendered.mime_type, recolored.filename, photo.token)
