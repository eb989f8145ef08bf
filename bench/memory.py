"""Memory per request, in bytes per pixel, for each option combination, at 12 MP and 48 MP.

    .venv/bin/python -m bench.memory            # every combination, 12 MP and 48 MP (a few minutes)
    .venv/bin/python -m bench.memory --quick    # 12 MP only, fewer combinations

Each measurement runs in a fresh process: the app is created and warmed up with
a small photo and the same options, then the peak resident memory is reset
(/proc/self/clear_refs) and one POST /api/quantize goes through the app
(upload parsing, decoding, histogram, clustering, mapping or dithering, PNG).
"Peak" is the kernel's high-water mark minus the memory before the request.
The 12 MP photo is the corpus's Olympus camera JPEG; the 48 MP one is the same
photo resampled to twice its width and height in memory (JPEG, quality 90).

A second table: requests that need only the histogram of a photo the server keeps (POST /api/palettes
with ks=2-64, and POST /api/curve, by image_id), against the histogram estimate admission reserves for
them (app/budget.py histogram_request_bytes, per distinct color) and the pixels' estimate they used to take.
Their peak is tracemalloc's (numpy's arrays are traced): the photo's upload, decoded before in the same
process, leaves freed memory resident that these requests reuse, so the kernel's high-water mark misses them.

Side by side, the peer: Pillow alone opening the same JPEG and quantizing it
with its own median cut (with and without Floyd-Steinberg). The table gives
ours over Pillow's, and the admission estimate (app/budget.py) beside each
measurement: the estimate must never be below what was measured.
Exits 1 when a target is missed or an estimate is too low.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from dataclasses import dataclass

from PIL import Image

from app import budget
from testsupport.corpus import CORPUS

PHOTO = CORPUS / "cam_olympus_ep3_12mp.jpg"
TARGETS = {"plain": 12.0, "dither": 20.0}  # bytes per pixel, issue 11: rgb without dither, lab with dither


@dataclass(frozen=True)
class Combo:
    k: int
    color_space: str = "rgb"
    dither: str = "none"
    method: str = "kmeans"

    @property
    def name(self) -> str:
        return f"k={self.k} {self.color_space} {self.dither} {self.method}"

    @property
    def target(self) -> float | None:
        if self.method != "kmeans" or self.k > 64:
            return None
        if self.color_space == "rgb" and self.dither == "none":
            return TARGETS["plain"]
        return TARGETS["dither"] if self.dither != "none" else None


COMBOS = [Combo(64, space, dither) for space in ("rgb", "oklab", "lab") for dither in ("none", "floyd-steinberg")]
COMBOS += [Combo(256, "rgb"), Combo(256, "lab", "floyd-steinberg"), Combo(16, "rgb"),
           Combo(64, method="mediancut"), Combo(64, method="octree"), Combo(64, dither="floyd-steinberg",
                                                                                 method="octree")]
QUICK = [Combo(64), Combo(64, "lab", "floyd-steinberg"), Combo(64, method="mediancut")]

_CHILD = r"""
import io, json, sys, time, psutil
from PIL import Image

def high_water():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024

spec = json.loads(sys.argv[1])
data = sys.stdin.buffer.read()
if spec["peer"]:
    warm = Image.new("RGB", (64, 64), (1, 2, 3)).quantize(4)
    open("/proc/self/clear_refs", "w").write("5")
    before = psutil.Process().memory_info().rss
    start = time.perf_counter()
    image = Image.open(io.BytesIO(data)).convert("RGB")
    dither = Image.Dither.FLOYDSTEINBERG if spec["dither"] != "none" else Image.Dither.NONE
    result = image.quantize(spec["k"], dither=dither)
    buffer = io.BytesIO()
    result.save(buffer, "PNG", compress_level=3)
    pixels = image.width * image.height
else:
    from app import create_app
    client = create_app({"TESTING": True, "CACHE_MB": 0}).test_client()
    fields = spec["fields"]
    warm = io.BytesIO()
    Image.effect_noise((96, 64), 60).convert("RGB").save(warm, "PNG")
    def post(payload):
        return client.post("/api/quantize", data={"image": (io.BytesIO(payload), "x.jpg"), **fields},
                           headers={"Accept": "image/png"})
    warmed = post(warm.getvalue())
    assert warmed.status_code == 200, warmed.get_data(as_text=True)[:300]
    open("/proc/self/clear_refs", "w").write("5")
    before = psutil.Process().memory_info().rss
    start = time.perf_counter()
    response = post(data)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    with Image.open(io.BytesIO(response.data)) as out:
        pixels = out.width * out.height
print(json.dumps({"peak": high_water() - before, "pixels": pixels, "seconds": time.perf_counter() - start}))
"""


_HISTOGRAM_CHILD = r"""
import io, json, sys, tracemalloc

spec = json.loads(sys.argv[1])
data = sys.stdin.buffer.read()
from app import create_app
client = create_app({"TESTING": True}).test_client()
# The photo is sent first with other options, so that the measured request finds its palettes afresh.
first = client.post(spec["path"], data={"image": (io.BytesIO(data), "x.jpg"), **spec["first"]})
assert first.status_code == 200, first.get_data(as_text=True)[:300]
token = first.get_json()["image_id"]
# The upload's decoding left freed memory resident, which this request reuses: the kernel's high-water
# mark would not move. numpy reports its arrays to tracemalloc, and this work is numpy's.
tracemalloc.start()
response = client.post(spec["path"], data={"image_id": token, **spec["fields"]})
_, peak = tracemalloc.get_traced_memory()
assert response.status_code == 200, response.get_data(as_text=True)[:300]
print(json.dumps({"peak": peak}))
"""
HISTOGRAM_REQUESTS = {  # name: (path, its fields, the fields the photo is first sent with)
    "/api/palettes ks=2-64 rgb": ("/api/palettes", {"ks": "2-64"}, {"ks": "2", "color_space": "oklab"}),
    "/api/palettes ks=2-64 lab": ("/api/palettes", {"ks": "2-64", "color_space": "lab"}, {"ks": "2"}),
    "/api/curve rgb": ("/api/curve", {}, {"color_space": "oklab"}),
}


def measure_histogram_request(data: bytes, path: str, fields: dict, first: dict) -> dict:
    spec = {"path": path, "fields": fields, "first": first}
    done = subprocess.run([sys.executable, "-c", _HISTOGRAM_CHILD, json.dumps(spec)], input=data, capture_output=True,
                          timeout=600)
    if done.returncode:
        raise RuntimeError(f"{path}: {done.stderr.decode(errors='replace')[-1500:]}")
    return json.loads(done.stdout)


def histogram_table(data: bytes, failures: list[str]) -> None:
    from app import histograms, imaging

    decoded = imaging.decode(data, 10**9)
    colors, pixels = histograms.histogram(decoded.keys).unique_colors, decoded.width * decoded.height
    estimate, before = budget.histogram_request_bytes(colors), budget.request_bytes(pixels)
    print(f"\n## Histogram-only requests by image_id, 12 MP photo with {colors:,} colors: estimate "
          f"{estimate / 2**20:.0f} MB ({budget.HISTOGRAM_BYTES_PER_COLOR} B a color), the pixels' estimate "
          f"{before / 2**20:.0f} MB")
    print(f"{'request':28} | {'peak MB':>7} | {'B/color':>7} | {'estimate MB':>11} | {'pixels estimate MB':>18}")
    for name, (path, fields, first) in HISTOGRAM_REQUESTS.items():
        peak = measure_histogram_request(data, path, fields, first)["peak"]
        verdict = ""
        needed = min(estimate, before)  # what admission reserves (admission.py): the smaller of the two
        if peak > needed:
            verdict = " ESTIMATE LOW"
            failures.append(f"{name}: estimate {needed / 2**20:.0f} MB < {peak / 2**20:.0f} MB measured")
        print(f"{name:28} | {peak / 2**20:7.0f} | {peak / colors:7.0f} | {estimate / 2**20:11.0f} | "
              f"{before / 2**20:18.0f}{verdict}", flush=True)


def measure(data: bytes, combo: Combo, peer: bool = False) -> dict:
    fields = {"k": combo.k, "color_space": combo.color_space, "dither": combo.dither, "method": combo.method}
    return measure_request(data, {name: str(value) for name, value in fields.items()}, peer, combo.name)


def measure_request(data: bytes, fields: dict[str, str], peer: bool = False, name: str = "request") -> dict:
    """Peak memory (and time) of one POST /api/quantize with these form fields, through the app in a fresh
    process (upload included); with peer, of Pillow's quantize at the same k and dithering instead."""
    spec = {"fields": fields, "peer": peer, "k": int(fields["k"]), "dither": fields.get("dither", "none")}
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(spec)], input=data, capture_output=True,
                          timeout=600)
    if done.returncode:
        raise RuntimeError(f"{name}: {done.stderr.decode(errors='replace')[-1500:]}")
    return json.loads(done.stdout)


def photos(quick: bool) -> dict[str, bytes]:
    data = PHOTO.read_bytes()
    found = {"12 MP": data}
    if not quick:
        with Image.open(io.BytesIO(data)) as image:
            big = image.convert("RGB").resize((image.width * 2, image.height * 2), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        big.save(buffer, "JPEG", quality=90)
        found["48 MP"] = buffer.getvalue()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 MP and three combinations only")
    args = parser.parse_args(argv)
    inputs = photos(args.quick)
    combos = QUICK if args.quick else COMBOS
    failures = []
    header = f"{'options':38} | {'size':5} | {'peak MB':>7} | {'B/px':>5} | {'target':>6} | {'estimate':>8} | " \
             f"{'Pillow B/px':>11} | {'ours/Pillow':>11} | {'seconds':>7}"
    print(header)
    print("-" * len(header))
    peers: dict[tuple[str, str], float] = {}
    for combo in combos:
        for size, data in inputs.items():
            ours = measure(data, combo)
            per_pixel = ours["peak"] / ours["pixels"]
            peer_key = (size, combo.dither)
            if peer_key not in peers:
                peer = measure(data, Combo(combo.k, dither=combo.dither), peer=True)
                peers[peer_key] = peer["peak"] / peer["pixels"]
            estimate = budget.request_bytes(ours["pixels"], combo.dither, combo.method, combo.color_space)
            verdict = ""
            if combo.target is not None and per_pixel > combo.target:
                verdict = " MISSED"
                failures.append(f"{combo.name} at {size}: {per_pixel:.1f} B/px > {combo.target}")
            if estimate < ours["peak"]:
                verdict += " ESTIMATE LOW"
                failures.append(f"{combo.name} at {size}: estimate {estimate / 2**20:.0f} MB < "
                                f"{ours['peak'] / 2**20:.0f} MB measured")
            target = f"{combo.target:.0f}" if combo.target else "-"
            print(f"{combo.name:38} | {size:5} | {ours['peak'] / 2**20:7.0f} | {per_pixel:5.1f} | {target:>6} | "
                  f"{estimate / ours['pixels']:8.1f} | {peers[peer_key]:11.1f} | "
                  f"{per_pixel / peers[peer_key]:11.2f} | {ours['seconds']:7.1f}{verdict}", flush=True)
    print("\nB/px: peak memory of one request over its pixels; estimate: what admission control reserves, per pixel.")
    histogram_table(inputs["12 MP"], failures)
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
