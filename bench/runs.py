"""The measuring half of bench_quantize: the k sweep, the k=16 whole jobs, the memory runs.

Each returns plain data; bench_quantize prints it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from app import imaging
from bench import jobs, peers
from bench.report import Row

ROOT = Path(__file__).resolve().parents[1]
CAMERA_PIXELS = 2_000_000  # at or above: a camera photo, timed in its own table
TARGET_K = 16
PRIORITY = (16, 256, 64, 2, 24, 10, 5)  # the order k groups run in, so a tight budget drops the least telling


def pixel_count(path: Path) -> int:
    with Image.open(path) as image:
        return image.width * image.height


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Sweep:
    """Runs every method on (photo, k) cells, under a per-call cap and an overall budget."""

    def __init__(self, args: argparse.Namespace, deadline: float):
        self.args, self.deadline = args, deadline
        self.rows: list[Row] = []
        self.photos: dict[Path, peers.Photo] = {}
        self.capped: set[tuple[str, str]] = set()  # (method, photo) that hit the cap once
        self.cell_seconds: dict[bool, list[float]] = {False: [], True: []}  # is_camera -> cell times so far

    def photo(self, path: Path) -> peers.Photo:
        if path not in self.photos:
            rgb = imaging.decode(path.read_bytes(), jobs.MAX_PIXELS).rgb
            needs_png = any(m.binary for m in self.args.methods if m.available())
            self.photos[path] = peers.Photo(path.name, rgb, peers.png_of(rgb) if needs_png else None)
        return self.photos[path]

    def estimate(self, camera: bool) -> float:
        """Seconds one more cell will likely take: the mean so far with a margin, or a first guess."""
        done = self.cell_seconds[camera]
        return 1.15 * statistics.mean(done) if done else (60.0 if camera else 8.0)

    def skip(self, path: Path, pixels: int, k: int, status: str) -> None:
        self.rows += [Row(path.name, pixels, k, m.name, status) for m in self.args.methods]

    def cell(self, path: Path, pixels: int, k: int) -> None:
        camera = pixels >= CAMERA_PIXELS
        started = time.monotonic()
        photo = self.photo(path)
        for method in self.args.methods:
            self.rows.append(self.run(method, photo, k))
        seconds = time.monotonic() - started
        self.cell_seconds[camera].append(seconds)
        done = [r for r in self.rows[-len(self.args.methods):] if r.status == "ok"]
        progress(f"  {path.name} k={k}: {seconds:.1f} s, " + ", ".join(f"{r.method} {r.psnr:.2f} dB" for r in done))

    def run(self, method: peers.Method, photo: peers.Photo, k: int) -> Row:
        base = dict(photo=photo.name, pixels=photo.pixels, k=k, method=method.name)
        args = self.args
        if not method.available():
            return Row(**base, status="skipped (missing)")
        if method.name == "mbk_naive" and (photo.pixels > args.mbk_max_pixels or k not in args.mbk_ks):
            return Row(**base, status="skipped (cap)")
        if (method.name, photo.name) in self.capped:
            return Row(**base, status="skipped (cap)")
        try:
            outcome = method.run(photo, k, args.cap)
        except peers.CapExceeded:
            self.capped.add((method.name, photo.name))
            return Row(**base, status="skipped (cap)")
        except Exception as error:  # one broken peer must not sink the run
            return Row(**base, status=f"error: {type(error).__name__}: {error}"[:120])
        if outcome.seconds > args.cap:  # in-process calls cannot be stopped; skip their larger k instead
            self.capped.add((method.name, photo.name))
        colors = jobs.colors_used(outcome.approx)
        status = "ok" if colors <= k else f"error: {colors} colors for k={k}"
        return Row(**base, status=status, seconds=outcome.seconds, psnr=jobs.psnr(photo.rgb, outcome.approx),
                   colors=colors)


def run_sweep(args: argparse.Namespace, sizes: dict[Path, int], deadline: float) -> list[Row]:
    """Cells in groups of one k over the small or the camera photos, most telling k first.

    The camera photos run their first k right after the small photos'
    same k, and their other k values last: a camera group costs as much as
    two or three small ones. A group starts only if the budget holds all
    of it, so when time runs out whole k values go, and each k's medians
    still cover the same photos.
    """
    sweep = Sweep(args, deadline)
    small = [p for p in args.paths if sizes[p] < CAMERA_PIXELS]
    camera = [p for p in args.paths if sizes[p] >= CAMERA_PIXELS]
    groups = [(k, small, False) for k in sorted(args.ks, key=priority)] if small else []
    camera_ks = sorted(args.camera_ks, key=priority)
    if camera and camera_ks:
        after = next((i + 1 for i, (k, _, _) in enumerate(groups) if k == camera_ks[0]), 0)
        groups.insert(after, (camera_ks[0], camera, True))
        groups += [(k, camera, True) for k in camera_ks[1:]]
    for k, group, is_camera in groups:
        if time.monotonic() + sweep.estimate(is_camera) * len(group) > deadline:
            for path in group:
                sweep.skip(path, sizes[path], k, "skipped (budget)")
            continue
        for path in group:
            sweep.cell(path, sizes[path], k)
    return sweep.rows


def priority(k: int) -> tuple[int, int]:
    return (PRIORITY.index(k) if k in PRIORITY else len(PRIORITY), k)


def run_targets(args: argparse.Namespace, paths: list[Path]) -> list[dict]:
    """Whole jobs at k=16 on the 12 MP photos, ours and the recipe's taking turns; best of --repeat by total."""
    results = []
    for path in paths:
        data = path.read_bytes()
        decodes, ours, recipe = [], [], []
        for _ in range(args.repeat):  # alternate, so a burst of load from the neighbours hits both
            decodes.append(jobs.pillow_decode_seconds(data))
            ours.append(jobs.ours_whole_job(data, TARGET_K))
            recipe.append(jobs.recipe_whole_job(data, TARGET_K))
        best = {"ours": min(ours, key=lambda j: j.total), "recipe": min(recipe, key=lambda j: j.total)}
        progress(f"  targets {path.name}: ours {best['ours'].total:.1f} s, recipe {best['recipe'].total:.1f} s, "
                 f"Pillow decode {min(decodes):.2f} s")
        results.append({"photo": path.name, "pillow_decode": min(decodes), **best,
                        "quantize": {"ours": [j.quantize for j in ours], "recipe": [j.quantize for j in recipe]}})
    return results


def merge_sweep_times(targets: list[dict], rows: list[Row]) -> None:
    """The k=16 sweep timed the same quantization steps once more: count it as another try."""
    for target in targets:
        for row in rows:
            same = row.photo == target["photo"] and row.k == TARGET_K and row.status == "ok"
            if same and row.method in target["quantize"]:
                target["quantize"][row.method].append(row.seconds)


def run_memory(args: argparse.Namespace, paths: list[Path]) -> list[dict]:
    """Fresh processes: the first memory k on every given photo, further ks on the largest one."""
    if not paths:
        return []
    largest = max(paths, key=pixel_count)
    plan = [(path, args.memory_ks[0]) for path in paths] + [(largest, k) for k in args.memory_ks[1:]]
    results = []
    for path, k in plan:
        command = [sys.executable, "-m", "bench.peak_memory", str(path), "-k", str(k)]
        try:
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=max(args.cap, 120))
            lines = done.stdout.strip().splitlines()
            results.append(json.loads(lines[-1]) if done.returncode == 0 and lines
                           else {"photo": path.name, "k": k, "error": done.stderr.strip()[-200:] or "no output"})
        except subprocess.TimeoutExpired:
            results.append({"photo": path.name, "k": k, "error": "timed out"})
        progress(f"  memory {path.name} k={k}: {results[-1]}")
    return results
