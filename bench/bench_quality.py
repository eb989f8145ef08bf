"""PSNR against libimagequant on every corpus photo at every k: issue 10's quality target, cell by cell.

    .venv/bin/python -m bench.bench_quality                       # 13 photos x 9 k, a few minutes
    .venv/bin/python -m bench.bench_quality --ks 16,256 --photos kodim20.png

Ours is quantize.find_palette on the photo's histogram: its PSNR is exact over every pixel
(the histogram holds them all), the same figure bench/jobs.psnr gives for the index map.
libimagequant runs as in bench_quantize (quantize_raw_rgba_bytes, dithering off) and its
PSNR is measured on its result pixels. The table gives ours minus libimagequant in dB for
every photo and k; the target is >= 0 in every cell. With --lab, the mean CIEDE2000 of
color_space=lab is printed too (lower is better), for comparison with other runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import pipeline, quantize
from bench import jobs, peers
from bench.report import table, verdict
from testsupport.corpus import CORPUS, corpus_photos

KS = (2, 5, 10, 16, 24, 32, 64, 128, 256)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", default=",".join(map(str, KS)), help="k values (default %(default)s)")
    parser.add_argument("--photos", default="", help="comma-separated names in the corpus (default: all)")
    parser.add_argument("--lab", action="store_true", help="also the mean CIEDE2000 with color_space=lab")
    args = parser.parse_args(argv)
    ks = [int(k) for k in args.ks.split(",")]
    paths = [CORPUS / n for n in args.photos.split(",")] if args.photos else corpus_photos()
    print(f"# PSNR ours minus libimagequant, dB  {time.strftime('%Y-%m-%d %H:%M:%S')}  "
          f"load average {os.getloadavg()[0]:.1f}")
    body, lab_body, losses, cells = [], [], [], 0
    for path in paths:
        prepared = pipeline.prepare(path.read_bytes(), jobs.MAX_PIXELS)
        photo = peers.Photo(path.name, prepared.decoded.rgb)
        row, lab_row = [path.name], [path.name]
        for k in ks:
            ours = quantize.find_palette(prepared.hist, k).psnr
            liq = jobs.psnr(photo.rgb, peers.libimagequant(photo, k, 120.0).approx)
            row.append(f"{ours - liq:+.2f}")
            cells += 1
            if ours < liq:
                losses.append((ours - liq, path.name, k))
            if args.lab:
                lab_row.append(f"{quantize.find_palette(prepared.hist, k, 'lab').delta_e:.3f}")
        body.append(row)
        lab_body.append(lab_row)
        print(f"  {path.name}: {' '.join(row[1:])}", file=sys.stderr, flush=True)
    print(table(["photo", *(f"k={k}" for k in ks)], body))
    print(f"\ntarget: PSNR >= libimagequant in every cell: {verdict(not losses)} "
          f"({cells - len(losses)}/{cells} cells)")
    for delta, name, k in sorted(losses):
        print(f"  behind: {name} k={k} by {-delta:.2f} dB")
    if args.lab:
        print("\n## mean CIEDE2000 with color_space=lab (lower is better)")
        print(table(["photo", *(f"k={k}" for k in ks)], lab_body))
    print(f"\nload average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
