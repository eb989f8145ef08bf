"""Clean regions: ours against the classic facet reduction, on the same k-means result.

    .venv/bin/python -m bench.bench_regions [--ks 8,16,32] [--thresholds 10,40] [--photos a.png,...]
                                            [--no-camera] [--no-request] [--no-memory] [--repeat 3]
                                            [--request-thresholds 40,1000] [--against REV] [--stages]

For every photo, k and threshold, both methods start from the same k-means
index map (app.pipeline, k-means in RGB) and the figures of both are
measured here, from their result pixels, by the same code:
- regions: 4-connected regions of one color, before and after;
- PSNR (RGB, every pixel) and mean CIEDE2000 (every pixel, exact);
- time of the cleaning alone (ours: app.cleaning.clean, which also refits and
  measures; the classic: bench/classic_facets.py, a Python heap).
Then the request at 12 MP through the real server (gunicorn): POST
/api/quantize with the photo, k=16, with and without min_region (40 px, and
1,000, the page's "Strong" at 12 MP), wall time best of N and the workers'
CPU time median of N, as ratios. Last, the peak memory of that request
through the app in a fresh process, beside the admission estimate
(app/budget.py), up to the largest min_region.

Targets (issue 13): ours' PSNR >= the classic's on every photo at every
threshold; at 40 px at least 10x fewer regions than without cleaning; the
12 MP request with cleaning at most 3x the one without.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

from app import budget, ciede2000, cleaning, histograms, parallel, pipeline, summary
from app.regions import label_regions
from bench import memory
from bench.classic_facets import classic_clean
from bench.report import table
from bench.revisions import ROOT, unpacked
from testsupport.corpus import CORPUS
from testsupport.forms import multipart
from testsupport.servers import gunicorn

CAMERA_PIXELS = 8_000_000


def figures(rgb: np.ndarray, indices: np.ndarray, palette: np.ndarray) -> tuple[float, float, int]:
    """PSNR, exact mean CIEDE2000 and region count of an index map, from its pixels."""
    flat = rgb.reshape(-1, 3)
    labels = indices.ravel()
    counts = np.bincount(labels, minlength=len(palette)).astype(np.float64)
    sums = np.stack([np.bincount(labels, weights=flat[:, c], minlength=len(palette)) for c in range(3)], axis=1)
    squares = float(sum(np.dot(flat[:, c].astype(np.float64), flat[:, c]) for c in range(3)))
    p = palette.astype(np.float64)
    error = squares - float((2 * (p * sums).sum(axis=1) - counts * (p**2).sum(axis=1)).sum())
    pairs, pair_counts = np.unique((histograms.pack(rgb).astype(np.uint64) << 8) | labels, return_counts=True)
    pair_rgb = histograms.unpack((pairs >> 8).astype(np.uint32))
    delta = ciede2000.between_srgb(pair_rgb, palette[(pairs & 255).astype(np.intp)]).astype(np.float64)
    return summary.psnr(max(error, 0.0), labels.size), float(np.dot(delta, pair_counts) / labels.size), \
        int(label_regions(indices).count)


def compare(name: str, prepared: pipeline.Prepared, ks: list[int], thresholds: list[int]) -> list[dict]:
    rows = []
    rgb = prepared.decoded.rgb
    for k in ks:
        fit, indices = pipeline.palette_and_indices(prepared, pipeline.Options(k=k))
        indices = indices.reshape(rgb.shape[:2])
        base_psnr, base_de, base_regions = figures(rgb, indices, fit.palette)
        for threshold in thresholds:
            start = time.perf_counter()
            ours = cleaning.clean(indices, fit.palette, rgb, None, threshold, prepared.hist, prepared.keys, fit.labels)
            ours_s = time.perf_counter() - start
            start = time.perf_counter()
            classic = classic_clean(indices, fit.palette, threshold)
            classic_s = time.perf_counter() - start
            ours_psnr, ours_de, ours_regions = figures(rgb, ours.indices, ours.result.palette)
            classic_psnr, classic_de, classic_regions = figures(rgb, classic, fit.palette)
            if abs(ours_psnr - ours.result.psnr) > 1e-6 or abs(ours_de - ours.result.delta_e) > 1e-3:
                raise SystemExit(f"{name} k={k}: the engine's own figures disagree with the pixels")
            rows.append(dict(photo=name, k=k, threshold=threshold, before=base_regions, base_psnr=base_psnr,
                             base_de=base_de, ours=ours_regions, ours_psnr=ours_psnr, ours_de=ours_de, ours_s=ours_s,
                             classic=classic_regions, classic_psnr=classic_psnr, classic_de=classic_de,
                             classic_s=classic_s))
            print(f"  {name} k={k} {threshold}px: ours {ours_s:.2f}s, classic {classic_s:.2f}s", file=sys.stderr,
                  flush=True)
    return rows


def detail_table(rows: list[dict]) -> str:
    body = [[r["photo"], r["k"], r["threshold"], f"{r['before']:,}", f"{r['ours']:,}", f"{r['classic']:,}",
             f"{r['before'] / r['ours']:.0f}x", f"{r['base_psnr']:.2f}", f"{r['ours_psnr']:.2f}",
             f"{r['classic_psnr']:.2f}", f"{r['ours_psnr'] - r['classic_psnr']:+.3f}", f"{r['ours_de']:.2f}",
             f"{r['classic_de']:.2f}", f"{r['ours_s']:.2f}", f"{r['classic_s']:.2f}"] for r in rows]
    return table(["photo", "k", "px", "regions none", "ours", "classic", "fewer (ours)", "PSNR none", "ours",
                  "classic", "ours-classic", "dE ours", "classic", "s ours", "s classic"], body)


def summary_table(rows: list[dict]) -> tuple[str, list[str]]:
    body, verdicts = [], []
    for threshold in sorted({r["threshold"] for r in rows}):
        for k in sorted({r["k"] for r in rows}):
            group = [r for r in rows if r["threshold"] == threshold and r["k"] == k]
            gains = [r["ours_psnr"] - r["classic_psnr"] for r in group]
            cost_ours = [r["base_psnr"] - r["ours_psnr"] for r in group]
            cost_classic = [r["base_psnr"] - r["classic_psnr"] for r in group]
            fewer = [r["before"] / r["ours"] for r in group]
            body.append([threshold, k, len(group), f"{statistics.median(cost_ours):.2f}",
                         f"{statistics.median(cost_classic):.2f}", f"{min(gains):+.3f}", f"{statistics.median(gains):+.3f}",
                         f"{min(fewer):.0f}x", f"{statistics.median(fewer):.0f}x",
                         f"{statistics.median(r['classic_s'] / r['ours_s'] for r in group):.1f}x"])
        at = [r for r in rows if r["threshold"] == threshold]
        losses = ", ".join(f"{r['photo']} k={r['k']}" for r in at if r["ours_psnr"] < r["classic_psnr"])
        verdicts.append(f"{threshold} px: PSNR ours >= classic on every photo and k: "
                        + ("MET" if not losses else f"NOT MET ({losses})"))
        if threshold >= 40:
            short = ", ".join(f"{r['photo']} k={r['k']}" for r in at if r["before"] / r["ours"] < 10)
            verdicts.append(f"{threshold} px: >= 10x fewer regions than no cleaning everywhere: "
                            + ("MET" if not short else f"NOT MET ({short})"))
    header = ["px", "k", "photos", "dB lost ours", "dB lost classic", "min ours-classic", "median", "min fewer",
              "median fewer", "classic/ours time"]
    return table(header, body), verdicts


def post(base: str, data: bytes, fields: dict[str, str]) -> float:
    body, content_type = multipart(*fields.items(), ("image", ("p.jpg", data)))
    request = urllib.request.Request(base + "/api/quantize", data=body, method="POST", headers={
        "Content-Type": content_type, "Accept": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:
        response.read()
    return time.perf_counter() - start


def server_cpu_seconds(master: int) -> float:
    """User and system CPU seconds used so far by gunicorn's workers (the master's children)."""
    total = 0
    for task in Path(f"/proc/{master}/task").iterdir():
        for child in (task / "children").read_text().split():
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def request_table(photos: list[Path], k: int, thresholds: list[int], repeat: int, log: Path,
                  against: str | None = None) -> tuple[str, list[str]]:
    """Wall time (best of N) and the server's CPU time (median of N) per request, with and without min_region.

    On this shared machine wall times move with the load; the CPU the worker spends on a request moves far less.
    With `against` (a git revision), that revision's app runs in a second gunicorn and the requests alternate
    between the two, in turns, so that a burst of load hits both; the targets are read from this tree's rows.
    """
    body, verdicts = [], []
    with contextlib.ExitStack() as stack:
        roots = [("this tree", ROOT)]
        if against:
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            roots.insert(0, (against, unpacked(against, ["app", "gunicorn.conf.py", "templates", "static"], scratch)))
        servers = [(name, *stack.enter_context(gunicorn(log.with_suffix(f".{number}.log"), root=root,
                                                           LOG_LEVEL="warning", CACHE_MB="0")))
                   for number, (name, root) in enumerate(roots)]
        for photo in photos:
            data = photo.read_bytes()
            for _, _, base in servers:
                post(base, data, {"k": str(k)})  # warm the worker
            wall = {(name, t): [] for name, _, _ in servers for t in [0, *thresholds]}
            cpu = {(name, t): [] for name, _, _ in servers for t in [0, *thresholds]}
            for turn in range(repeat):  # alternate, so a burst of load hits both
                for name, server, base in servers if turn % 2 == 0 else servers[::-1]:
                    for threshold in [0, *thresholds]:
                        before = server_cpu_seconds(server.pid)
                        wall[name, threshold].append(post(base, data, {"k": str(k), "min_region": str(threshold)}))
                        cpu[name, threshold].append(server_cpu_seconds(server.pid) - before)
            for threshold in thresholds:
                for name, _, _ in servers:
                    wall_ratio = min(wall[name, threshold]) / min(wall[name, 0])
                    cpu_ratio = statistics.median(cpu[name, threshold]) / statistics.median(cpu[name, 0])
                    body.append([photo.name, name, k, threshold, f"{min(wall[name, 0]):.2f}",
                                 f"{min(wall[name, threshold]):.2f}", f"{wall_ratio:.2f}x",
                                 f"{statistics.median(cpu[name, 0]):.2f}", f"{statistics.median(cpu[name, threshold]):.2f}",
                                 f"{cpu_ratio:.2f}x"])
                    if name != "this tree":
                        continue
                    for what, ratio in (("wall", wall_ratio), ("server CPU", cpu_ratio)):
                        verdicts.append(f"{photo.name} {threshold} px: request with cleaning <= 3x without ({what}): "
                                        f"{'MET' if ratio <= 3 else 'NOT MET'} ({ratio:.2f}x)")
    header = ["photo", "app", "k", "min_region", "wall s without", "with", "ratio", "CPU s without", "with", "ratio"]
    return table(header, body), verdicts


def memory_table(photos: list[Path], k: int, thresholds: list[int]) -> tuple[str, list[str]]:
    """Peak memory of one POST /api/quantize through the app (fresh process, upload included), beside the
    admission estimate (app/budget.py), which must never be below it."""
    body, verdicts = [], []
    for photo in photos:
        data = photo.read_bytes()
        with Image.open(photo) as image:
            pixels = image.width * image.height
        for threshold in [0, *thresholds]:
            peak = memory.measure_request(data, {"k": str(k), "min_region": str(threshold)},
                                          name=f"memory {photo.name} {threshold}")["peak"]
            estimate = budget.request_bytes(pixels, upload_bytes=len(data), min_region=threshold)
            body.append([photo.name, k, threshold, f"{peak / 2**20:.0f}", f"{peak / pixels:.1f}",
                         f"{estimate / pixels:.1f}"])
            verdicts.append(f"{photo.name} {threshold} px: admission estimate >= measured peak: "
                            + ("MET" if estimate >= peak else "NOT MET") + f" ({estimate / peak:.2f}x)")
    return table(["photo", "k", "min_region", "peak MB", "bytes/px", "estimate bytes/px"], body), verdicts


# The steps of a cleaning timed one by one in stages_table(): app.cleaning's names for them.
# A step timed within another (the borders found while the runs' sums are made) counts as its own, not the outer's.
STAGES = {"_index_map": "index map", "settle_specks": "labelling", "label_regions": "labelling", "borders": "borders",
          "pixels_of_regions": "small pixels", "sums_of_regions": "small pixels",
          "sums_of_regions_beside": "small pixels", "merge_small_regions": "merging"}


def stages_table(photos: list[Path], k: int, thresholds: list[int], repeat: int) -> str:
    """Where a 12 MP cleaning's CPU goes: each step's CPU time in the run with the least total, on one thread.

    Each run starts from the photo's bytes and gives clean() what a request gives it (the map as a lookup,
    a histogram with no CIELAB yet). In parallel.one_part() every step that runs beside another runs in
    turn on this thread, so its thread CPU time is all the CPU the cleaning spends; "the rest" is the
    refit, the figures (with the colors in CIELAB) and the cleaned map. A step never called is an error:
    the table would show it as free.
    """
    columns = [*dict.fromkeys(STAGES.values()), "the rest", "total"]
    body = []
    for photo in photos:
        data = photo.read_bytes()
        for threshold in thresholds:
            best: dict[str, float] | None = None
            for _ in range(repeat):
                prepared = pipeline.prepare(data, 100_000_000)
                fit, indices = pipeline._palette_and_indices(prepared, pipeline.Options(k=k))
                spent = dict.fromkeys(columns, 0.0)
                called: set[str] = set()
                originals = {name: getattr(cleaning, name) for name in STAGES}

                inner = [0.0]  # time of the timed steps within the one running now

                def timed(name, step):
                    def run(*args, **kwargs):
                        start, outer_inner, inner[0] = time.thread_time(), inner[0], 0.0
                        try:
                            return step(*args, **kwargs)
                        finally:
                            took = time.thread_time() - start
                            spent[STAGES[name]] += took - inner[0]
                            inner[0] = outer_inner + took
                            called.add(STAGES[name])
                    return run

                start = time.thread_time()
                try:
                    for name, step in originals.items():
                        setattr(cleaning, name, timed(name, step))
                    with parallel.one_part():
                        cleaning.clean(indices, fit.palette, prepared.decoded.rgb, prepared.decoded.alpha, threshold, prepared.hist,
                                       prepared.keys, fit.labels)
                finally:
                    for name, step in originals.items():
                        setattr(cleaning, name, step)
                missing = set(columns[:-2]) - called
                if missing:
                    raise RuntimeError(f"clean() no longer calls the steps timed as {', '.join(sorted(missing))}")
                spent["total"] = time.thread_time() - start
                spent["the rest"] = spent["total"] - sum(spent[name] for name in columns[:-2])
                if best is None or spent["total"] < best["total"]:
                    best = spent
            body.append([photo.name, k, threshold, *(f"{best[name] * 1000:.0f}" for name in columns)])
    return table(["photo", "k", "min_region", *(f"{name} ms" for name in columns)], body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", default="8,16,32")
    parser.add_argument("--thresholds", default="10,40")
    parser.add_argument("--photos", default="", help="comma-separated names in the corpus; default: all")
    parser.add_argument("--no-camera", action="store_true", help="leave out the 9-12 MP photos from the comparison")
    parser.add_argument("--no-request", action="store_true", help="leave out the 12 MP request timing")
    parser.add_argument("--request-only", action="store_true", help="only the 12 MP request timing")
    parser.add_argument("--no-memory", action="store_true", help="leave out the 12 MP memory peaks")
    parser.add_argument("--request-thresholds", default="40,1000",
                        help="min_region values for the 12 MP request and memory (1000: the page's strongest level)")
    parser.add_argument("--repeat", type=int, default=3, help="requests per case for the 12 MP timing (best of N)")
    parser.add_argument("--against", default=None,
                        help="a git revision (main, a tag, a commit) whose app answers the 12 MP requests too, in turns")
    parser.add_argument("--stages", action="store_true",
                        help="also where a 12 MP cleaning's CPU goes, step by step (at the request thresholds)")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    thresholds = [int(t) for t in args.thresholds.split(",")]
    names = args.photos.split(",") if args.photos else sorted(
        p.name for p in args.corpus.iterdir() if p.suffix.lower() in (".png", ".jpg"))
    print(f"load average {Path('/proc/loadavg').read_text().split()[:3]}", file=sys.stderr)
    rows, cameras = [], []
    for name in names:
        prepared = pipeline.prepare((args.corpus / name).read_bytes(), 100_000_000)
        pixels = prepared.decoded.width * prepared.decoded.height
        if pixels >= CAMERA_PIXELS:
            cameras.append(args.corpus / name)
            if args.no_camera:
                continue
        if not args.request_only:
            rows += compare(name, prepared, ks, thresholds)
    verdicts = []
    if rows:
        print("\n(1) Ours vs classic facet reduction on the same k-means map (RGB); figures from the result pixels\n")
        print(detail_table(rows))
        table, verdicts = summary_table(rows)
        print("\n(2) Per threshold and k: median PSNR lost to cleaning, ours minus classic (min and median over "
              "photos),\n    how many times fewer regions than without cleaning, and how much longer the classic took\n")
        print(table)
    if not args.no_request and cameras:
        twelve = [p for p in cameras if "12mp" in p.name] or cameras
        print(f"\n(3) The request at 12 MP through gunicorn: POST /api/quantize, JSON answer, photo uploaded each time; "
              f"wall: best of {args.repeat}, server CPU: median of {args.repeat}\n")
        request_thresholds = [int(t) for t in args.request_thresholds.split(",")]
        text, more = request_table(twelve, 16, request_thresholds, args.repeat,
                                   Path("/tmp") / f"bench-regions-{uuid.uuid4().hex}.log", against=args.against)
        print(text)
        verdicts += more
        if not args.no_memory:
            print("\n(4) Peak memory of one 12 MP POST /api/quantize through the app (fresh process, upload included), "
                  "beside the admission estimate (app/budget.py)\n")
            text, more = memory_table(twelve, 16, request_thresholds + [cleaning.MAX_MIN_REGION])
            print(text)
            verdicts += more
    if args.stages and cameras:
        twelve = [p for p in cameras if "12mp" in p.name] or cameras
        print(f"\n(5) Where a 12 MP cleaning's CPU goes (app.cleaning.clean at k=16, every step on one thread; "
              f"least of {args.repeat})\n")
        print(stages_table(twelve, 16, [int(t) for t in args.request_thresholds.split(",")], args.repeat))
    print("\nTargets")
    for line in verdicts:
        print(f"  {line}")
    print(f"load average {Path('/proc/loadavg').read_text().split()[:3]}", file=sys.stderr)


if __name__ == "__main__":
    main()
