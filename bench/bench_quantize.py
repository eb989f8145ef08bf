"""Our k-means engine against its peers, side by side, on the photo corpus.

    .venv/bin/python -m bench.bench_quantize            # full run, under 10 minutes
    .venv/bin/python -m bench.bench_quantize --quick    # a subset, about 2 minutes

Prints (1) PSNR and time per k for every method, (2) the speed targets on
the 12 MP photos at k=16, (3) peak memory of our whole job. Progress goes
to stderr, tables to stdout. See bench/README.md for how to read them.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from bench import peers, report
from bench.report import Row, table, verdict
from bench.runs import CAMERA_PIXELS, TARGET_K, merge_sweep_times, pixel_count, progress, run_memory, \
    run_sweep, run_targets
from testsupport.corpus import CORPUS

KS = (2, 5, 10, 16, 24, 64, 256)
TWELVE_MP = 11_000_000  # the "12 MP photos" the speed and memory targets are about
QUICK_PHOTOS = ("kodim01.png", "kodim23.png", "china.jpg", "cam_olympus_ep3_12mp.jpg")
MEMORY_LIMIT = 1 << 30


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ks = lambda text: [int(v) for v in text.replace(",", " ").split()]  # noqa: E731
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="folder of photos (default %(default)s)")
    parser.add_argument("--photos", help="comma-separated file names in the corpus (default: all)")
    parser.add_argument("--ks", type=ks, help=f"k values for small photos (default {','.join(map(str, KS))})")
    parser.add_argument("--camera-ks", type=ks, help="k values for camera photos (default 16,256)")
    parser.add_argument("--methods", help="comma-separated subset of: " + ", ".join(m.name for m in peers.METHODS))
    parser.add_argument("--cap", type=float, default=45.0, help="per-call time cap in seconds (default %(default)s)")
    parser.add_argument("--budget", type=float, default=540.0,
                        help="seconds from the start by which the k sweep must end; a k group that would not fit "
                        "is skipped (default %(default)s)")
    parser.add_argument("--mbk-ks", type=ks, help="k values for naive MiniBatchKMeans (default 16)")
    parser.add_argument("--mbk-max-pixels", type=int, default=1_000_000,
                        help="naive MiniBatchKMeans only on photos up to this size (default %(default)s)")
    parser.add_argument("--repeat", type=int, help="best of N whole jobs for the k=16 speed targets (default 3, "
                        "--quick 1)")
    parser.add_argument("--memory-ks", type=ks, help="k values for the peak-memory runs: the first on every "
                        "12 MP photo, the rest on the largest (default 16,256)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocess runs")
    parser.add_argument("--no-targets", action="store_true", help="skip the k=16 whole-job speed targets")
    parser.add_argument("--csv", type=Path, help="also write every measurement to this CSV file")
    parser.add_argument("--quick", action="store_true",
                        help="4 photos, k 2,16,256 (camera k 16), one memory run: about 2 minutes")
    args = parser.parse_args(argv)
    quick = args.quick
    args.ks = args.ks or ([2, 16, 256] if quick else list(KS))
    args.camera_ks = args.camera_ks or ([16] if quick else [16, 256])
    args.mbk_ks = args.mbk_ks or [16]
    args.memory_ks = args.memory_ks or ([16] if quick else [16, 256])
    args.repeat = args.repeat or (1 if quick else 3)
    names = args.photos.split(",") if args.photos else (list(QUICK_PHOTOS) if quick else None)
    args.paths = select_photos(args.corpus, names)
    wanted = args.methods.split(",") if args.methods else [m.name for m in peers.METHODS]
    unknown = [name for name in wanted if name not in peers.BY_NAME]
    if unknown:
        parser.error(f"unknown method {', '.join(unknown)}; choose from {', '.join(peers.BY_NAME)}")
    args.methods = [peers.BY_NAME[name] for name in ["ours"] + [w for w in wanted if w != "ours"]]
    return args


def select_photos(corpus: Path, names: list[str] | None) -> list[Path]:
    if not corpus.is_dir():
        sys.exit(f"corpus folder not found: {corpus}")
    available = sorted(p for p in corpus.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if names is None:
        return available
    by_name = {p.name: p for p in available}
    missing = [n for n in names if n.strip() not in by_name]
    if missing:
        sys.exit(f"not in {corpus}: {', '.join(missing)}")
    return [by_name[n.strip()] for n in names]


def print_header(args: argparse.Namespace, sizes: dict[Path, int], argv: list[str]) -> None:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    from threadpoolctl import threadpool_info

    def version(name: str) -> str:
        try:
            return package_version(name)
        except PackageNotFoundError:
            return "not installed"

    def tool_version(command: list[str]) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=10).stdout.splitlines()[0].strip()
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "not installed"

    print(f"# kmeans-filter benchmark  {time.strftime('%Y-%m-%d %H:%M:%S')}  ({' '.join(argv) or 'full run'})")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; "
          f"Python {platform.python_version()}, numpy {version('numpy')}, scikit-learn {version('scikit-learn')}, "
          f"Pillow {version('pillow')}, imagequant {version('imagequant')}")
    print(f"pngquant {tool_version(['pngquant', '--version'])}; {tool_version([peers.CONVERT, '-version'])}")
    pools = ", ".join(f"{p['internal_api']}={p['num_threads']}" for p in threadpool_info())
    print(f"thread pools: {pools}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print(f"photos: {', '.join(f'{p.name} ({sizes[p] / 1e6:.1f} MP)' for p in args.paths)}")
    print(f"k: {args.ks} small photos, {args.camera_ks} camera photos; per-call cap {args.cap:.0f} s; "
          f"naive MBK on photos <= {args.mbk_max_pixels / 1e6:.1f} MP at k {args.mbk_ks}, one thread")


def print_sweep(rows: list[Row], args: argparse.Namespace, sizes: dict[Path, int]) -> None:
    methods = [(m.name, m.label) for m in args.methods]
    others = [m for m in methods if m[0] != "ours"]
    labels = dict(methods)
    print("\n## (1a) Median PSNR over the corpus, dB (RGB, every pixel of the decoded result); [n] = fewer photos")
    print(report.psnr_table(rows, methods))
    print("\n## (1b) ours minus peer, dB: difference of medians over the photos both ran on (+ = ours better)")
    print(report.delta_table(rows, others))
    for name, goal in (("recipe", "target"), ("mediancut", "target"), ("pngquant", "stretch"),
                       ("libimagequant", "stretch"), ("imagemagick", "report")):
        if name not in labels:
            continue
        deltas = report.paired_deltas(rows, name)
        losses = {k: d for k, (d, _) in deltas.items() if d < 0}
        text = ", ".join(f"k={k} by {-d:.2f} dB" for k, d in losses.items()) or "nowhere"
        if goal == "report":
            print(f"  {labels[name]} beats ours: {text}")
        elif deltas:
            print(f"  {goal}: PSNR >= {labels[name]} at every k: {verdict(not losses)}"
                  + ("" if not losses else f" (behind at {text})"))
    print("\n## (1c) ours minus peer per photo: median over its k (worst k in brackets), dB")
    print(report.per_photo_table(rows, others))
    print("\n## (1d) Where a peer beats ours by more than 0.1 dB, worst first")
    print(report.losses_table(rows, labels))
    for title, camera in (("small photos (< 2 MP)", False), ("camera photos (9-12 MP)", True)):
        photos = {p.name for p in args.paths if (sizes[p] >= CAMERA_PIXELS) == camera}
        if not photos:
            continue
        print(f"\n## (1e) Quantization time on {title}: median seconds per call (median ratio peer/ours)")
        print(report.time_table(rows, methods, photos))
    print("  ours = pack + histogram + quantize + index_map (pixels in, index map out); recipe and MBK include")
    print("  the float conversion; * = subprocess wall time, including its own PNG decode and PNG encode.")
    print("\nskipped or failed:")
    print("\n".join(report.skip_summary(rows, labels)))


def print_targets(results: list[dict]) -> None:
    print(f"\n## (2) Speed targets at k={TARGET_K} on the 12 MP photos, seconds")
    if not results:
        print("  no 12 MP photo in this run")
        return
    body = []
    for r in results:
        for name in ("ours", "recipe"):
            job = r[name]
            body.append([r["photo"] if name == "ours" else "", name, f"{job.decode:.2f}", f"{job.quantize:.2f}",
                         f"{job.encode:.2f}", f"{job.total:.2f}", f"{job.psnr:.2f}", f"{job.png_bytes / 1e6:.2f}"])
        body.append(["", "Pillow decode", f"{r['pillow_decode']:.2f}", "", "", "", "", ""])
    print("whole jobs, bytes in to paletted PNG out (best of --repeat by total):")
    print(table(["photo", "job", "decode", "quantize", "encode", "total", "PSNR", "PNG MB"], body))
    body = []
    for r in results:
        ours_q, recipe_q = min(r["quantize"]["ours"]), min(r["quantize"]["recipe"])
        tries = min(len(r["quantize"]["ours"]), len(r["quantize"]["recipe"]))
        q_ratio, job_ratio = ours_q / recipe_q, r["ours"].total / r["recipe"].total
        dec_ratio = ours_q / r["pillow_decode"]
        body.append([r["photo"], f"{ours_q:.2f} / {recipe_q:.2f} (best of {tries})",
                     f"{q_ratio:.2f} {verdict(q_ratio <= 1 / 3)}", f"{job_ratio:.2f} {verdict(job_ratio <= 1 / 2)}",
                     f"{dec_ratio:.2f} {verdict(dec_ratio <= 3)}"])
    print("targets (quantize = pixels in to index map out; best of the whole-job runs and the k=16 sweep run):")
    print(table(["photo", "quantize ours / recipe", "ours/recipe <= 0.33", "whole job ours/recipe <= 0.50",
                 "ours quantize / Pillow decode <= 3"], body))


def print_memory(results: list[dict]) -> None:
    print("\n## (3) Peak memory of our whole job (decode, quantize, encode PNG), fresh process each")
    if not results:
        print("  not run")
        return
    body = []
    for r in results:
        if "error" in r:
            body.append([r["photo"], str(r["k"]), "error", "", "", r["error"][-60:]])
            continue
        peak, baseline = r["peak_rss"] / 2**20, r["baseline_rss"] / 2**20
        body.append([r["photo"], str(r["k"]), f"{peak:.0f} MiB", f"{baseline:.0f} MiB", f"{r['seconds']:.2f}",
                     verdict(r["peak_rss"] < MEMORY_LIMIT)])
    print(table(["photo", "k", "peak RSS", "after imports", "job s", "< 1 GiB"], body))
    print("  peak RSS = ru_maxrss of the whole process, interpreter and libraries included.")


def write_csv(path: Path, rows: list[Row]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in dataclasses.fields(Row)])
        writer.writeheader()
        writer.writerows(dataclasses.asdict(r) for r in rows)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    started = time.monotonic()
    sizes = {path: pixel_count(path) for path in args.paths}
    twelve = [p for p in args.paths if sizes[p] >= TWELVE_MP]
    print_header(args, sizes, argv)
    progress("memory runs...")
    memory = [] if args.no_memory else run_memory(args, twelve[:1] if args.quick else twelve)
    progress("speed targets...")
    targets = [] if args.no_targets else run_targets(args, twelve)
    progress("k sweep...")
    rows = run_sweep(args, sizes, started + args.budget)
    merge_sweep_times(targets, rows)
    print_sweep(rows, args, sizes)
    print_targets(targets)
    print_memory(memory)
    if args.csv:
        write_csv(args.csv, rows)
    print(f"\nwall time {time.monotonic() - started:.0f} s; load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
