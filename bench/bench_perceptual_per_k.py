"""A perceptual palette for one more k at 12 MP: this tree's engine against a git revision's, in turns in one run.

    .venv/bin/python -m bench.bench_perceptual_per_k --against main        # lab, Olympus 12 MP
    .venv/bin/python -m bench.bench_perceptual_per_k --against HEAD~3 --spaces lab,oklab --repeat 5

The slider's color-space switch waits for quantize.find_palette(hist, k, "lab") on the photo's
cached histogram (issue 9: a switch within 400 ms at 12 MP). Each engine runs in a child process of
its own: the revision's app/ comes from `git archive`, ours is the working tree. Both count the photo
once and warm up (one palette in each space), then the parent asks them for the same k and color space
in turns, so a busy moment of a shared machine falls on both alike. The table gives each engine's
median / slowest wall time over --repeat calls per k, the ratio against the revision, the p50 CPU time of
every thread (what the work took, where the wall clock also counts waiting for a core on a shared
machine), and each engine's mean CIEDE2000 (lower is better), which must not rise.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.report import table
from bench.revisions import unpacked

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
DEFAULT_PHOTO = "cam_olympus_ep3_12mp.jpg"
DEFAULT_KS = [2, 5, 8, 12, 16, 24, 32, 48, 64]
TARGET_MS = 280.0  # the engine's share of the switch's 400 ms (HTTP and drawing take the rest)

# The child: count the photo once, warm up, then answer "k color_space" lines with one JSON line each.
CHILD = r"""
import json, sys, time
from app import pipeline, quantize
path, max_pixels = sys.argv[1], int(sys.argv[2])
hist = pipeline.prepare(open(path, "rb").read(), max_pixels).hist
for space in ("rgb", "lab", "oklab"):
    quantize.find_palette(hist, 2, space)
print(json.dumps({"ready": hist.unique_colors}), flush=True)
for line in sys.stdin:
    k, space = line.split()
    start, cpu = time.perf_counter(), time.process_time()
    fit = quantize.find_palette(hist, int(k), space)
    print(json.dumps({"ms": (time.perf_counter() - start) * 1000, "cpu_ms": (time.process_time() - cpu) * 1000,
                      "delta_e": fit.delta_e}), flush=True)
"""


class Engine:
    """One engine in a child process, importing app/ from `root`."""

    def __init__(self, name: str, root: Path, photo: Path):
        self.name = name
        self.process = subprocess.Popen([sys.executable, "-c", CHILD, str(photo), str(200_000_000)], cwd=root,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.colors = json.loads(self.process.stdout.readline())["ready"]

    def fit(self, k: int, space: str) -> dict:
        self.process.stdin.write(f"{k} {space}\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)
        self.process.stdout.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="git revision to run beside this tree, e.g. the commit before a change")
    parser.add_argument("--photo", default=DEFAULT_PHOTO, help="file name in --corpus, or a path (default %(default)s)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--ks", default=",".join(map(str, DEFAULT_KS)), help="k values (default %(default)s)")
    parser.add_argument("--spaces", default="lab", help="comma-separated: lab, oklab (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="calls per engine, k and space (default %(default)s)")
    args = parser.parse_args(argv)
    ks = [int(k) for k in args.ks.split(",")]
    spaces = args.spaces.split(",")
    photo = args.corpus / args.photo  # an absolute path stays as it is
    with tempfile.TemporaryDirectory() as scratch:
        engines = [Engine(args.against, unpacked(args.against, ["app"], Path(scratch)), photo), Engine("this tree", ROOT, photo)]
        times: dict[tuple[str, str, int], list[float]] = {}
        cpu: dict[tuple[str, str, int], list[float]] = {}
        delta_e: dict[tuple[str, str, int], float] = {}
        try:
            for space in spaces:
                for k in ks:
                    for turn in range(args.repeat):
                        for engine in engines if turn % 2 == 0 else engines[::-1]:
                            answer = engine.fit(k, space)
                            times.setdefault((engine.name, space, k), []).append(answer["ms"])
                            cpu.setdefault((engine.name, space, k), []).append(answer["cpu_ms"])
                            delta_e[(engine.name, space, k)] = answer["delta_e"]
                    print(f"  {space} k={k} done", file=sys.stderr, flush=True)
        finally:
            for engine in engines:
                engine.close()
    before, after = (engine.name for engine in engines)
    print(f"\n# find_palette per k on {photo.name} ({engines[0].colors} colors): {after} against {before}, "
          f"in turns, {args.repeat} calls each; ms median / slowest\n")
    rows, worse = [], []
    for space in spaces:
        for k in ks:
            old, new = times[(before, space, k)], times[(after, space, k)]
            old_de, new_de = delta_e[(before, space, k)], delta_e[(after, space, k)]
            if round(new_de, 3) > round(old_de, 3):
                worse.append(f"{space} k={k}")
            old_cpu, new_cpu = statistics.median(cpu[(before, space, k)]), statistics.median(cpu[(after, space, k)])
            rows.append([space, str(k), f"{statistics.median(old):.0f} / {max(old):.0f}",
                         f"{statistics.median(new):.0f} / {max(new):.0f}",
                         f"{statistics.median(old) / statistics.median(new):.2f}x", f"{old_cpu:.0f}", f"{new_cpu:.0f}",
                         f"{old_de:.4f}", f"{new_de:.4f}"])
    print(table(["space", "k", before, after, "speed-up", f"CPU {before}", f"CPU {after}", f"dE {before}", f"dE {after}"],
                rows))
    for space in spaces:
        new = [t for (name, s, _), values in times.items() if name == after and s == space for t in values]
        old = [t for (name, s, _), values in times.items() if name == before and s == space for t in values]
        print(f"\n{space}, every k: {before} p50 {statistics.median(old):.0f} ms, {after} p50 {statistics.median(new):.0f} ms "
              f"(target {TARGET_MS:.0f})")
    print("mean CIEDE2000 worse than the revision at 3 decimals: " + (", ".join(worse) if worse else "none"))


if __name__ == "__main__":
    main()
