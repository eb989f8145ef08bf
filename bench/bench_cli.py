"""The command line on a 12 MP photo against scikit-learn's recipe, both as whole processes.

    .venv/bin/python -m bench.bench_cli [--repeat 3] [--k 16]

Ours: `python -m app PHOTO -k 16 -o OUT.png` (decode, colors, palette, paletted PNG, summary line).
The recipe: a `python -c` script doing the same job with scikit-learn's "Color Quantization using
K-Means" example as the quantizer (our decoder and our paletted-PNG encoder, as bench_quantize's
whole job). Both are timed as subprocesses, and both have the start-up of a bare interpreter
(`python -c pass`, best of the same repeats) taken off: "net of interpreter start-up".
Target (issue 10): ours at most half of the recipe's time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import table, verdict
from testsupport.corpus import CORPUS

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ("cam_olympus_ep3_12mp.jpg", "cam_xiaomi_mi9t_12mp_orient6.jpg")
RECIPE = """
import sys
from app import imaging
from bench import jobs, peers
decoded = imaging.decode(open(sys.argv[1], "rb").read(), jobs.MAX_PIXELS)
labels, palette = peers.recipe_fit_predict(decoded.rgb, int(sys.argv[2]))
indices = labels.astype("uint8").reshape(decoded.height, decoded.width)
open(sys.argv[3], "wb").write(imaging.encode(indices, palette))
"""


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs each (default %(default)s)")
    parser.add_argument("--k", type=int, default=16, help="colors (default %(default)s)")
    args = parser.parse_args(argv)
    print(f"# command line against the recipe, k={args.k}  {time.strftime('%Y-%m-%d %H:%M:%S')}  "
          f"load average {os.getloadavg()[0]:.1f}, best of {args.repeat}")
    body = []
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        startup = min(timed([sys.executable, "-c", "pass"], out) for _ in range(args.repeat))
        for name in PHOTOS:
            photo = str(CORPUS / name)
            ours, recipe = [], []
            for _ in range(args.repeat):  # alternate, so a burst of load hits both
                ours.append(timed([sys.executable, "-m", "app", photo, "-k", str(args.k), "-o", "ours.png"], out))
                recipe.append(timed([sys.executable, "-c", RECIPE, photo, str(args.k), "recipe.png"], out))
            net_ours, net_recipe = min(ours) - startup, min(recipe) - startup
            ratio = net_ours / net_recipe
            body.append([name, f"{min(ours):.2f}", f"{min(recipe):.2f}", f"{net_ours:.2f}", f"{net_recipe:.2f}",
                         f"{ratio:.2f}", verdict(ratio <= 0.5)])
    print(f"bare interpreter start-up: {startup:.3f} s (taken off both)")
    print(table(["photo", "ours s", "recipe s", "ours net s", "recipe net s", "ours / recipe", "<= 0.50"], body))
    print(f"load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
