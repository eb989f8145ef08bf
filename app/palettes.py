"""Palette export: the palette of a result as JSON, CSS, a GIMP palette or a PNG swatch strip.

The palette is the one /api/quantize reports for the same photo and
options, because it comes from the same call, pipeline.render. Entries
keep that order: by share of visible pixels, largest first.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np
from PIL import Image

from app import pipeline, summary

FORMATS = ("json", "css", "gpl", "png")
MIME_TYPES = {
    "json": "application/json",
    "css": "text/css; charset=utf-8",
    "gpl": "application/x-gimp-palette",  # as the GIMP palette specification names it
    "png": "image/png",
}
# Map only a tiny preview: the palette and shares come from the full histogram anyway.
_PROBE_SIDE = 16
# The swatch strip: every color gets SWATCH_MIN_WIDTH pixels, the rest of the
# width is shared out in proportion to the colors' shares.
SWATCH_WIDTH = 1024
SWATCH_MIN_WIDTH = 8
SWATCH_HEIGHT = 128


@dataclass(frozen=True)
class Palette:
    colors: np.ndarray  # (m, 3) uint8
    shares: np.ndarray  # (m,) fraction of visible pixels, descending
    k: int

    @property
    def hex_codes(self) -> list[str]:
        return summary.hex_codes(self.colors)


def palette_of(prepared: pipeline.Prepared, options: pipeline.Options) -> Palette:
    """The palette /api/quantize reports for this photo and these options."""
    options = pipeline.Options(k=options.k, color_space=options.color_space, dither=options.dither,
                               method=options.method, fmt="png", max_side=_PROBE_SIDE, min_region=options.min_region)
    result, _ = pipeline.palette_and_indices(prepared, options)
    return Palette(np.asarray(result.palette, dtype=np.uint8), np.asarray(result.shares, dtype=np.float64), options.k)


def export(palette: Palette, fmt: str, name: str = "palette") -> bytes:
    """The palette file in one of FORMATS; name labels it inside the file where the format allows."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return {"json": to_json, "css": to_css, "gpl": to_gpl, "png": to_png}[fmt](palette, name)


def share_text(share: float) -> str:
    return f"{share * 100:.2f}%"


def to_json(palette: Palette, name: str = "palette") -> bytes:
    colors = [
        {"hex": code, "share": round(float(share), 6), "rgb": [int(v) for v in rgb]}
        for code, share, rgb in zip(palette.hex_codes, palette.shares, palette.colors)
    ]
    return (json.dumps({"k": palette.k, "colors": colors}, indent=2) + "\n").encode("utf-8")


def to_css(palette: Palette, name: str = "palette") -> bytes:
    lines = [f"/* {_comment(name)}: k = {palette.k}, {len(palette.colors)} colors by share of pixels */", ":root {"]
    for i, (code, share) in enumerate(zip(palette.hex_codes, palette.shares), start=1):
        lines.append(f"  --color-{i}: {code}; /* {share_text(share)} */")
    lines.append("}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def to_gpl(palette: Palette, name: str = "palette") -> bytes:
    lines = [
        "GIMP Palette",
        f"Name: {_one_line(name)} k{palette.k}",
        f"Columns: {min(len(palette.colors), 16)}",
        "# From kmeans-filter; colors by share of pixels, largest first",
    ]
    for code, share, (r, g, b) in zip(palette.hex_codes, palette.shares, palette.colors):
        lines.append(f"{int(r):3d} {int(g):3d} {int(b):3d}\t{code} {share_text(share)}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def to_png(palette: Palette, name: str = "palette") -> bytes:
    """A paletted PNG strip, one swatch per color, left to right, widths as swatch_widths()."""
    widths = swatch_widths(palette.shares)
    indices = np.repeat(np.arange(len(widths), dtype=np.uint8), widths)
    image = Image.fromarray(np.tile(indices, (SWATCH_HEIGHT, 1)), mode="P")
    image.putpalette(np.asarray(palette.colors, dtype=np.uint8).tobytes(), "RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def swatch_widths(shares: np.ndarray) -> np.ndarray:
    """SWATCH_MIN_WIDTH each, plus the rest of the strip in proportion to share (largest remainders)."""
    shares = np.asarray(shares, dtype=np.float64)
    count = len(shares)
    total = max(SWATCH_WIDTH, SWATCH_MIN_WIDTH * count)
    spare = total - SWATCH_MIN_WIDTH * count
    weights = shares / shares.sum() if shares.sum() > 0 else np.full(count, 1.0 / count)
    exact = weights * spare
    extra = np.floor(exact).astype(np.int64)
    # Hand the pixels lost to rounding to the largest remainders, ties to the earlier swatch.
    order = np.lexsort((np.arange(count), -(exact - extra)))
    extra[order[: spare - int(extra.sum())]] += 1
    return SWATCH_MIN_WIDTH + extra


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) or "palette"


def _comment(text: str) -> str:
    return _one_line(text).replace("*/", "* /")
