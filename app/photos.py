"""The photo of a request: from its 'image' upload, or from the cache by the 'image_id' of an earlier answer.

An upload is decoded once and kept (if it fits) in the worker's bounded
in-memory cache under a key made from its content (app/admission.py), so
the page's slider can send the token instead of the photo, and the same
photo sent again is not decoded again. A token the cache no longer holds
gets 410. Either way the request's memory is admitted under the budget first.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request

from app import admission, filenames, pipeline
from app.errors import AppError, bad_request
from app.forms import field
from app.imaging import ImageError

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


@dataclass(frozen=True)
class CachedPhoto:
    """What the cache keeps per token."""

    prepared: pipeline.Prepared
    stem: str  # the download name's stem, from the upload's file name


@dataclass(frozen=True)
class Photo:
    prepared: pipeline.Prepared
    stem: str
    token: str | None  # image_id for the next request; None when the cache is off or the photo too large
    uploaded: bool  # decoded by this request (its decode timings count here)

    @property
    def pixels(self) -> int:
        return self.prepared.decoded.width * self.prepared.decoded.height


def read_photo() -> Photo:
    """The prepared photo from an upload or from the cache, with its name stem and cache token."""
    if request.mimetype not in FORM_TYPES:
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
        stem = filenames.safe_stem(files[0].filename)
        try:  # admitted under the memory budget, and keyed by content: the same photo is decoded once
            prepared, token, uploaded = admission.prepare_upload(data, lambda p: CachedPhoto(p, stem))
        except ImageError as error:
            raise AppError.from_image_error(error) from None
        return Photo(prepared, stem, token, uploaded=uploaded)
    token = (field("image_id") or "").strip()
    if token:
        cached: CachedPhoto | None = admission.cached_photo(token)
        if cached is None:
            raise AppError(410, "image_expired", "The photo is no longer kept on the server. Send it again.")
        return Photo(cached.prepared, cached.stem, token, uploaded=False)
    raise bad_request("Add the photo as a file in the 'image' field.")


def count_fits(photo: Photo) -> None:
    """The photo's cache entry grew by the palettes found for it: count them in its bytes and the budget."""
    current_app.extensions["photo_cache"].recount(photo.token, photo.prepared.nbytes)
