"""Every quantizer in the benchmark behind one call: pixels and k in, result pixels and seconds out.

Each method times only its own work. In-process methods get the decoded
(H, W, 3) uint8 pixels; the command-line peers get the same pixels as a PNG
on stdin and are timed as subprocess wall time, so their figure includes
their own PNG decode and encode. PSNR is not measured here: the caller
measures every method the same way from the result pixels.
"""

from __future__ import annotations

import importlib.util
import io
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.utils import shuffle
from threadpoolctl import threadpool_limits

from app import histograms, quantize, summary

CONVERT = "/usr/bin/convert"  # the real ImageMagick; /usr/local/bin/convert is a stand-in
RECIPE_SAMPLES = 1_000


class CapExceeded(Exception):
    """A command-line peer ran past its per-call time cap and was stopped."""


@dataclass(frozen=True)
class Photo:
    """A decoded photo, with a PNG of the same pixels for the command-line peers."""

    name: str
    rgb: np.ndarray  # (H, W, 3) uint8, upright sRGB as our decoder gives it
    png: bytes | None = None

    @property
    def pixels(self) -> int:
        return self.rgb.shape[0] * self.rgb.shape[1]


@dataclass(frozen=True)
class Outcome:
    approx: np.ndarray  # (H, W, 3) uint8 result pixels
    seconds: float


@dataclass(frozen=True)
class Method:
    name: str
    label: str  # how the tables and README name it
    run: Callable[[Photo, int, float], Outcome]
    binary: str | None = None  # the executable it needs, if any
    module: str | None = None  # the Python package it needs, if any

    def available(self) -> bool:
        if self.module is not None and importlib.util.find_spec(self.module) is None:
            return False
        return self.binary is None or _has_binary(self.binary)


def _has_binary(binary: str) -> bool:
    return Path(binary).is_file() if binary.startswith("/") else shutil.which(binary) is not None


def _from_indices(indices: np.ndarray, palette: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.asarray(palette, dtype=np.uint8)[np.asarray(indices).reshape(shape[:2])]


def ours(photo: Photo, k: int, cap: float) -> Outcome:
    """Our engine, pixels in to index map out: pack, histogram, k-means, lookup."""
    start = time.perf_counter()
    keys = histograms.pack(photo.rgb)
    hist = histograms.histogram(keys)
    result = quantize.find_palette(hist, k)
    indices = summary.index_map(keys, hist, result)
    seconds = time.perf_counter() - start
    return Outcome(_from_indices(indices, result.palette, photo.rgb.shape), seconds)


def recipe_fit_predict(rgb: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's "Color Quantization using K-Means" example, step for step.

    KMeans on 1,000 pixels drawn by sklearn.utils.shuffle, then predict on
    every pixel. Returns the label of every pixel and the palette in 0-255.
    """
    pixels = np.array(rgb, dtype=np.float64) / 255
    flat = pixels.reshape(-1, 3)
    sample = shuffle(flat, random_state=0, n_samples=min(RECIPE_SAMPLES, len(flat)))
    kmeans = KMeans(n_clusters=k, random_state=0).fit(sample)
    labels = kmeans.predict(flat)
    palette = np.clip(np.rint(kmeans.cluster_centers_ * 255), 0, 255).astype(np.uint8)
    return labels, palette


def recipe(photo: Photo, k: int, cap: float) -> Outcome:
    start = time.perf_counter()
    labels, palette = recipe_fit_predict(photo.rgb, k)
    seconds = time.perf_counter() - start
    return Outcome(_from_indices(labels, palette, photo.rgb.shape), seconds)


def minibatch_naive(photo: Photo, k: int, cap: float) -> Outcome:
    """MiniBatchKMeans with its defaults, fit on every pixel, then predict on every pixel.

    Run on one thread: on this 2-core shared machine the default OpenMP
    threads made these small-batch steps 5-10x slower, so one thread is the
    kinder setting for this peer.
    """
    start = time.perf_counter()
    with threadpool_limits(1):
        flat = (np.array(photo.rgb, dtype=np.float64) / 255).reshape(-1, 3)
        model = MiniBatchKMeans(n_clusters=k, random_state=0).fit(flat)
        labels = model.predict(flat)
    seconds = time.perf_counter() - start
    palette = np.clip(np.rint(model.cluster_centers_ * 255), 0, 255).astype(np.uint8)
    return Outcome(_from_indices(labels, palette, photo.rgb.shape), seconds)


def _pillow(method: Image.Quantize) -> Callable[[Photo, int, float], Outcome]:
    def run(photo: Photo, k: int, cap: float) -> Outcome:
        start = time.perf_counter()
        result = Image.fromarray(photo.rgb).quantize(k, method=method, dither=Image.Dither.NONE)
        seconds = time.perf_counter() - start
        palette = np.array(result.getpalette(), dtype=np.uint8).reshape(-1, 3)
        return Outcome(_from_indices(np.asarray(result), palette, photo.rgb.shape), seconds)

    return run


def libimagequant(photo: Photo, k: int, cap: float) -> Outcome:
    """libimagequant through the `imagequant` package, dithering off.

    Calls quantize_raw_rgba_bytes directly: the package's quantize_pil_image
    builds its input with a Python loop over every pixel, which would time
    the loop, not the library.
    """
    import imagequant

    height, width = photo.rgb.shape[:2]
    start = time.perf_counter()
    rgba = np.dstack([photo.rgb, np.full((height, width), 255, np.uint8)]).tobytes()
    indices, palette = imagequant.quantize_raw_rgba_bytes(rgba, width, height, dithering_level=0.0, max_colors=k)
    seconds = time.perf_counter() - start
    palette = np.array(palette, dtype=np.uint8).reshape(-1, 4)[:, :3]
    return Outcome(_from_indices(np.frombuffer(indices, np.uint8), palette, photo.rgb.shape), seconds)


def _command(argv: Callable[[int], list[str]]) -> Callable[[Photo, int, float], Outcome]:
    def run(photo: Photo, k: int, cap: float) -> Outcome:
        if photo.png is None:
            raise ValueError("the command-line peers need photo.png")
        start = time.perf_counter()
        try:
            done = subprocess.run(argv(k), input=photo.png, capture_output=True, timeout=cap, check=False)
        except subprocess.TimeoutExpired:
            raise CapExceeded(f"stopped after {cap:.0f} s") from None
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
            raise RuntimeError(f"{argv(k)[0]} exited with {done.returncode}: {message[0]}")
        approx = np.asarray(Image.open(io.BytesIO(done.stdout)).convert("RGB"))
        return Outcome(approx, seconds)

    return run


def png_of(rgb: np.ndarray) -> bytes:
    """The PNG the command-line peers read (fast zlib level: their decode cost barely depends on it)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


METHODS = (
    Method("ours", "ours (app.quantize)", ours),
    Method("recipe", "sklearn recipe", recipe),
    Method("mbk_naive", "MBK naive", minibatch_naive),
    Method("mediancut", "Pillow MEDIANCUT", _pillow(Image.Quantize.MEDIANCUT)),
    Method("octree", "Pillow FASTOCTREE", _pillow(Image.Quantize.FASTOCTREE)),
    Method("pngquant", "pngquant*", _command(lambda k: ["pngquant", "--nofs", "--speed", "3", str(k), "-"]),
           binary="pngquant"),
    Method("imagemagick", "ImageMagick*", _command(lambda k: [CONVERT, "png:-", "+dither", "-colors", str(k), "png:-"]),
           binary=CONVERT),
    Method("libimagequant", "libimagequant", libimagequant, module="imagequant"),
)
BY_NAME = {method.name: method for method in METHODS}
