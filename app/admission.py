"""Admission control for the HTTP layer: a request goes ahead only when its memory fits the budget.

The photo comes from an upload or from the caches (app/photos.py). Before
an upload is decoded, its header gives the pixel count; with the options in
the form, app/budget.py turns that into the request's expected peak, which
the request reserves until it ends (teardown). No room within
MEMORY_WAIT_SECONDS: 503 busy with Retry-After. More than the whole budget:
413 too_many_pixels, naming the budget.
"""

from __future__ import annotations

import math

from flask import Flask, current_app, g, request

from app import budget
from app.errors import AppError

RETRY_AFTER_SECONDS = 5


def create_budget(config) -> budget.Budget:
    """The budget of this process (shared with the other workers under gunicorn), holding its own memory."""
    total_mb = int(config["MEMORY_MB"]) or budget.detected_memory() // budget.MB
    memory = budget.Budget(total_mb * budget.MB, budget.current_ledger())
    memory.hold_baseline(budget.process_memory())
    if isinstance(memory.ledger, budget.SharedLedger):
        memory.start_relief()  # this worker's cache gives way to requests waiting in the others
    return memory


def describe_budget(memory: budget.Budget) -> str:
    """One line for the log at start: how much memory, and how much of it is left for photos."""
    return (f"memory budget: MEMORY_MB={memory.total // budget.MB}; the server's processes hold "
            f"{memory.ledger.baselines() // budget.MB} MB, {memory.room_for_requests() // budget.MB} MB "
            "are left for photos")


def register(app: Flask) -> None:
    app.before_request(_hold_the_upload)
    app.teardown_request(_release)


def _hold_the_upload() -> None:
    """An upload is in memory twice (the body, then the file read from it) before its header can be
    read: hold that much from the start, so that uploads arriving together cannot overrun the budget."""
    declared = request.content_length
    if not declared or declared > (request.max_content_length or 0):
        return  # no body, or one refused with 413 before it is read
    memory: budget.Budget = current_app.extensions["memory_budget"]
    reservation = g.memory_reservation = memory.reservation()
    try:
        reservation.grow_to(2 * declared, float(current_app.config["MEMORY_WAIT_SECONDS"]))
    except budget.NeverFits:
        pass  # MAX_UPLOAD_MB bounds it; the photo's own estimate decides below
    except budget.Busy:
        raise _busy() from None


def _release(error: BaseException | None = None) -> None:
    reservation = g.pop("memory_reservation", None)
    if reservation is not None:
        reservation.release()


def _form_choice(name: str, default: str) -> str:
    values = request.form.getlist(name) if request.mimetype in ("multipart/form-data",
                                                                "application/x-www-form-urlencoded") else []
    return values[0].strip().lower() if len(values) == 1 else default


def _whole_number(text: str) -> int:
    return int(text) if text.isdigit() else 0  # a bad value never gets this far: the fields are checked first


def expected_bytes(pixels: int, upload_bytes: int = 0) -> int:
    """What this request will take for a photo of this many pixels, with the options its form asks for."""
    return budget.request_bytes(pixels, dither=_form_choice("dither", "none"), method=_form_choice("method", "kmeans"),
                                color_space=_form_choice("color_space", "rgb"), upload_bytes=upload_bytes,
                                min_region=_whole_number(_form_choice("min_region", "0")),
                                template=request.path == "/api/paint-by-number")


def admit(pixels: int, upload_bytes: int = 0) -> None:
    """Reserve this request's memory, waiting a bounded time for room; AppError 503 or 413 otherwise."""
    memory: budget.Budget = current_app.extensions["memory_budget"]
    reservation = g.get("memory_reservation")
    if reservation is None:
        reservation = g.memory_reservation = memory.reservation()
    needed = expected_bytes(pixels, upload_bytes)
    try:
        reservation.grow_to(needed, float(current_app.config["MEMORY_WAIT_SECONDS"]))
    except budget.NeverFits as refusal:
        per_pixel = needed / max(pixels, 1)
        largest = max(0, refusal.available - (needed - int(per_pixel * pixels))) / per_pixel
        raise AppError(413, "too_many_pixels", (
            f"The image is {pixels / 1e6:.1f} megapixels; with these options this server's memory budget "
            f"(MEMORY_MB = {memory.total // budget.MB}, of which {refusal.available // budget.MB} MB for photos) "
            f"takes at most {math.floor(largest / 1e5) / 10:.1f} megapixels. Resize it and try again.")) from None
    except budget.Busy:
        raise _busy() from None


def _busy() -> AppError:
    return AppError(503, "busy", (
        "The server is busy with other photos and has no memory free for this one right now. "
        f"Try again in {RETRY_AFTER_SECONDS} seconds."), headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
