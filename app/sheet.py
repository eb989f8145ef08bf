"""The contact sheet: one PNG grid of a photo at several k, the original first, each tile labelled.

Every tile is the preview /api/quantize gives for the same k, options and
max_side (shrunk by nearest neighbor so it keeps exactly its colors), and
its label carries that answer's figures, which are those of the full-size
result. Dithered tiles are the exception: error diffusion runs at tile size
with the palette found in the whole photo (dithering 12 MP to show 0.3 MP
was most of the sheet's time), and their figures are those of the tile.
The original is sampled on the same grid.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app import imaging, pipeline, quantize, summary

DEFAULT_KS = (2, 5, 10, 15, 24)  # the article that inspired the app
MAX_TILES = 12  # k values on one sheet, besides the original
DEFAULT_TILE_SIDE = 640
BACKGROUND = (255, 255, 255)
INK = (32, 32, 32)


@dataclass(frozen=True)
class Tile:
    image: Image.Image  # RGB or RGBA
    label: str


def check_ks(ks: tuple[int, ...] | list[int], max_k: int = quantize.MAX_K, max_items: int = MAX_TILES) -> None:
    """The one rule for a list of k values, a sheet's or the slider's ladder's: 1 to max_items
    whole numbers from MIN_K to max_k, each once (the API and the CLI parse their text, then call this)."""
    if not 1 <= len(ks) <= max_items:
        raise ValueError(f"ks must hold 1 to {max_items} values, got {len(ks)}.")
    seen = set()
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not quantize.MIN_K <= k <= max_k:
            raise ValueError(f"Each value in ks must be a whole number between {quantize.MIN_K} and {max_k}, "
                             f"got {k!r}.")
        if k in seen:
            raise ValueError(f"ks lists {k} twice; give each value once.")
        seen.add(k)


def contact_sheet(
    prepared: pipeline.Prepared,
    ks: tuple[int, ...] = DEFAULT_KS,
    color_space: str = "rgb",
    dither: str = "none",
    method: str = "kmeans",
    tile_side: int = DEFAULT_TILE_SIDE,
) -> bytes:
    """The sheet as PNG bytes: the original, then the photo at each k in the order given."""
    check_ks(ks)
    if tile_side < 1:
        raise ValueError(f"tile_side must be a positive number of pixels, got {tile_side}")
    original = imaging.shrink_nearest(prepared.decoded.rgb, tile_side)
    tiles = [Tile(_tile_image(prepared, original, tile_side), f"original · {prepared.hist.unique_colors:,} colors")]
    small = _shrunk(prepared.decoded, tile_side) if dither != "none" else None
    for k in ks:
        options = pipeline.Options(k=k, color_space=color_space, dither=dither, method=method, max_side=tile_side)
        if small is None:
            result, indices = pipeline.palette_and_indices(prepared, options)
        else:  # the palette from the whole photo, error diffusion at tile size, figures of the tile
            palette = pipeline.palette_fit(prepared, options).palette
            result, indices = pipeline.dithered(small, prepared.hist, palette)
        tiles.append(Tile(_tile_image(prepared, result.palette[indices], tile_side), tile_label(k, result)))
    buffer = io.BytesIO()
    compose(tiles).save(buffer, "PNG")
    return buffer.getvalue()


def _shrunk(decoded: imaging.Decoded, tile_side: int) -> imaging.Decoded:
    """The photo at tile size (nearest neighbor, as the tiles are shrunk), for dithering there."""
    alpha = None if decoded.alpha is None else imaging.shrink_nearest(decoded.alpha, tile_side)
    pixels = np.ascontiguousarray(imaging.shrink_nearest(decoded.pixels, tile_side))
    return imaging.Decoded(pixels, alpha, decoded.source_format)


def _tile_image(prepared: pipeline.Prepared, rgb: np.ndarray, tile_side: int) -> Image.Image:
    """A tile's pixels with the photo's alpha, shrunk the same way, when it has one."""
    alpha = prepared.decoded.alpha
    if alpha is None:
        return Image.fromarray(rgb)
    return Image.fromarray(np.dstack([rgb, imaging.shrink_nearest(alpha, tile_side)]))


def tile_label(k: int, result: summary.PaletteFit) -> str:
    """For example "k = 5 · PSNR 24.1 dB · dE 9.6"; the fewer colors used, if fewer than k."""
    head = f"k = {k}" if len(result.palette) == k else f"k = {k} ({len(result.palette)} colors)"
    if math.isinf(result.psnr):
        return f"{head} · identical"
    return f"{head} · PSNR {result.psnr:.1f} dB · dE {result.delta_e:.1f}"


def grid_shape(count: int) -> tuple[int, int]:
    """Columns and rows: as square as the count allows, never an empty row."""
    columns = math.ceil(math.sqrt(count))
    return columns, math.ceil(count / columns)


def compose(tiles: list[Tile]) -> Image.Image:
    """Lay equal-sized tiles out in a grid, a label strip under each, on a white ground."""
    if not tiles:
        raise ValueError("a contact sheet needs at least one tile")
    width, height = tiles[0].image.size
    if any(t.image.size != (width, height) for t in tiles):
        raise ValueError("every tile of a contact sheet must have the same size")
    font = ImageFont.load_default(size=max(11, min(width // 24, 28)))
    ascent, descent = font.getmetrics()
    strip = ascent + descent + 2 * max(4, ascent // 3)
    gap = max(4, width // 80)
    columns, rows = grid_shape(len(tiles))
    cell_w, cell_h = width, height + strip
    sheet = Image.new("RGB", (gap + columns * (cell_w + gap), gap + rows * (cell_h + gap)), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for i, tile in enumerate(tiles):
        left = gap + (i % columns) * (cell_w + gap)
        top = gap + (i // columns) * (cell_h + gap)
        image = tile.image
        if image.mode == "RGBA":
            sheet.paste(image.convert("RGB"), (left, top), image.getchannel("A"))
        else:
            sheet.paste(image.convert("RGB"), (left, top))
        draw.text((left + gap, top + height + strip // 2), _fit(draw, tile.label, font, width - 2 * gap),
                  font=font, fill=INK, anchor="lm")
    return sheet


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    """The label, cut short with an ellipsis when a narrow tile cannot hold it."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text.rstrip(" ·") + "…"
