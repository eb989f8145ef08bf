import io
import math

import numpy as np
import pytest
from PIL import Image

from app import histograms, imaging, pipeline, quantize, sheet
from testsupport.images import gradient, png_bytes


def layout(tile_w: int, tile_h: int, count: int) -> dict:
    """Where compose() puts things, from its documented rules, to compare with."""
    font_size = max(11, min(tile_w // 24, 28))
    from PIL import ImageFont

    ascent, descent = ImageFont.load_default(size=font_size).getmetrics()
    strip = ascent + descent + 2 * max(4, ascent // 3)
    gap = max(4, tile_w // 80)
    columns, rows = sheet.grid_shape(count)
    return {
        "size": (gap + columns * (tile_w + gap), gap + rows * (tile_h + strip + gap)),
        "origins": [(gap + (i % columns) * (tile_w + gap), gap + (i // columns) * (tile_h + strip + gap))
                    for i in range(count)],
        "strip": strip,
    }


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize("count", range(1, 14))
def test_grid_is_near_square_without_empty_rows(count):
    columns, rows = sheet.grid_shape(count)
    assert columns * rows >= count > (rows - 1) * columns
    assert columns - 1 <= rows <= columns


def test_compose_places_tiles_in_reading_order_with_labels():
    colors = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200)]
    tiles = [sheet.Tile(Image.new("RGB", (120, 90), c), f"tile {i}") for i, c in enumerate(colors)]
    image = np.asarray(sheet.compose(tiles))
    where = layout(120, 90, len(tiles))
    assert image.shape[1::-1] == where["size"]
    for color, (left, top) in zip(colors, where["origins"]):
        assert (image[top : top + 90, left : left + 120] == color).all()
        label = image[top + 90 : top + 90 + where["strip"], left : left + 120]
        assert (label.sum(axis=2) < 300).any(), "the label strip has no text"
    # The sixth cell of the 3 x 2 grid stays empty.
    left, top = layout(120, 90, 6)["origins"][5]
    assert (image[top : top + 90 + where["strip"], left : left + 120] == sheet.BACKGROUND).all()


def test_compose_refuses_nothing_or_mixed_sizes():
    with pytest.raises(ValueError):
        sheet.compose([])
    with pytest.raises(ValueError, match="same size"):
        sheet.compose([sheet.Tile(Image.new("RGB", (10, 10)), "a"), sheet.Tile(Image.new("RGB", (10, 11)), "b")])


def test_long_labels_are_cut_to_the_tile():
    long = sheet.Tile(Image.new("RGB", (80, 60), (255, 255, 255)), "k = 24 · PSNR 29.3 dB · dE 5.2 and much more")
    image = np.asarray(sheet.compose([long]))
    gap = layout(80, 60, 1)["origins"][0][0]
    # No ink in the right-hand margin: the text stopped inside the tile.
    assert (image[:, 80 + gap :] == 255).all()


def test_contact_sheet_shows_the_original_then_each_k():
    rgb = gradient(200, 150)
    prepared = pipeline.prepare(png_bytes(rgb), 10**8)
    data = sheet.contact_sheet(prepared, (2, 5, 10), tile_side=100)
    image = decode(data)
    where = layout(100, 75, 4)
    assert image.shape[1::-1] == where["size"]
    tiles = [image[top : top + 75, left : left + 100] for left, top in where["origins"]]
    np.testing.assert_array_equal(tiles[0], imaging.shrink_nearest(rgb, 100))
    for k, tile in zip((2, 5, 10), tiles[1:]):
        rendered = pipeline.render(prepared, pipeline.Options(k=k, max_side=100))
        np.testing.assert_array_equal(tile, decode(rendered.data))
        assert len(np.unique(tile.reshape(-1, 3), axis=0)) <= k
    assert sheet.contact_sheet(prepared, (2, 5, 10), tile_side=100) == data  # deterministic


def test_transparent_pixels_show_the_sheet_background():
    rgb = gradient(64, 64)
    alpha = np.full((64, 64), 255, np.uint8)
    alpha[:, :32] = 0
    prepared = pipeline.prepare(png_bytes(rgb, alpha), 10**8)
    image = decode(sheet.contact_sheet(prepared, (3,), tile_side=64))
    for left, top in layout(64, 64, 2)["origins"]:
        assert (image[top : top + 64, left : left + 32] == sheet.BACKGROUND).all()
        assert not (image[top : top + 64, left + 32 : left + 64] == sheet.BACKGROUND).all(axis=2).all()


def test_labels_carry_the_figures():
    hist = histograms.histogram(histograms.pack(gradient(50, 40)))
    result = quantize.find_palette(hist, 5)
    assert sheet.tile_label(5, result) == f"k = 5 · PSNR {result.psnr:.1f} dB · dE {result.delta_e:.1f}"
    few = histograms.histogram(histograms.pack(np.array([[[0, 0, 0], [255, 255, 255], [9, 9, 9]]], np.uint8)))
    assert sheet.tile_label(8, quantize.find_palette(few, 8)) == "k = 8 (3 colors) · identical"


@pytest.mark.parametrize(
    "ks, message",
    [((), "1 to 12"), (tuple(range(2, 15)), "1 to 12"), ((1,), "got 1"), ((2, 257), "got 257"),
     ((2, True), "got True"), ((5, 3, 5), "twice")],
)
def test_bad_ks_are_refused(ks, message):
    with pytest.raises(ValueError, match=message):
        sheet.check_ks(ks)


def test_corpus_sheet_of_the_article_ks(corpus):
    prepared = pipeline.prepare((corpus / "kodim23.png").read_bytes(), 10**8)
    image = decode(sheet.contact_sheet(prepared))
    width, height = prepared.decoded.width, prepared.decoded.height
    scale = max(width, height) / sheet.DEFAULT_TILE_SIDE
    tile_w, tile_h = round(width / scale), round(height / scale)
    where = layout(tile_w, tile_h, 1 + len(sheet.DEFAULT_KS))
    assert image.shape[1::-1] == where["size"]
    assert math.prod(sheet.grid_shape(6)) == 6
    # Fewer colors in every tile than in the original, and never more than k.
    counts = []
    for (left, top), k in zip(where["origins"][1:], sheet.DEFAULT_KS):
        tile = image[top : top + tile_h, left : left + tile_w]
        counts.append(len(np.unique(tile.reshape(-1, 3), axis=0)))
        assert counts[-1] <= k
    assert counts == sorted(counts)


def test_dithered_tiles_are_dithered_at_tile_size_with_the_whole_photos_palette():
    rgb = gradient(400, 300)
    prepared = pipeline.prepare(png_bytes(rgb), 10**8)
    data = sheet.contact_sheet(prepared, (4, 8), dither="floyd-steinberg", tile_side=100)
    image = decode(data)
    where = layout(100, 75, 3)
    tiles = [image[top : top + 75, left : left + 100] for left, top in where["origins"]]
    small = imaging.Decoded(np.ascontiguousarray(imaging.shrink_nearest(prepared.decoded.pixels, 100)), None, "PNG")
    for k, tile in zip((4, 8), tiles[1:]):
        fit = pipeline.palette_fit(prepared, pipeline.Options(k=k))
        result, indices = pipeline.dithered(small, prepared.hist, fit.palette)
        np.testing.assert_array_equal(tile, result.palette[indices])
        # Only colors of the palette found in the whole photo, mixed by error diffusion at this size.
        colors = {tuple(c) for c in tile.reshape(-1, 3)}
        assert colors <= {tuple(c) for c in fit.palette} and len(colors) > 1
    assert sheet.contact_sheet(prepared, (4, 8), dither="floyd-steinberg", tile_side=100) == data
