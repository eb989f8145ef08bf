"""Color spaces for clustering and for measuring error: sRGB, OKLab, CIELAB (D65).

Every function takes (n, 3) arrays; sRGB is 0-255, the others are floats.
The CIEDE2000 difference between CIELAB colors is app/ciede2000.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from app import parallel

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


def _row_by_row(convert: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """convert, (n, 3) rows to (n, 3) float rows, run on the cores for their parts of a long array.

    Each row's result is the one convert gives the whole array (a 12 MP
    photo's 354,685 colors to CIELAB took 25 ms on one core).
    """
    def in_parts(rgb: np.ndarray) -> np.ndarray:
        rgb = np.asarray(rgb)
        rows = rgb.reshape(-1, 3)
        if len(rows) < 2 * parallel.MIN_PART:
            return convert(rgb)
        out = np.empty(rows.shape)

        def part(first: int, last: int) -> None:
            out[first:last] = convert(rows[first:last])

        parallel.for_ranges(len(rows), part)
        return out.reshape(rgb.shape)

    in_parts.__doc__ = convert.__doc__
    return in_parts


@_row_by_row
def srgb_to_oklab(rgb: np.ndarray) -> np.ndarray:
    return np.cbrt(srgb_to_linear(rgb) @ _OK_M1.T) @ _OK_M2.T


def oklab_to_srgb(lab: np.ndarray) -> np.ndarray:
    return linear_to_srgb((np.asarray(lab, dtype=np.float64) @ _OK_M2_INV.T) ** 3 @ _OK_M1_INV.T)


def _f(t):
    return np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)


def _f_inv(t):
    return np.where(t > 6 / 29, t**3, 3 * (6 / 29) ** 2 * (t - 4 / 29))


@_row_by_row
def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    xyz = srgb_to_linear(rgb) @ _RGB_TO_XYZ.T / _WHITE_D65
    fx, fy, fz = _f(xyz[:, 0]), _f(xyz[:, 1]), _f(xyz[:, 2])
    return np.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], axis=1)


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[:, 0] + 16) / 116
    xyz = np.stack([_f_inv(fy + lab[:, 1] / 500), _f_inv(fy), _f_inv(fy - lab[:, 2] / 200)], axis=1) * _WHITE_D65
    return linear_to_srgb(xyz @ _XYZ_TO_RGB.T)


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
