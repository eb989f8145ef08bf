"""app.colorspace: sRGB <-> OKLab / CIELAB."""

import numpy as np
import pytest

from app import colorspace
from testsupport.engine import rgb


def test_srgb_white_is_lab_100_0_0_and_black_is_0_0_0():
    lab = colorspace.srgb_to_lab(rgb((255, 255, 255), (0, 0, 0)))
    np.testing.assert_allclose(lab, [[100, 0, 0], [0, 0, 0]], atol=1e-6)


def test_srgb_primaries_in_cielab_d65():
    lab = colorspace.srgb_to_lab(rgb((255, 0, 0), (0, 255, 0), (0, 0, 255)))
    # Bruce Lindbloom's calculator, sRGB with reference white D65.
    expected = [[53.2408, 80.0925, 67.2032], [87.7347, -86.1827, 83.1793], [32.2970, 79.1875, -107.8602]]
    np.testing.assert_allclose(lab, expected, atol=0.01)


def test_srgb_white_is_oklab_1_0_0():
    np.testing.assert_allclose(colorspace.srgb_to_oklab(rgb((255, 255, 255))), [[1, 0, 0]], atol=1e-6)


def test_srgb_primaries_in_oklab():
    ok = colorspace.srgb_to_oklab(rgb((255, 0, 0), (0, 255, 0), (0, 0, 255)))
    # CSS Color 4 / Ottosson: red is oklab(0.62796 0.22486 0.12585).
    expected = [[0.62796, 0.22486, 0.12585], [0.86644, -0.23389, 0.17950], [0.45201, -0.03246, -0.31153]]
    np.testing.assert_allclose(ok, expected, atol=2e-4)


def test_srgb_gray_is_neutral_in_both_spaces():
    grays = rgb(*[(v, v, v) for v in range(0, 256, 17)])
    np.testing.assert_allclose(colorspace.srgb_to_oklab(grays)[:, 1:], 0, atol=1e-6)
    np.testing.assert_allclose(colorspace.srgb_to_lab(grays)[:, 1:], 0, atol=1e-6)
    lightness = colorspace.srgb_to_lab(grays)[:, 0]
    assert np.all(np.diff(lightness) > 0)


def every_color_with_step(step: int) -> np.ndarray:
    axis = np.arange(0, 256, step)
    axis = np.union1d(axis, [255])
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3).astype(np.uint8)


@pytest.mark.parametrize("space", ["oklab", "lab", "rgb"])
def test_round_trip_through_each_space_is_exact(space):
    colors = every_color_with_step(3)  # 86**3 = 636k colors, every edge value included
    convert = colorspace.SPACES[space]
    back = convert.to_srgb(convert.from_srgb(colors))
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, colors)


def test_linear_to_srgb_clips_out_of_gamut_values():
    out = colorspace.linear_to_srgb(np.array([[-0.5, 0.5, 2.0]]))
    np.testing.assert_array_equal(out, [[0, 188, 255]])


def test_srgb_to_linear_transfer_curve():
    lin = colorspace.srgb_to_linear(np.array([0, 10, 128, 255], dtype=np.uint8))
    np.testing.assert_allclose(lin, [0.0, 10 / 255 / 12.92, ((128 / 255 + 0.055) / 1.055) ** 2.4, 1.0])


def test_to_srgb_of_out_of_gamut_points_clips_to_the_cube():
    out = colorspace.oklab_to_srgb(np.array([[1.5, 0.0, 0.0], [-0.2, 0.0, 0.0], [0.6, 0.4, 0.0]]))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[:2], [[255, 255, 255], [0, 0, 0]])
    assert out[2, 0] == 255 and out[2, 1] == 0  # a red beyond sRGB is clipped, not wrapped
    lab = np.array([[150.0, 0, 0], [-10.0, 0, 0]])
    np.testing.assert_array_equal(colorspace.lab_to_srgb(lab), [[255] * 3, [0] * 3])
