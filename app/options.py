"""Every request option, declared once: name, type, default, bounds or choices, and a line of help.

The form parsing (app/forms.py), the command line's arguments (app/cli.py),
the OpenAPI document (app/openapi.py) and the page's controls (app/web.py,
templates/index.html) are all made from this table, the way app/settings.py
is the one table of settings. Bounds and defaults that depend on a setting
(k's upper end is MAX_K) name that setting and are read from the live config.

To add an option, say min_region:
  1. one entry below: MIN_REGION = Option("min_region", "integer", "Merge regions smaller than this, in pixels.",
     default=0, low=0, high=FromSetting("SOME_SETTING") or a number);
  2. list it in ENDPOINTS for each endpoint that takes it: the form parsing (forms.read_all) and the OpenAPI
     document follow, and the contract test (tests/test_contract.py) checks its bounds at once;
  3. list it in COMMAND_LINE if the CLI takes it (--min-region, with help and default);
  4. use it: a field of pipeline.Options of the same name receives it through engine_options(), both from
     the form and from the command line; a page control gets its choices or bounds from the entry.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, get_args

from app import cleaning, paint_by_number, pipeline, quantize, sheet

ColorSpace = Literal["rgb", "oklab", "lab"]
Dither = Literal["none", "floyd-steinberg"]
Method = Literal["kmeans", "mediancut", "octree"]
ImageFormat = Literal["png", "jpeg", "webp"]
PaletteFormat = Literal["json", "css", "gpl", "png"]
TemplateFormat = Literal["svg", "png"]
Kind = Literal["integer", "choice", "integers"]


class OptionError(ValueError):
    """A bad option value; the message names the option and the value."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name
        self.message = message


@dataclass(frozen=True)
class FromSetting:
    """A bound or default read from a setting of the live config, such as MAX_K."""

    setting: str

    def value(self, config: Mapping[str, Any]) -> int:
        return int(config[self.setting])


Number = int | FromSetting | None


def _resolve(value: Any, config: Mapping[str, Any]) -> Any:
    return value.value(config) if isinstance(value, FromSetting) else value


@dataclass(frozen=True)
class Option:
    """One request option. `name` is its form field; the CLI flag is --name with dashes."""

    name: str
    kind: Kind
    help: str
    default: Any = None  # a value, a FromSetting, or None for "not given"
    low: Number = None  # integers: the smallest value allowed (each value, for "integers")
    high: Number = None  # and the largest
    choices: tuple[str, ...] = ()  # choice: the values allowed, from a Literal type
    labels: tuple[str, ...] = ()  # choice: how the page shows each value
    aliases: Mapping[str, str] = field(default_factory=dict)  # choice: other spellings accepted
    max_items: int = 0  # integers: how many values at most
    check: Callable[[tuple[int, ...], int], None] | None = None  # integers: the rule for the whole list
    ranges: bool = False  # integers: "2-64" stands for every value from 2 to 64

    def default_in(self, config: Mapping[str, Any]) -> Any:
        return _resolve(self.default, config)

    def bounds(self, config: Mapping[str, Any]) -> tuple[int | None, int | None]:
        return _resolve(self.low, config), _resolve(self.high, config)

    def parse(self, raw: str | None, config: Mapping[str, Any]) -> Any:
        """The value of this option from the text a client sent (None when it sent nothing)."""
        if raw is None:
            default = self.default_in(config)
            return (default,) if self.kind == "integers" and isinstance(default, int) else default
        raw = raw.strip()
        if self.kind == "choice":
            return self._parse_choice(raw, config)
        if self.kind == "integer":
            return self._parse_integer(raw, config)
        return self._parse_integers(raw, config)

    def _parse_choice(self, raw: str, config: Mapping[str, Any]) -> str:
        value = raw.lower() or self.default_in(config)  # sent empty: as if not sent
        value = self.aliases.get(value, value)
        if value not in self.choices:
            raise OptionError(self.name, f"{self.name} must be one of {', '.join(self.choices)}, got {value[:40]!r}.")
        return value

    def _parse_integer(self, raw: str, config: Mapping[str, Any]) -> int:
        low, high = self.bounds(config)
        # A field sent empty is a bad value: it is named like any other.
        if not re.fullmatch(r"[+-]?[0-9]{1,9}", raw):
            raise OptionError(self.name, f"{self.name} must be a whole number between {low} and {high}, "
                                         f"got {raw[:40]!r}.")
        value = int(raw)
        if not low <= value <= high:
            raise OptionError(self.name, f"{self.name} must be between {low} and {high}, got {value}.")
        return value

    def _parse_integers(self, raw: str, config: Mapping[str, Any]) -> tuple[int, ...]:
        low, high = self.bounds(config)
        values = []
        for part in (part.strip() for part in raw.split(",")):
            bounds = re.fullmatch(r"([0-9]{1,9})(?:\s*-\s*([0-9]{1,9}))?" if self.ranges else r"([0-9]{1,9})()", part)
            if not bounds:
                kind = "a whole number or a range such as 2-64" if self.ranges else "a whole number"
                raise OptionError(self.name, f"Each value in {self.name} must be {kind} between {low} and "
                                             f"{high}, got {part[:40]!r}.")
            first, last = int(bounds[1]), int(bounds[2] or bounds[1])
            if last < first:
                raise OptionError(self.name, f"A range in {self.name} must go upward, got {part!r}.")
            if last - first >= 1000:  # checked below against max_items; no need to build a huge list first
                raise OptionError(self.name, f"{self.name} holds at most {self.max_items} values.")
            values += range(first, last + 1)
        if self.check is not None:
            try:
                self.check(tuple(values), high)
            except ValueError as error:
                raise OptionError(self.name, str(error)) from None
        return tuple(values)

    def schema(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """This option as an OpenAPI (JSON Schema) property."""
        default = self.default_in(config)
        if self.kind == "choice":
            schema: dict[str, Any] = {"type": "string", "enum": list(self.choices)}
        elif self.kind == "integer":
            low, high = self.bounds(config)
            schema = {"type": "integer", "minimum": low, "maximum": high}
        elif self.ranges:
            item = "\\d+(\\s*-\\s*\\d+)?"
            schema = {"type": "string", "pattern": f"^{item}(\\s*,\\s*{item})*$", "examples": ["2,3,4", "2-64"]}
            default = None if default is None else str(default)
        else:
            schema = {"type": "string", "pattern": "^\\d+(\\s*,\\s*\\d+)*$"}
            default = None if default is None else ",".join(map(str, default))
        if default is not None:
            schema["default"] = default
        schema["description"] = self.describe(config)
        return schema

    def describe(self, config: Mapping[str, Any]) -> str:
        """The help line, with the bounds of a list spelled out."""
        if self.kind != "integers":
            return self.help
        low, high = self.bounds(config)
        return f"{self.help} 1 to {self.max_items} values, each {low} to {high}, each once."

    def page_choices(self) -> list[tuple[str, str]]:
        """(value, label) pairs for a <select>."""
        return list(zip(self.choices, self.labels or self.choices))


# --- the table ------------------------------------------------------------------------------------------------------

K = Option("k", "integer", "Number of colors.", default=FromSetting("DEFAULT_K"), low=quantize.MIN_K,
           high=FromSetting("MAX_K"))
COLOR_SPACE = Option("color_space", "choice", "Space the clustering measures distances in.", default="rgb",
                     choices=get_args(ColorSpace), labels=("RGB", "OKLab", "CIELAB"))
DITHER = Option("dither", "choice", "Floyd-Steinberg error diffusion onto the palette, or none.", default="none",
                choices=get_args(Dither), labels=("None", "Floyd–Steinberg"))
METHOD = Option("method", "choice", "k-means, or Pillow's median cut or octree quantizer to compare with.",
                default="kmeans", choices=get_args(Method), labels=("k-means", "Median cut", "Octree"))
IMAGE_FORMAT = Option("format", "choice", "png is paletted and exact; jpeg and webp add colors of their own.",
                      default="png", choices=get_args(ImageFormat), aliases={"jpg": "jpeg"})
MAX_SIDE = Option("max_side", "integer", "Preview: shrink the result (nearest neighbor) so its longer side fits. "
                  "The palette and figures stay those of the full image.", low=16, high=100_000)
KS = Option("ks", "integers", "Comma-separated k values; tiles follow this order.", default=sheet.DEFAULT_KS,
            low=quantize.MIN_K, high=FromSetting("MAX_K"), max_items=sheet.MAX_TILES, check=sheet.check_ks)
TILE_SIDE = Option("max_side", "integer", "Longer side of each tile in pixels (nearest neighbor, so a tile keeps "
                   "exactly its colors). Labels give full-size figures.", default=sheet.DEFAULT_TILE_SIDE, low=64,
                   high=2048)
PALETTE_FORMAT = Option("format", "choice", "json: {k, colors: [{hex, share, rgb}]}; css: :root { --color-1: "
                        "#aabbcc; } with shares as comments; gpl: GIMP palette; png: a 1024x128 strip, each swatch "
                        "8 px wide plus the rest of the width in proportion to its share.", default="json",
                        choices=get_args(PaletteFormat))
MIN_REGION = Option("min_region", "integer", "Clean up specks: every 4-connected region of one color smaller than "
                    "this many pixels (of the full-size image) merges into the neighbor nearest its own mean color, "
                    "then the palette is refitted. 0 is off. Palette, shares, PSNR and delta_e then describe the "
                    "cleaned image. Not with dither.", default=0, low=0, high=cleaning.MAX_MIN_REGION)
TEMPLATE_MIN_REGION = dataclasses.replace(
    MIN_REGION, default=paint_by_number.DEFAULT_MIN_REGION,
    help=f"Smallest region, in pixels of the working size ({paint_by_number.WORKING_SIDE} px on the longer side).")
TEMPLATE_MIN_FONT = Option("min_font", "integer", "Smallest font, in pixels of the working size, that every "
                           "region's number must have room for: regions too thin for it merge into a neighbor, as "
                           "small ones do. 0 leaves it to min_region alone.", default=paint_by_number.READABLE_FONT,
                           low=0, high=int(paint_by_number.MAX_FONT))
TEMPLATE_FORMAT = Option("format", "choice", "svg: outlines, numbers and legend, with a hidden layer of the colors "
                         "filled in; png: the same template rasterized for printing.", default="svg",
                         choices=get_args(TemplateFormat))


LADDER_SIZE = 64  # palettes in one answer of POST /api/palettes: the whole slider, 2..64, at most
LADDER_KS = Option("ks", "integers", "k values and ranges, such as 2,3,4 or 2-64; palettes follow this order.",
                   default=FromSetting("DEFAULT_K"), low=quantize.MIN_K, high=FromSetting("MAX_K"), max_items=LADDER_SIZE,
                   check=lambda ks, max_k: sheet.check_ks(ks, max_k, LADDER_SIZE),
                   ranges=True)
BACKGROUND = Option("background", "choice", "1: work fetched ahead, which nobody waits for. It stops between two k "
                    "when another request for the same photo comes in; the ks not done are listed in unfinished.",
                    default="0", choices=("0", "1"))
DELTA_E = Option("delta_e", "choice", "0: delta_e is null for palettes whose mean CIEDE2000 has not been measured yet "
                 "(rgb ones found by such a request): a palette only to draw with costs a third less at 12 MP. "
                 "Ask again with 1 for the figure, the one /api/quantize gives.", default="1", choices=("0", "1"))
EARLY = Option("early", "choice", "1: a lab or oklab palette not found yet is answered as soon as its colors are "
               "chosen, before its figures are measured: shares, psnr and delta_e null and figures false (the colors "
               "are the final ones; its fit goes on in the background: ask again for the figures). The full answer "
               "when the fit is found meanwhile, or cannot run beside the request (one such fit per photo at a time, "
               "within the memory budget). Ignored for rgb palettes and with background=1.", default="0",
               choices=("0", "1"))

# The options each endpoint reads, in the order they are checked (all before the photo is decoded).
# The form parsing (app/forms.py) and the OpenAPI document follow this.
ENDPOINTS: dict[str, tuple[Option, ...]] = {
    "/api/quantize": (K, COLOR_SPACE, DITHER, METHOD, IMAGE_FORMAT, MAX_SIDE, MIN_REGION),
    "/api/curve": (COLOR_SPACE,),
    "/api/contact-sheet": (KS, COLOR_SPACE, DITHER, METHOD, TILE_SIDE),
    "/api/palette": (K, COLOR_SPACE, DITHER, METHOD, PALETTE_FORMAT, MIN_REGION),
    "/api/paint-by-number": (K, COLOR_SPACE, TEMPLATE_MIN_REGION, TEMPLATE_MIN_FONT, TEMPLATE_FORMAT),
    "/api/palettes": (LADDER_KS, COLOR_SPACE, BACKGROUND, DELTA_E, EARLY),
}
# The command line's --options for recoloring (besides -k, and --ks and --palette-format of its other modes).
COMMAND_LINE: tuple[Option, ...] = (IMAGE_FORMAT, COLOR_SPACE, DITHER, METHOD)


def conflict(values: Mapping[str, Any]) -> str | None:
    """What is wrong with values that are each fine alone but not together, or None."""
    return pipeline.conflict(values.get("min_region") or 0, values.get("dither", "none"))


def engine_options(values: Mapping[str, Any], **overrides: Any) -> pipeline.Options:
    """pipeline.Options from option values by name: each value whose name is a field of pipeline.Options."""
    names = {f.name for f in dataclasses.fields(pipeline.Options)} - set(overrides)
    return pipeline.Options(**{name: value for name, value in values.items() if name in names}, **overrides)
