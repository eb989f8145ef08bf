"""Color spaces for clustering and for measuring error: sRGB, OKLab, CIELAB (D65).

Every function takes (n, 3) arrays; sRGB is 0-255, the others are floats.
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


# CIEDE2000 runs in blocks: its few dozen steps then work on arrays that stay in cache.
_CIEDE2000_BLOCK = 16384
_25_POW_7 = 25.0**7
_COS30, _SIN30 = np.cos(np.radians(30)), np.sin(np.radians(30))
_COS6, _SIN6 = np.cos(np.radians(6)), np.sin(np.radians(6))
_COS63, _SIN63 = np.cos(np.radians(63)), np.sin(np.radians(63))


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 color difference between rows of two CIELAB arrays (Sharma et al. 2005).

    Computed in the inputs' precision (float32 stays float32), block by block.
    """
    lab1, lab2 = np.asarray(lab1), np.asarray(lab2)
    dtype = np.result_type(lab1.dtype, lab2.dtype, np.float32)
    out = np.empty(len(lab1), dtype=dtype)

    def part(first: int, last: int) -> None:
        for start in range(first, last, _CIEDE2000_BLOCK):
            stop = min(start + _CIEDE2000_BLOCK, last)
            out[start:stop] = _ciede2000_block(lab1[start:stop].astype(dtype, copy=False),
                                               lab2[start:stop].astype(dtype, copy=False))

    parallel.for_ranges(len(lab1), part)
    return out


def ciede2000_to_entries(lab_colors: np.ndarray, lab_palette: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """CIEDE2000 of each color to its palette entry: ciede2000(lab_colors, lab_palette[labels]).

    The entries are looked up a block at a time, on each core for its own
    part, rather than gathered into a full-size array first.
    """
    lab_colors = np.asarray(lab_colors)
    out = np.empty(len(lab_colors), dtype=np.result_type(lab_colors.dtype, np.asarray(lab_palette).dtype, np.float32))
    measure = differences_to_entries(lab_colors, lab_palette, out)
    parallel.for_ranges(len(lab_colors), lambda first, last: measure(first, last, labels[first:last]))
    return out


def differences_to_entries(lab_colors: np.ndarray, lab_palette: np.ndarray, out: np.ndarray):
    """measure(first, last, labels): out[first:last] = CIEDE2000 of colors first..last to their entries.

    For a caller that finds the labels a part at a time (lattice.nearest's then).
    """
    lab_colors, lab_palette = np.asarray(lab_colors), np.asarray(lab_palette)
    dtype = out.dtype
    entry_columns = np.ascontiguousarray(lab_palette.T, dtype=dtype)  # one look-up per column: faster than rows

    def measure(first: int, last: int, labels: np.ndarray) -> None:
        for start in range(first, last, _CIEDE2000_BLOCK):
            stop = min(start + _CIEDE2000_BLOCK, last)
            block = lab_colors[start:stop].astype(dtype, copy=False)
            entries = labels[start - first:stop - first]
            out[start:stop] = _ciede2000_columns(block[:, 0], block[:, 1], block[:, 2],
                                                 *(column.take(entries) for column in entry_columns))

    return measure


def _pow7(x: np.ndarray) -> np.ndarray:
    x2 = x * x
    return x2 * x2 * x2 * x


def _ciede2000_block(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """The formula with hue angles handled as vectors: one arctangent instead of two, no branches.

    The mean hue of the formula bisects the smaller arc between the two
    hues, so its cosine and sine come from the sum of the unit hue vectors,
    and the four cosines of T from multiple-angle identities. dH' comes from
    the cross and dot products of the (a', b') vectors.
    """
    return _ciede2000_columns(lab1[:, 0], lab1[:, 1], lab1[:, 2], lab2[:, 0], lab2[:, 1], lab2[:, 2])


def _ciede2000_columns(L1, a1, b1, L2, a2, b2) -> np.ndarray:
    """_ciede2000_block on the six coordinates as separate arrays."""
    bb1, bb2 = b1 * b1, b2 * b2
    c7 = _pow7((np.sqrt(a1 * a1 + bb1) + np.sqrt(a2 * a2 + bb2)) * 0.5)
    scale = 1.5 - 0.5 * np.sqrt(c7 / (c7 + _25_POW_7))  # 1 + G
    a1p, a2p = a1 * scale, a2 * scale
    c1p, c2p = np.sqrt(a1p * a1p + bb1), np.sqrt(a2p * a2p + bb2)
    dC = c2p - c1p
    tiny = np.finfo(L1.dtype).tiny
    dot = a1p * a2p + b1 * b2
    cross = a1p * b2 - b1 * a2p
    # dH' = 2 sqrt(C1'C2') sin(dh'/2) = cross * sqrt(2 / (C1'C2' + dot)): signed, and free of the
    # cancellation that da'^2 + db^2 - dC'^2 suffers when the hues are close.
    dH = cross * np.sqrt(2 / np.maximum(c1p * c2p + dot, tiny))
    inv1, inv2 = 1 / np.maximum(c1p, tiny), 1 / np.maximum(c2p, tiny)
    u1x, u1y, u2x, u2y = a1p * inv1, b1 * inv1, a2p * inv2, b2 * inv2  # zero chroma: a zero vector
    x, y = u1x + u2x, u1y + u2y
    wide = np.flatnonzero(dot < 0)
    if len(wide):
        # Hues over 90 degrees apart: the perpendicular of u1 - u2, turned towards u1 + u2, is the
        # better-conditioned bisector, and da'^2 + db^2 - dC'^2 the better-conditioned dH'^2.
        # Exactly opposite hues take the smaller hue plus 90 degrees and a positive dh', as the
        # formula's case analysis does.
        w1x, w1y, w2x, w2y = u1x[wide], u1y[wide], u2x[wide], u2y[wide]
        sign = np.sign(cross[wide])
        tie = sign == 0
        sign[tie] = np.where((w1y[tie] > 0) | ((w1y[tie] == 0) & (w1x[tie] > 0)), 1, -1)
        x[wide], y[wide] = sign * (w2y - w1y), sign * (w1x - w2x)
        da, db, dc = a2p[wide] - a1p[wide], b2[wide] - b1[wide], dC[wide]
        dH[wide] = sign * np.sqrt(np.maximum(da * da + db * db - dc * dc, 0))
    norm = np.sqrt(x * x + y * y)
    inv = 1 / np.maximum(norm, tiny)
    ch = x * inv + (norm == 0)  # no hue at all: angle 0, as the formula's atan2(0, 0)
    sh = y * inv
    c2h, s2h = ch * ch - sh * sh, 2 * ch * sh
    c3h, s3h = ch * (4 * ch * ch - 3), sh * (3 - 4 * sh * sh)
    c4h, s4h = 2 * c2h * c2h - 1, 2 * s2h * c2h
    t = (
        1
        - 0.17 * (ch * _COS30 + sh * _SIN30)
        + 0.24 * c2h
        + 0.32 * (c3h * _COS6 - s3h * _SIN6)
        - 0.20 * (c4h * _COS63 + s4h * _SIN63)
    )
    hue = np.arctan2(sh, ch) * (180 / np.pi)  # -180..180
    offset = (hue - 275 + 360 * (hue < 0)) * (1 / 25)
    d_theta = 30 * np.exp(-(offset * offset))
    cp_mean = (c1p + c2p) * 0.5
    cp7 = _pow7(cp_mean)
    r_c = 2 * np.sqrt(cp7 / (cp7 + _25_POW_7))
    lm = (L1 + L2) * 0.5 - 50
    lm2 = lm * lm
    s_l = 1 + 0.015 * lm2 / np.sqrt(20 + lm2)
    s_c = 1 + 0.045 * cp_mean
    s_h = 1 + 0.015 * cp_mean * t
    r_t = -np.sin(d_theta * (np.pi / 90)) * r_c
    dl, dc, dh = (L2 - L1) / s_l, dC / s_c, dH / s_h
    return np.sqrt(dl * dl + dc * dc + dh * dh + r_t * dc * dh)


def ciede2000_srgb(rgb1: np.ndarray, rgb2: np.ndarray) -> np.ndarray:
    """CIEDE2000 between rows of two sRGB arrays; converted a block at a time, so no full-size CIELAB copies."""
    out = np.empty(len(rgb1))
    for start in range(0, len(rgb1), _CIEDE2000_BLOCK):
        stop = start + _CIEDE2000_BLOCK
        out[start:stop] = _ciede2000_block(srgb_to_lab(rgb1[start:stop]), srgb_to_lab(rgb2[start:stop]))
    return out


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
