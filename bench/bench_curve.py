"""The error-vs-k curve against the engine: its time, and how far its estimate is from exact figures.

    .venv/bin/python -m bench.bench_curve [PHOTO|FOLDER ...] [--color-space rgb|oklab|lab] [--repeat 3]

For each photo: decode and histogram once (as the server's cache does), then
the best of --repeat runs of curve.error_curve (all 31 k) and one full
quantize.find_palette at k = 16, in wall-clock and CPU milliseconds, and the
curve's PSNR / mean dE2000 minus the exact ones of quantize.find_palette at
k = 5, 16 and 32. Set OMP_NUM_THREADS=1 on a shared machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from app import curve, pipeline, quantize
from app.cli import find_photos
from testsupport.corpus import CORPUS

CHECK_KS = (5, 16, 32)


def best_of(repeat: int, job):
    """The job's result, and its best wall-clock and CPU milliseconds over the runs."""
    wall, cpu, value = float("inf"), float("inf"), None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        value = job()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall * 1000, cpu * 1000, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", nargs="*", type=Path, default=[CORPUS])
    parser.add_argument("--color-space", choices=quantize.COLOR_SPACES, default="rgb")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    gaps = "  ".join(f"dPSNR@{k:<2} dE@{k:<2}" for k in CHECK_KS)
    print(f"color space {args.color_space}; curve = best of {args.repeat}; d = curve estimate minus exact; "
          "cpu = this process's CPU time, which a busy machine disturbs less than the wall clock")
    head = f"{'photo':<34} {'MP':>5} {'colors':>8} {'curve ms':>9} {'cpu':>5} {'k=16 ms':>8} {'cpu':>5} {'sugg.':>5}"
    print(f"{head}  {gaps}")
    for photo in find_photos(args.photos):
        prepared = pipeline.prepare(photo.read_bytes(), 100_000_000)
        hist = prepared.hist
        curve_ms, curve_cpu, found = best_of(args.repeat, lambda: curve.error_curve(hist, args.color_space))
        quantize_ms, quantize_cpu, _ = best_of(1, lambda: quantize.find_palette(hist, 16, args.color_space))
        cells = []
        for k in CHECK_KS:
            exact = quantize.find_palette(hist, k, args.color_space)
            point = found.points[k - curve.CURVE_KS[0]]
            cells.append(f"{point.psnr - exact.psnr:+8.2f} {point.delta_e - exact.delta_e:+6.2f}")
        megapixels = prepared.decoded.width * prepared.decoded.height / 1e6
        print(f"{photo.name:<34} {megapixels:5.1f} {hist.unique_colors:8,} {curve_ms:9.0f} {curve_cpu:5.0f} "
              f"{quantize_ms:8.0f} {quantize_cpu:5.0f} {found.suggested_k:5d}  {'  '.join(cells)}")


if __name__ == "__main__":
    main()
