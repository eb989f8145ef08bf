"""Helping choose k and take the colors away: POST /api/curve, /api/contact-sheet and /api/palette.

Each takes the photo as /api/quantize does (an 'image' file or the
'image_id' of an earlier answer) and validates its fields before the
costly decode.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app import access_log, curve, downloads, forms, options, palettes, sheet
from app.photos import count_fits, read_photo

bp = Blueprint("explore", __name__)


@bp.post("/api/curve")
def error_curve() -> Response:
    values = forms.read_all("/api/curve")
    photo = read_photo(values)
    access_log.note(photo.pixels, f"{curve.CURVE_KS[0]}-{curve.CURVE_KS[-1]}")
    return jsonify({**curve.error_curve(photo.hist, values["color_space"]).as_json(),
                    "image_id": photo.token})


@bp.post("/api/contact-sheet")
def contact_sheet() -> Response:
    values = forms.read_all("/api/contact-sheet")
    photo = read_photo(values)
    access_log.note(photo.pixels, ",".join(map(str, values["ks"])))
    data = sheet.contact_sheet(photo.prepared, values["ks"], values["color_space"], values["dither"],
                               values["method"], tile_side=values["max_side"])
    count_fits(photo)
    return downloads.attachment(data, "image/png", f"{photo.stem}-contact-sheet.png", photo.token)


@bp.post("/api/palette")
def palette_file() -> Response:
    values = forms.read_all("/api/palette")
    photo = read_photo(values)
    chosen = options.engine_options(values)
    access_log.note(photo.pixels, chosen.k)
    fmt = values["format"]
    data = palettes.export(palettes.palette_of(photo.prepared, chosen), fmt, photo.stem)
    count_fits(photo)
    return downloads.attachment(data, palettes.MIME_TYPES[fmt], f"{photo.stem}-k{chosen.k}-palette.{fmt}",
                                photo.token)
