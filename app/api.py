"""The HTTP API: POST /api/quantize, GET /healthz, GET /api/openapi.json."""

from __future__ import annotations

import base64
import re

from flask import Blueprint, Response, current_app, jsonify, request

from app import pipeline, quantize
from app.errors import AppError, bad_request
from app.imaging import ImageError
from app.openapi import openapi_document

bp = Blueprint("api", __name__)


def field(name: str, default: str | None = None) -> str | None:
    """One form field, refusing it when it was sent more than once."""
    values = request.form.getlist(name)
    if len(values) > 1:
        raise bad_request(f"Send {name} once, not {len(values)} times.")
    return values[0].strip() if values else default


def int_field(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = field(name)
    if raw is None:  # absent; a field sent empty is a bad value, named below
        return default
    if not re.fullmatch(r"[+-]?[0-9]{1,9}", raw):
        raise bad_request(f"{name} must be a whole number between {low} and {high}, got {raw[:40]!r}.")
    value = int(raw)
    if not low <= value <= high:
        raise bad_request(f"{name} must be between {low} and {high}, got {value}.")
    return value


def choice_field(name: str, allowed: tuple[str, ...], default: str) -> str:
    value = (field(name) or default).lower()
    if value not in allowed:
        raise bad_request(f"{name} must be one of {', '.join(allowed)}, got {value[:40]!r}.")
    return value


def read_options(**fields) -> pipeline.Options:
    """k, color_space, dither and method from the form, plus the endpoint's own `fields`."""
    config = current_app.config
    return pipeline.Options(
        k=int_field("k", config["DEFAULT_K"], 2, config["MAX_K"]),
        color_space=choice_field("color_space", quantize.COLOR_SPACES, "rgb"),
        dither=choice_field("dither", pipeline.DITHERS, "none"),
        method=choice_field("method", pipeline.METHODS, "kmeans"),
        **fields,
    )


def log_request(prepared: pipeline.Prepared, k: object) -> None:
    """What the access log line tells of this request (app/hooks.py): never the image or its name."""
    request.environ["kmeans.log"] = {"pixels": prepared.decoded.width * prepared.decoded.height, "k": k}


def download(data: bytes, mime_type: str, filename: str, token: str | None) -> Response:
    response = Response(data, content_type=mime_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    if token:
        response.headers["X-Image-Id"] = token
    return response


def result_filename(stem: str, options: pipeline.Options) -> str:
    return f"{stem}-k{options.k}.{options.fmt.replace('jpeg', 'jpg')}"


def safe_stem(filename: str | None) -> str:
    """A download name from the upload's name: plain characters only, never a path."""
    stem = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_")[:60]
    return stem or "image"


def read_photo() -> tuple[pipeline.Prepared, str, str | None]:
    """The prepared photo from an upload or from the cache, its name stem and cache token."""
    cache = current_app.extensions["photo_cache"]
    if request.mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise bad_request("Send the photo as multipart/form-data with an 'image' file field.")
    files = request.files.getlist("image")
    if len(files) > 1:
        raise bad_request(f"Send one image, not {len(files)}.")
    if files and not files[0].filename and not files[0].stream.getbuffer().nbytes and field("image_id"):
        files = []  # the page's form sent with no file chosen, but with the image_id of its last answer
    if files:
        data = files[0].read()
        if not data and not files[0].filename:  # a form sent with no file chosen
            raise bad_request("Add the photo as a file in the 'image' field.")
        try:
            prepared = pipeline.prepare(data, current_app.config["MAX_PIXELS"])
        except ImageError as error:
            raise AppError.from_image_error(error) from None
        stem = safe_stem(files[0].filename)
        token = cache.put((prepared, stem), prepared.nbytes) if cache.max_bytes else None
        return prepared, stem, token
    token = field("image_id")
    if token:
        cached = cache.get(token)
        if cached is None:
            raise AppError(410, "image_expired", "The photo is no longer kept on the server. Send it again.")
        return cached[0], cached[1], token
    raise bad_request("Add the photo as a file in the 'image' field.")


def count_fits(prepared: pipeline.Prepared, token: str | None) -> None:
    """The photo's cache entry grew by the palettes found for it: count them in its bytes."""
    current_app.extensions["photo_cache"].recount(token, prepared.nbytes)


def run_quantize() -> tuple[pipeline.Prepared, pipeline.Options, pipeline.Rendered, str, str | None]:
    options = read_options(  # validate fields before the costly decode
        fmt=choice_field("format", ("png", "jpeg", "jpg", "webp"), "png").replace("jpg", "jpeg"),
        max_side=int_field("max_side", None, 16, 100_000),
    )
    prepared, stem, token = read_photo()
    rendered = pipeline.render(prepared, options)
    count_fits(prepared, token)
    return prepared, options, rendered, stem, token


def describe(prepared, options, rendered, stem, token) -> dict:
    """The JSON body for a quantize answer; the page and API clients read it."""
    result = rendered.result
    decoded = prepared.decoded
    return {
        "image": f"data:{rendered.mime_type};base64," + base64.b64encode(rendered.data).decode("ascii"),
        "image_id": token,
        "filename": result_filename(stem, options),
        "width": rendered.width,
        "height": rendered.height,
        "k": options.k,
        **pipeline.fit_summary(result),
        "original": {
            "width": decoded.width,
            "height": decoded.height,
            "pixels": decoded.width * decoded.height,
            "unique_colors": prepared.hist.unique_colors,
            "bytes": prepared.source_bytes,
            "format": decoded.source_format,
        },
        "result": {"bytes": len(rendered.data), "format": options.fmt, "bit_depth": rendered.bit_depth,
                   "full_resolution": (rendered.width, rendered.height) == (decoded.width, decoded.height)},
        "options": {"color_space": options.color_space, "dither": options.dither, "method": options.method},
        # Decoding is counted only in the request that actually decoded the photo.
        "timings": {**(prepared.timings if "image" in request.files else {}), **rendered.timings},
    }


@bp.post("/api/quantize")
def quantize_endpoint() -> Response:
    prepared, options, rendered, stem, token = run_quantize()
    log_request(prepared, options.k)
    if request.accept_mimetypes.best_match([rendered.mime_type, "application/json"]) == "application/json":
        return jsonify(describe(prepared, options, rendered, stem, token))
    response = download(rendered.data, rendered.mime_type, result_filename(stem, options), token)
    response.headers["X-Colors"] = str(len(rendered.result.palette))
    return response


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/api/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document(current_app.config))
