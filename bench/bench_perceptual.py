"""Perceptual clustering: mean CIEDE2000 and PSNR per k, rgb against lab and oklab.

    .venv/bin/python -m bench.bench_perceptual [--ks 2,5,10,16,24,64,256] [--photos a.png,b.jpg]

For every photo of the corpus and every k it runs the engine in each color
space on the same histogram and prints, per k, the median over the corpus of
the mean CIEDE2000 and the PSNR, the gain against rgb, and on how many photos
the perceptual space lowered the CIEDE2000.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from app import pipeline, quantize
from testsupport.corpus import CORPUS, corpus_photos

SPACES = ("rgb", "lab", "oklab")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", default="2,5,10,16,24,64,256")
    parser.add_argument("--photos", default="", help="comma-separated names in the corpus; default: all")
    args = parser.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    names = args.photos.split(",") if args.photos else [p.name for p in corpus_photos()]
    figures: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    for name in names:
        prepared = pipeline.prepare((CORPUS / name).read_bytes(), 100_000_000)
        for k in ks:
            for space in SPACES:
                start = time.process_time()
                result = quantize.find_palette(prepared.hist, k, space)
                figures.setdefault((space, k), []).append((result.delta_e, result.psnr, time.process_time() - start))
        print(f"  measured {name}", file=sys.stderr, flush=True)
    print(f"\nPerceptual clustering over {len(names)} photos (median over photos; CPU seconds summed)\n")
    header = f"{'k':>4} | {'dE rgb':>7} {'dE lab':>7} {'dE oklab':>8} | {'gain lab':>8} {'gain ok':>8} | "
    header += f"{'lab better':>10} {'ok better':>9} | {'PSNR rgb':>8} {'lab':>6} {'oklab':>6} | {'s rgb':>6} {'lab':>6} {'oklab':>6}"
    print(header)
    print("-" * len(header))
    for k in ks:
        rgb, lab, oklab = (figures[(s, k)] for s in SPACES)
        med = {s: statistics.median(v[0] for v in figures[(s, k)]) for s in SPACES}
        psnr = {s: statistics.median(v[1] for v in figures[(s, k)]) for s in SPACES}
        secs = {s: sum(v[2] for v in figures[(s, k)]) for s in SPACES}
        lab_wins = sum(b[0] < a[0] for a, b in zip(rgb, lab))
        ok_wins = sum(b[0] < a[0] for a, b in zip(rgb, oklab))
        print(
            f"{k:>4} | {med['rgb']:7.3f} {med['lab']:7.3f} {med['oklab']:8.3f} | "
            f"{med['rgb'] - med['lab']:+8.3f} {med['rgb'] - med['oklab']:+8.3f} | "
            f"{lab_wins:>4}/{len(rgb):<5} {ok_wins:>3}/{len(rgb):<5} | "
            f"{psnr['rgb']:8.2f} {psnr['lab']:6.2f} {psnr['oklab']:6.2f} | "
            f"{secs['rgb']:6.1f} {secs['lab']:6.1f} {secs['oklab']:6.1f}"
        )
    print("\ngain = median dE(rgb) - median dE(space): positive means the perceptual space is closer to the original.")


if __name__ == "__main__":
    main()
