"""A paint-by-number Template as SVG: one file that is both the template and its answer.

Layers, in drawing order (Inkscape shows them as layers):
- "colors": every color filled, from the same borders as the outlines;
  hidden (display="none"): show it to see the answer;
- "outlines": every border once, a thin dark line;
- "numbers": each region's palette number;
- "legend": numbered swatches with hex codes.
Coordinates are working pixels, so the fills meet exactly on the pixel grid;
the SVG scales to any print size. Only presentation attributes, no CSS: the
page can show it inline under a strict Content-Security-Policy.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from app import tracing
from app.paint_by_number import LEGEND_FONT, SWATCH, Template, legend

OUTLINE_COLOR = "#3c3c3c"
OUTLINE_WIDTH = 1.0
NUMBER_COLOR = "#4a4a4a"
FONT_FAMILY = "DejaVu Sans, Verdana, Aileron, Arial, sans-serif"
_LAYER = 'inkscape:groupmode="layer"'


def to_svg(template: Template, title: str = "Paint by number") -> bytes:
    cells, legend_height = legend(template)
    width, height = template.width, template.height + legend_height
    borders = template.borders
    fills = []
    for entry, hex_code in enumerate(template.result.hex_codes()):
        rings = tracing.rings(borders, entry)
        fills.append(f'<path fill="{hex_code}" d="{tracing.path_data(rings, closed=True)}"/>')
    outlines = tracing.path_data([piece.points for piece in borders.pieces], closed=False)
    numbers = [f'<text x="{label.x:g}" y="{label.baseline:.2f}" font-size="{label.font_size:g}">{label.number}</text>'
               for label in template.labels]
    swatch_width, swatch_height = SWATCH
    text_y = swatch_height / 2 + 0.36 * LEGEND_FONT
    swatches = [
        f'<g id="legend-{cell.number}"><rect x="{cell.x}" y="{cell.y}" width="{swatch_width}" height="{swatch_height}" '
        f'fill="{cell.hex}" stroke="{OUTLINE_COLOR}"/>'
        f'<text x="{cell.x + swatch_width + 12}" y="{cell.y + text_y:.1f}" font-weight="bold">{cell.number}</text>'
        f'<text x="{cell.x + swatch_width + 70}" y="{cell.y + text_y:.1f}">{cell.hex}</text></g>'
        for cell in cells
    ]
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" '
        f'version="1.1" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f"<title>{escape(title)}</title>",
        f'<rect id="paper" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<g id="colors" {_LAYER} inkscape:label="colors" display="none" fill-rule="evenodd">{"".join(fills)}</g>',
        f'<g id="outlines" {_LAYER} inkscape:label="outlines" fill="none" stroke="{OUTLINE_COLOR}" '
        f'stroke-width="{OUTLINE_WIDTH:g}" stroke-linejoin="round" stroke-linecap="round"><path d="{outlines}"/></g>',
        f'<g id="numbers" {_LAYER} inkscape:label="numbers" font-family="{FONT_FAMILY}" fill="{NUMBER_COLOR}" '
        f'text-anchor="middle">{"".join(numbers)}</g>',
        f'<g id="legend" {_LAYER} inkscape:label="legend" font-family="{FONT_FAMILY}" font-size="{LEGEND_FONT}" '
        f'fill="#222222">{"".join(swatches)}</g>',
        "</svg>",
    ]
    return "\n".join(parts).encode("utf-8")
