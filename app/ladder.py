"""The slider's ladder: POST /api/palettes answers the palettes of a photo for many k at once.

The page draws its preview itself, from the photo it already holds and a
palette: a palette is a few hundred bytes where a preview image is hundreds
of kilobytes. Each palette is exactly the one POST /api/quantize gives for
the same photo, k and color_space (method kmeans, no dithering): both take
it from the photo's FitCache (app/fits.py), or find it with the same call.
Palettes need the photo's histogram only, never its pixels: a photo another
worker uploaded (known here from the shared cache) is not decoded for them.
"""

from __future__ import annotations

import time
from contextlib import nullcontext

from flask import Blueprint, Response, jsonify

from app import access_log, forms, pipeline
from app.photos import count_fits, read_photo

bp = Blueprint("ladder", __name__)


@bp.post("/api/palettes")
def palettes() -> Response:
    values = forms.read_all("/api/palettes")  # fields first: a bad one costs no decoding
    ks, color_space, background = values["ks"], values["color_space"], values["background"] == "1"
    photo = read_photo()
    access_log.note(photo.pixels, f"{ks[0]}..{ks[-1]}" if len(ks) > 1 else ks[0])
    start = time.perf_counter()
    answers, found = [], 0
    fits = photo.fits  # the photo's cache entry's: a photo known by its histogram alone is not decoded
    # A background batch (the page fetching ahead) stops between two k when someone waits for
    # another answer on this photo; the page asks again for the rest later.
    with nullcontext() if background else fits.foreground():
        for k in ks:
            if background and answers and fits.wanted_now:
                break
            fit, kept = pipeline.kmeans_fit(photo.hist, fits, k, color_space)
            found += not kept
            answers.append({"k": k, **pipeline.fit_summary(fit)})
    count_fits(photo)
    facts = photo.facts
    return jsonify({
        "image_id": photo.token,
        "color_space": color_space,
        "width": facts.width,
        "height": facts.height,
        "unique_colors": photo.hist.unique_colors,
        "bytes": facts.source_bytes,
        "palettes": answers,
        "unfinished": list(ks[len(answers):]),
        "timings": {"quantize_ms": round((time.perf_counter() - start) * 1000, 1), "found": found,
                    "cached": len(answers) - found},
    })
