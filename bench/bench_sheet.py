"""The dithered contact sheet: error diffusion at tile size against the full-size way, side by side.

    .venv/bin/python -m bench.bench_sheet [--repeat 3]

The issue's case: a 12 MP camera photo, ks = 4, 8, 16, 32, Floyd-Steinberg,
tiles of 480 pixels. "ours" is sheet.contact_sheet (the palette from the whole
photo, dithering at tile size); "full-size" is how the sheet was made before:
each k dithered over all 12 MP by pipeline.palette_and_indices, then shrunk by
nearest neighbor. Both start from the same prepared photo. Best of --repeat runs.
"""

from __future__ import annotations

import argparse
import time

from app import imaging, pipeline, sheet
from testsupport.corpus import CORPUS

PHOTO = CORPUS / "cam_olympus_ep3_12mp.jpg"
KS = (4, 8, 16, 32)
TILE = 480


def full_size_tiles(prepared: pipeline.Prepared) -> None:
    """The peer: every k dithered at full size, then shrunk to the tile (the sheet's old way)."""
    for k in KS:
        options = pipeline.Options(k=k, dither="floyd-steinberg", max_side=TILE)
        result, indices = pipeline.palette_and_indices(prepared, options)
        result.palette[imaging.shrink_nearest(indices, TILE)]


def best_of(repeat: int, job) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        job()
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    prepared = pipeline.prepare(PHOTO.read_bytes(), 50_000_000)
    ours = best_of(args.repeat, lambda: sheet.contact_sheet(prepared, KS, dither="floyd-steinberg", tile_side=TILE))
    peer = best_of(args.repeat, lambda: full_size_tiles(prepared))
    print(f"{PHOTO.name}, ks={','.join(map(str, KS))}, floyd-steinberg, max_side={TILE}, best of {args.repeat}")
    print(f"{'way':32} | {'seconds':>7} | {'vs ours':>7}")
    print(f"{'-' * 32}-|-{'-' * 7}-|-{'-' * 7}")
    print(f"{'ours: dithered at tile size':32} | {ours:7.2f} | {1.0:7.2f}")
    print(f"{'full-size dither, then shrunk':32} | {peer:7.2f} | {peer / ours:7.2f}")
    print("(the full-size row is the tiles only: no original tile, labels or PNG)")


if __name__ == "__main__":
    main()
