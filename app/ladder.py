"""The slider's ladder: POST /api/palettes answers the palettes of a photo for many k at once.

The page draws its preview itself, from the photo it already holds and a
palette: a palette is a few hundred bytes where a preview image is hundreds
of kilobytes. Each palette is exactly the one POST /api/quantize gives for
the same photo, k and color_space (method kmeans, no dithering): both take
it from the photo's FitCache, or find it with the same engine call.
"""

from __future__ import annotations

import re
import time
from contextlib import nullcontext

from flask import Blueprint, Response, current_app, jsonify

from app import pipeline, quantize
from app.api import choice_field, count_fits, field, log_request, read_photo
from app.errors import bad_request

bp = Blueprint("ladder", __name__)

MAX_KS = 64  # palettes in one answer: the whole slider, 2..64, at most


def ks_field(max_k: int) -> tuple[int, ...]:
    """ks: comma-separated values and ranges, such as "2,3,4" or "2-64"; the message names the value at fault."""
    raw = field("ks")
    if raw is None:
        raise bad_request("Send ks: the values of k to find palettes for, such as 2,3,4 or 2-64.")
    ks: list[int] = []
    for part in (part.strip() for part in raw.split(",")):
        bounds = re.fullmatch(r"([0-9]{1,9})(?:\s*-\s*([0-9]{1,9}))?", part)
        if not bounds:
            raise bad_request(f"Each value in ks must be a whole number or a range such as 2-64, got {part[:40]!r}.")
        low, high = int(bounds[1]), int(bounds[2] or bounds[1])
        for k in (low, high):
            if not quantize.MIN_K <= k <= max_k:
                raise bad_request(f"Each value in ks must be between {quantize.MIN_K} and {max_k}, got {k}.")
        if high < low:
            raise bad_request(f"A range in ks must go upward, got {part!r}.")
        if len(ks) + high - low + 1 > MAX_KS:
            raise bad_request(f"ks holds at most {MAX_KS} values.")
        for k in range(low, high + 1):
            if k in ks:
                raise bad_request(f"ks lists {k} twice; give each value once.")
            ks.append(k)
    return tuple(ks)


@bp.post("/api/palettes")
def palettes_endpoint() -> Response:
    ks = ks_field(int(current_app.config["MAX_K"]))  # validate fields before the costly decode
    color_space = choice_field("color_space", quantize.COLOR_SPACES, "rgb")
    background = choice_field("background", ("0", "1"), "0") == "1"
    prepared, _, token = read_photo()
    log_request(prepared, f"{ks[0]}..{ks[-1]}" if len(ks) > 1 else ks[0])
    start = time.perf_counter()
    answers, found = [], 0
    # A background batch (the page fetching ahead) stops between two k when someone waits for
    # another answer on this photo; the page asks again for the rest later.
    with nullcontext() if background else prepared.fits.foreground():
        for k in ks:
            if background and answers and prepared.fits.wanted_now:
                break
            fit, cached = pipeline.kmeans_fit(prepared, k, color_space)
            found += not cached
            answers.append({"k": k, **pipeline.fit_summary(fit)})
    count_fits(prepared, token)
    decoded = prepared.decoded
    return jsonify({
        "image_id": token,
        "color_space": color_space,
        "width": decoded.width,
        "height": decoded.height,
        "unique_colors": prepared.hist.unique_colors,
        "bytes": prepared.source_bytes,
        "palettes": answers,
        "unfinished": list(ks[len(answers):]),
        "timings": {"quantize_ms": round((time.perf_counter() - start) * 1000, 1), "found": found,
                    "cached": len(ks) - found},
    })
