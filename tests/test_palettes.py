import io
import json
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import GimpPaletteFile, Image

from app import palettes, pipeline

COLORS = np.array([[170, 187, 204], [0, 0, 0], [255, 128, 1], [12, 34, 56]], np.uint8)
SHARES = np.array([0.5, 0.3, 0.15, 0.05])
PALETTE = palettes.Palette(COLORS, SHARES, k=4)
CSS_LINE = re.compile(r"^\s*--color-(\d+):\s*(#[0-9a-f]{6});\s*/\*\s*([\d.]+)%\s*\*/\s*$")


def parse_gpl(text: str) -> dict:
    """A strict reader of GIMP Palette Format Version 2."""
    lines = text.split("\n")
    assert lines[0] == "GIMP Palette"
    assert lines[1].startswith("Name: ") and lines[1][6:].strip()
    assert re.fullmatch(r"Columns: (\d+)", lines[2]) and 0 <= int(lines[2][9:]) <= 255
    colors, names = [], []
    for line in lines[3:]:
        if line.startswith("#") or line == "":
            continue
        match = re.fullmatch(r"\s*(\d+)\s+(\d+)\s+(\d+)(?:\s+(.*))?", line)
        assert match, line
        rgb = [int(match.group(i)) for i in (1, 2, 3)]
        assert all(0 <= v <= 255 for v in rgb)
        colors.append(rgb)
        names.append(match.group(4))
    return {"name": lines[1][6:].strip(), "columns": int(lines[2][9:]), "colors": colors, "names": names}


def parse_css(text: str) -> list[tuple[int, str, float]]:
    assert re.search(r":root\s*\{", text) and text.rstrip().endswith("}")
    found = [CSS_LINE.match(line) for line in text.splitlines()]
    return [(int(m.group(1)), m.group(2), float(m.group(3))) for m in found if m]


def runs(row: np.ndarray) -> tuple[list[int], list[int]]:
    """Values and lengths of the runs along one row of indices."""
    edges = np.flatnonzero(np.diff(row)) + 1
    starts = np.concatenate([[0], edges])
    lengths = np.diff(np.concatenate([starts, [len(row)]]))
    return row[starts].tolist(), lengths.tolist()


def test_json_round_trips():
    data = json.loads(palettes.export(PALETTE, "json"))
    assert data["k"] == 4
    assert [c["hex"] for c in data["colors"]] == ["#aabbcc", "#000000", "#ff8001", "#0c2238"]
    assert [c["rgb"] for c in data["colors"]] == COLORS.tolist()
    assert [c["share"] for c in data["colors"]] == SHARES.tolist()
    for color in data["colors"]:
        assert color["hex"] == "#%02x%02x%02x" % tuple(color["rgb"])


def test_css_declares_one_custom_property_per_color_with_its_share():
    text = palettes.export(PALETTE, "css", "my photo */ evil").decode("utf-8")
    assert parse_css(text) == [(1, "#aabbcc", 50.0), (2, "#000000", 30.0), (3, "#ff8001", 15.0), (4, "#0c2238", 5.0)]
    # The photo's name must not be able to end the comment it sits in.
    assert text.count("*/") == text.count("/*")


def test_gpl_is_a_valid_gimp_palette():
    text = palettes.export(PALETTE, "gpl", "holiday\nshot").decode("utf-8")
    parsed = parse_gpl(text)
    assert parsed["colors"] == COLORS.tolist()
    assert parsed["name"] == "holiday shot k4"
    assert parsed["columns"] == 4
    assert parsed["names"][0] == "#aabbcc 50.00%"
    assert all("\t" in line for line in text.splitlines()[4:])
    # Pillow's own reader agrees.
    assert GimpPaletteFile.GimpPaletteFile.frombytes(text.encode()).palette == COLORS.tobytes()


def test_png_is_a_strip_of_swatches_in_order_with_widths_by_share():
    with Image.open(io.BytesIO(palettes.export(PALETTE, "png"))) as image:
        assert image.format == "PNG"
        assert image.size == (palettes.SWATCH_WIDTH, palettes.SWATCH_HEIGHT)
        rgb = np.asarray(image.convert("RGB"))
    assert (rgb == rgb[:1]).all()  # every row is the same
    packed = rgb[0].astype(np.int64) @ [65536, 256, 1]
    values, lengths = runs(packed)
    assert values == (COLORS.astype(np.int64) @ [65536, 256, 1]).tolist()
    assert lengths == palettes.swatch_widths(SHARES).tolist()
    assert lengths == sorted(lengths, reverse=True)
    assert min(lengths) >= palettes.SWATCH_MIN_WIDTH


def test_png_of_256_colors_gives_each_the_minimum_width():
    colors = np.stack([np.arange(256), np.arange(256)[::-1], np.full(256, 9)], 1).astype(np.uint8)
    palette = palettes.Palette(colors, np.full(256, 1 / 256), k=256)
    with Image.open(io.BytesIO(palettes.to_png(palette))) as image:
        assert image.size == (256 * palettes.SWATCH_MIN_WIDTH, palettes.SWATCH_HEIGHT)
        found = np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)
    np.testing.assert_array_equal(found, np.unique(colors, axis=0))


@given(st.lists(st.floats(min_value=0, max_value=1, allow_nan=False), min_size=1, max_size=256))
def test_swatch_widths_fill_the_strip_exactly(raw):
    shares = np.sort(np.asarray(raw))[::-1]
    widths = palettes.swatch_widths(shares)
    assert widths.sum() == max(palettes.SWATCH_WIDTH, palettes.SWATCH_MIN_WIDTH * len(shares))
    assert widths.min() >= palettes.SWATCH_MIN_WIDTH
    # Ordered by share, up to the one pixel the rounding hands out.
    assert np.all(np.diff(widths) <= 1)


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="format must be one of json, css, gpl, png, got 'svg'"):
        palettes.export(PALETTE, "svg")


@pytest.mark.parametrize(
    "options",
    [
        pipeline.Options(k=6),
        pipeline.Options(k=6, color_space="oklab"),
        pipeline.Options(k=6, dither="floyd-steinberg"),
        pipeline.Options(k=6, method="mediancut"),
    ],
)
def test_palette_is_the_one_the_render_reports(corpus, options):
    prepared = pipeline.prepare((corpus / "kodim23.png").read_bytes(), 50_000_000)
    palette = palettes.palette_of(prepared, options)
    result = pipeline.render(prepared, options).result
    np.testing.assert_array_equal(palette.colors, result.palette)
    np.testing.assert_array_equal(palette.shares, result.shares)
    assert palette.k == 6 and len(palette.colors) <= 6
