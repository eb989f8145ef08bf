"""The whole job, shared by the command line and the HTTP API.

prepare() decodes a photo and counts its colors once; render() turns a
prepared photo into a k-color image. The page's slider calls render()
again and again on the same prepared photo.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from app import cleaning, histograms, imaging, quantize, summary
from app.fits import FitCache

METHODS = ("kmeans", "mediancut", "octree")
DITHERS = ("none", "floyd-steinberg")
_PIL_METHODS = {"mediancut": Image.Quantize.MEDIANCUT, "octree": Image.Quantize.FASTOCTREE}


@dataclass(frozen=True)
class Prepared:
    """A decoded photo with its color histogram."""

    decoded: imaging.Decoded
    hist: histograms.Histogram  # visible pixels only
    source_bytes: int
    timings: dict[str, float] = field(default_factory=dict)
    # The k-means palettes found so far, by (k, color_space): the photo's cache entry's own (app/photos.py),
    # shared with it, so palettes found before the decode serve after it.
    fits: FitCache = field(default_factory=FitCache, compare=False, repr=False)

    @property
    def keys(self) -> np.ndarray:
        """(H*W,) uint32 0xRRGGBB of every pixel: a view of the decoded pixels, not a copy."""
        return self.decoded.keys

    @property
    def nbytes(self) -> int:
        """Memory held, the palettes found so far included: the photo cache counts it again as they grow."""
        # Per distinct color: the histogram and what the engine keeps for the photo's next palettes.
        return self.decoded.nbytes + self.hist.unique_colors * histograms.CACHED_BYTES_PER_COLOR + self.fits.nbytes


def conflict(min_region: int, dither: str) -> str | None:
    """What is wrong with options that are each fine alone but not together, or None."""
    if min_region and dither != "none":
        return ("min_region cleans flat regions and dither scatters pixels on purpose: "
                "send dither=none with min_region, or min_region=0.")
    return None


@dataclass(frozen=True)
class Options:
    k: int = 16
    color_space: str = "rgb"
    dither: str = "none"
    method: str = "kmeans"
    fmt: str = "png"
    max_side: int | None = None  # preview: shrink the result, never its palette or figures
    min_region: int = 0  # pixels of the full image; regions under it merge into a neighbour (app/cleaning.py)

    def check(self) -> None:
        quantize.check_k(self.k)
        cleaning.check_min_region(self.min_region)
        problem = conflict(self.min_region, self.dither)
        if problem:
            raise ValueError(problem)
        for name, value, allowed in (
            ("color_space", self.color_space, quantize.COLOR_SPACES),
            ("dither", self.dither, DITHERS),
            ("method", self.method, METHODS),
            ("format", self.fmt, imaging.FORMATS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        if self.max_side is not None and self.max_side < 1:
            raise ValueError(f"max_side must be a positive number of pixels, got {self.max_side}")


@dataclass(frozen=True)
class RegionCount:
    """4-connected regions of one color before and after cleaning (visible pixels only)."""

    before: int
    after: int


@dataclass(frozen=True)
class Mapped:
    """A palette and the index map it colors (shrunk already for a preview when that was cheaper)."""

    result: summary.PaletteFit
    indices: np.ndarray  # or a LookedUp, inside this module
    regions: RegionCount | None = None  # when min_region cleaned the map


@dataclass(frozen=True)
class Rendered:
    data: bytes
    mime_type: str
    width: int
    height: int
    result: summary.PaletteFit
    bit_depth: int | None
    timings: dict[str, float]
    regions: RegionCount | None = None


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def prepare(data: bytes, max_pixels: int, known_hist: histograms.Histogram | None = None,
            fits: FitCache | None = None) -> Prepared:
    """Decode a photo and count its colors; known_hist: its histogram, counted before from the same bytes;
    fits: the palettes found before for the same bytes (the photo's cache entry holds them), kept on."""
    start = time.perf_counter()
    decoded = imaging.decode(data, max_pixels)
    decode_ms = _ms(start)
    fits = FitCache() if fits is None else fits
    if known_hist is not None:
        return Prepared(decoded, known_hist, len(data), {"decode_ms": decode_ms}, fits)
    prepared = prepare_decoded(decoded, len(data))
    return replace(prepared, timings={"decode_ms": decode_ms, **prepared.timings}, fits=fits)


def prepare_decoded(decoded: imaging.Decoded, source_bytes: int) -> Prepared:
    """Count the colors of pixels already decoded (or made, such as a resized working copy)."""
    start = time.perf_counter()
    keys = decoded.keys
    visible = keys if decoded.alpha is None else keys[decoded.alpha.ravel() > 0]
    hist = histograms.histogram(visible)
    if hist.unique_colors == 0:
        raise imaging.ImageError("unusable_image", "Every pixel of this image is fully transparent: there are no colors to find.")
    return Prepared(decoded, hist, source_bytes, {"histogram_ms": _ms(start)})


def render(prepared: Prepared, options: Options) -> Rendered:
    options.check()
    decoded = prepared.decoded
    start = time.perf_counter()
    mapped = _mapped(prepared, options)
    result, indices = mapped.result, mapped.indices
    quantize_ms = _ms(start)
    start = time.perf_counter()
    alpha = decoded.alpha
    if options.max_side:  # no-op on an index map _mapped() already shrank
        indices = imaging.shrink_nearest(indices, options.max_side)
        alpha = None if alpha is None else imaging.shrink_nearest(alpha, options.max_side)
    # A shrunk preview is shown once and thrown away: the fastest zlib level does (for an RGBA PNG;
    # a paletted one always takes app/png.py's single fast level).
    preview = indices.shape != (decoded.height, decoded.width)
    # A looked-up map is made band by band as the PNG is written (on every core), never whole.
    data = imaging.encode(indices, result.palette, alpha, options.fmt, compress_level=1 if preview else 3)
    timings = {"quantize_ms": quantize_ms, "encode_ms": _ms(start)}
    bits = imaging.png_bit_depth(data)
    return Rendered(data, imaging.MIME_TYPES[options.fmt], indices.shape[1], indices.shape[0], result, bits, timings,
                    mapped.regions)


@dataclass(frozen=True)
class LookedUp:
    """An index map as a lookup of the pixel keys, made only where it is read (rows at a time, as PNG bands).

    Reads like the array it stands for: shape, row slices, np.asarray() for all of it.
    """

    keys: np.ndarray  # (H, W) uint32 0xRRGGBB
    table: np.ndarray  # (2**24,) uint8: the palette index of every color key the photo has

    @property
    def shape(self) -> tuple[int, int]:
        return self.keys.shape

    def __getitem__(self, where) -> np.ndarray:
        return self.table[self.keys[where]]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        indices = self.table[self.keys]
        return indices if dtype is None else indices.astype(dtype)

    def rows_into(self, top: int, out: np.ndarray) -> None:
        """Rows top.. of the map looked up into out, as many as it has: take() into place is a third faster than
        indexing (keys are below 2**24, the table's length, so mode="wrap" never wraps; it only skips the check)."""
        self.table.take(self.keys[top:top + len(out)], out=out, mode="wrap")


def palette_and_indices(prepared: Prepared, options: Options) -> tuple[summary.PaletteFit, np.ndarray]:
    """The palette and the index map for the chosen method (already shrunk for a preview without dithering)."""
    mapped = map_colors(prepared, options)
    return mapped.result, mapped.indices


def map_colors(prepared: Prepared, options: Options) -> Mapped:
    """The palette and index map, cleaned when min_region asks (then at full size before any shrinking)."""
    mapped = _mapped(prepared, options)
    return replace(mapped, indices=np.asarray(mapped.indices))


def _mapped(prepared: Prepared, options: Options) -> Mapped:
    """map_colors(), with a plain map left as a lookup for the encoder to make as it goes."""
    if not options.min_region:
        return Mapped(*_palette_and_indices(prepared, options))
    full = Options(k=options.k, color_space=options.color_space, method=options.method)
    result, indices = _palette_and_indices(prepared, full)
    decoded = prepared.decoded
    cleaned = cleaning.clean(indices, result.palette, decoded.rgb,
                             decoded.alpha, options.min_region, prepared.hist, prepared.keys, result.labels)
    indices = cleaned.indices
    if options.max_side:
        indices = imaging.shrink_nearest(indices, options.max_side)
    return Mapped(cleaned.result, indices, RegionCount(cleaned.regions_before, cleaned.regions_after))


def _palette_and_indices(prepared: Prepared, options: Options) -> tuple[summary.PaletteFit, np.ndarray | LookedUp]:
    hist, keys = prepared.hist, prepared.keys
    shape = (prepared.decoded.height, prepared.decoded.width)
    result = palette_fit(prepared, options)
    if options.dither == "none":
        # A preview maps only the pixels it shows; error diffusion below needs them all.
        keys = keys.reshape(shape)
        if options.max_side:
            keys = imaging.shrink_nearest(keys, options.max_side)
        return result, LookedUp(keys, summary.lookup_table(hist, result))
    return dithered(prepared.decoded, prepared.hist, result.palette)


def palette_fit(prepared: Prepared, options: Options) -> summary.PaletteFit:
    """The palette the chosen method finds in the whole photo, with its figures before any dithering.

    A k-means fit measures its mean CIEDE2000 when the figure is first read:
    an answer that is only the image file never pays for it (at 0.3 MP it
    was 7 ms of a 25 ms palette at k = 16, CIELAB of every color included).
    """
    if options.method == "kmeans":
        return kmeans_fit(prepared.hist, prepared.fits, options.k, options.color_space, measure_delta_e=False)[0]
    return _pillow_quantize(prepared, options.k, _PIL_METHODS[options.method])


def kmeans_fit(hist: histograms.Histogram, fits: FitCache, k: int, color_space: str,
               measure_delta_e: bool = True) -> tuple[summary.PaletteFit, bool]:
    """The k-means palette of a photo's histogram for k and color_space, from its fits when found before;
    and whether it was. Needs no pixels: a photo known by its histogram alone gets its palettes undecoded.
    measure_delta_e=False: a new fit measures its delta_e when first read (quantize.find_palette)."""
    return fits.get_or_make((k, color_space),
                            lambda: quantize.find_palette(hist, k, color_space, measure_delta_e=measure_delta_e))


def fit_summary(fit: summary.PaletteFit, delta_e: bool = True) -> dict:
    """colors, palette [{hex, share}] (largest share first), psnr (None when exact) and delta_e, as the API answers.
    delta_e=False: None for a fit whose delta_e is not measured yet, rather than measuring it now."""
    return {
        "colors": len(fit.palette),
        "palette": [{"hex": h, "share": round(float(s), 6)} for h, s in zip(fit.hex_codes(), fit.shares)],
        "psnr": None if math.isinf(fit.psnr) else round(fit.psnr, 3),
        "delta_e": round(fit.delta_e, 4) if delta_e or fit.delta_e_measured else None,
    }


def early_summary(palette: np.ndarray) -> dict:
    """fit_summary's entry for a palette chosen before its fit is complete (POST /api/palettes early=1): its
    colors, in no particular order, the figures null and figures false."""
    hexes = summary.hex_codes(palette)
    return {"colors": len(hexes), "palette": [{"hex": h, "share": None} for h in hexes], "psnr": None,
            "delta_e": None, "figures": False}


def dithered(decoded: imaging.Decoded, hist: histograms.Histogram, palette: np.ndarray
             ) -> tuple[summary.PaletteFit, np.ndarray]:
    """Floyd-Steinberg onto the palette, and the figures of that map (decoded may be a shrunk copy)."""
    indices = _dither(_visible_image(decoded, hist), palette)
    return summary.measure_map(decoded.rgb, decoded.alpha, indices, palette)


def _visible_image(decoded: imaging.Decoded, hist: histograms.Histogram) -> Image.Image:
    """The pixels as a Pillow image, with transparent ones painted the most common visible color.

    Pillow's quantizers and error diffusion see every pixel; this keeps colors
    hidden under alpha 0 out of their palettes and their errors.
    """
    if decoded.alpha is None:
        return decoded.pil_rgb()
    painted = decoded.pixels.copy()
    painted.view("<u4")[decoded.alpha == 0] = hist.keys[int(np.argmax(hist.counts))]
    return imaging.Decoded(painted, None, decoded.source_format).pil_rgb()


def _pillow_quantize(prepared: Prepared, k: int, method: Image.Quantize) -> summary.PaletteFit:
    """Pillow's classic quantizers, summarized like ours so the figures compare."""
    quantized = _visible_image(prepared.decoded, prepared.hist).quantize(k, method=method, dither=Image.Dither.NONE)
    indices = np.asarray(quantized).ravel()
    palette = np.array(quantized.getpalette(), dtype=np.uint8)
    lut = np.zeros(1 << 24, dtype=np.uint8)
    if prepared.decoded.alpha is None:
        lut[prepared.keys] = indices
    else:
        visible = prepared.decoded.alpha.ravel() > 0
        lut[prepared.keys[visible]] = indices[visible]
    labels = lut[prepared.hist.keys]
    return summary.summarize(prepared.hist, palette.reshape(-1, 3), labels)


def _dither(image: Image.Image, palette: np.ndarray) -> np.ndarray:
    """Floyd-Steinberg error diffusion onto our palette, by Pillow's C code."""
    entries = np.asarray(palette, dtype=np.uint8)
    # Pad with copies of the first entry: Pillow palettes have 256 slots.
    padded = np.vstack([entries, np.repeat(entries[:1], 256 - len(entries), axis=0)])
    palette_image = Image.new("P", (1, 1))
    palette_image.putpalette(padded.tobytes(), "RGB")
    dithered = image.quantize(palette=palette_image, dither=Image.Dither.FLOYDSTEINBERG)
    indices = imaging.pillow_to_array(dithered, "P", 1)
    indices[indices >= len(entries)] = 0
    return indices
