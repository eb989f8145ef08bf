"""Color spaces for clustering and for measuring error: sRGB, OKLab, CIELAB (D65).

Every function takes (n, 3) arrays; sRGB is 0-255, the others are floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

# sRGB (D65) to CIE XYZ, IEC 61966-2-1.
_RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_WHITE_D65 = _RGB_TO_XYZ.sum(axis=1)

# OKLab, Björn Ottosson (2020).
_OK_M1 = np.array(
    [[0.4122214708, 0.5363325363, 0.0514459929], [0.2119034982, 0.6806995451, 0.1073969566],
     [0.0883024619, 0.2817188376, 0.6299787005]]
)
_OK_M2 = np.array(
    [[0.2104542553, 0.7936177850, -0.0040720468], [1.9779984951, -2.4285922050, 0.4505937099],
     [0.0259040371, 0.7827717662, -0.8086757660]]
)
_OK_M1_INV = np.linalg.inv(_OK_M1)
_OK_M2_INV = np.linalg.inv(_OK_M2)

_SRGB_TO_LINEAR = np.where(
    np.arange(256) / 255.0 <= 0.04045,
    np.arange(256) / 255.0 / 12.92,
    ((np.arange(256) / 255.0 + 0.055) / 1.055) ** 2.4,
)


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    return _SRGB_TO_LINEAR[np.asarray(rgb, dtype=np.uint8)]


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear light to sRGB 0-255 as uint8, clipped to the gamut and rounded."""
    x = np.clip(linear, 0.0, 1.0)
    encoded = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return np.rint(encoded * 255.0).astype(np.uint8)


def srgb_to_oklab(rgb: np.ndarray) -> np.ndarray:
    return np.cbrt(srgb_to_linear(rgb) @ _OK_M1.T) @ _OK_M2.T


def oklab_to_srgb(lab: np.ndarray) -> np.ndarray:
    return linear_to_srgb((np.asarray(lab, dtype=np.float64) @ _OK_M2_INV.T) ** 3 @ _OK_M1_INV.T)


def _f(t):
    return np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)


def _f_inv(t):
    return np.where(t > 6 / 29, t**3, 3 * (6 / 29) ** 2 * (t - 4 / 29))


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    xyz = srgb_to_linear(rgb) @ _RGB_TO_XYZ.T / _WHITE_D65
    fx, fy, fz = _f(xyz[:, 0]), _f(xyz[:, 1]), _f(xyz[:, 2])
    return np.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], axis=1)


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[:, 0] + 16) / 116
    xyz = np.stack([_f_inv(fy + lab[:, 1] / 500), _f_inv(fy), _f_inv(fy - lab[:, 2] / 200)], axis=1) * _WHITE_D65
    return linear_to_srgb(xyz @ _XYZ_TO_RGB.T)


# CIEDE2000 makes some twenty temporaries the size of its input: blocks of this many
# rows keep them to a few megabytes whatever the number of colors or pixels.
CIEDE2000_BLOCK = 1 << 16


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 color difference between rows of two CIELAB arrays (Sharma et al. 2005)."""
    return _in_blocks(_ciede2000, lab1, lab2)


def _in_blocks(function, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """An element-wise function of two row arrays, computed a block of rows at a time."""
    if len(first) <= CIEDE2000_BLOCK:
        return function(first, second)
    head = function(first[:CIEDE2000_BLOCK], second[:CIEDE2000_BLOCK])
    out = np.empty(len(first), dtype=head.dtype)
    out[:CIEDE2000_BLOCK] = head
    for start in range(CIEDE2000_BLOCK, len(first), CIEDE2000_BLOCK):
        out[start : start + CIEDE2000_BLOCK] = function(
            first[start : start + CIEDE2000_BLOCK], second[start : start + CIEDE2000_BLOCK]
        )
    return out


def _ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    L1, a1, b1 = lab1[:, 0], lab1[:, 1], lab1[:, 2]
    L2, a2, b2 = lab2[:, 0], lab2[:, 1], lab2[:, 2]
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dLp, dCp = L2 - L1, c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    dHp = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    Lp_mean = (L1 + L2) / 2
    Cp_mean = (c1p + c2p) / 2
    h_sum = h1p + h2p
    hp_mean = np.where(
        c1p * c2p == 0,
        h_sum,
        np.where(np.abs(h1p - h2p) <= 180, h_sum / 2, np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)),
    )
    t = (
        1
        - 0.17 * np.cos(np.radians(hp_mean - 30))
        + 0.24 * np.cos(np.radians(2 * hp_mean))
        + 0.32 * np.cos(np.radians(3 * hp_mean + 6))
        - 0.20 * np.cos(np.radians(4 * hp_mean - 63))
    )
    d_theta = 30 * np.exp(-(((hp_mean - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(Cp_mean**7 / (Cp_mean**7 + 25.0**7))
    s_l = 1 + 0.015 * (Lp_mean - 50) ** 2 / np.sqrt(20 + (Lp_mean - 50) ** 2)
    s_c = 1 + 0.045 * Cp_mean
    s_h = 1 + 0.015 * Cp_mean * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return np.sqrt(
        (dLp / s_l) ** 2 + (dCp / s_c) ** 2 + (dHp / s_h) ** 2 + r_t * (dCp / s_c) * (dHp / s_h)
    )


def ciede2000_srgb(rgb1: np.ndarray, rgb2: np.ndarray) -> np.ndarray:
    return _in_blocks(lambda a, b: _ciede2000(srgb_to_lab(a), srgb_to_lab(b)), rgb1, rgb2)


@dataclass(frozen=True)
class Space:
    from_srgb: Callable[[np.ndarray], np.ndarray]
    to_srgb: Callable[[np.ndarray], np.ndarray]


def _identity_from(rgb):
    return np.asarray(rgb, dtype=np.float64)


def _identity_to(points):
    return np.rint(np.clip(points, 0, 255)).astype(np.uint8)


SPACES = {
    "rgb": Space(_identity_from, _identity_to),
    "oklab": Space(srgb_to_oklab, oklab_to_srgb),
    "lab": Space(srgb_to_lab, lab_to_srgb),
}
