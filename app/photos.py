"""The photo of a request: from its 'image' upload, or from the caches by the 'image_id' the page sends.

A photo's image_id is the SHA-256 of its bytes (cache.content_id), so the page
can compute it itself and ask by hash before it uploads anything. Two levels
keep photos between requests:
  1. this worker's in-memory cache (app/cache.py): the decoded photo, ready;
  2. with REDIS_URL, the cache every worker and replica shares (app/shared_cache.py):
     the histogram and facts, enough for palettes and figures, and the upload's
     bytes, decoded again only when a request needs the pixels.
An image_id neither level holds gets 410, and the page sends the photo again.
Whatever the source, the request's memory is admitted under the budget
(app/admission.py) before any decoding: for a photo found in a cache, what its
histogram's work takes, and the pixels' peak only once the request uses them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from flask import current_app, request

from app import access_log, admission, filenames, forms, histograms, imaging, options, pipeline, results
from app.cache import PhotoCache, content_id
from app.errors import AppError, bad_request
from app.fits import FitCache
from app.forms import field
from app.imaging import ImageError
from app.shared_cache import PhotoFacts, SharedCache, SharedPhoto

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
IMAGE_ID = re.compile(r"[0-9a-f]{64}")


def expired() -> AppError:
    return AppError(410, "image_expired", "The photo is no longer kept on the server. Send it again.")


@dataclass(frozen=True)
class CachedPhoto:
    """What the first level keeps per image_id: the decoded photo, or only what palettes need.

    fits, the palettes found for the photo, belong to the entry, not to its decoded pixels: the entry
    made when the photo is decoded here hands them on to its Prepared, so palettes found before the
    decode serve after it, and /api/quantize takes the very palette /api/palettes answered.
    """

    facts: PhotoFacts
    hist: histograms.Histogram
    prepared: pipeline.Prepared | None  # None: taken from the shared cache, not decoded here yet
    fits: FitCache  # the palettes found for the photo (app/fits.py)

    def __post_init__(self) -> None:
        if self.prepared is not None and self.prepared.fits is not self.fits:
            raise ValueError("a cached photo's Prepared must hold the entry's own FitCache")

    @property
    def nbytes(self) -> int:
        """Memory held, the palettes found so far included (the cache counts it again as they grow)."""
        if self.prepared is not None:
            return self.prepared.nbytes  # its fits are the entry's
        # What the engine keeps per color once palettes are found (as a decoded photo's Prepared counts it)
        return self.hist.unique_colors * histograms.CACHED_BYTES_PER_COLOR + self.fits.nbytes


class Photo:
    """The photo a request works on. Its pixels are decoded on first use when only its histogram was at hand,
    and their memory is admitted then."""

    def __init__(self, cached: CachedPhoto, image_id: str | None, uploaded: bool, work: admission.Work,
                 stem: str | None = None):
        self._cached = cached
        self.token = image_id  # image_id for the next request; None when no cache could keep it
        self.uploaded = uploaded  # decoded by this request (its decode timings count here)
        self.stem = stem or cached.facts.stem  # the download name's stem
        self._work = work
        self._pixels_admitted = uploaded  # an upload's decoding was admitted with its pixels

    @property
    def hist(self) -> histograms.Histogram:
        return self._cached.hist

    @property
    def facts(self) -> PhotoFacts:
        return self._cached.facts

    @property
    def pixels(self) -> int:
        return self.facts.width * self.facts.height

    @property
    def fits(self) -> FitCache:
        """The palettes found for this photo: no decoding needed to read or add to them."""
        return self._cached.fits

    @property
    def nbytes(self) -> int:
        return self._cached.nbytes

    @property
    def prepared(self) -> pipeline.Prepared:
        """The decoded photo: the request's work on its pixels is admitted first."""
        if self._cached.prepared is None:
            self._cached = _decode_shared(self.token, self._cached, self._work)
        elif not self._pixels_admitted:
            admission.admit(self.pixels, self._work)
        self._pixels_admitted = True
        return self._cached.prepared


def _first_level() -> PhotoCache:
    return current_app.extensions["photo_cache"]


def _second_level() -> SharedCache | None:
    return current_app.extensions.get("shared_cache")


def _keep(image_id: str, cached: CachedPhoto) -> bool:
    cache = _first_level()
    return bool(cache.max_bytes) and cache.put(cached, cached.nbytes, key=image_id) is not None


def _decode_shared(image_id: str | None, cached: CachedPhoto, work: admission.Work) -> CachedPhoto:
    """The pixels of a photo the shared cache holds: its upload decoded again, its histogram reused."""
    shared = _second_level()
    source = shared.source(image_id) if shared is not None and image_id else None
    if source is None:
        raise expired()
    admission.admit(cached.facts.width * cached.facts.height, work, upload_bytes=len(source))
    try:
        prepared = pipeline.prepare(source, current_app.config["MAX_PIXELS"], known_hist=cached.hist,
                                    fits=cached.fits)
    except ImageError as error:  # it was decoded once already; only a changed MAX_PIXELS gets here
        raise AppError.from_image_error(error) from None
    decoded = CachedPhoto(cached.facts, cached.hist, prepared, cached.fits)
    _keep(image_id, decoded)
    return decoded


def _from_upload(data: bytes, filename: str | None, work: admission.Work) -> Photo:
    image_id = content_id(data)
    stem = filenames.safe_stem(filename)
    cached: CachedPhoto | None = _first_level().get(image_id)
    if cached is not None and cached.prepared is not None:
        admission.admit_histogram(cached.hist.unique_colors, cached.facts.width * cached.facts.height)
        return Photo(cached, image_id, uploaded=False, work=work, stem=stem)  # sent again: no second decode
    max_pixels = int(current_app.config["MAX_PIXELS"])
    try:
        width, height = imaging.open_image(data, max_pixels).size  # the header only, before admission
        admission.admit(width * height, work, upload_bytes=len(data))
        # Its histogram and palettes may be here already, from the shared cache: then they are not found again.
        prepared = pipeline.prepare(data, max_pixels, known_hist=None if cached is None else cached.hist,
                                    fits=None if cached is None else cached.fits)
    except ImageError as error:
        raise AppError.from_image_error(error) from None
    decoded = prepared.decoded
    facts = PhotoFacts(stem, decoded.width, decoded.height, len(data), decoded.source_format)
    cached = CachedPhoto(facts, prepared.hist, prepared, prepared.fits)
    kept = _keep(image_id, cached)
    shared = _second_level()
    if shared is not None and shared.put(image_id, SharedPhoto(facts, prepared.hist), data):
        kept = True
    return Photo(cached, image_id if kept else None, uploaded=True, work=work)


def _from_caches(image_id: str, work: admission.Work) -> Photo:
    cached: CachedPhoto | None = _first_level().get(image_id)
    if cached is None:
        shared = _second_level()
        found = shared.photo(image_id) if shared is not None and IMAGE_ID.fullmatch(image_id) else None
        if found is None:
            raise expired()
        cached = CachedPhoto(found.facts, found.hist, None, FitCache())
        _keep(image_id, cached)
    admission.admit_histogram(cached.hist.unique_colors, cached.facts.width * cached.facts.height)
    return Photo(cached, image_id, uploaded=False, work=work)


def read_photo(values: Mapping[str, Any]) -> Photo:
    """The photo from an upload or from the caches, with its name stem and image_id.

    values: the endpoint's options as forms.read_all parsed them, for the memory the work takes.
    """
    work = admission.Work.of(values, template=request.path == "/api/paint-by-number")
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
        limit_mb = int(current_app.config["MAX_UPLOAD_MB"])
        if len(data) > limit_mb * 2**20:
            raise AppError(413, "too_large", f"The upload is larger than the limit of {limit_mb} MB. "
                                             "Send a smaller file.")
        return _from_upload(data, files[0].filename, work)
    image_id = (field("image_id") or "").strip()
    if image_id:
        return _from_caches(image_id, work)
    raise bad_request("Add the photo as a file in the 'image' field.")


def count_fits(photo: Photo) -> None:
    """The photo's cache entry grew by the palettes found for it: count them in its bytes and the budget.

    Reads the entry as it is: a photo known by its histogram alone is not decoded for this."""
    current_app.extensions["photo_cache"].recount(photo.token, photo.nbytes)


def recolor_request() -> tuple[Photo, results.Recolored]:
    """The photo of a POST /api/quantize form (or the page's no-JS form) and its result."""
    values = forms.read_all("/api/quantize")  # fields first: a bad one costs no decoding
    photo = read_photo(values)
    chosen = options.engine_options(values, fmt=values["format"])
    access_log.note(photo.pixels, chosen.k)
    recolored = results.recolor(photo.prepared, chosen, photo.stem, decoded_here=photo.uploaded)
    count_fits(photo)
    return photo, recolored
