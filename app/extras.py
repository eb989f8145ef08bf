"""Helping choose k and take the colors away: POST /api/curve, /api/contact-sheet and /api/palette.

Each takes the photo as /api/quantize does (an 'image' file or the
'image_id' of an earlier answer) and validates its fields before the
costly decode.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, jsonify

from app import curve, palettes, pipeline, quantize, sheet
from app.api import choice_field, count_fits, download, field, int_field, log_request, read_options, read_photo
from app.errors import bad_request

bp = Blueprint("extras", __name__)


def ks_field(max_k: int) -> tuple[int, ...]:
    """The comma-separated ks field; the message names the value at fault."""
    raw = field("ks")
    if raw is None:  # absent; a field sent empty is a bad value, named below
        return sheet.DEFAULT_KS
    parts = [part.strip() for part in raw.split(",")]
    if len(parts) > sheet.MAX_TILES:
        raise bad_request(f"ks holds at most {sheet.MAX_TILES} values, got {len(parts)}.")
    ks = []
    for part in parts:
        if not re.fullmatch(r"[0-9]{1,9}", part):
            raise bad_request(f"Each value in ks must be a whole number between 2 and {max_k}, got {part[:40]!r}.")
        k = int(part)
        if not 2 <= k <= max_k:
            raise bad_request(f"Each value in ks must be between 2 and {max_k}, got {k}.")
        if k in ks:
            raise bad_request(f"ks lists {k} twice; give each value once.")
        ks.append(k)
    return tuple(ks)


@bp.post("/api/curve")
def curve_endpoint() -> Response:
    color_space = choice_field("color_space", quantize.COLOR_SPACES, "rgb")
    prepared, _, token = read_photo()
    log_request(prepared, f"{curve.CURVE_KS[0]}-{curve.CURVE_KS[-1]}")
    return jsonify({**curve.error_curve(prepared.hist, color_space).as_json(), "image_id": token})


@bp.post("/api/contact-sheet")
def contact_sheet_endpoint() -> Response:
    ks = ks_field(int(current_app.config["MAX_K"]))
    color_space = choice_field("color_space", quantize.COLOR_SPACES, "rgb")
    dither = choice_field("dither", pipeline.DITHERS, "none")
    method = choice_field("method", pipeline.METHODS, "kmeans")
    tile_side = int_field("max_side", sheet.DEFAULT_TILE_SIDE, 64, 2048)
    prepared, stem, token = read_photo()
    log_request(prepared, ",".join(map(str, ks)))
    data = sheet.contact_sheet(prepared, ks, color_space, dither, method, tile_side)
    count_fits(prepared, token)
    return download(data, "image/png", f"{stem}-contact-sheet.png", token)


@bp.post("/api/palette")
def palette_endpoint() -> Response:
    options = read_options()
    fmt = choice_field("format", palettes.FORMATS, "json")
    prepared, stem, token = read_photo()
    log_request(prepared, options.k)
    data = palettes.export(palettes.palette_of(prepared, options), fmt, stem)
    count_fits(prepared, token)
    return download(data, palettes.MIME_TYPES[fmt], f"{stem}-k{options.k}-palette.{fmt}", token)
