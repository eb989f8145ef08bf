"""Command line: python -m app PHOTO [PHOTO|FOLDER ...] -k 16 [24 ...] -o OUT."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from app import imaging, pipeline, quantize, settings

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="Recolor photos with the k colors that best characterize them (k-means).",
    )
    parser.add_argument("photos", nargs="+", type=Path, help="photo files or folders of photos")
    parser.add_argument("-k", type=int, nargs="+", default=[16], help="number of colors, 2-256; several allowed")
    parser.add_argument("-o", "--output", type=Path,
                        help="output file (one photo, one k) or folder; default: the current folder")
    parser.add_argument("--format", choices=imaging.FORMATS, default="png")
    parser.add_argument("--color-space", choices=quantize.COLOR_SPACES, default="rgb")
    parser.add_argument("--dither", choices=pipeline.DITHERS, default="none")
    parser.add_argument("--method", choices=pipeline.METHODS, default="kmeans")
    parser.add_argument("--json", action="store_true", help="print palettes, figures and timings as JSON")
    args = parser.parse_args(argv)
    for k in args.k:
        if not quantize.MIN_K <= k <= quantize.MAX_K:
            parser.error(f"k must be between {quantize.MIN_K} and {quantize.MAX_K}, got {k}")
    return args


def find_photos(paths: list[Path]) -> list[Path]:
    photos = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not found:
                raise FileNotFoundError(f"{path}: no photos in this folder")
            photos.extend(found)
        elif path.is_file():
            photos.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return photos


def output_path(args: argparse.Namespace, photo: Path, k: int, jobs: int) -> Path:
    suffix = ".jpg" if args.format == "jpeg" else f".{args.format}"
    if args.output is not None and jobs == 1 and not args.output.is_dir():
        return args.output
    folder = args.output or Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{photo.stem}-k{k}{suffix}"


def progress(done: int, total: int, label: str) -> None:
    if total < 2 or not sys.stderr.isatty():
        return
    width = 30
    filled = width * done // total
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label[:40]:<40}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def run(args: argparse.Namespace) -> list[dict]:
    photos = find_photos(args.photos)
    jobs = len(photos) * len(args.k)
    records, done = [], 0
    max_pixels = int(settings.get("MAX_PIXELS"))
    for photo in photos:
        try:
            prepared = pipeline.prepare(photo.read_bytes(), max_pixels)
        except imaging.ImageError as error:
            raise imaging.ImageError(error.code, f"{photo}: {error.message}") from None
        png24 = len(imaging.encode_rgb_png(prepared.decoded.rgb, prepared.decoded.alpha))
        for k in args.k:
            progress(done, jobs, f"{photo.name} k={k}")
            options = pipeline.Options(k=k, color_space=args.color_space, dither=args.dither,
                                       method=args.method, fmt=args.format)
            rendered = pipeline.render(prepared, options)
            target = output_path(args, photo, k, jobs)
            target.write_bytes(rendered.data)
            records.append(record(photo, target, prepared, rendered, k, png24))
            done += 1
            if not args.json:
                print(summary_line(records[-1]))
        progress(done, jobs, "done")
    return records


def record(photo, target, prepared, rendered, k, png24) -> dict:
    result = rendered.result
    return {
        "photo": str(photo),
        "output": str(target),
        "k": k,
        "colors": len(result.palette),
        "width": prepared.decoded.width,
        "height": prepared.decoded.height,
        "pixels": prepared.decoded.width * prepared.decoded.height,
        "unique_colors": prepared.hist.unique_colors,
        "psnr": None if math.isinf(result.psnr) else round(result.psnr, 3),
        "delta_e": round(result.delta_e, 4),
        "palette": [{"hex": h, "share": round(float(s), 6)} for h, s in zip(result.hex_codes(), result.shares)],
        "bytes": {"original": prepared.source_bytes, "result": len(rendered.data), "png24": png24},
        "bit_depth": rendered.bit_depth,
        "timings": rendered.timings,
    }


def summary_line(rec: dict) -> str:
    psnr = "identical" if rec["psnr"] is None else f"PSNR {rec['psnr']:.2f} dB"
    return (
        f"{rec['output']}: {rec['unique_colors']:,} colors -> {rec['colors']}, {psnr}, "
        f"mean dE2000 {rec['delta_e']:.2f}, {rec['bytes']['result']:,} bytes "
        f"(24-bit PNG {rec['bytes']['png24']:,}), {sum(rec['timings'].values()):.0f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        records = run(args)
    except (FileNotFoundError, imaging.ImageError, OSError) as error:
        print(f"error: {getattr(error, 'message', None) or error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(records if len(records) > 1 else records[0], indent=2))
    return 0
