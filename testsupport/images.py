"""Small generated images, encoded in memory."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def gradient(width: int = 48, height: int = 32) -> np.ndarray:
    """An RGB gradient with many distinct colors: (height, width, 3) uint8."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // width, y * 255 // height, (x * y) % 256], axis=-1).astype(np.uint8)


def png_bytes(pixels: np.ndarray | None = None, alpha: np.ndarray | None = None, **options) -> bytes:
    """A PNG of the pixels (RGB or RGBA; a gradient when none are given), plus an alpha channel if given."""
    pixels = gradient() if pixels is None else pixels
    if alpha is not None:
        pixels = np.dstack([pixels, alpha])
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA" if pixels.shape[2] == 4 else "RGB").save(buffer, "PNG", **options)
    return buffer.getvalue()
