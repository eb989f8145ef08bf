"""Command line: kmeans-filter PHOTO [PHOTO|FOLDER ...] -k 16 [24 ...] -o OUT (or python -m app ...).

Instead of recoloring: --curve prints the error against k, --contact-sheet
writes one grid of the photo at several k, --palette-format writes palettes,
--paint-by-number writes paint-by-number templates.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Mapping

from app import imaging, libraries, options, paint_by_number, pipeline, quantize, results, settings, sheet

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
# An -o with one of these names a file, so it cannot take several outputs.
FILE_SUFFIXES = IMAGE_SUFFIXES | {".json", ".css", ".gpl", ".svg"}
# While scikit-learn is imported in the background (Python code that holds the GIL), the main thread decodes
# and counts colors in hundreds of short calls that let go of the GIL; at Python's default switch interval
# (5 ms) it may wait that long to take it back after each one.
BACKGROUND_IMPORT_SWITCH_SECONDS = 0.0002


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


class CommandLineError(Exception):
    """A failure to tell the user in one line, naming the file and what to do."""


def parse_args(argv: list[str] | None, prog: str = "python -m app") -> argparse.Namespace:
    config = settings.load()
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Recolor photos with the k colors that best characterize them (k-means).",
    )
    parser.add_argument("photos", nargs="+", type=Path, help="photo files or folders of photos")
    add_option(parser, options.K, config, "Several allowed. With --curve: exact figures at these k, besides the "
               "estimated curve.", flags=("-k",), nargs="+", default=None)
    parser.add_argument("-o", "--output", type=Path,
                        help="output file (one photo, one k) or folder; default: the current folder")
    for option in options.COMMAND_LINE:
        add_option(parser, option, config)
    # Not given means 0 (off) for images and the template's own default with --paint-by-number.
    add_option(parser, options.MIN_REGION, config, f"With --paint-by-number: pixels of the working size, default "
               f"{options.TEMPLATE_MIN_REGION.default_in(config)}.", default=None, metavar="N")
    parser.add_argument("--json", action="store_true", help="print palettes, figures and timings as JSON")
    parser.add_argument("--compare-png24", action="store_true",
                        help="also encode the photo as a plain 24-bit PNG to report its size beside the result's "
                             "(costs more than the recoloring itself on a large photo)")
    extra = parser.add_mutually_exclusive_group()
    extra.add_argument("--curve", action="store_true",
                       help="print estimated PSNR and mean dE2000 for k = 2-32 and the suggested k; writes no image")
    extra.add_argument("--contact-sheet", type=Path, metavar="PATH",
                       help="write one PNG grid of the photo at each k of --ks (PATH is a folder for several photos)")
    add_option(extra, options.PALETTE_FORMAT, config, flags=("--palette-format",), default=None,
               help="write the palette for each k in this format instead of the image. "
                    + options.PALETTE_FORMAT.help)
    extra.add_argument("--paint-by-number", type=Path, metavar="PATH",
                       help="write a paint-by-number template for each k instead of the image: SVG, or PNG when "
                            "PATH ends in .png (PATH is a folder for several photos or k)")
    add_option(parser, options.KS, config)
    args = parser.parse_args(argv)
    args.k_given = args.k is not None
    if args.k is None:
        args.k = [options.K.default_in(config)]
    if args.k_given and (args.contact_sheet is not None):
        parser.error("-k does not go with --contact-sheet; give the sheet's k values with --ks")
    if args.ks is not None and args.contact_sheet is None:
        parser.error("--ks goes with --contact-sheet; use -k for the colors of images and palettes")
    low, high = options.K.bounds(config)
    for k in args.k:
        if not low <= k <= high:
            parser.error(f"k must be between {low} and {high}, got {k}")
    args.template_min_region = args.min_region
    if args.min_region is not None:
        try:
            options.MIN_REGION.parse(str(args.min_region), config)
        except options.OptionError as error:
            parser.error(error.message)
    args.min_region = args.min_region or 0
    if args.paint_by_number is None:
        problem = options.conflict(vars(args))
        if problem:
            parser.error(problem.replace("dither=none", "--dither none").replace("min_region=0", "--min-region 0"))
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


class Progress:
    """A one-line bar on stderr when it is a terminal, cleared before every line of output.

    stdout and stderr share the terminal: a summary line printed while the
    bar stands would land right after the bar's text.
    """

    WIDTH = 30

    def __init__(self, total: int):
        self.total, self.done = total, 0
        self.shown = total >= 2 and sys.stderr.isatty()
        self.drawn = 0  # characters of the bar on the screen now

    def working_on(self, label: str) -> None:
        self._draw(f"{self.done}/{self.total} {label}")

    def step(self) -> None:
        self.done += 1

    def say(self, line: str) -> None:
        """Print a line of output (stdout), the bar out of its way."""
        self._clear()
        print(line, flush=True)

    def finish(self) -> None:
        if self.shown:
            self._draw(f"{self.done}/{self.total} done")
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.drawn = 0

    def _draw(self, text: str) -> None:
        if not self.shown:
            return
        filled = self.WIDTH * self.done // self.total
        line = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {text[:50]}"
        self._clear()
        sys.stderr.write(line)
        sys.stderr.flush()
        self.drawn = len(line)

    def _clear(self) -> None:
        if self.shown and self.drawn:
            sys.stderr.write("\r" + " " * self.drawn + "\r")
            sys.stderr.flush()
            self.drawn = 0


def write_output(target: Path, data: bytes) -> None:
    """Write a result, turning the system's errno text into a line that names the file and what to do."""
    try:
        target.write_bytes(data)
    except OSError as error:
        reason = error.strerror or str(error)
        raise CommandLineError(f"{target}: cannot write this file ({reason}). Check that its folder exists and is "
                               "writable and that the disk has room, or choose another place with -o.") from None


def run(args: argparse.Namespace) -> list[dict]:
    photos = find_photos(args.photos)
    jobs = len(photos) * len(args.k)
    records = []
    progress = Progress(jobs)
    max_pixels = int(settings.get("MAX_PIXELS"))
    for photo in photos:
        progress.working_on(f"{photo.name}: decoding")
        prepared = load(photo, max_pixels)
        png24 = None
        if args.compare_png24:
            png24 = len(imaging.encode_rgb_png(prepared.decoded.rgb, prepared.decoded.alpha))
        for k in args.k:
            progress.working_on(f"{photo.name} k={k}")
            chosen = options.engine_options(vars(args), k=k, fmt=args.format)
            recolored = results.recolor(prepared, chosen, photo.stem)
            target = output_path(args, photo, k, jobs)
            write_output(target, recolored.rendered.data)
            records.append(record(photo, target, recolored, png24))
            progress.step()
            if not args.json:
                progress.say(summary_line(records[-1]))
    progress.finish()
    return records


def load(photo: Path, max_pixels: int) -> pipeline.Prepared:
    try:
        return pipeline.prepare(photo.read_bytes(), max_pixels)
    except imaging.ImageError as error:
        raise imaging.ImageError(error.code, f"{photo}: {error.message}") from None


def run_extra(args: argparse.Namespace) -> list[dict]:
    """--curve, --contact-sheet or --palette-format, for every photo."""
    from app import curve, palettes  # imported by the modes that use them, not by every run

    photos = find_photos(args.photos)
    max_pixels = int(settings.get("MAX_PIXELS"))
    records = []
    for photo in photos:
        prepared = load(photo, max_pixels)
        if args.curve:
            found = curve.error_curve(prepared.hist, args.color_space)
            records.append({"photo": str(photo), "unique_colors": prepared.hist.unique_colors, **found.as_json()})
            if args.k_given:  # -k with --curve: the exact figures at those k, under the estimate
                records[-1]["exact"] = [exact_point(prepared, k, args.color_space) for k in args.k]
            if not args.json:
                print(curve_table(records[-1]))
            continue
        if args.contact_sheet is not None:
            target = extra_path(args.contact_sheet, len(photos), f"{photo.stem}-contact-sheet.png")
            write_output(target, sheet.contact_sheet(prepared, args.ks or sheet.DEFAULT_KS, args.color_space,
                                                     args.dither, args.method))
            records.append({"photo": str(photo), "output": str(target), "ks": list(args.ks or sheet.DEFAULT_KS)})
            if not args.json:
                print(f"{target}: {photo.name} at k = {', '.join(map(str, records[-1]['ks']))}")
            continue
        if args.paint_by_number is not None:
            records += paint(args, photo, prepared, len(photos))
            continue
        for k in args.k:
            chosen = options.engine_options(vars(args), k=k)
            palette = palettes.palette_of(prepared, chosen)
            name = f"{photo.stem}-k{k}-palette.{args.palette_format}"
            target = extra_path(args.output, len(photos) * len(args.k), name)
            write_output(target, palettes.export(palette, args.palette_format, photo.stem))
            records.append({"photo": str(photo), "output": str(target), "k": k, "format": args.palette_format,
                            "colors": json.loads(palettes.to_json(palette))["colors"]})
            if not args.json:
                print(f"{target}: {len(palette.colors)} colors of {photo.name} at k = {k}")
    return records


def paint(args: argparse.Namespace, photo: Path, prepared: pipeline.Prepared, photos: int) -> list[dict]:
    """--paint-by-number: one template per k, PNG when the path ends in .png, else SVG."""
    from app import template_png, template_svg

    records = []
    min_region = args.template_min_region
    if min_region is None:
        min_region = paint_by_number.DEFAULT_MIN_REGION
    fmt = "png" if args.paint_by_number.suffix.lower() == ".png" else "svg"
    for k in args.k:
        target = extra_path(args.paint_by_number, photos * len(args.k), f"{photo.stem}-k{k}-paint-by-number.{fmt}")
        template = paint_by_number.make_template(prepared, k, args.color_space, min_region)
        if fmt == "svg":
            title = f"{photo.stem}: paint by number, {len(template.result.palette)} colors"
            data = template_svg.to_svg(template, title=title)
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
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandLineError(f"{folder}: cannot make this output folder ({error.strerror or error}). "
                               "Choose another place with -o.") from None
    return folder / name


def exact_point(prepared: pipeline.Prepared, k: int, color_space: str) -> dict:
    fit = quantize.find_palette(prepared.hist, k, color_space)
    return {"k": k, "colors": len(fit.palette), "psnr": None if fit.psnr == float("inf") else round(fit.psnr, 3),
            "delta_e": round(fit.delta_e, 4)}


def curve_table(rec: dict) -> str:
    lines = [f"{rec['photo']}: {rec['unique_colors']:,} colors; suggested k = {rec['suggested_k']} "
             "(an estimate: exact figures come with -k)", "   k   PSNR dB  mean dE2000"]
    for point in rec["points"]:
        psnr = "identical" if point["psnr"] is None else f"{point['psnr']:.2f}"
        mark = "  <- suggested" if point["k"] == rec["suggested_k"] else ""
        lines.append(f"{point['k']:4d} {psnr:>9} {point['delta_e']:12.2f}{mark}")
    for point in rec.get("exact", []):
        psnr = "identical" if point["psnr"] is None else f"PSNR {point['psnr']:.2f} dB"
        lines.append(f"k = {point['k']} exactly (as -k recolors): {psnr}, mean dE2000 {point['delta_e']:.2f}")
    return "\n".join(lines)


def record(photo: Path, target: Path, recolored: results.Recolored, png24: int | None) -> dict:
    """The same JSON as the API's answer (Recolored.as_json), plus where it came from and went."""
    extra = {} if png24 is None else {"png24_bytes": png24}
    return {"photo": str(photo), "output": str(target), **recolored.as_json(), **extra}


def summary_line(rec: dict) -> str:
    psnr = "identical" if rec["psnr"] is None else f"PSNR {rec['psnr']:.2f} dB"
    if rec["regions"]:
        psnr += f" (cleaned: {rec['regions']['before']:,} -> {rec['regions']['after']:,} regions)"
    png24 = f" (24-bit PNG {rec['png24_bytes']:,})" if "png24_bytes" in rec else ""
    return (
        f"{rec['output']}: {rec['original']['unique_colors']:,} colors -> {rec['colors']}, {psnr}, "
        f"mean dE2000 {rec['delta_e']:.2f}, {rec['result']['bytes']:,} bytes{png24}, "
        f"{sum(rec['timings'].values()):.0f} ms"
    )


# The exit status of a command whose reader went away (128 + SIGPIPE), as cat or grep give under pipefail.
BROKEN_PIPE_STATUS = 141


def uses_scikit_learn(args: argparse.Namespace) -> bool:
    """Whether this run's palettes may need scikit-learn (quantize.needs_scikit_learn); the curve and the
    contact sheet always may. Pillow's quantizers never."""
    if args.curve or args.contact_sheet is not None:
        return True
    if args.method != "kmeans" and args.palette_format is None and args.paint_by_number is None:
        return False
    return any(quantize.needs_scikit_learn(k, args.color_space) for k in args.k)


def main(argv: list[str] | None = None, prog: str = "python -m app") -> int:
    args = parse_args(argv, prog)
    libraries.one_blas_thread()  # as the server does: the same sums whatever ran before
    if uses_scikit_learn(args):  # otherwise it is never imported at all
        sys.setswitchinterval(BACKGROUND_IMPORT_SWITCH_SECONDS)
        libraries.preload_in_background()  # scikit-learn's import overlaps decoding and counting colors
    try:
        extra = (args.curve or args.contact_sheet is not None or args.palette_format is not None
                 or args.paint_by_number is not None)
        records = run_extra(args) if extra else run(args)
        if args.json:
            print(json.dumps(records if len(records) > 1 else records[0], indent=2), flush=True)
    except BrokenPipeError:
        # The reader (| head) has what it wanted: stop quietly, and keep the interpreter's
        # final flush of stdout from raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE_STATUS
    except CommandLineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (FileNotFoundError, imaging.ImageError, OSError) as error:
        print(f"error: {getattr(error, 'message', None) or error}", file=sys.stderr)
        return 1
    return 0


def console() -> None:
    """The kmeans-filter command an install puts on the PATH (pyproject.toml)."""
    raise SystemExit(main(prog="kmeans-filter"))
