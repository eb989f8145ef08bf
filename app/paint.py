"""POST /api/paint-by-number: a printable template of the photo (app/paint_by_number.py).

Takes the photo as /api/quantize does (an 'image' file or the 'image_id'
of an earlier answer) and validates its fields before the costly decode.
"""

from __future__ import annotations

from flask import Blueprint, Response

from app import access_log, downloads, forms, paint_by_number, template_png, template_svg
from app.photos import read_photo

bp = Blueprint("paint", __name__)

MIME_TYPES = {"svg": "image/svg+xml", "png": "image/png"}


@bp.post("/api/paint-by-number")
def paint_by_number_template() -> Response:
    values = forms.read_all("/api/paint-by-number")  # fields first: a bad one costs no decoding
    photo = read_photo(values)
    access_log.note(photo.pixels, values["k"])
    template = paint_by_number.make_template(photo.prepared, values["k"], values["color_space"], values["min_region"],
                                             values["min_font"])
    fmt = values["format"]
    if fmt == "svg":
        title = f"{photo.stem}: paint by number, {len(template.result.palette)} colors"
        data = template_svg.to_svg(template, title=title)
    else:
        data = template_png.to_png(template)
    response = downloads.attachment(data, MIME_TYPES[fmt], f"{photo.stem}-k{values['k']}-paint-by-number.{fmt}",
                                    photo.token)
    response.headers["X-Colors"] = str(len(template.result.palette))
    response.headers["X-Regions"] = str(template.regions.after)
    return response
