"""The merge rule: nearest palette color to a region's own mean, then the longest border."""

from __future__ import annotations

import numpy as np

from app import cleaning


def test_a_speck_joins_the_neighbour_nearest_its_own_color_not_its_palette_entry():
    # A 2-color palette; the speck's palette entry (dark) is far from both neighbours, but its
    # own pixels are sky blue: it must join the blue region, although it shares less border with it.
    pixels = np.zeros((6, 9, 3), dtype=np.uint8)
    pixels[:, :4] = (20, 120, 30)  # green, left
    pixels[:, 4:] = (90, 160, 240)  # blue, right
    pixels[2:4, 3:5] = (100, 170, 250)  # a 2x2 speck across the edge, bluish
    palette = np.array([[20, 120, 30], [90, 160, 240], [0, 0, 0]], dtype=np.uint8)
    indices = np.where(pixels[..., 0] == 20, 0, 1).astype(np.uint8)
    indices[2:4, 3:5] = 2
    indices[2:4, 3] = 2
    cleaned = cleaning.clean(indices, palette, pixels, None, 5)
    blue = int(np.flatnonzero((cleaned.result.palette[:, 2] > 200))[0])
    assert (cleaned.indices[2:4, 3:5] == blue).all()
    assert cleaned.regions_after == 2


def test_on_equal_colors_the_longest_border_wins():
    pixels = np.zeros((5, 8, 3), dtype=np.uint8)
    pixels[:, :5] = (200, 0, 0)
    pixels[:, 5:] = (0, 0, 200)
    pixels[2, 4] = (100, 0, 100)  # midway: equally far from red and blue
    indices = np.where(pixels[..., 0] == 200, 0, 1).astype(np.uint8)
    indices[2, 4] = 2
    palette = np.array([[200, 0, 0], [0, 0, 200], [100, 0, 100]], dtype=np.uint8)
    cleaned = cleaning.clean(indices, palette, pixels, None, 2)
    # Three of its four sides touch red, one touches blue.
    assert tuple(cleaned.result.palette[cleaned.indices[2, 4]]) == tuple(cleaned.result.palette[cleaned.indices[2, 3]])
