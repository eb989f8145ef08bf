"""POST /api/paint-by-number: a printable template of the photo (app/paint_by_number.py).

Takes the photo as /api/quantize does (an 'image' file or the 'image_id'
of an earlier answer) and validates its fields before the costly decode.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from app import cleaning, paint_by_number, quantize, template_png, template_svg
from app.api import choice_field, download, int_field, log_request, read_photo

bp = Blueprint("paint", __name__)

MIME_TYPES = {"svg": "image/svg+xml", "png": "image/png"}


@bp.post("/api/paint-by-number")
def paint_by_number_endpoint() -> Response:
    config = current_app.config
    k = int_field("k", config["DEFAULT_K"], 2, config["MAX_K"])
    color_space = choice_field("color_space", quantize.COLOR_SPACES, "rgb")
    min_region = int_field("min_region", paint_by_number.DEFAULT_MIN_REGION, 0, cleaning.MAX_MIN_REGION)
    fmt = choice_field("format", paint_by_number.FORMATS, "svg")
    prepared, stem, token = read_photo()
    log_request(prepared, k)
    template = paint_by_number.make_template(prepared, k, color_space, min_region)
    if fmt == "svg":
        data = template_svg.to_svg(template, title=f"{stem}: paint by number, {len(template.result.palette)} colors")
    else:
        data = template_png.to_png(template)
    response = download(data, MIME_TYPES[fmt], f"{stem}-k{k}-paint-by-number.{fmt}", token)
    response.headers["X-Colors"] = str(len(template.result.palette))
    response.headers["X-Regions"] = str(template.regions.after)
    return response
