"""The server's side of the slider's unvisited jumps: find_palette in bench_live's order of moves, against a revision.

    .venv/bin/python -m bench.jumps --against 2e1ae0c                 # kodim23, 10 rounds
    .venv/bin/python -m bench.jumps --against 2e1ae0c --rounds 5 cam_olympus_ep3_12mp.jpg

bench_live measures a move in the browser; this measures the part the server's k-means takes of it,
with nothing else around. Each round starts from the photo's bytes (a fresh histogram: no bins,
seeds or lattices kept from the round before), finds the first result's palette (k = 16, rgb) and
its lab palette (the page's color-space switch), then the palettes of bench_live.KS in that order,
as POST /api/palettes finds them (delta_e=0). The working tree and the revision each run in a
process of their own, round by round in turns, so both see the same load on a shared machine.
The table gives each k's median over the rounds (wall ms, one request's threads), p50 / p95 over
every move of every round, the CPU p50 / p95, and whether each k's palette is the revision's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_live import KS
from bench.report import percentile, table
from bench.revisions import unpacked
from testsupport.corpus import CORPUS

ROOT = Path(__file__).resolve().parents[1]
FIRST_K = 16

# Runs in the tree under test (cwd): one round per line read, one line of JSON written.
RUNNER = """
import hashlib, json, sys, time
from app import clustering, pipeline, quantize
data = open(sys.argv[1], "rb").read()
ks = json.loads(sys.argv[2])
quantize.find_palette(pipeline.prepare(data, 50_000_000).hist, 2)  # imports and thread pool, before any round
for _ in sys.stdin:
    hist = pipeline.prepare(data, 50_000_000).hist
    quantize.find_palette(hist, %(first)d, measure_delta_e=False)
    quantize.find_palette(hist, %(first)d, "lab")
    if %(ahead)s and hasattr(clustering, "rgb_ahead"):  # the server's work ahead (app/ahead.py), done before the moves
        for _ in clustering.rgb_ahead(hist, 64, %(first)d):
            pass
    moves = []
    for k in ks:
        wall, cpu = time.perf_counter(), time.process_time()
        fit = quantize.find_palette(hist, k, measure_delta_e=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        digest = hashlib.sha256(fit.palette.tobytes() + fit.labels.tobytes()).hexdigest()[:16]
        moves.append([k, wall * 1000, cpu * 1000, digest])
    print(json.dumps(moves), flush=True)
"""


def start(root: Path, photo: Path, ahead: bool) -> subprocess.Popen:
    runner = RUNNER % {"first": FIRST_K, "ahead": ahead}
    return subprocess.Popen([sys.executable, "-c", runner, str(photo), json.dumps(KS)], cwd=root, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(root)})


def one_round(process: subprocess.Popen) -> list[list]:
    process.stdin.write("go\n")
    process.stdin.flush()
    return json.loads(process.stdout.readline())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="*", default=["kodim23.png"],
                        help="corpus names or paths (default kodim23.png)")
    parser.add_argument("--against", metavar="REV", help="also run this git revision's engine, round by round in turns")
    parser.add_argument("--ahead", action="store_true",
                        help="make the server's work ahead (app/ahead.py) between the first result and the moves, "
                             "as an idle server does (in the trees that have it)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds per photo and tree (default %(default)s)")
    args = parser.parse_args()
    print(f"# find_palette in bench_live's moves  {time.strftime('%Y-%m-%d %H:%M:%S')}  "
          f"load average {os.getloadavg()[0]:.1f} at start, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as temp:
        trees = [("ours", ROOT)]
        if args.against:
            trees.append((args.against, unpacked(args.against, ["app"], Path(temp) / "against")))
        for name in args.photos:
            photo = Path(name) if Path(name).exists() else CORPUS / name
            processes = {label: start(root, photo, args.ahead) for label, root in trees}
            moves: dict[str, list[list]] = {label: [] for label, _ in trees}
            try:
                for _ in range(args.rounds):
                    for label, process in processes.items():
                        moves[label] += one_round(process)
            finally:
                for process in processes.values():
                    process.stdin.close()
                    process.wait()
            report(photo.name, [label for label, _ in trees], moves)
    print(f"\nload average {os.getloadavg()[0]:.1f} at end")


def report(photo: str, labels: list[str], moves: dict[str, list[list]]) -> None:
    print(f"\n## {photo}: each k's median wall ms over the rounds (k in the order of the moves)")
    body = []
    for k in KS:
        cells = [str(k)]
        for label in labels:
            cells.append(f"{statistics.median(m[1] for m in moves[label] if m[0] == k):.1f}")
        if len(labels) > 1:
            cells.append(f"{float(cells[1]) / float(cells[2]):.2f}x")
            digests = [{m[3] for m in moves[label] if m[0] == k} for label in labels]
            cells.append("yes" if digests[0] == digests[1] else "no")
        body.append(cells)
    headers = ["k", *labels] + (["ours ÷ rev", "same palette"] if len(labels) > 1 else [])
    print(table(headers, body))
    print()
    body = []
    for label in labels:
        wall, cpu = [m[1] for m in moves[label]], [m[2] for m in moves[label]]
        body.append([label, str(len(wall)), f"{percentile(wall, 0.5):.1f} / {percentile(wall, 0.95):.1f}",
                     f"{percentile(cpu, 0.5):.1f} / {percentile(cpu, 0.95):.1f}", f"{statistics.mean(cpu):.1f}"])
    print(table(["tree", "moves", "wall p50 / p95 ms", "CPU p50 / p95 ms", "CPU mean ms"], body))


if __name__ == "__main__":
    main()
