"""app.perceptual_match: each color's entry with the smallest CIEDE2000 among its nearest in CIELAB."""

import numpy as np
import pytest

from app import cancel, ciede2000, colorspace, lattice, libraries, perceptual_match
from testsupport.engine import colorful_hist


@pytest.mark.parametrize("entries, with_grid", [(9, True), (9, False), (80, True)])
def test_nearest_perceptual_takes_the_candidate_with_the_smallest_ciede2000_the_nearer_on_ties(entries, with_grid):
    hist = colorful_hist()
    palette = hist.colors[:: hist.unique_colors // entries][:entries]
    grid = hist.lattice("lab") if with_grid else None
    labels, differences = perceptual_match.nearest_perceptual(hist.lab, palette, grid=grid)
    # The candidates as the search finds them: the 3 entries nearest in CIELAB.
    lab_palette = colorspace.srgb_to_lab(palette).astype(np.float32)
    if with_grid and entries <= perceptual_match.LATTICE_FEW_MAX_K:
        near = lattice.nearest_few(grid, grid.snap(lab_palette), 3)
    else:
        near = libraries.kd_tree(lab_palette).query(hist.lab, k=3)[1]
    each = np.stack([ciede2000.between(hist.lab, lab_palette[near[:, i]]) for i in range(3)], axis=1)
    best = np.argmin(each, axis=1)  # the first of equal minima
    rows = np.arange(hist.unique_colors)
    assert np.array_equal(labels, near[rows, best])
    assert np.array_equal(differences, each[rows, best])


def test_nearest_perceptual_stops_between_blocks_once_cancelled():
    hist = colorful_hist()
    asked = []
    with cancel.cancellable(lambda: asked.append(1) or len(asked) >= 2):
        with pytest.raises(cancel.Cancelled):
            perceptual_match.nearest_perceptual(hist.lab, hist.colors[:8], grid=hist.lattice("lab"))
    assert len(asked) == 2  # once said, the answer is kept: no thread asks again
    asked.clear()
    with cancel.cancellable(lambda: asked.append(1) and False):
        perceptual_match.nearest_perceptual(hist.lab, hist.colors[:8], grid=hist.lattice("lab"))
    assert len(asked) >= hist.unique_colors // perceptual_match.NEAREST_PERCEPTUAL_BLOCK
