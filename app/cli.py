"""Command line: python -m app PHOTO [PHOTO|FOLDER ...] -k 16 [24 ...] -o OUT.

Instead of recoloring: --curve prints the error against k, --contact-sheet
writes one grid of the photo at several k, --palette-format writes palettes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Mapping

from app import curve, imaging, options, palettes, pipeline, results, settings, sheet

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
# An -o with one of these names a file, so it cannot take several outputs.
FILE_SUFFIXES = IMAGE_SUFFIXES | {".json", ".css", ".gpl"}


def add_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup, option: options.Option,
               config: Mapping[str, Any], note: str = "", **overrides: Any) -> None:
    """One request option as an argument: --name, with its type, choices, default and help from the table."""
    default = option.default_in(config)
    help_text = " ".join(filter(None, (option.describe(config), note)))
    if option.kind == "choice":
        kwargs: dict[str, Any] = {"choices": option.choices}
        help_text += f" (default: {default})"
    elif option.kind == "integer":
        low, high = option.bounds(config)
        kwargs = {"type": int}
        help_text += f" {low} to {high} (default: {default})"
    else:
        kwargs = {"type": lambda text: integer_list(option, text, config), "metavar": "K,K,..."}
        help_text += f" (default: {','.join(map(str, default))})"
        default = None  # given only with the mode it belongs to, which applies the table's default
    flags = overrides.pop("flags", (f"--{option.name.replace('_', '-')}",))
    parser.add_argument(*flags, **{**kwargs, "default": default, "help": help_text, **overrides})


def integer_list(option: options.Option, text: str, config: Mapping[str, Any]) -> tuple[int, ...]:
    try:
        return option.parse(text, config)
    except options.OptionError as error:
        raise argparse.ArgumentTypeError(error.message) from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    config = settings.load()
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="Recolor photos with the k colors that best characterize them (k-means).",
    )
    parser.add_argument("photos", nargs="+", type=Path, help="photo files or folders of photos")
    add_option(parser, options.K, config, "Several allowed.", flags=("-k",), nargs="+",
               default=[options.K.default_in(config)])
    parser.add_argument("-o", "--output", type=Path,
                        help="output file (one photo, one k) or folder; default: the current folder")
    for option in options.COMMAND_LINE:
        add_option(parser, option, config)
    parser.add_argument("--json", action="store_true", help="print palettes, figures and timings as JSON")
    extra = parser.add_mutually_exclusive_group()
    extra.add_argument("--curve", action="store_true",
                       help="print estimated PSNR and mean dE2000 for k = 2-32 and the suggested k; writes no image")
    extra.add_argument("--contact-sheet", type=Path, metavar="PATH",
                       help="write one PNG grid of the photo at each k of --ks (PATH is a folder for several photos)")
    add_option(extra, options.PALETTE_FORMAT, config, flags=("--palette-format",), default=None,
               help="write the palette for each k in this format instead of the image. "
                    + options.PALETTE_FORMAT.help)
    add_option(parser, options.KS, config)
    args = parser.parse_args(argv)
    if args.ks is not None and args.contact_sheet is None:
        parser.error("--ks goes with --contact-sheet; use -k for the colors of images and palettes")
    low, high = options.K.bounds(config)
    for k in args.k:
        if not low <= k <= high:
            parser.error(f"k must be between {low} and {high}, got {k}")
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
            chosen = options.engine_options(vars(args), k=k, fmt=args.format)
            recolored = results.recolor(prepared, chosen, photo.stem)
            target = output_path(args, photo, k, jobs)
            target.write_bytes(recolored.rendered.data)
            records.append(record(photo, target, recolored, png24))
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
        for k in args.k:
            chosen = options.engine_options(vars(args), k=k)
            palette = palettes.palette_of(prepared, chosen)
            name = f"{photo.stem}-k{k}-palette.{args.palette_format}"
            target = extra_path(args.output, len(photos) * len(args.k), name)
            target.write_bytes(palettes.export(palette, args.palette_format, photo.stem))
            records.append({"photo": str(photo), "output": str(target), "k": k, "format": args.palette_format,
                            "colors": json.loads(palettes.to_json(palette))["colors"]})
            if not args.json:
                print(f"{target}: {len(palette.colors)} colors of {photo.name} at k = {k}")
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


def record(photo: Path, target: Path, recolored: results.Recolored, png24: int) -> dict:
    """The same JSON as the API's answer (Recolored.as_json), plus where it came from and went."""
    return {"photo": str(photo), "output": str(target), **recolored.as_json(), "png24_bytes": png24}


def summary_line(rec: dict) -> str:
    psnr = "identical" if rec["psnr"] is None else f"PSNR {rec['psnr']:.2f} dB"
    return (
        f"{rec['output']}: {rec['original']['unique_colors']:,} colors -> {rec['colors']}, {psnr}, "
        f"mean dE2000 {rec['delta_e']:.2f}, {rec['result']['bytes']:,} bytes "
        f"(24-bit PNG {rec['png24_bytes']:,}), {sum(rec['timings'].values()):.0f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        extra = args.curve or args.contact_sheet is not None or args.palette_format is not None
        records = run_extra(args) if extra else run(args)
    except (FileNotFoundError, imaging.ImageError, OSError) as error:
        print(f"error: {getattr(error, 'message', None) or error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(records if len(records) > 1 else records[0], indent=2))
    return 0
