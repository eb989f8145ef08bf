"""Helping choose k and take the colors away: POST /api/curve, /api/contact-sheet and /api/palette.

Each takes the photo as /api/quantize does (an 'image' file or the
'image_id' of an earlier answer) and validates its fields before the
costly decode.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, jsonify, request

from app import curve, palettes, pipeline, quantize, sheet
from app.api import choice_field, field, int_field, read_photo
from app.errors import bad_request

bp = Blueprint("extras", __name__)


def _log(prepared: pipeline.Prepared, k: object) -> None:
    request.environ["kmeans.log"] = {"pixels": prepared.decoded.width * prepared.decoded.height, "k": k}


def _color_space() -> str:
    return choice_field("color_space", quantize.COLOR_SPACES, "rgb")


def _download(data: bytes, mime_type: str, filename: str, token: str | None) -> Response:
    response = Response(data, content_type=mime_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    if token:
        response.headers["X-Image-Id"] = token
    return response


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
    color_space = _color_space()
    prepared, _, token = read_photo()
    _log(prepared, f"{curve.CURVE_KS[0]}-{curve.CURVE_KS[-1]}")
    return jsonify({**curve.error_curve(prepared.hist, color_space).as_json(), "image_id": token})


@bp.post("/api/contact-sheet")
def contact_sheet_endpoint() -> Response:
    ks = ks_field(int(current_app.config["MAX_K"]))
    color_space = _color_space()
    dither = choice_field("dither", pipeline.DITHERS, "none")
    method = choice_field("method", pipeline.METHODS, "kmeans")
    tile_side = int_field("max_side", sheet.DEFAULT_TILE_SIDE, 64, 2048)
    prepared, stem, token = read_photo()
    _log(prepared, ",".join(map(str, ks)))
    data = sheet.contact_sheet(prepared, ks, color_space, dither, method, tile_side)
    return _download(data, "image/png", f"{stem}-contact-sheet.png", token)


@bp.post("/api/palette")
def palette_endpoint() -> Response:
    config = current_app.config
    options = pipeline.Options(
        k=int_field("k", config["DEFAULT_K"], 2, config["MAX_K"]),
        color_space=_color_space(),
        dither=choice_field("dither", pipeline.DITHERS, "none"),
        method=choice_field("method", pipeline.METHODS, "kmeans"),
    )
    fmt = choice_field("format", palettes.FORMATS, "json")
    prepared, stem, token = read_photo()
    _log(prepared, options.k)
    data = palettes.export(palettes.palette_of(prepared, options), fmt, stem)
    return _download(data, palettes.MIME_TYPES[fmt], f"{stem}-k{options.k}-palette.{fmt}", token)
