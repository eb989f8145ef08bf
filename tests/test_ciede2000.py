"""app.ciede2000: the CIEDE2000 difference against Sharma et al. (2005) and the angle-by-angle formula."""

import numpy as np
import pytest

from app import ciede2000, colorspace
from testsupport.engine import rgb

# Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data, and mathematical observations", Table 1: all 34 pairs.
# Columns: L1 a1 b1 L2 a2 b2 dE00.
SHARMA_2005 = """
50.0000 2.6772 -79.7751 50.0000 0.0000 -82.7485 2.0425
50.0000 3.1571 -77.2803 50.0000 0.0000 -82.7485 2.8615
50.0000 2.8361 -74.0200 50.0000 0.0000 -82.7485 3.4412
50.0000 -1.3802 -84.2814 50.0000 0.0000 -82.7485 1.0000
50.0000 -1.1848 -84.8006 50.0000 0.0000 -82.7485 1.0000
50.0000 -0.9009 -85.5211 50.0000 0.0000 -82.7485 1.0000
50.0000 0.0000 0.0000 50.0000 -1.0000 2.0000 2.3669
50.0000 -1.0000 2.0000 50.0000 0.0000 0.0000 2.3669
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0009 7.1792
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0010 7.1792
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0011 7.2195
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0012 7.2195
50.0000 -0.0010 2.4900 50.0000 0.0009 -2.4900 4.8045
50.0000 -0.0010 2.4900 50.0000 0.0010 -2.4900 4.8045
50.0000 -0.0010 2.4900 50.0000 0.0011 -2.4900 4.7461
50.0000 2.5000 0.0000 50.0000 0.0000 -2.5000 4.3065
50.0000 2.5000 0.0000 73.0000 25.0000 -18.0000 27.1492
50.0000 2.5000 0.0000 61.0000 -5.0000 29.0000 22.8977
50.0000 2.5000 0.0000 56.0000 -27.0000 -3.0000 31.9030
50.0000 2.5000 0.0000 58.0000 24.0000 15.0000 19.4535
50.0000 2.5000 0.0000 50.0000 3.1736 0.5854 1.0000
50.0000 2.5000 0.0000 50.0000 3.2972 0.0000 1.0000
50.0000 2.5000 0.0000 50.0000 1.8634 0.5757 1.0000
50.0000 2.5000 0.0000 50.0000 3.2592 0.3350 1.0000
60.2574 -34.0099 36.2677 60.4626 -34.1751 39.4387 1.2644
63.0109 -31.0961 -5.8663 62.8187 -29.7946 -4.0864 1.2630
61.2901 3.7196 -5.3901 61.4292 2.2480 -4.9620 1.8731
35.0831 -44.1164 3.7933 35.0232 -40.0716 1.5901 1.8645
22.7233 20.0904 -46.6940 23.0331 14.9730 -42.5619 2.0373
36.4612 47.8580 18.3852 36.2715 50.5065 21.2231 1.4146
90.8027 -2.0831 1.4410 91.1528 -1.6435 0.0447 1.4441
90.9257 -0.5406 -0.9208 88.6381 -0.8985 -0.7239 1.5381
6.7747 -0.2908 -2.4247 5.8714 -0.0985 -2.2286 0.6377
2.0776 0.0795 -1.1350 0.9033 -0.0636 -0.5514 0.9082
"""


SHARMA = np.array([[float(v) for v in line.split()] for line in SHARMA_2005.strip().splitlines()])


def test_the_sharma_table_is_complete():
    assert SHARMA.shape == (34, 7)


@pytest.mark.parametrize("pair", range(34), ids=[f"pair{i + 1}" for i in range(34)])
def test_ciede2000_matches_sharma_2005_to_four_decimals(pair):
    row = SHARMA[pair : pair + 1]
    assert ciede2000.between(row[:, 0:3], row[:, 3:6])[0] == pytest.approx(row[0, 6], abs=5e-5)


def test_ciede2000_is_vectorized_and_symmetric():
    forward = ciede2000.between(SHARMA[:, 0:3], SHARMA[:, 3:6])
    backward = ciede2000.between(SHARMA[:, 3:6], SHARMA[:, 0:3])
    assert forward.shape == (34,)
    np.testing.assert_allclose(forward, SHARMA[:, 6], atol=5e-5)
    np.testing.assert_allclose(backward, SHARMA[:, 6], atol=5e-5)


def test_ciede2000_of_identical_colors_is_zero():
    lab = colorspace.srgb_to_lab(rgb((0, 0, 0), (255, 255, 255), (12, 200, 99), (255, 0, 0)))
    np.testing.assert_array_equal(ciede2000.between(lab, lab), 0.0)


def test_ciede2000_srgb_black_to_white_is_100():
    assert ciede2000.between_srgb(rgb((0, 0, 0)), rgb((255, 255, 255)))[0] == pytest.approx(100.0, abs=1e-6)


def reference_ciede2000(lab1, lab2):
    """The formula as Sharma et al. (2005) write it, angle by angle, in float64."""
    L1, a1, b1 = lab1.T
    L2, a2, b2 = lab2.T
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    dHp = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    h_sum = h1p + h2p
    hp_mean = np.where(
        c1p * c2p == 0,
        h_sum,
        np.where(np.abs(h1p - h2p) <= 180, h_sum / 2, np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)),
    )
    t = (1 - 0.17 * np.cos(np.radians(hp_mean - 30)) + 0.24 * np.cos(np.radians(2 * hp_mean))
         + 0.32 * np.cos(np.radians(3 * hp_mean + 6)) - 0.20 * np.cos(np.radians(4 * hp_mean - 63)))
    d_theta = 30 * np.exp(-(((hp_mean - 275) / 25) ** 2))
    cp_mean = (c1p + c2p) / 2
    r_c = 2 * np.sqrt(cp_mean**7 / (cp_mean**7 + 25.0**7))
    lp = (L1 + L2) / 2
    s_l = 1 + 0.015 * (lp - 50) ** 2 / np.sqrt(20 + (lp - 50) ** 2)
    s_c, s_h = 1 + 0.045 * cp_mean, 1 + 0.015 * cp_mean * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    dl, dc, dh_ = (L2 - L1) / s_l, (c2p - c1p) / s_c, dHp / s_h
    return np.sqrt(dl**2 + dc**2 + dh_**2 + r_t * dc * dh_)


def test_ciede2000_agrees_with_the_angle_by_angle_formula_on_many_pairs():
    rng = np.random.default_rng(7)
    first = rng.integers(0, 256, (60_000, 3)).astype(np.uint8)
    second = rng.integers(0, 256, (60_000, 3)).astype(np.uint8)
    second[::3] = np.clip(first[::3].astype(int) + rng.integers(-6, 7, first[::3].shape), 0, 255)  # near pairs
    lab1, lab2 = colorspace.srgb_to_lab(first), colorspace.srgb_to_lab(second)
    # exactly opposite hues, zero chroma on one or both sides, identical colors
    lab1[:4] = [[50, 2.5, 0], [50, 0, 0], [50, 0, 0], [40, 10, -10]]
    lab2[:4] = [[60, -2.5, 0], [50, 3, 4], [70, 0, 0], [40, 10, -10]]
    expected = reference_ciede2000(lab1, lab2)
    np.testing.assert_allclose(ciede2000.between(lab1, lab2), expected, rtol=1e-9, atol=1e-9)
    single = ciede2000.between(lab1.astype(np.float32), lab2.astype(np.float32))
    assert single.dtype == np.float32
    assert abs(single.astype(np.float64).mean() / expected.mean() - 1) < 1e-6


def test_ciede2000_to_entries_is_ciede2000_to_the_gathered_entries():
    rng = np.random.default_rng(17)
    lab_colors = colorspace.srgb_to_lab(rng.integers(0, 256, (40_000, 3))).astype(np.float32)
    lab_palette = colorspace.srgb_to_lab(rng.integers(0, 256, (12, 3))).astype(np.float32)
    labels = rng.integers(0, 12, len(lab_colors))
    np.testing.assert_array_equal(ciede2000.to_entries(lab_colors, lab_palette, labels),
                                  ciede2000.between(lab_colors, lab_palette[labels]))
