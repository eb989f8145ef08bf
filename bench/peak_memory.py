"""Peak RSS of our whole job on one photo, in a fresh process.

    python -m bench.peak_memory PHOTO [-k 16]

Prints one JSON line: the resident set after imports and after reading the
file (baseline), and the peak over the life of the process (ru_maxrss),
which includes the interpreter, numpy, scikit-learn and Pillow.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import psutil

from app import pipeline
from bench.jobs import MAX_PIXELS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", type=Path)
    parser.add_argument("-k", type=int, default=16)
    args = parser.parse_args(argv)
    data = args.photo.read_bytes()
    baseline = psutil.Process().memory_info().rss
    start = time.perf_counter()
    prepared = pipeline.prepare(data, MAX_PIXELS)
    rendered = pipeline.render(prepared, pipeline.Options(k=args.k))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    shape = prepared.decoded.rgb.shape
    print(
        json.dumps(
            {
                "photo": args.photo.name,
                "k": args.k,
                "pixels": shape[0] * shape[1],
                "baseline_rss": baseline,
                "peak_rss": peak,
                "seconds": round(seconds, 3),
                "png_bytes": len(rendered.data),
            }
        )
    )


if __name__ == "__main__":
    main()
