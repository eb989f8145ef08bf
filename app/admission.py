"""Admission control for the HTTP layer: a request goes ahead only when its memory fits the budget.

The photo comes from an upload or from the caches (app/photos.py). Before
an upload is decoded, its header gives the pixel count; with the options the
form asked for (as forms.read_all parsed them), app/budget.py turns that into
the request's expected peak, which the request reserves until it ends
(teardown). A photo already counted needs only its histogram for palettes and
the curve: such a request reserves the histogram's work, and the pixels' peak
only if it goes on to use the pixels. No room within MEMORY_WAIT_SECONDS:
503 busy with Retry-After. More than the whole budget: 413 too_many_pixels,
naming the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from flask import Flask, current_app, g, request

from app import budget, options
from app.errors import AppError


@dataclass(frozen=True)
class Work:
    """What a request will do with the photo's pixels, as far as its memory goes: the options it was sent."""

    dither: str = options.DITHER.default
    method: str = options.METHOD.default
    color_space: str = options.COLOR_SPACE.default
    min_region: int = options.MIN_REGION.default
    template: bool = False  # a paint-by-number template

    @classmethod
    def of(cls, values: Mapping[str, Any], template: bool = False) -> "Work":
        """From the option values forms.read_all parsed (those an endpoint does not take keep their defaults)."""
        known = {name: values[name] for name in ("dither", "method", "color_space", "min_region") if name in values}
        return cls(**known, template=template)

    def bytes_for(self, pixels: int, upload_bytes: int = 0) -> int:
        return budget.request_bytes(pixels, dither=self.dither, method=self.method, color_space=self.color_space,
                                    upload_bytes=upload_bytes, min_region=self.min_region,
                                    template=self.template)

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


def admit(pixels: int, work: Work, upload_bytes: int = 0) -> None:
    """Reserve what this work on a photo of this many pixels takes, waiting a bounded time for room;
    AppError 503 or 413 otherwise."""
    _reserve(work.bytes_for(pixels, upload_bytes), pixels)


def admit_histogram(colors: int, pixels: int) -> None:
    """Reserve what work on the photo's histogram alone takes (palettes, the curve), never more than its pixels'."""
    needed = min(budget.histogram_request_bytes(colors), budget.request_bytes(pixels))
    _reserve(needed, pixels)


def _reserve(needed: int, pixels: int) -> None:
    memory: budget.Budget = current_app.extensions["memory_budget"]
    reservation = g.get("memory_reservation")
    if reservation is None:
        reservation = g.memory_reservation = memory.reservation()
    try:
        reservation.grow_to(needed, float(current_app.config["MEMORY_WAIT_SECONDS"]))
    except budget.NeverFits as refusal:
        largest = pixels * refusal.available / needed  # at the same bytes a pixel
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
