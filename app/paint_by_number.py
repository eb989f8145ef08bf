"""Paint-by-number templates: outlines, a number in every region, and a legend.

The template is made at a working size, WORKING_SIDE pixels on the longer
side (up or down from the photo, Lanczos): big enough to print at A3 with
room for numbers, the same for every photo. At that size the photo is
recolored and cleaned as POST /api/quantize does (k-means, then min_region,
default DEFAULT_MIN_REGION working pixels), and then regions too thin to
hold their number in a font of min_font px (default READABLE_FONT) merge
too: area alone cannot promise width (app/thin_regions.py).

Each region's number (1 = the color with the largest share) sits at the
point farthest from the region's border (Euclidean distance transform),
in the largest font, up to MAX_FONT, whose box fits in the circle free of
border there: at least min_font, since that circle is deep enough.

The SVG (app/template_svg.py) and the PNG (app/template_png.py) draw the
same Template.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app import cleaning, imaging, pipeline, summary, thin_regions, tracing
from app.regions import Regions, label_regions

WORKING_SIDE = 2400
DEFAULT_MIN_REGION = 1500  # working pixels: room for a two-digit number at 20 px in a compact region
FORMATS = ("svg", "png")
MAX_FONT = 40.0
READABLE_FONT = 8  # px at the working size; below this a number is hard to read when printed at A3
# Box of a run of digits, in em, with a margin around the ink of DejaVu Sans and Verdana (the
# widest common sans digits, 0.64 em each, 0.73-0.76 em tall, a hair below the baseline) and of
# Pillow's own Aileron; the baseline sits BASELINE below the centre.
DIGIT_WIDTH = 0.66
DIGIT_HEIGHT = 0.82
BASELINE = 0.39
# A point inside a label box lies in a pixel whose centre is at most this much farther away.
_PIXEL_REACH = math.sqrt(0.5) + 1e-6


@dataclass(frozen=True)
class Label:
    number: int  # palette number, 1-based
    x: float  # centre of the box, in working pixels
    y: float
    font_size: float

    @property
    def baseline(self) -> float:
        return self.y + BASELINE * self.font_size

    def box(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) of the digits."""
        half_width = DIGIT_WIDTH * len(str(self.number)) * self.font_size / 2
        half_height = DIGIT_HEIGHT * self.font_size / 2
        return self.x - half_width, self.y - half_height, self.x + half_width, self.y + half_height


@dataclass(frozen=True)
class Template:
    indices: np.ndarray  # (h, w) uint8, the cleaned map at working size
    result: summary.PaletteFit  # palette sorted by share: entry i is number i + 1
    borders: tracing.Borders
    labels: list[Label]
    regions: pipeline.RegionCount
    min_region: int

    @property
    def width(self) -> int:
        return self.indices.shape[1]

    @property
    def height(self) -> int:
        return self.indices.shape[0]


def working_prepared(prepared: pipeline.Prepared) -> pipeline.Prepared:
    """The photo at working size, ready for the engine (transparency flattened on white)."""
    return pipeline.prepare_decoded(imaging.resize_long_side(prepared.decoded, WORKING_SIDE), prepared.source_bytes)


def make_template(prepared: pipeline.Prepared, k: int, color_space: str = "rgb",
                  min_region: int = DEFAULT_MIN_REGION, min_font: int = READABLE_FONT) -> Template:
    """Recolor and clean the photo at working size, trace its borders and place the numbers.

    Every region's number gets a font of at least min_font px (0: area alone decides).
    """
    cleaning.check_min_region(min_region)
    check_min_font(min_font)
    working = working_prepared(prepared)
    result, indices = pipeline.palette_and_indices(working, pipeline.Options(k=k, color_space=color_space))
    decoded = working.decoded
    indices = indices.reshape(decoded.height, decoded.width)
    regions = None
    if min_region or min_font:
        cleaned = cleaning.clean(indices, result.palette, decoded.rgb, decoded.alpha, min_region, working.hist,
                                 working.keys, result.labels, min_depth=depth_for(min_font, len(result.palette)))
        result, indices = cleaned.result, cleaned.indices
        regions = pipeline.RegionCount(cleaned.regions_before, cleaned.regions_after)
    labelled = label_regions(indices)
    regions = regions or pipeline.RegionCount(labelled.count, labelled.count)
    return Template(indices=indices, result=result, borders=tracing.trace(indices),
                    labels=place_labels(indices, labelled), regions=regions, min_region=min_region)


def check_min_font(min_font: int) -> None:
    if isinstance(min_font, bool) or not isinstance(min_font, (int, np.integer)) or not 0 <= min_font <= MAX_FONT:
        raise ValueError(f"min_font must be a whole number of pixels from 0 to {MAX_FONT:.0f}, got {min_font!r}")


def depth_for(font_size: float, colors: int) -> float:
    """How far from its border a region's deepest pixel must lie for its number to get this font size.

    place_labels() gives a number the font whose box fits in the circle free
    of border at the deepest pixel, less _PIXEL_REACH; numbers run up to
    `colors`, so they have at most that many digits. 0 for no font.
    """
    if not font_size:
        return 0.0
    digits = len(str(colors))
    return font_size * math.hypot(DIGIT_WIDTH * digits / 2, DIGIT_HEIGHT / 2) + _PIXEL_REACH + 1e-6


def place_labels(indices: np.ndarray, regions: Regions | None = None) -> list[Label]:
    """One label per region, at its point farthest from the border, in the largest font that fits there.

    `regions` are the regions of `indices` when the caller has labelled them already.
    """
    from scipy import ndimage  # on first use: scipy's import is a good part of a command's start-up

    regions = label_regions(indices) if regions is None else regions
    distance = thin_regions.depth_map(indices)
    width = indices.shape[1]
    of_pixel = regions.of_pixel.ravel()
    flat = distance.ravel()
    deepest = ndimage.maximum(flat, labels=of_pixel, index=np.arange(regions.count))
    candidates = np.flatnonzero(flat == np.asarray(deepest)[of_pixel])
    owners, first = np.unique(of_pixel[candidates], return_index=True)
    points = candidates[first]  # the first deepest pixel of each region, in raster order
    # Every pixel centre nearer than `distance` lies in the region; a box point is at most
    # _PIXEL_REACH from its pixel's centre. A pixel's own inscribed circle is the floor.
    room = np.maximum(flat[points] - _PIXEL_REACH, 0.5)
    labels = []
    for region, point, radius in zip(owners.tolist(), points.tolist(), room.tolist()):
        number = int(regions.index[region]) + 1
        digits = len(str(number))
        x, y = point % width + 0.5, point // width + 0.5
        # The circle free of border always holds the box; the box itself, wider than tall, often
        # fits a larger font there (a thin band holds digits as tall as the band, not as its half-width).
        in_circle = min(MAX_FONT, radius / math.hypot(DIGIT_WIDTH * digits / 2, DIGIT_HEIGHT / 2))
        size = _largest_fitting(regions.of_pixel, region, x, y, number, in_circle)
        labels.append(Label(number=number, x=x, y=y, font_size=math.floor(size * 100) / 100))
    return labels


def _largest_fitting(of_pixel: np.ndarray, region: int, x: float, y: float, number: int, low: float) -> float:
    """The largest font in [low, MAX_FONT] whose box, centred at (x, y), covers only pixels of the region."""

    def fits(size: float) -> bool:
        left, top, right, bottom = Label(number, x, y, size).box()
        if left < 0 or top < 0 or right > of_pixel.shape[1] or bottom > of_pixel.shape[0]:
            return False
        window = of_pixel[math.floor(top):math.ceil(bottom), math.floor(left):math.ceil(right)]
        return bool((window == region).all())

    if fits(MAX_FONT):
        return MAX_FONT
    if not fits(low):  # cannot happen by the circle's margin; keep the circle's size then
        return low
    high = MAX_FONT
    for _ in range(10):  # the box grows with the font: bisect
        middle = (low + high) / 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def unreadable(template: Template) -> int:
    """How many regions had room only for a number smaller than READABLE_FONT."""
    return sum(label.font_size < READABLE_FONT for label in template.labels)


@dataclass(frozen=True)
class LegendCell:
    number: int
    hex: str
    share: float
    x: int  # top left of the swatch
    y: int


LEGEND_MARGIN = 40
LEGEND_CELL = (300, 64)  # width, height of one entry
SWATCH = (72, 44)
LEGEND_FONT = 26


def legend(template: Template) -> tuple[list[LegendCell], int]:
    """Numbered swatches under the picture, row by row, and the height they take with margins."""
    cell_width, cell_height = LEGEND_CELL
    columns = max(1, (template.width - LEGEND_MARGIN) // cell_width)
    cells = []
    for entry, (hex_code, share) in enumerate(zip(template.result.hex_codes(), template.result.shares)):
        row, column = divmod(entry, columns)
        cells.append(LegendCell(number=entry + 1, hex=hex_code, share=float(share),
                                x=LEGEND_MARGIN + column * cell_width, y=template.height + LEGEND_MARGIN + row * cell_height))
    rows = -(-len(cells) // columns)
    return cells, 2 * LEGEND_MARGIN + rows * cell_height
