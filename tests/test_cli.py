"""The command line, `python -m app`, run as a real subprocess like a user would."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "app", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def run_main(*args, cwd: Path, mp, cap) -> tuple[int, str, str]:
    """The same command in this process: quicker than a subprocess for the checks of what it writes."""
    from app.cli import main

    mp.chdir(cwd)
    try:
        code = main([str(a) for a in args])
    except SystemExit as exit_:  # argparse refusals
        code = exit_.code
    captured = cap.readouterr()
    return code, captured.out, captured.err


def photo(path: Path, seed=0, shape=(60, 80), fmt=None) -> Path:
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 / w, y * 255 / h, 128 + 60 * np.sin(x / 5)], axis=-1)
    rgb = np.clip(rgb + rng.normal(0, 10, rgb.shape), 0, 255).astype(np.uint8)
    Image.fromarray(rgb).save(path, fmt)
    return path


def opened(path: Path) -> Image.Image:
    return Image.open(io.BytesIO(Path(path).read_bytes()))


def colors_of(path: Path) -> set:
    rgb = np.asarray(opened(path).convert("RGB")).reshape(-1, 3)
    return {tuple(c) for c in np.unique(rgb, axis=0).tolist()}


def assert_one_clean_error_line(result: subprocess.CompletedProcess, *named: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for text in named:
        assert text in lines[0]


def test_writes_the_output_file(tmp_path):
    source = photo(tmp_path / "cat.png")
    result = cli(source, "-k", "16", "-o", "out.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out.png"
    image = opened(out)
    assert image.format == "PNG" and image.size == (80, 60) and image.mode == "P"
    assert len(colors_of(out)) <= 16
    assert "out.png" in result.stdout  # a summary line
    assert result.stderr == ""
    # a second process gives the same bytes: nothing depends on hash seeds, threads or state
    assert cli(source, "-k", "16", "-o", "again.png", cwd=tmp_path).returncode == 0
    assert (tmp_path / "again.png").read_bytes() == out.read_bytes()


def test_json_prints_palette_figures_and_timings(tmp_path, monkeypatch, capsys):
    source = photo(tmp_path / "cat.png")
    code, out, err = run_main(source, "-k", "6", "-o", "out.png", "--json", "--compare-png24", cwd=tmp_path,
                              mp=monkeypatch, cap=capsys)
    assert code == 0, err
    record = json.loads(out)
    assert record["k"] == 6 and record["colors"] == 6
    assert record["width"] == 80 and record["height"] == 60 and record["original"]["pixels"] == 4800
    assert (record["original"]["width"], record["original"]["height"]) == (80, 60)
    rgb = np.asarray(opened(source).convert("RGB")).reshape(-1, 3)
    assert record["original"]["unique_colors"] == len(np.unique(rgb, axis=0))
    palette = record["palette"]
    assert len(palette) == 6
    assert all(set(p) == {"hex", "share"} for p in palette)
    shares = [p["share"] for p in palette]
    assert shares == sorted(shares, reverse=True) and sum(shares) == pytest.approx(1.0, abs=1e-5)
    written = {"#%02x%02x%02x" % c for c in colors_of(tmp_path / "out.png")}
    assert written == {p["hex"] for p in palette}
    assert isinstance(record["psnr"], float) and record["psnr"] > 10
    assert isinstance(record["delta_e"], float) and record["delta_e"] > 0
    assert record["original"]["bytes"] == source.stat().st_size
    assert record["result"]["bytes"] == (tmp_path / "out.png").stat().st_size
    assert record["png24_bytes"] > record["result"]["bytes"]
    assert record["result"]["bit_depth"] == 4
    assert {"decode_ms", "quantize_ms", "encode_ms"} <= set(record["timings"])


def test_several_k_write_one_file_each(tmp_path):
    source = photo(tmp_path / "cat.png")
    result = cli(source, "-k", "2", "5", "10", "-o", "out", cwd=tmp_path)  # the example, for real
    assert result.returncode == 0, result.stderr
    for k in (2, 5, 10):
        out = tmp_path / "out" / f"cat-k{k}.png"
        assert out.is_file()
        assert len(colors_of(out)) == k
    assert len(list((tmp_path / "out").iterdir())) == 3
    assert len(result.stdout.strip().splitlines()) == 3


def test_a_folder_of_photos_writes_one_file_per_photo_and_k(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    photo(folder / "a.png", seed=1)
    photo(folder / "b.jpg", seed=2)
    photo(folder / "c.webp", seed=3)
    (folder / "notes.txt").write_text("not a photo, and skipped by its suffix")
    code, out, err = run_main(folder, "-k", "3", "4", "-o", "out", "--json", cwd=tmp_path, mp=monkeypatch, cap=capsys)
    assert code == 0, err
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["a-k3.png", "a-k4.png", "b-k3.png", "b-k4.png", "c-k3.png", "c-k4.png"]
    records = json.loads(out)
    assert [(Path(r["photo"]).name, r["k"]) for r in records] == [
        ("a.png", 3), ("a.png", 4), ("b.jpg", 3), ("b.jpg", 4), ("c.webp", 3), ("c.webp", 4)]


def test_default_output_is_the_current_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "in").mkdir()
    source = photo(tmp_path / "in" / "dog.png")
    code, _, err = run_main(source, "-k", "4", cwd=tmp_path, mp=monkeypatch, cap=capsys)
    assert code == 0, err
    assert (tmp_path / "dog-k4.png").is_file()


@pytest.mark.parametrize("fmt, suffix, pil", [("jpeg", ".jpg", "JPEG"), ("webp", ".webp", "WEBP")])
def test_other_output_formats(tmp_path, monkeypatch, capsys, fmt, suffix, pil):
    source = photo(tmp_path / "cat.png")
    args = (source, "-k", "4", "5", "--format", fmt, "-o", "out")
    code, _, err = run_main(*args, cwd=tmp_path, mp=monkeypatch, cap=capsys)
    assert code == 0, err
    assert opened(tmp_path / "out" / f"cat-k4{suffix}").format == pil
    assert opened(tmp_path / "out" / f"cat-k5{suffix}").format == pil


def test_a_bad_path_exits_non_zero_with_one_line(tmp_path):
    result = cli(tmp_path / "missing.jpg", "-k", "4", cwd=tmp_path)
    assert_one_clean_error_line(result, "missing.jpg")
    assert result.stdout == ""


def test_a_file_that_is_not_an_image_exits_non_zero_with_one_line(tmp_path):
    fake = tmp_path / "fake.jpg"
    fake.write_text("hello, I am text with a .jpg name")
    result = cli(fake, "-k", "4", cwd=tmp_path)
    assert_one_clean_error_line(result, "fake.jpg")
    assert not list(tmp_path.glob("fake-k*"))


def test_a_truncated_image_exits_non_zero_with_one_line(tmp_path, monkeypatch, capsys):
    whole = photo(tmp_path / "whole.png").read_bytes()
    broken = tmp_path / "broken.png"
    broken.write_bytes(whole[: len(whole) // 2])
    code, out, err = run_main(broken, "-k", "4", cwd=tmp_path, mp=monkeypatch, cap=capsys)
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and "broken.png" in err


def test_an_empty_folder_exits_non_zero_with_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "empty").mkdir()
    code, out, err = run_main(tmp_path / "empty", cwd=tmp_path, mp=monkeypatch, cap=capsys)
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and "empty" in err


def test_k_out_of_range_exits_non_zero_naming_it(tmp_path):
    source = photo(tmp_path / "cat.png")
    result = cli(source, "-k", "4", "257", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "got 257" in result.stderr
    assert not list(tmp_path.glob("cat-k*"))  # refused before any work


@pytest.mark.parametrize("k", ["1", "0", "-1", "many", "2.5"])
def test_other_bad_k_exit_non_zero_naming_it(tmp_path, monkeypatch, capsys, k):
    source = photo(tmp_path / "cat.png")
    code, _, err = run_main(source, "-k", k, cwd=tmp_path, mp=monkeypatch, cap=capsys)
    assert code not in (0, None)
    assert k in err.splitlines()[-1]


def test_help_describes_the_options(tmp_path, monkeypatch, capsys):
    code, out, _ = run_main("--help", cwd=tmp_path, mp=monkeypatch, cap=capsys)
    assert code == 0
    for option in ("-k", "-o", "--json", "--format"):
        assert option in out


def test_exif_rotated_photo_is_written_upright(tmp_path, monkeypatch, capsys):
    exif = Image.Exif()
    exif[0x0112] = 6
    source = tmp_path / "portrait.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (80, 40), (200, 30, 30)).save(buffer, "JPEG", exif=exif.tobytes())
    source.write_bytes(buffer.getvalue())
    assert run_main(source, "-k", "2", "-o", "out.png", cwd=tmp_path, mp=monkeypatch, cap=capsys)[0] == 0
    assert opened(tmp_path / "out.png").size == (40, 80)


def test_a_batch_shows_a_progress_bar_on_a_terminal(tmp_path, monkeypatch, capsys):
    from app import cli

    source = photo(tmp_path / "cat.png")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(cli.sys, "stderr", terminal)
    code, out, _ = run_main(source, "-k", "2", "3", "-o", "out", cwd=tmp_path, mp=monkeypatch, cap=capsys)
    assert code == 0
    bar = terminal.getvalue()
    assert "2/2" in bar and "#" in bar and bar.endswith("\n")
    assert "2/2" not in out  # the bar never mixes into the output


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path, monkeypatch, capsys):
    source = photo(tmp_path / "cat.png")
    code, _, err = run_main(source, "-k", "2", "3", "-o", "out", cwd=tmp_path, mp=monkeypatch, cap=capsys)
    assert code == 0 and err == ""


def test_a_photo_over_the_pixel_limit_exits_non_zero_with_one_line(tmp_path, monkeypatch, capsys):
    source = photo(tmp_path / "cat.png")
    monkeypatch.setenv("MAX_PIXELS", "1000")
    code, out, err = run_main(source, "-k", "4", cwd=tmp_path, mp=monkeypatch, cap=capsys)
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and "cat.png" in err and "megapixels" in err


def test_an_output_folder_that_cannot_be_written_exits_with_one_line(tmp_path, monkeypatch, capsys):
    source = photo(tmp_path / "cat.png")
    args = (source, "-k", "4", "-o", tmp_path / "missing" / "out.png")
    code, _, err = run_main(*args, cwd=tmp_path, mp=monkeypatch, cap=capsys)
    assert code != 0
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_min_region_cleans_and_reports_regions(tmp_path, monkeypatch, capsys):
    from scipy import ndimage

    source = photo(tmp_path / "p.png", seed=2)
    code, out, _ = run_main(source, "-k", "5", "--min-region", "30", "-o", tmp_path / "c.png", "--json",
                            cwd=tmp_path, mp=monkeypatch, cap=capsys)
    assert code == 0
    record = json.loads(out)
    assert record["regions"]["after"] < record["regions"]["before"]
    with Image.open(tmp_path / "c.png") as image:
        indices = np.asarray(image)
    for value in np.unique(indices):
        labelled, _ = ndimage.label(indices == value)
        assert np.bincount(labelled.ravel())[1:].min() >= 30


@pytest.mark.parametrize("args, message", [(["--min-region", "-3"], "min_region must be between"),
                                           (["--min-region", "9", "--dither", "floyd-steinberg"], "--dither")])
def test_bad_min_region_is_refused_with_its_reason(tmp_path, monkeypatch, capsys, args, message):
    code, _, err = run_main(photo(tmp_path / "p.png"), *args, cwd=tmp_path, mp=monkeypatch, cap=capsys)
    assert code == 2 and message in err


def test_paint_by_number_writes_an_svg_template_and_a_png(tmp_path, monkeypatch, capsys):
    import xml.etree.ElementTree as ET

    source = photo(tmp_path / "p.png", seed=1)
    code, out, _ = run_main(source, "-k", "4", "--paint-by-number", tmp_path / "t.svg", cwd=tmp_path,
                            mp=monkeypatch, cap=capsys)
    assert code == 0 and "regions in" in out
    root = ET.parse(tmp_path / "t.svg").getroot()
    groups = [g.get("id") for g in root.findall("{http://www.w3.org/2000/svg}g")]
    assert groups == ["colors", "outlines", "numbers", "legend"]
    code, _, _ = run_main(source, "-k", "4", "--paint-by-number", tmp_path / "t.png", "--min-region", "800",
                          cwd=tmp_path, mp=monkeypatch, cap=capsys)
    assert code == 0
    with Image.open(tmp_path / "t.png") as image:
        assert image.format == "PNG" and max(image.size) >= 2400
    assert not (tmp_path / "p-k4.png").exists(), "a template run writes no recolored image"


def test_the_24_bit_png_is_encoded_only_when_asked_for(tmp_path, monkeypatch, capsys):
    from app import imaging

    source = photo(tmp_path / "cat.png")
    calls = []
    original = imaging.encode_rgb_png
    monkeypatch.setattr(imaging, "encode_rgb_png", lambda *a, **kw: calls.append(1) or original(*a, **kw))
    code, out, _ = run_main(source, "-k", "4", "-o", "out.png", cwd=tmp_path, mp=monkeypatch, cap=capsys)
    assert code == 0 and calls == [] and "24-bit" not in out
    code, out, _ = run_main(source, "-k", "4", "-o", "out.png", "--compare-png24", cwd=tmp_path, mp=monkeypatch,
                            cap=capsys)
    assert code == 0 and calls == [1] and "24-bit PNG" in out


class SharedTerminal:
    """stdout and stderr of one terminal: both write, in order, to the same screen."""

    def __init__(self):
        self.text = ""

    def stream(self):
        screen = self

        class Stream(io.StringIO):
            def isatty(self) -> bool:
                return True

            def write(self, text: str) -> int:
                screen.text += text
                return len(text)

        return Stream()

    def lines(self) -> list[str]:
        """What the screen shows: a carriage return lets the rest of the line overwrite what stood there."""
        shown = []
        for raw in self.text.split("\n"):
            line = ""
            for part in raw.split("\r"):
                line = part + line[len(part):]
            shown.append(line.rstrip())
        return shown


def test_on_a_terminal_summary_lines_stand_alone_and_the_count_is_right(tmp_path, monkeypatch):
    from app import cli

    first, second = photo(tmp_path / "a.png"), photo(tmp_path / "b.png", seed=1)
    screen = SharedTerminal()
    monkeypatch.setattr(cli.sys, "stdout", screen.stream())
    monkeypatch.setattr(cli.sys, "stderr", screen.stream())
    monkeypatch.chdir(tmp_path)
    assert cli.main([str(first), str(second), "-k", "2", "3", "-o", "out"]) == 0
    lines = [line for line in screen.lines() if line]
    summaries = [line for line in lines if "colors ->" in line]
    assert len(summaries) == 4
    assert all(line.startswith("out/") for line in summaries)  # never after the bar's text
    assert lines[-1].startswith("[") and lines[-1].endswith("4/4 done")
    assert not any("2/4 done" in line for line in lines)  # "done" only when everything is


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for seed in range(40):  # some 100 kB of JSON: more than a pipe holds, so the writer meets the closed end
        photo(folder / f"p{seed:02d}.png", seed=seed, shape=(12, 16))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = f"{sys.executable} -m app {folder} --curve --json | head -c 300"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert len(result.stdout) == 300
    assert result.stderr == ""  # no BrokenPipeError, no "Exception ignored"
    assert result.returncode == 141  # as cat or grep end under pipefail


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_a_write_error_names_the_file_and_says_what_to_do(tmp_path, monkeypatch, capsys):
    source = photo(tmp_path / "cat.png")
    code, out, err = run_main(source, "-k", "4", "-o", "/dev/full", cwd=tmp_path, mp=monkeypatch, cap=capsys)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "/dev/full" in err and "No space left on device" in err and "-o" in err
    assert not err.startswith("error: [Errno")


def test_help_describes_every_option_with_its_default(capsys):
    from app import cli

    with pytest.raises(SystemExit):
        cli.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag, default in (("-k", "16"), ("--format", "png"), ("--color-space", "rgb"), ("--dither", "none"),
                          ("--method", "kmeans")):
        start = text.index(f" {flag} ")
        assert f"default: {default}" in text[start:start + 400], flag


def test_curve_with_k_also_gives_the_exact_figures_at_that_k(tmp_path, monkeypatch, capsys):
    from app import pipeline, quantize

    source = photo(tmp_path / "cat.png")
    code, out, _ = run_main(source, "--curve", "-k", "8", cwd=tmp_path, mp=monkeypatch, cap=capsys)
    assert code == 0
    exact = quantize.find_palette(pipeline.prepare(source.read_bytes(), 10**8).hist, 8)
    assert f"k = 8 exactly (as -k recolors): PSNR {exact.psnr:.2f} dB, mean dE2000 {exact.delta_e:.2f}" in out
    code, out, _ = run_main(source, "--curve", "-k", "8", "--json", cwd=tmp_path, mp=monkeypatch, cap=capsys)
    assert json.loads(out)["exact"] == [{"k": 8, "colors": 8, "psnr": round(exact.psnr, 3),
                                         "delta_e": round(exact.delta_e, 4)}]


def test_an_install_puts_a_kmeans_filter_command_that_runs_from_anywhere(tmp_path):
    """pip builds the project (offline, with the setuptools the venv has) and installs it; the command runs elsewhere."""
    import shutil

    source_tree = tmp_path / "src"
    shutil.copytree(ROOT / "app", source_tree / "app", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "requirements.txt", "README.md"):
        shutil.copy(ROOT / name, source_tree / name)
    target = tmp_path / "installed"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
           "--target", str(target), str(source_tree)]
    built = subprocess.run(pip, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    command = target / "bin" / "kmeans-filter"
    assert command.is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    image = photo(elsewhere / "cat.png")
    env = {**os.environ, "PYTHONPATH": str(target)}  # as site-packages would be; the repository is not on the path
    result = subprocess.run([str(command), image.name, "-k", "5"], cwd=elsewhere, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (elsewhere / "cat-k5.png").is_file() and "cat-k5.png" in result.stdout
    usage = subprocess.run([str(command), "--help"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert usage.stdout.startswith("usage: kmeans-filter")


@pytest.mark.parametrize("args, uses", [
    (["-k", "24"], True),  # MiniBatchKMeans competes at clustering.MBK_KS
    (["-k", "16"], False),
    (["-k", "8", "24"], True),
    (["-k", "128", "256"], False),
    (["-k", "256", "--color-space", "lab"], True),
    (["-k", "8", "--method", "mediancut"], False),
    (["--curve"], True),
])
def test_scikit_learn_is_imported_only_by_runs_whose_palettes_may_need_it(args, uses):
    from app import cli as command_line

    assert command_line.uses_scikit_learn(command_line.parse_args(["photo.png", *args])) is uses


def test_a_run_at_large_k_in_rgb_never_imports_scikit_learn(tmp_path):
    source = photo(tmp_path / "in.png", shape=(40, 50))
    probe = ("import runpy, sys; sys.argv = ['app', %r, '-k', '200', '-o', %r]\n"
             "try:\n    runpy.run_module('app', run_name='__main__')\nexcept SystemExit as end:\n    assert end.code == 0\n"
             "assert 'sklearn' not in sys.modules, 'imported for nothing'\n") % (str(source), str(tmp_path / "out.png"))
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.png").exists()
