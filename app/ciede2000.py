"""CIEDE2000 color differences (Sharma et al. 2005), in blocks that stay in cache, on every core."""

from __future__ import annotations

import threading

import numpy as np

from app import colorspace, parallel


# CIEDE2000 runs in blocks: its few dozen steps then work on arrays that stay in cache.
_CIEDE2000_BLOCK = 16384
_25_POW_7 = 25.0**7
_COS30, _SIN30 = np.cos(np.radians(30)), np.sin(np.radians(30))
_COS6, _SIN6 = np.cos(np.radians(6)), np.sin(np.radians(6))
_COS63, _SIN63 = np.cos(np.radians(63)), np.sin(np.radians(63))


def between(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 color difference between rows of two CIELAB arrays (Sharma et al. 2005).

    Computed in the inputs' precision (float32 stays float32), block by block.
    """
    lab1, lab2 = np.asarray(lab1), np.asarray(lab2)
    dtype = np.result_type(lab1.dtype, lab2.dtype, np.float32)
    out = np.empty(len(lab1), dtype=dtype)

    def part(first: int, last: int) -> None:
        for start in range(first, last, _CIEDE2000_BLOCK):
            stop = min(start + _CIEDE2000_BLOCK, last)
            _ciede2000_block(lab1[start:stop].astype(dtype, copy=False), lab2[start:stop].astype(dtype, copy=False),
                             out[start:stop])

    parallel.for_ranges(len(lab1), part)
    return out


def to_entries(lab_colors: np.ndarray, lab_palette: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """CIEDE2000 of each color to its palette entry: between(lab_colors, lab_palette[labels]).

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
            _ciede2000_columns(block[:, 0], block[:, 1], block[:, 2],
                               *(column.take(entries) for column in entry_columns), out[start:stop])

    return measure


_scratch = threading.local()


def _scratch_arrays(n: int, dtype: np.dtype) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Work arrays for one block of n pairs, kept by each thread: 14 of the inputs' dtype, 3 of float64
    (the steps that mix in numpy's float64 cosines) and one mask. A block's few dozen steps then write
    into arrays already in cache rather than a fresh array each (a fifth of the time)."""
    kept = getattr(_scratch, "arrays", None)
    if kept is None or kept[0] != dtype or len(kept[3]) < n:
        size = max(n, _CIEDE2000_BLOCK)
        kept = _scratch.arrays = (dtype, [np.empty(size, dtype) for _ in range(14)], [np.empty(size) for _ in range(3)],
                                  np.empty(size, dtype=bool))
    return [a[:n] for a in kept[1]], [a[:n] for a in kept[2]], kept[3][:n]


def _pow7(x: np.ndarray, out: np.ndarray, square: np.ndarray) -> np.ndarray:
    np.multiply(x, x, out=square)
    np.multiply(square, square, out=out)
    np.multiply(out, square, out=out)
    return np.multiply(out, x, out=out)


def _ciede2000_block(lab1: np.ndarray, lab2: np.ndarray, out: np.ndarray) -> None:
    """_ciede2000_columns on two (n, 3) CIELAB arrays."""
    _ciede2000_columns(lab1[:, 0], lab1[:, 1], lab1[:, 2], lab2[:, 0], lab2[:, 1], lab2[:, 2], out)


def _ciede2000_columns(L1, a1, b1, L2, a2, b2, out: np.ndarray) -> None:
    """CIEDE2000 of the pairs given as six coordinate columns, into out (cast to its dtype at the end).

    Hue angles are handled as vectors: one arctangent instead of two, no
    branches. The mean hue of the formula bisects the smaller arc between
    the two hues, so its cosine and sine come from the sum of the unit hue
    vectors, and the four cosines of T from multiple-angle identities. dH'
    comes from the cross and dot products of the (a', b') vectors.

    Every step writes into the thread's scratch arrays (_scratch_arrays),
    in the inputs' precision except where the formula's float64 constants
    (the cosines of T, 360 * (hue < 0)) make numpy compute in float64: the
    same operations in the same order and precision as the plain
    expressions, so the same bits.
    """
    mul, add, sub, div, sqrt, most = np.multiply, np.add, np.subtract, np.divide, np.sqrt, np.maximum
    (bb1, bb2, s, c7, scale, a1p, a2p, c1p, c2p, dC, dot, cross, dH, t0), (d0, d1, d2), mask = \
        _scratch_arrays(len(L1), np.result_type(L1, a1, b1, L2, a2, b2))
    mul(b1, b1, out=bb1)
    mul(b2, b2, out=bb2)
    mul(a1, a1, out=s), add(s, bb1, out=s), sqrt(s, out=s)  # C1
    mul(a2, a2, out=t0), add(t0, bb2, out=t0), sqrt(t0, out=t0)  # C2
    add(s, t0, out=s), mul(s, 0.5, out=s)
    _pow7(s, c7, t0)
    add(c7, _25_POW_7, out=scale), div(c7, scale, out=scale), sqrt(scale, out=scale)
    mul(scale, 0.5, out=scale), sub(1.5, scale, out=scale)  # 1 + G
    mul(a1, scale, out=a1p)
    mul(a2, scale, out=a2p)
    mul(a1p, a1p, out=c1p), add(c1p, bb1, out=c1p), sqrt(c1p, out=c1p)
    mul(a2p, a2p, out=c2p), add(c2p, bb2, out=c2p), sqrt(c2p, out=c2p)
    sub(c2p, c1p, out=dC)
    tiny = np.finfo(c1p.dtype).tiny
    mul(a1p, a2p, out=dot), mul(b1, b2, out=t0), add(dot, t0, out=dot)
    mul(a1p, b2, out=cross), mul(b1, a2p, out=t0), sub(cross, t0, out=cross)
    # dH' = 2 sqrt(C1'C2') sin(dh'/2) = cross * sqrt(2 / (C1'C2' + dot)): signed, and free of the
    # cancellation that da'^2 + db^2 - dC'^2 suffers when the hues are close.
    mul(c1p, c2p, out=dH), add(dH, dot, out=dH), most(dH, tiny, out=dH), div(2, dH, out=dH), sqrt(dH, out=dH)
    mul(cross, dH, out=dH)
    inv1, inv2, u1x, u1y, u2x, u2y = c7, scale, s, t0, bb1, bb2  # free from here on
    most(c1p, tiny, out=inv1), div(1, inv1, out=inv1)
    most(c2p, tiny, out=inv2), div(1, inv2, out=inv2)
    mul(a1p, inv1, out=u1x), mul(b1, inv1, out=u1y)  # zero chroma: a zero vector
    mul(a2p, inv2, out=u2x), mul(b2, inv2, out=u2y)
    x, y = inv1, inv2
    add(u1x, u2x, out=x), add(u1y, u2y, out=y)
    np.less(dot, 0, out=mask)
    wide = np.flatnonzero(mask)
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
    norm, ch, sh, inv = s, t0, bb1, bb2
    mul(x, x, out=norm), mul(y, y, out=ch), add(norm, ch, out=norm), sqrt(norm, out=norm)
    most(norm, tiny, out=inv), div(1, inv, out=inv)
    mul(x, inv, out=ch), np.equal(norm, 0, out=mask), add(ch, mask, out=ch)  # no hue at all: angle 0, as atan2(0, 0)
    mul(y, inv, out=sh)
    c2h, s2h, c3h, s3h, scaled = x, y, a1p, a2p, inv
    mul(ch, ch, out=c2h), mul(sh, sh, out=scaled), sub(c2h, scaled, out=c2h)
    mul(ch, 2, out=s2h), mul(s2h, sh, out=s2h)
    mul(ch, 4, out=c3h), mul(c3h, ch, out=c3h), sub(c3h, 3, out=c3h), mul(ch, c3h, out=c3h)
    mul(sh, 4, out=s3h), mul(s3h, sh, out=s3h), sub(3, s3h, out=s3h), mul(sh, s3h, out=s3h)
    # T, in float64 (the cosines are numpy float64 scalars).
    t = d0
    mul(ch, _COS30, out=t), mul(sh, _SIN30, out=d1), add(t, d1, out=t), mul(t, 0.17, out=t), sub(1, t, out=t)
    mul(c2h, 0.24, out=scaled), add(t, scaled, out=t)
    mul(c3h, _COS6, out=d1), mul(s3h, _SIN6, out=d2), sub(d1, d2, out=d1), mul(d1, 0.32, out=d1), add(t, d1, out=t)
    c4h, s4h = c3h, s3h
    mul(c2h, 2, out=c4h), mul(c4h, c2h, out=c4h), sub(c4h, 1, out=c4h)
    mul(s2h, 2, out=s4h), mul(s4h, c2h, out=s4h)
    mul(c4h, _COS63, out=d1), mul(s4h, _SIN63, out=d2), add(d1, d2, out=d1), mul(d1, 0.20, out=d1), sub(t, d1, out=t)
    hue = c3h
    np.arctan2(sh, ch, out=hue), mul(hue, 180 / np.pi, out=hue)  # -180..180
    # (hue - 275 + 360 * (hue < 0)) / 25: the int64 term makes it float64.
    d_theta = d1
    np.less(hue, 0, out=mask), sub(hue, 275, out=scaled), mul(mask, 360, out=d_theta, dtype=np.float64)
    add(scaled, d_theta, out=d_theta), mul(d_theta, 1 / 25, out=d_theta)
    mul(d_theta, d_theta, out=d_theta), np.negative(d_theta, out=d_theta), np.exp(d_theta, out=d_theta)
    mul(d_theta, 30, out=d_theta)
    cp_mean, cp7, r_c = ch, sh, c4h
    add(c1p, c2p, out=cp_mean), mul(cp_mean, 0.5, out=cp_mean)
    _pow7(cp_mean, cp7, scaled)
    add(cp7, _25_POW_7, out=r_c), div(cp7, r_c, out=r_c), sqrt(r_c, out=r_c), mul(r_c, 2, out=r_c)
    r_t = d2
    mul(d_theta, np.pi / 90, out=r_t), np.sin(r_t, out=r_t), np.negative(r_t, out=r_t), mul(r_t, r_c, out=r_t)
    lm2, s_l, s_c = c1p, c2p, c4h
    add(L1, L2, out=lm2), mul(lm2, 0.5, out=lm2), sub(lm2, 50, out=lm2), mul(lm2, lm2, out=lm2)
    add(lm2, 20, out=s_l), sqrt(s_l, out=s_l), mul(lm2, 0.015, out=lm2), div(lm2, s_l, out=s_l), add(s_l, 1, out=s_l)
    mul(cp_mean, 0.045, out=s_c), add(s_c, 1, out=s_c)
    s_h = d1  # float64, as T is
    mul(cp_mean, 0.015, out=cp_mean), mul(cp_mean, t, out=s_h), add(s_h, 1, out=s_h)
    dl, dc, dh = scaled, dC, s_h
    sub(L2, L1, out=dl), div(dl, s_l, out=dl)
    div(dC, s_c, out=dc)
    div(dH, s_h, out=dh)
    total = s_l
    mul(dl, dl, out=total), mul(dc, dc, out=cp_mean), add(total, cp_mean, out=total)
    mul(dh, dh, out=d0), add(total, d0, out=d0)
    mul(r_t, dc, out=r_t), mul(r_t, dh, out=r_t), add(d0, r_t, out=r_t), sqrt(r_t, out=r_t)
    out[...] = r_t


def between_srgb(rgb1: np.ndarray, rgb2: np.ndarray) -> np.ndarray:
    """CIEDE2000 between rows of two sRGB arrays; converted a block at a time, so no full-size CIELAB copies."""
    out = np.empty(len(rgb1))
    for start in range(0, len(rgb1), _CIEDE2000_BLOCK):
        stop = start + _CIEDE2000_BLOCK
        _ciede2000_block(colorspace.srgb_to_lab(rgb1[start:stop]), colorspace.srgb_to_lab(rgb2[start:stop]), out[start:stop])
    return out
