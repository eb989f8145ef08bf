"""The whole HTTP request against libimagequant and the I/O floor, and how it grows with the photo.

    .venv/bin/python -m bench.bench_api            # small photos, 12 MP photos, growth 0.4-48 MP
    .venv/bin/python -m bench.bench_api --quick    # two small photos, one 12 MP photo, growth to 24 MP

Starts gunicorn with the project's gunicorn.conf.py on 127.0.0.1 (testsupport.servers), posts
each photo to POST /api/quantize (multipart, Accept: image/png, a fresh upload every time, so
decode and histogram are in every request: the server runs with CACHE_MB=0, as it would otherwise
recognize the same bytes) and times the request on the client. In the same
run, side by side:

- small photos (<= 1 MP), issue 10: the request takes no longer than libimagequant's own
  bytes-to-PNG job at the same k: Pillow decode of the same bytes, quantize_raw_rgba_bytes with
  dithering off, paletted PNG at our zlib level 3. PSNR of both results against the decoded photo.
- 12 MP photos: the request against the I/O floor, Pillow's decode plus a zlib-level-1 encode
  of a paletted PNG of the same size (our result's index map): <= 2.5x at k = 16, <= 4.0x at 256.
- fixed cost: kodim23 at k = 2, where the engine has least to do: the request, its server-side
  timings (decode, histogram, palette, map and PNG), the rest (HTTP, form, validation, admission,
  logging), a request refused after its upload was read (k = 1: Flask and the form alone), and
  libimagequant's job at k = 2 beside them.
- growth: one camera photo resampled in memory (Lanczos, JPEG quality 92) to 0.4, 3, 12, 24
  and 48 MP; request time and time per megapixel at k = 16 and 256. Growing no faster than the
  pixel count means the time per megapixel does not rise (10% allowed for noise).

All figures are the best of --repeat requests; ours and its peer take turns, so that a burst of load
on the shared machine hits both alike. Read the ratios.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests
from PIL import Image

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import imaging
from bench import jobs
from bench.report import table, verdict
from testsupport.corpus import CORPUS
from testsupport.servers import gunicorn

SMALL_PIXELS = 1_000_000
TWELVE_MP = 11_000_000
KS = (16, 256)
FLOOR_LIMITS = {16: 2.5, 256: 4.0}
GROWTH_MP = (0.4, 3, 12, 24, 48)
GROWTH_SOURCE = "cam_olympus_ep3_12mp.jpg"
FIXED_COST_PHOTO = "kodim23.png"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="best of N requests per cell (default %(default)s)")
    parser.add_argument("--quick", action="store_true", help="2 small photos, 1 camera photo, growth up to 24 MP")
    parser.add_argument("--no-growth", action="store_true", help="leave out the growth table")
    parser.add_argument("--no-camera", action="store_true", help="leave out the 12 MP table")
    return parser.parse_args(argv)


def pixels_of(data: bytes) -> int:
    with Image.open(io.BytesIO(data)) as image:
        return image.width * image.height


def best(run, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def best_side_by_side(first, second, repeat: int) -> tuple[tuple[float, object], tuple[float, object]]:
    """best() of each of two jobs, taking turns (first, second, first, ...): a burst of load on a shared
    machine then hits both alike, where running one N times and then the other hit one of them only."""
    times, results = ([], []), [None, None]
    for _ in range(repeat):
        for which, run in enumerate((first, second)):
            start = time.perf_counter()
            results[which] = run()
            times[which].append(time.perf_counter() - start)
    return (min(times[0]), results[0]), (min(times[1]), results[1])


def post(session: requests.Session, base: str, name: str, data: bytes, k: int) -> bytes:
    response = session.post(f"{base}/api/quantize", files={"image": (name, data)}, data={"k": str(k)},
                            headers={"Accept": "image/png"}, timeout=300)
    response.raise_for_status()
    return response.content


def libimagequant_job(data: bytes, k: int) -> bytes:
    """libimagequant's bytes-to-PNG job: decode, quantize (no dithering), paletted PNG at our zlib level."""
    import imagequant

    image = Image.open(io.BytesIO(data)).convert("RGBA")
    indices, palette = imagequant.quantize_raw_rgba_bytes(image.tobytes(), image.width, image.height,
                                                          dithering_level=0.0, max_colors=k)
    result = Image.frombytes("P", image.size, bytes(indices))
    result.putpalette(bytes(np.array(palette, dtype=np.uint8).reshape(-1, 4)[:, :3].ravel()), "RGB")
    buffer = io.BytesIO()
    result.save(buffer, "PNG", compress_level=3)
    return buffer.getvalue()


def floor_seconds(data: bytes, result_png: bytes) -> float:
    """Pillow's decode of the upload plus a zlib-level-1 encode of a paletted PNG of the same size."""
    decode = jobs.pillow_decode_seconds(data)
    paletted = Image.open(io.BytesIO(result_png))
    paletted.load()
    start = time.perf_counter()
    paletted.save(io.BytesIO(), "PNG", compress_level=1)
    return decode + time.perf_counter() - start


def psnr_of(data: bytes, png: bytes) -> float:
    original = imaging.decode(data, jobs.MAX_PIXELS).rgb
    return jobs.psnr(original, np.asarray(Image.open(io.BytesIO(png)).convert("RGB")))


def resampled(source: Path, megapixels: float) -> bytes:
    image = Image.fromarray(imaging.decode(source.read_bytes(), jobs.MAX_PIXELS).rgb)
    scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
    size = (round(image.width * scale), round(image.height * scale))
    buffer = io.BytesIO()
    image.resize(size, Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def run_small(session, base, photos, args) -> None:
    print("\n## Small photos (<= 1 MP): POST /api/quantize against libimagequant's bytes-to-PNG job, ms")
    body, ratios = [], {k: [] for k in KS}
    for path in photos:
        data = path.read_bytes()
        for k in KS:
            (ours_s, ours_png), (liq_s, liq_png) = best_side_by_side(
                lambda: post(session, base, path.name, data, k), lambda: libimagequant_job(data, k), args.repeat)
            ratio = ours_s / liq_s
            ratios[k].append(ratio)
            body.append([path.name, str(k), f"{ours_s * 1000:.0f}", f"{liq_s * 1000:.0f}", f"{ratio:.2f}",
                         verdict(ratio <= 1.0), f"{psnr_of(data, ours_png):.2f}", f"{psnr_of(data, liq_png):.2f}"])
            progress(f"  small {path.name} k={k}: ours {ours_s * 1000:.0f} ms, libimagequant {liq_s * 1000:.0f} ms")
    print(table(["photo", "k", "API ms", "libimagequant ms", "API / liq", "<= 1", "API PSNR", "liq PSNR"], body))
    for k in KS:
        print(f"  k={k}: median API/liq {statistics.median(ratios[k]):.2f}, worst {max(ratios[k]):.2f}; "
              f"target met on {sum(r <= 1 for r in ratios[k])}/{len(ratios[k])} photos")


def run_camera(session, base, photos, args) -> None:
    print("\n## 12 MP photos: POST /api/quantize against the I/O floor (Pillow decode + zlib-1 paletted PNG), ms")
    body = []
    for path in photos:
        data = path.read_bytes()
        for k in KS:
            # Taking turns, so a burst of load hits both alike; the floor times its own two steps
            # (encoding our result's index map, so it is the same size).
            ours_times, floors = [], []
            for _ in range(args.repeat):
                seconds, ours_png = best(lambda: post(session, base, path.name, data, k), 1)
                ours_times.append(seconds)
                floors.append(floor_seconds(data, ours_png))
            ours_s, floor = min(ours_times), min(floors)
            ratio = ours_s / floor
            body.append([path.name, str(k), f"{ours_s * 1000:.0f}", f"{floor * 1000:.0f}", f"{ratio:.2f}",
                         f"<= {FLOOR_LIMITS[k]}", verdict(ratio <= FLOOR_LIMITS[k])])
            progress(f"  camera {path.name} k={k}: {ours_s * 1000:.0f} ms, floor {floor * 1000:.0f} ms")
    print(table(["photo", "k", "API ms", "floor ms", "API / floor", "target", ""], body))


def run_fixed_cost(session, base, args) -> None:
    path = CORPUS / FIXED_COST_PHOTO
    data = path.read_bytes()
    repeat = max(args.repeat, 5)
    print(f"\n## Fixed cost of a request: {path.name} at k = 2, JSON answer, ms (best of {repeat})")
    walls, answers = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        answer = session.post(f"{base}/api/quantize", files={"image": (path.name, data)}, data={"k": "2"},
                              headers={"Accept": "application/json"}, timeout=60)
        walls.append(time.perf_counter() - start)
        answers.append(answer.json()["timings"])
    fastest = int(np.argmin(walls))
    timings = answers[fastest]
    rest = min(wall * 1000 - sum(answer.values()) for wall, answer in zip(walls, answers))
    refused_s, _ = best(lambda: session.post(f"{base}/api/quantize", files={"image": (path.name, data)},
                                             data={"k": "1"}, timeout=60), repeat)
    liq_s, _ = best(lambda: libimagequant_job(data, 2), repeat)
    body = [["request, k = 2 (client)", f"{walls[fastest] * 1000:.1f}"],
            *[[f"  server: {name}", f"{value:.1f}"] for name, value in timings.items()],
            ["  the rest: HTTP, form, validation, admission, JSON, log (least of all)", f"{rest:.1f}"],
            ["request refused after reading the upload (k = 1)", f"{refused_s * 1000:.1f}"],
            ["libimagequant's job, k = 2", f"{liq_s * 1000:.1f}"]]
    print(table(["", "ms"], body))


def run_growth(session, base, args) -> None:
    sizes = GROWTH_MP[:-1] if args.quick else GROWTH_MP
    print(f"\n## Growth: {GROWTH_SOURCE} resampled, POST /api/quantize, ms and ms per megapixel "
          "(the sizes take turns in each round, so a burst of load on the machine hits them alike)")
    uploads = {megapixels: resampled(CORPUS / GROWTH_SOURCE, megapixels) for megapixels in sizes}
    body = []
    for k in KS:
        seconds = {megapixels: [] for megapixels in sizes}
        for _ in range(args.repeat):
            for megapixels, data in uploads.items():
                start = time.perf_counter()
                post(session, base, "growth.jpg", data, k)
                seconds[megapixels].append(time.perf_counter() - start)
        previous = None
        for megapixels, data in uploads.items():
            actual = pixels_of(data) / 1e6
            fastest = min(seconds[megapixels])
            per_mp = fastest * 1000 / actual
            ok = previous is None or per_mp <= previous * 1.10
            body.append([str(k), f"{actual:.1f}", f"{len(data) / 1e6:.1f}", f"{fastest * 1000:.0f}", f"{per_mp:.1f}",
                         "" if previous is None else f"{per_mp / previous:.2f}", verdict(ok)])
            previous = per_mp
            progress(f"  growth k={k} {actual:.1f} MP: {fastest * 1000:.0f} ms")
    print(table(["k", "MP", "upload MB", "API ms", "ms per MP", "vs previous size", "no faster than pixels"], body))


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    photos = sorted(p for p in CORPUS.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    sized = [(p, pixels_of(p.read_bytes())) for p in photos]
    small = [p for p, n in sized if n <= SMALL_PIXELS]
    camera = [p for p, n in sized if n >= TWELVE_MP]
    if args.quick:
        small, camera = small[:2], camera[:1]
    print(f"# POST /api/quantize side by side  {time.strftime('%Y-%m-%d %H:%M:%S')}  "
          f"load average {os.getloadavg()[0]:.1f} at start, {os.cpu_count()} cores; best of {args.repeat}")
    # CACHE_MB=0: the server keeps no photo between requests (it would recognize the same bytes
    # and skip decode and histogram), so every request does the whole job.
    with tempfile.TemporaryDirectory() as scratch, gunicorn(Path(scratch) / "server.log", LOG_LEVEL="warning",
                                                            MAX_UPLOAD_MB="200", CACHE_MB="0") as (_, base):
        with requests.Session() as session:
            post(session, base, small[0].name, small[0].read_bytes(), 16)  # the worker's first request imports
            run_fixed_cost(session, base, args)
            run_small(session, base, small, args)
            if not args.no_camera:
                run_camera(session, base, camera, args)
            if not args.no_growth:
                run_growth(session, base, args)
    print(f"\nload average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
