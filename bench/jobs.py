"""Figures measured the same way for every method: PSNR, colors used, whole jobs, decode time."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from app import histograms, imaging, pipeline
from bench import peers

MAX_PIXELS = 50_000_000  # the app's default MAX_PIXELS; the largest corpus photo is 12.2 MP
_CHUNK = 1 << 20


def psnr(original: np.ndarray, approx: np.ndarray) -> float:
    """PSNR in RGB over every pixel, from 8-bit values, in dB (inf when identical)."""
    a = np.asarray(original, dtype=np.uint8).reshape(-1, 3)
    b = np.asarray(approx, dtype=np.uint8).reshape(-1, 3)
    if a.shape != b.shape:
        raise ValueError(f"result is {b.shape} pixels, original is {a.shape}")
    total = 0
    for start in range(0, len(a), _CHUNK):
        diff = a[start : start + _CHUNK].astype(np.int64) - b[start : start + _CHUNK]
        total += int((diff * diff).sum())
    mse = total / (3.0 * len(a))
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def colors_used(approx: np.ndarray) -> int:
    keys = histograms.pack(approx)
    if len(keys) < 2_000_000:  # sorting a small photo beats clearing a 2**24 count table
        return len(np.unique(keys))
    return int(np.count_nonzero(np.bincount(keys, minlength=1 << 24)))


def pillow_decode_seconds(data: bytes) -> float:
    """Plain Pillow decode of the file to an RGB array (no EXIF rotation, no ICC)."""
    start = time.perf_counter()
    np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return time.perf_counter() - start


@dataclass(frozen=True)
class WholeJob:
    decode: float
    quantize: float
    encode: float
    total: float
    psnr: float
    png_bytes: int


def ours_whole_job(data: bytes, k: int) -> WholeJob:
    """bytes in, paletted PNG out, through the app's own pipeline."""
    start = time.perf_counter()
    prepared = pipeline.prepare(data, MAX_PIXELS)
    rendered = pipeline.render(prepared, pipeline.Options(k=k))
    total = time.perf_counter() - start
    # prepare() times decode, and pack + histogram as histogram_ms; render() times quantize + index map
    # and encode. Older pipelines also copied prepare()'s timings into render()'s; either way works.
    timings = {**prepared.timings, **rendered.timings}
    return WholeJob(
        decode=timings["decode_ms"] / 1000,
        quantize=(timings["histogram_ms"] + timings["quantize_ms"]) / 1000,
        encode=timings["encode_ms"] / 1000,
        total=total,
        psnr=_psnr_of_png(prepared.decoded.rgb, rendered.data),
        png_bytes=len(rendered.data),
    )


def recipe_whole_job(data: bytes, k: int) -> WholeJob:
    """The same job with the recipe as quantizer: same decoder, same paletted-PNG encoder."""
    start = time.perf_counter()
    decoded = imaging.decode(data, MAX_PIXELS)
    decoded_at = time.perf_counter()
    labels, palette = peers.recipe_fit_predict(decoded.rgb, k)
    indices = labels.astype(np.uint8).reshape(decoded.rgb.shape[:2])
    quantized_at = time.perf_counter()
    png = imaging.encode(indices, palette)
    end = time.perf_counter()
    return WholeJob(
        decode=decoded_at - start,
        quantize=quantized_at - decoded_at,
        encode=end - quantized_at,
        total=end - start,
        psnr=_psnr_of_png(decoded.rgb, png),
        png_bytes=len(png),
    )


def _psnr_of_png(original: np.ndarray, png: bytes) -> float:
    return psnr(original, np.asarray(Image.open(io.BytesIO(png)).convert("RGB")))
