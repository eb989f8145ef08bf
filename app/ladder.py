"""The slider's ladder: POST /api/palettes answers the palettes of a photo for many k at once.

The page draws its preview itself, from the photo it already holds and a
palette: a palette is a few hundred bytes where a preview image is hundreds
of kilobytes. Each palette is exactly the one POST /api/quantize gives for
the same photo, k and color_space (method kmeans, no dithering): both take
it from the photo's FitCache (app/fits.py), or find it with the same call.
Palettes need the photo's histogram only, never its pixels: a photo another
worker uploaded (known here from the shared cache) is not decoded for them.

With early=1, a lab or oklab palette not found yet is answered as soon as its
fit has chosen it, without its figures (figures false): the page draws it
while the server assigns every color and measures. The fit is the one running
in the background (a background batch's), or one begun for it on a thread of
its own (background_fits.find_early), background work too, which goes on to the figures
and keeps the fit. The background answer, or asking again, brings the figures
of the same colors.

One k-means runs at a time per photo (app/fits.py). The page's background
batches (background=1) give way to any other palette someone waits for: a
k-means in the background is abandoned between two of its steps
(cancel.Cancelled) as soon as such a request comes, and the batch answers
what it has. The very palette someone waits for is found, not abandoned.

The page asks with delta_e=0: a palette to draw with needs no error figure,
and in RGB the mean CIEDE2000 costs a third of the palette at 12 MP. It is
measured when someone asks for it (delta_e=1, or /api/quantize), from the
kept fit, and is then the very number /api/quantize gives.
"""

from __future__ import annotations

import time

import numpy as np
from flask import Blueprint, Response, current_app, jsonify

from app import access_log, ahead, background_fits, cancel, forms, pipeline, summary
from app.photos import Photo, count_fits, read_photo

bp = Blueprint("ladder", __name__)
# The k made ahead right after a photo's first palette: its own, and the one on either side.
FIRST_NEAREST = 3


@bp.post("/api/palettes")
def palettes() -> Response:
    values = forms.read_all("/api/palettes")  # fields first: a bad one costs no decoding
    ks, color_space, background = values["ks"], values["color_space"], values["background"] == "1"
    delta_e = values["delta_e"] == "1"
    early = values["early"] == "1" and color_space != "rgb" and not background
    photo = read_photo(values)
    access_log.note(photo.pixels, f"{ks[0]}..{ks[-1]}" if len(ks) > 1 else ks[0])
    start = time.perf_counter()
    known_before = len(photo.fits)
    answers, found, early_answers = [], 0, 0
    # A background batch (the page fetching ahead) gives way as soon as someone waits for another palette
    # not found yet on this photo, even in the middle of a k; the page asks again for the rest later.
    for k in ks:
        try:
            if early and (palette := _early_palette(photo, k, color_space)) is not None:
                answers.append({"k": k, **pipeline.early_summary(palette)})
                early_answers += 1
                continue
            fit, kept = (background_fits.background_fit(photo.hist, photo.fits, (k, color_space), delta_e) if background
                         else _foreground_fit(photo, k, color_space, delta_e))
        except cancel.Cancelled:
            break
        found += not kept
        answers.append({"k": k, **pipeline.fit_summary(fit, delta_e)})
    if found:
        count_fits(photo)
    facts = photo.facts
    timings = {"quantize_ms": round((time.perf_counter() - start) * 1000, 1), "found": found,
               "early": early_answers, "cached": len(answers) - found - early_answers}
    if photo.uploaded:  # decoded and counted by this request: how long that took, for the page's first wait
        timings.update(photo.prepared.timings)
    response = jsonify({
        "image_id": photo.token,
        "color_space": color_space,
        "width": facts.width,
        "height": facts.height,
        "unique_colors": photo.hist.unique_colors,
        "bytes": facts.source_bytes,
        "palettes": answers,
        "unfinished": list(ks[len(answers):]),
        "timings": timings,
    })
    # Once answered, the slider's other RGB palettes' work that does not depend on k, ahead (app/ahead.py). After
    # the photo's first palette, for the k on either side of it only (a few ms: where a drag starts), since the
    # page then draws its first result and may switch the color space, both cores busy; the rest after a move.
    if color_space == "rgb" and found:
        hist, fits, max_k = photo.hist, photo.fits, current_app.config["SLIDER_MAX_K"]
        nearest = None if known_before else FIRST_NEAREST
        response.call_on_close(lambda: ahead.make_ahead(hist, fits, max_k, ks[0], nearest))
    return response


def _foreground_fit(photo: Photo, k: int, color_space: str, delta_e: bool) -> tuple[summary.PaletteFit, bool]:
    """pipeline.kmeans_fit's palette, for someone waiting: a palette to find makes background work give way."""
    fit = photo.fits.get((k, color_space))
    if fit is not None:
        return fit, True  # no k-means: nothing to interrupt for
    with photo.fits.foreground((k, color_space)):
        return pipeline.kmeans_fit(photo.hist, photo.fits, k, color_space, measure_delta_e=delta_e)


def _early_palette(photo: Photo, k: int, color_space: str) -> np.ndarray | None:
    """The palette of (k, color_space) as soon as the background fit for it chose it (app/fits.py), while waited
    for (other background work gives way): the one running (a background batch's), else one begun now
    (background_fits.find_early). None when none could run or it ended without (found meanwhile, failed, cancelled,
    no room): then it is found as without early."""
    key = (k, color_space)
    with photo.fits.foreground(key):
        if photo.fits.get(key) is None:
            cache = current_app.extensions["photo_cache"]
            background_fits.find_early(photo.hist, photo.fits, key, current_app.extensions["memory_budget"],
                                       lambda: cache.recount(photo.token, photo.nbytes))
        return photo.fits.early_palette(key)
