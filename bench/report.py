"""Plain-text tables from the benchmark's rows."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One method on one photo at one k."""

    photo: str
    pixels: int
    k: int
    method: str
    status: str  # "ok", "skipped (cap)", "skipped (budget)", "skipped (missing)", "error: ..."
    seconds: float | None = None
    psnr: float | None = None
    colors: int | None = None


def percentile(values: list[float], share: float) -> float:
    """The value at that share of the sorted values (nearest rank): one definition for every bench's p50, p95, p99."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def table(headers: list[str], body: list[list[str]]) -> str:
    """Columns padded to width; the first column left-aligned, the rest right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *body)]

    def line(cells):
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(cells) for cells in body)])


def _ok(rows: list[Row]) -> dict[tuple[str, int, str], Row]:
    return {(r.photo, r.k, r.method): r for r in rows if r.status == "ok"}


def _ks(rows: list[Row]) -> list[int]:
    return sorted({r.k for r in rows})


def _fmt_db(value: float) -> str:
    return "inf" if value == float("inf") else f"{value:.2f}"


def psnr_table(rows: list[Row], methods: list[tuple[str, str]]) -> str:
    """Median PSNR per k and method; [n] marks a median over fewer photos than ours ran on."""
    ok = _ok(rows)
    body = []
    for k in _ks(rows):
        ours_n = sum(1 for (p, kk, m) in ok if kk == k and m == "ours")
        cells = [str(k), str(ours_n)]
        for name, _ in methods:
            values = [r.psnr for (p, kk, m), r in ok.items() if kk == k and m == name]
            if not values:
                cells.append("skipped")
                continue
            note = "" if len(values) == ours_n else f" [{len(values)}]"
            cells.append(_fmt_db(statistics.median(values)) + note)
        body.append(cells)
    return table(["k", "photos"] + [label for _, label in methods], body)


def paired_deltas(rows: list[Row], peer: str) -> dict[int, tuple[float, int]]:
    """Per k: median PSNR of ours minus median of the peer, over the photos both ran on, and n."""
    ok = _ok(rows)
    out = {}
    for k in _ks(rows):
        photos = [p for (p, kk, m) in ok if kk == k and m == "ours" and (p, k, peer) in ok]
        if photos:
            ours = statistics.median(ok[(p, k, "ours")].psnr for p in photos)
            theirs = statistics.median(ok[(p, k, peer)].psnr for p in photos)
            out[k] = (ours - theirs, len(photos))
    return out


def delta_table(rows: list[Row], peers: list[tuple[str, str]]) -> str:
    """ours minus peer in dB: positive means ours is better."""
    deltas = {name: paired_deltas(rows, name) for name, _ in peers}
    ok = _ok(rows)
    body = []
    for k in _ks(rows):
        ours_n = sum(1 for (p, kk, m) in ok if kk == k and m == "ours")
        cells = [str(k)]
        for name, _ in peers:
            if k not in deltas[name]:
                cells.append("skipped")
                continue
            delta, n = deltas[name][k]
            cells.append(f"{delta:+.2f}" + ("" if n == ours_n else f" [{n}]"))
        body.append(cells)
    return table(["k"] + [label for _, label in peers], body)


def per_photo_table(rows: list[Row], peers: list[tuple[str, str]]) -> str:
    """Per photo, median over k of (ours - peer) in dB; shows which photos lose."""
    ok = _ok(rows)
    photos = sorted({r.photo for r in rows}, key=lambda p: (max(r.pixels for r in rows if r.photo == p), p))
    body = []
    for photo in photos:
        ours_ks = [k for (p, k, m) in ok if p == photo and m == "ours"]
        if not ours_ks:
            continue
        cells = [photo, " ".join(str(k) for k in sorted(ours_ks))]
        for name, _ in peers:
            diffs = [ok[(photo, k, "ours")].psnr - ok[(photo, k, name)].psnr for k in ours_ks if (photo, k, name) in ok]
            worst = min(diffs) if diffs else None
            cells.append("-" if not diffs else f"{statistics.median(diffs):+.2f} ({worst:+.2f})")
        body.append(cells)
    return table(["photo", "k run"] + [label for _, label in peers], body)


def losses_table(rows: list[Row], labels: dict[str, str], threshold: float = 0.1) -> str:
    """Every photo and k where a peer's PSNR beats ours by more than the threshold, worst first."""
    ok = _ok(rows)
    losses = sorted(
        (ok[(p, k, "ours")].psnr - r.psnr, p, k, m)
        for (p, k, m), r in ok.items()
        if m != "ours" and (p, k, "ours") in ok and ok[(p, k, "ours")].psnr - r.psnr < -threshold
    )
    if not losses:
        return f"  none by more than {threshold} dB"
    body = [[p, str(k), labels.get(m, m), f"{ok[(p, k, 'ours')].psnr:.2f}", f"{ok[(p, k, m)].psnr:.2f}", f"{d:+.2f}"]
            for d, p, k, m in losses]
    return table(["photo", "k", "peer", "ours dB", "peer dB", "ours - peer"], body)


def time_table(rows: list[Row], methods: list[tuple[str, str]], photos: set[str]) -> str:
    """Median seconds per call and median per-photo ratio peer/ours, for the given photos."""
    ok = {key: r for key, r in _ok(rows).items() if key[0] in photos}
    body = []
    for k in _ks(rows):
        cells = [str(k)]
        for name, _ in methods:
            pairs = [(r.seconds, ok[(p, k, "ours")].seconds) for (p, kk, m), r in ok.items()
                     if kk == k and m == name and (p, k, "ours") in ok]
            if not pairs:
                cells.append("skipped")
                continue
            seconds = statistics.median(s for s, _ in pairs)
            ratio = statistics.median(s / o for s, o in pairs)
            shown = f"{seconds:.3f}" if seconds < 0.1 else f"{seconds:.2f}"
            cells.append(shown if name == "ours" else f"{shown} ({ratio:.2f}x)")
        if any(c != "skipped" for c in cells[1:]):
            body.append(cells)
    return table(["k"] + [label for _, label in methods], body)


def skip_summary(rows: list[Row], labels: dict[str, str]) -> list[str]:
    counts: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in rows:
        if r.status != "ok":
            counts[(r.method, r.status)].append(r)
    lines = []
    for (method, status), hits in sorted(counts.items()):
        photos = sorted({r.photo for r in hits})
        ks = sorted({r.k for r in hits})
        lines.append(f"  {labels.get(method, method)}: {status} for {len(hits)} runs "
                     f"({len(photos)} photos; k {', '.join(map(str, ks))})")
    return lines or ["  none"]


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"
