"""Command line: python -m app PHOTO [PHOTO|FOLDER ...] -k 16 [24 ...] -o OUT.

Instead of recoloring: --curve prints the error against k, --contact-sheet
writes one grid of the photo at several k, --palette-format writes palettes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from app import cleaning, curve, imaging, paint_by_number, palettes, pipeline, quantize, settings, sheet
from app import template_png, template_svg

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
# An -o with one of these names a file, so it cannot take several outputs.
FILE_SUFFIXES = IMAGE_SUFFIXES | {".json", ".css", ".gpl", ".svg"}


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
    parser.add_argument("--min-region", type=int, metavar="N",
                        help="clean up specks: merge regions of one color smaller than N pixels "
                             f"(0-{cleaning.MAX_MIN_REGION:,}; default 0, off; with --paint-by-number, working pixels, "
                             f"default {paint_by_number.DEFAULT_MIN_REGION})")
    parser.add_argument("--json", action="store_true", help="print palettes, figures and timings as JSON")
    extra = parser.add_mutually_exclusive_group()
    extra.add_argument("--curve", action="store_true",
                       help="print estimated PSNR and mean dE2000 for k = 2-32 and the suggested k; writes no image")
    extra.add_argument("--contact-sheet", type=Path, metavar="PATH",
                       help="write one PNG grid of the photo at each k of --ks (PATH is a folder for several photos)")
    extra.add_argument("--palette-format", choices=palettes.FORMATS,
                       help="write the palette for each k in this format instead of the image")
    extra.add_argument("--paint-by-number", type=Path, metavar="PATH",
                       help="write a paint-by-number template (.svg, or .png to print) instead of the image; "
                            "PATH is a folder for several photos or k")
    parser.add_argument("--ks", type=ks_list, metavar="K,K,...",
                        help="k values for --contact-sheet, comma-separated (default 2,5,10,15,24)")
    args = parser.parse_args(argv)
    if args.ks is not None and args.contact_sheet is None:
        parser.error("--ks goes with --contact-sheet; use -k for the colors of images and palettes")
    for k in args.k:
        if not quantize.MIN_K <= k <= quantize.MAX_K:
            parser.error(f"k must be between {quantize.MIN_K} and {quantize.MAX_K}, got {k}")
    if args.min_region is not None:
        try:
            cleaning.check_min_region(args.min_region)
        except ValueError as error:
            parser.error(str(error))
        if args.dither != "none" and args.paint_by_number is None:
            parser.error("--min-region cleans flat regions and --dither scatters pixels on purpose: use one or the other")
    if args.paint_by_number is not None and args.paint_by_number.suffix.lower() not in (".svg", ".png", ""):
        if not args.paint_by_number.is_dir():
            parser.error(f"--paint-by-number writes .svg or .png, got {args.paint_by_number.name!r}")
    return args


def ks_list(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"give comma-separated whole numbers, got {text!r}") from None
    try:
        sheet.check_ks(ks)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return ks


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
    return extra_path(args.output, jobs, f"{photo.stem}-k{k}{suffix}")


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
        prepared = load(photo, max_pixels)
        png24 = len(imaging.encode_rgb_png(prepared.decoded.rgb, prepared.decoded.alpha))
        for k in args.k:
            progress(done, jobs, f"{photo.name} k={k}")
            options = pipeline.Options(k=k, color_space=args.color_space, dither=args.dither,
                                       method=args.method, fmt=args.format, min_region=args.min_region or 0)
            rendered = pipeline.render(prepared, options)
            target = output_path(args, photo, k, jobs)
            target.write_bytes(rendered.data)
            records.append(record(photo, target, prepared, rendered, k, png24))
            done += 1
            if not args.json:
                print(summary_line(records[-1]))
        progress(done, jobs, "done")
    return records


def load(photo: Path, max_pixels: int) -> pipeline.Prepared:
    try:
        return pipeline.prepare(photo.read_bytes(), max_pixels)
    except imaging.ImageError as error:
        raise imaging.ImageError(error.code, f"{photo}: {error.message}") from None


def run_extra(args: argparse.Namespace) -> list[dict]:
    """--curve, --contact-sheet or --palette-format, for every photo."""
    photos = find_photos(args.photos)
    max_pixels = int(settings.get("MAX_PIXELS"))
    records = []
    for photo in photos:
        prepared = load(photo, max_pixels)
        if args.curve:
            found = curve.error_curve(prepared.hist, args.color_space)
            records.append({"photo": str(photo), "unique_colors": prepared.hist.unique_colors, **found.as_json()})
            if not args.json:
                print(curve_table(records[-1]))
            continue
        if args.contact_sheet is not None:
            target = extra_path(args.contact_sheet, len(photos), f"{photo.stem}-contact-sheet.png")
            target.write_bytes(sheet.contact_sheet(prepared, args.ks or sheet.DEFAULT_KS, args.color_space,
                                                   args.dither, args.method))
            records.append({"photo": str(photo), "output": str(target), "ks": list(args.ks or sheet.DEFAULT_KS)})
            if not args.json:
                print(f"{target}: {photo.name} at k = {', '.join(map(str, records[-1]['ks']))}")
            continue
        if args.paint_by_number is not None:
            records += paint(args, photo, prepared, len(photos))
            continue
        for k in args.k:
            options = pipeline.Options(k=k, color_space=args.color_space, dither=args.dither, method=args.method)
            palette = palettes.palette_of(prepared, options)
            name = f"{photo.stem}-k{k}-palette.{args.palette_format}"
            target = extra_path(args.output, len(photos) * len(args.k), name)
            target.write_bytes(palettes.export(palette, args.palette_format, photo.stem))
            records.append({"photo": str(photo), "output": str(target), "k": k, "format": args.palette_format,
                            "colors": json.loads(palettes.to_json(palette))["colors"]})
            if not args.json:
                print(f"{target}: {len(palette.colors)} colors of {photo.name} at k = {k}")
    return records


def paint(args: argparse.Namespace, photo: Path, prepared: pipeline.Prepared, photos: int) -> list[dict]:
    """--paint-by-number: one template per k, SVG or PNG by the path's suffix (SVG in a folder)."""
    records = []
    min_region = paint_by_number.DEFAULT_MIN_REGION if args.min_region is None else args.min_region
    for k in args.k:
        fmt = "png" if args.paint_by_number.suffix.lower() == ".png" else "svg"
        target = extra_path(args.paint_by_number, photos * len(args.k), f"{photo.stem}-k{k}-paint-by-number.{fmt}")
        template = paint_by_number.make_template(prepared, k, args.color_space, min_region)
        if fmt == "svg":
            data = template_svg.to_svg(template, title=f"{photo.stem}: paint by number, {len(template.result.palette)} colors")
        else:
            data = template_png.to_png(template)
        target.write_bytes(data)
        records.append({"photo": str(photo), "output": str(target), "k": k, "colors": len(template.result.palette),
                        "regions": template.regions.after, "min_region": min_region,
                        "width": template.width, "height": template.height, "bytes": len(data)})
        if not args.json:
            print(f"{target}: {records[-1]['regions']:,} regions in {records[-1]['colors']} colors, "
                  f"{template.width}x{template.height}, {len(data):,} bytes")
    return records


def extra_path(output: Path | None, jobs: int, name: str) -> Path:
    """output itself for a single job unless it is a folder; otherwise name inside it."""
    if output is not None and jobs == 1 and not output.is_dir():
        return output
    if output is not None and output.suffix.lower() in FILE_SUFFIXES and not output.is_dir():
        raise FileNotFoundError(f"{output}: with several photos or k, -o must name a folder")
    folder = output or Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def curve_table(rec: dict) -> str:
    lines = [f"{rec['photo']}: {rec['unique_colors']:,} colors; suggested k = {rec['suggested_k']} "
             "(an estimate: exact figures come with -k)", "   k   PSNR dB  mean dE2000"]
    for point in rec["points"]:
        psnr = "identical" if point["psnr"] is None else f"{point['psnr']:.2f}"
        mark = "  <- suggested" if point["k"] == rec["suggested_k"] else ""
        lines.append(f"{point['k']:4d} {psnr:>9} {point['delta_e']:12.2f}{mark}")
    return "\n".join(lines)


def record(photo, target, prepared, rendered, k, png24) -> dict:
    result = rendered.result
    regions = None if rendered.regions is None else {"before": rendered.regions.before, "after": rendered.regions.after}
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
        "regions": regions,
        "timings": {**prepared.timings, **rendered.timings},
    }


def summary_line(rec: dict) -> str:
    psnr = "identical" if rec["psnr"] is None else f"PSNR {rec['psnr']:.2f} dB"
    if rec["regions"]:
        psnr += f" (cleaned: {rec['regions']['before']:,} -> {rec['regions']['after']:,} regions)"
    return (
        f"{rec['output']}: {rec['unique_colors']:,} colors -> {rec['colors']}, {psnr}, "
        f"mean dE2000 {rec['delta_e']:.2f}, {rec['bytes']['result']:,} bytes "
        f"(24-bit PNG {rec['bytes']['png24']:,}), {sum(rec['timings'].values()):.0f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        extra = (args.curve or args.contact_sheet is not None or args.palette_format is not None
                 or args.paint_by_number is not None)
        records = run_extra(args) if extra else run(args)
    except (FileNotFoundError, imaging.ImageError, OSError) as error:
        print(f"error: {getattr(error, 'message', None) or error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(records if len(records) > 1 else records[0], indent=2))
    return 0
