"""A paint-by-number Template as a PNG, for printing: the SVG's template layers, rasterized with Pillow.

One image pixel per working pixel. An outline is the pixel on the near side
of each border (right and bottom neighbours differ), so lines are one pixel
wide and never doubled. Numbers and legend use Pillow's bundled font
(Aileron), so nothing depends on the fonts of the machine.
"""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.paint_by_number import LEGEND_FONT, SWATCH, Template, legend
from app.template_svg import NUMBER_COLOR, OUTLINE_COLOR


def _rgb(hex_code: str) -> tuple[int, int, int]:
    return int(hex_code[1:3], 16), int(hex_code[3:5], 16), int(hex_code[5:7], 16)


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def to_png(template: Template, colors: bool = False) -> bytes:
    """The template on white; with `colors`, the regions filled in as well (the answer)."""
    indices = template.indices
    cells, legend_height = legend(template)
    height, width = indices.shape
    canvas = np.full((height + legend_height, width, 3), 255, dtype=np.uint8)
    if colors:
        canvas[:height] = template.result.palette[indices]
    edge = np.zeros((height, width), dtype=bool)
    edge[:, :-1] |= indices[:, 1:] != indices[:, :-1]
    edge[:-1] |= indices[1:] != indices[:-1]
    edge[0], edge[-1], edge[:, 0], edge[:, -1] = True, True, True, True
    canvas[:height][edge] = _rgb(OUTLINE_COLOR)
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    for label in template.labels:
        size = max(1, int(label.font_size))
        draw.text((label.x, label.baseline), str(label.number), font=_font(size), fill=_rgb(NUMBER_COLOR), anchor="ms")
    swatch_width, swatch_height = SWATCH
    for cell in cells:
        draw.rectangle((cell.x, cell.y, cell.x + swatch_width, cell.y + swatch_height), fill=_rgb(cell.hex),
                       outline=_rgb(OUTLINE_COLOR))
        middle = cell.y + swatch_height / 2
        draw.text((cell.x + swatch_width + 12, middle), str(cell.number), font=_font(LEGEND_FONT), fill=(34, 34, 34),
                  anchor="lm")
        draw.text((cell.x + swatch_width + 70, middle), cell.hex, font=_font(LEGEND_FONT), fill=(34, 34, 34), anchor="lm")
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False, compress_level=6)
    return buffer.getvalue()
