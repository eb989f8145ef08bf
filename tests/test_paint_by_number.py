"""Paint-by-number templates: the SVG parsed and checked against the cleaned map, the PNG, and tracing.

The fill layer is rasterized here from its path data alone (even-odd
parity along each row), independently of app/tracing.py; the numbers are
measured with the real DejaVu Sans glyphs (Pillow) when Debian's font is there.
"""

from __future__ import annotations

import io
import re
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFont

from app import paint_by_number as pbn
from app import pipeline, template_png, template_svg, tracing
from testsupport.forms import multipart

SVG = "{http://www.w3.org/2000/svg}"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def blobs(shape=(90, 120), colors=6, seed=0, noise=18) -> np.ndarray:
    """A photo-like test picture: soft blobs of a few colors with noise."""
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (colors, 3))
    coarse = rng.integers(0, colors, (shape[0] // 15 + 1, shape[1] // 15 + 1))
    picture = palette[np.kron(coarse, np.ones((15, 15), dtype=int))[: shape[0], : shape[1]]]
    return np.clip(picture + rng.normal(0, noise, picture.shape), 0, 255).astype(np.uint8)


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def template() -> pbn.Template:
    return pbn.make_template(pipeline.prepare(png(blobs()), 10**7), k=6, min_region=300)


@pytest.fixture(scope="module")
def svg_root(template) -> ET.Element:
    return ET.fromstring(template_svg.to_svg(template))


def layer(root: ET.Element, name: str) -> ET.Element:
    found = root.find(f"{SVG}g[@id='{name}']")
    assert found is not None, f"no layer {name}"
    return found


def parse_path(data: str) -> list[list[tuple[int, int]]]:
    """Subpaths of M/h/v/H/V/z path data as lists of points (closed ones end where they began)."""
    subpaths, x, y = [], 0, 0
    for command, value in re.findall(r"([MhvHVz])\s*(-?\d+(?:\s+-?\d+)?)?", data):
        if command == "M":
            x, y = (int(v) for v in value.split())
            subpaths.append([(x, y)])
            continue
        if command == "z":
            subpaths[-1].append(subpaths[-1][0])
            continue
        step = int(value)
        x, y = {"h": (x + step, y), "v": (x, y + step), "H": (step, y), "V": (x, step)}[command]
        subpaths[-1].append((x, y))
    return subpaths


def rasterize(subpaths, width: int, height: int) -> np.ndarray:
    """Pixels inside closed axis-aligned subpaths by the even-odd rule."""
    toggles = np.zeros((height, width + 1), dtype=np.int64)
    for points in subpaths:
        assert points[0] == points[-1], "a fill subpath is not closed"
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            assert x0 == x1 or y0 == y1, "a fill step is not axis-aligned"
            if x0 == x1 and y0 != y1:
                toggles[min(y0, y1) : max(y0, y1), x0] ^= 1
    return (np.cumsum(toggles, axis=1)[:, :width] % 2).astype(bool)


def fill_raster(root: ET.Element, width: int, height: int) -> np.ndarray:
    """The colors layer as an RGB image; a pixel no fill covers, or two fills cover, fails."""
    colors = layer(root, "colors")
    out = np.zeros((height, width, 3), dtype=np.uint8)
    coverage = np.zeros((height, width), dtype=np.int64)
    for path in colors.iter(f"{SVG}path"):
        inside = rasterize(parse_path(path.get("d")), width, height)
        coverage += inside
        out[inside] = [int(path.get("fill")[i : i + 2], 16) for i in (1, 3, 5)]
    assert (coverage == 1).all(), f"{(coverage == 0).sum()} pixels unfilled, {(coverage > 1).sum()} filled twice"
    return out


def test_the_svg_has_its_layers_and_hides_the_colors(svg_root, template):
    assert svg_root.tag == f"{SVG}svg"
    assert svg_root.get("viewBox").split()[2:] == [str(template.width), svg_root.get("height")]
    assert [g.get("id") for g in svg_root.findall(f"{SVG}g")] == ["colors", "outlines", "numbers", "legend"]
    assert layer(svg_root, "colors").get("display") == "none"
    assert layer(svg_root, "outlines").get("display") is None
    assert max(template.width, template.height) == pbn.WORKING_SIDE
    assert svg_root.find(f".//{SVG}style") is None and svg_root.find(f".//{SVG}script") is None


def test_the_fill_layer_rasterized_is_the_cleaned_map(svg_root, template):
    drawn = fill_raster(svg_root, template.width, template.height)
    assert np.array_equal(drawn, template.result.palette[template.indices])


def post(url: str, fields: dict[str, str], image: bytes) -> tuple[bytes, dict]:
    body, content_type = multipart(*fields.items(), ("image", ("photo.png", image)))
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read(), dict(response.headers)


def test_the_served_fill_layer_equals_the_cleaned_quantize_answer_at_working_size(live_server):
    photo = png(blobs(seed=4))
    # min_font=0: area alone, as /api/quantize cleans (the default also merges regions too thin for a number).
    svg, headers = post(f"{live_server}/api/paint-by-number", {"k": "6", "min_region": "300", "min_font": "0"}, photo)
    assert headers["Content-Type"].startswith("image/svg+xml")
    assert headers["Content-Disposition"] == 'attachment; filename="photo-k6-paint-by-number.svg"'
    root = ET.fromstring(svg)
    width, height = (int(v) for v in root.get("viewBox").split()[2:])
    working = np.ascontiguousarray(pbn.working_prepared(pipeline.prepare(photo, 10**7)).decoded.rgb)
    answer, _ = post(f"{live_server}/api/quantize", {"k": "6", "min_region": "300"}, png(working))
    with Image.open(io.BytesIO(answer)) as image:
        expected = np.asarray(image.convert("RGB"))
    picture_height = expected.shape[0]
    assert width == expected.shape[1] and max(expected.shape[:2]) == pbn.WORKING_SIDE
    assert np.array_equal(fill_raster(root, width, picture_height), expected)
    assert int(headers["X-Colors"]) == len(list(layer(root, "legend")))


def test_outlines_trace_every_border_edge_exactly_once(svg_root, template):
    indices = template.indices
    height, width = indices.shape
    expected = set()
    for y in range(height + 1):
        for x in range(width):
            if y in (0, height) or indices[y - 1, x] != indices[y, x]:
                expected.add(((x, y), (x + 1, y)))
    for y in range(height):
        for x in range(width + 1):
            if x in (0, width) or indices[y, x - 1] != indices[y, x]:
                expected.add(((x, y), (x, y + 1)))
    drawn: list = []
    for path in layer(svg_root, "outlines").iter(f"{SVG}path"):
        for points in parse_path(path.get("d")):
            for (x0, y0), (x1, y1) in zip(points, points[1:]):
                if x0 == x1:
                    drawn += [((x0, y), (x0, y + 1)) for y in range(min(y0, y1), max(y0, y1))]
                else:
                    drawn += [((x, y0), (x + 1, y0)) for x in range(min(x0, x1), max(x0, x1))]
    assert len(drawn) == len(set(drawn)), "a border edge is drawn twice"
    assert set(drawn) == expected


def glyph_box(text: str, x: float, baseline: float, size: float) -> tuple[float, float, float, float]:
    """The ink box of centered text, by DejaVu Sans itself when present, else by the documented metrics."""
    if DEJAVU.exists():
        left, top, right, bottom = ImageFont.truetype(str(DEJAVU), 1000).getbbox(text, anchor="ms")
        scale = size / 1000
        return x + left * scale, baseline + top * scale, x + right * scale, baseline + bottom * scale
    half = pbn.DIGIT_WIDTH * len(text) * size / 2
    return x - half, baseline - pbn.BASELINE * size - pbn.DIGIT_HEIGHT * size / 2, x + half, baseline


def test_every_number_lies_inside_its_region_and_names_its_color(svg_root, template):
    legend = {int(g.get("id").split("-")[1]): g.find(f"{SVG}rect").get("fill") for g in layer(svg_root, "legend")}
    drawn = fill_raster(svg_root, template.width, template.height)
    from app.regions import label_regions

    regions = label_regions(template.indices)
    texts = list(layer(svg_root, "numbers").iter(f"{SVG}text"))
    assert len(texts) == regions.count, "one number per region"
    seen = set()
    for text in texts:
        number, x, baseline, size = int(text.text), float(text.get("x")), float(text.get("y")), float(text.get("font-size"))
        left, top, right, bottom = glyph_box(text.text, x, baseline, size)
        region = regions.of_pixel[int(baseline - pbn.BASELINE * size), int(x)]
        rows = slice(int(np.floor(top)), int(np.ceil(bottom)))
        columns = slice(int(np.floor(left)), int(np.ceil(right)))
        assert top >= 0 and left >= 0 and bottom <= template.height and right <= template.width
        assert (regions.of_pixel[rows, columns] == region).all(), f"number {number} at {x},{baseline} leaves its region"
        color = "#%02x%02x%02x" % tuple(drawn[int(baseline - pbn.BASELINE * size), int(x)])
        assert legend[number] == color, f"number {number} sits on {color}, the legend says {legend[number]}"
        seen.add(int(region))
    assert seen == set(range(regions.count)), "a region has no number"


def test_the_legend_lists_exactly_the_palette_numbered_by_share(svg_root, template):
    entries = []
    for group in layer(svg_root, "legend"):
        number, hex_code = (t.text for t in group.iter(f"{SVG}text"))
        assert group.find(f"{SVG}rect").get("fill") == hex_code
        entries.append((int(number), hex_code))
    assert entries == list(enumerate(template.result.hex_codes(), start=1))
    assert (np.diff(template.result.shares) <= 0).all()


def test_numbers_fit_and_grow_with_room():
    # A big square, a bar 10 px wide and a band 4 px tall: the square's number is as large as allowed;
    # the bar's is smaller but readable, as wide as the bar allows (the box is narrower than a circle);
    # the band's is as tall as the band allows.
    indices = np.zeros((120, 160), dtype=np.uint8)
    indices[:, 150:] = 1
    indices[100:104, :100] = 2
    labels = {label.number: label for label in pbn.place_labels(indices)}
    assert labels[1].font_size == pbn.MAX_FONT
    assert 8 < labels[2].font_size <= 10 / pbn.DIGIT_WIDTH
    assert 150 <= labels[2].box()[0] and labels[2].box()[2] <= 160
    assert 2.99 / pbn.DIGIT_HEIGHT <= labels[3].font_size <= 4 / pbn.DIGIT_HEIGHT  # centred on a pixel: 3 of 4 rows
    assert 100 <= labels[3].box()[1] and labels[3].box()[3] <= 104


@pytest.mark.parametrize("name, k", [("kodim23.png", 12), ("kodim23.png", 32), ("cam_xiaomi_mi9t_12mp_orient6.jpg", 32)])
def test_every_number_of_the_default_template_is_readable(corpus, name, k):
    # The Xiaomi photo's smooth gradients make thin bands: at min_font=0 about a tenth of its numbers
    # come out under 8 px (29 of 267 at k = 32); by default every region is deep enough for 8 px.
    prepared = pipeline.prepare((corpus / name).read_bytes(), 10**8)
    template = pbn.make_template(prepared, k)
    sizes = [label.font_size for label in template.labels]
    assert min(sizes) >= pbn.READABLE_FONT == 8, f"{sum(s < 8 for s in sizes)} of {len(sizes)} numbers under 8 px"
    assert pbn.unreadable(template) == 0 and len(sizes) == template.regions.after
    if name.startswith("cam_"):
        assert pbn.unreadable(pbn.make_template(prepared, k, min_font=0)) > 0, "the photo no longer tests the rule"


def test_a_thin_band_merges_only_when_its_number_would_be_too_small():
    # At the working size, a band 5 px tall across the picture (12,000 px, far over min_region) between
    # two wide fields: its deepest pixel is 2 px from its border, room for a number of about 2 px.
    pixels = np.zeros((300, pbn.WORKING_SIDE, 3), dtype=np.uint8)
    pixels[:150] = (200, 40, 40)
    pixels[150:] = (40, 40, 200)
    pixels[148:153] = (40, 200, 40)
    prepared = pipeline.prepare(png(pixels), 10**7)
    kept = pbn.make_template(prepared, 3, min_font=0)
    assert kept.regions.after == 3 and pbn.unreadable(kept) == 1
    merged = pbn.make_template(prepared, 3)
    assert merged.regions.after == 2 and pbn.unreadable(merged) == 0
    assert min(label.font_size for label in merged.labels) >= 8
    assert len(merged.result.palette) == 2


@pytest.mark.parametrize("bad", [-1, 41, 2.5, True])
def test_a_bad_min_font_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="min_font"):
        pbn.check_min_font(bad)


def test_the_png_is_the_template_with_numbers_and_legend(template):
    data = template_png.to_png(template)
    with Image.open(io.BytesIO(data)) as image:
        assert image.width == template.width and image.height > template.height
        pixels = np.asarray(image.convert("RGB"))
    picture = pixels[: template.height]
    dark = (picture < 100).all(axis=2)
    assert dark[0].all() and dark[:, 0].all(), "the frame is drawn"
    # Outside borders and numbers the template is white paper.
    assert (picture.reshape(-1, 3) == 255).all(axis=1).mean() > 0.5
    swatch = template.result.palette[0]
    legend = pixels[template.height:]
    assert (legend.reshape(-1, 3) == swatch).all(axis=1).any(), "the first swatch is in the legend"
    colored = template_png.to_png(template, colors=True)
    with Image.open(io.BytesIO(colored)) as image:
        filled = np.asarray(image.convert("RGB"))[: template.height]
    inner = ~dark
    assert (filled[inner] == template.result.palette[template.indices][inner]).all(axis=1).mean() > 0.9


def test_tracing_pieces_have_constant_sides_and_rings_close():
    rng = np.random.default_rng(5)
    indices = np.kron(rng.integers(0, 4, (6, 8)), np.ones((5, 5), dtype=int)).astype(np.uint8)
    borders = tracing.trace(indices)
    for entry in range(4):
        rings = tracing.rings(borders, entry)
        inside = rasterize(parse_path(tracing.path_data(rings, closed=True)), indices.shape[1], indices.shape[0])
        assert np.array_equal(inside, indices == entry)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (3, 3)])
def test_tiny_pictures_trace(shape):
    indices = (np.arange(shape[0] * shape[1]).reshape(shape) % 2).astype(np.uint8)
    borders = tracing.trace(indices)
    for entry in np.unique(indices):
        inside = rasterize(parse_path(tracing.path_data(tracing.rings(borders, int(entry)), closed=True)), shape[1],
                           shape[0])
        assert np.array_equal(inside, indices == entry)
