import json
import re

import numpy as np
import pytest
from PIL import Image

from app import cli, sheet


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:60, 0:80]
    base = np.stack([x * 3.0, y * 4.0, np.full(x.shape, 90.0)], axis=-1)
    path = tmp_path / "beach.png"
    Image.fromarray(np.clip(base + rng.normal(0, 9, base.shape), 0, 255).astype(np.uint8)).save(path)
    return path


def run(argv, capsys) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_curve_prints_a_table_and_writes_nothing(photo, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run([photo, "--curve"], capsys)
    assert code == 0
    rows = [line.split() for line in out.splitlines() if re.match(r"\s*\d+\s", line)]
    assert [int(r[0]) for r in rows] == list(range(2, 33))
    psnr = [float(r[1]) for r in rows]
    assert all(b >= a - 0.05 for a, b in zip(psnr, psnr[1:]))
    suggested = int(re.search(r"suggested k = (\d+)", out).group(1))
    assert [int(r[0]) for r in rows if "<- suggested" in " ".join(r)] == [suggested]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["beach.png"]


def test_curve_json_matches_the_api_shape(photo, capsys):
    code, out, _ = run([photo, "--curve", "--json", "--color-space", "oklab"], capsys)
    assert code == 0
    body = json.loads(out)
    assert body["photo"] == str(photo)
    assert [p["k"] for p in body["points"]] == list(range(2, 33))
    assert 2 <= body["suggested_k"] <= 32


def test_curve_of_a_folder_gives_one_record_per_photo(photo, capsys, tmp_path):
    with Image.open(photo) as image:
        image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path / "other.png")
    code, out, _ = run([tmp_path, "--curve", "--json"], capsys)
    assert code == 0
    assert [path_name(r["photo"]) for r in json.loads(out)] == ["beach.png", "other.png"]


def path_name(text: str) -> str:
    return text.replace("\\", "/").rsplit("/", 1)[-1]


def test_contact_sheet_writes_one_png(photo, capsys, tmp_path):
    target = tmp_path / "sheet.png"
    code, out, _ = run([photo, "--contact-sheet", target, "--ks", "2,4,8"], capsys)
    assert code == 0
    assert out.strip() == f"{target}: beach.png at k = 2, 4, 8"
    with Image.open(target) as image:
        assert image.format == "PNG"
        # Four 80 x 60 tiles in a 2 x 2 grid with gaps and label strips.
        assert 160 < image.width < 200 and 120 < image.height


def test_contact_sheet_default_ks_and_folder_for_several_photos(photo, capsys, tmp_path):
    with Image.open(photo) as image:
        image.rotate(90, expand=True).save(tmp_path / "tall.png")
    out_dir = tmp_path / "sheets"
    code, out, _ = run([photo, tmp_path / "tall.png", "--contact-sheet", out_dir, "--json"], capsys)
    assert code == 0
    records = json.loads(out)
    assert [r["ks"] for r in records] == [list(sheet.DEFAULT_KS)] * 2
    assert sorted(p.name for p in out_dir.iterdir()) == ["beach-contact-sheet.png", "tall-contact-sheet.png"]


def test_palette_file_is_the_palette_of_the_image_run(photo, capsys, tmp_path):
    code, out, _ = run([photo, "-k", "6", "-o", tmp_path / "beach-k6.png", "--json"], capsys)
    assert code == 0
    expected = [c["hex"] for c in json.loads(out)["palette"]]
    target = tmp_path / "palette.css"
    code, out, _ = run([photo, "-k", "6", "--palette-format", "css", "-o", target], capsys)
    assert code == 0
    css = target.read_text()
    assert re.findall(r"--color-\d+: (#[0-9a-f]{6});", css) == expected


@pytest.mark.parametrize("fmt", ["json", "gpl", "png"])
def test_palette_formats_into_a_folder(photo, capsys, tmp_path, fmt):
    out_dir = tmp_path / "palettes"
    out_dir.mkdir()
    code, _, _ = run([photo, "-k", "3", "5", "--palette-format", fmt, "-o", out_dir], capsys)
    assert code == 0
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == [f"beach-k3-palette.{fmt}", f"beach-k5-palette.{fmt}"]
    if fmt == "json":
        assert json.loads((out_dir / names[1]).read_text())["k"] == 5
    elif fmt == "gpl":
        assert (out_dir / names[0]).read_text().startswith("GIMP Palette\nName: beach k3\n")
    else:
        with Image.open(out_dir / names[0]) as strip:
            assert len(strip.convert("RGB").getcolors()) <= 3


def test_palette_of_a_corpus_photo(corpus, capsys, tmp_path):
    target = tmp_path / "kodim.gpl"
    code, out, _ = run([corpus / "kodim23.png", "-k", "16", "--palette-format", "gpl", "-o", target], capsys)
    assert code == 0
    lines = [line for line in target.read_text().splitlines()[3:] if not line.startswith("#")]
    assert len(lines) == 16
    assert all(re.fullmatch(r"[ \d]{3} [ \d]{3} [ \d]{3}\t#[0-9a-f]{6} \d+\.\d\d%", line) for line in lines)


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--ks", "2,5"], "--ks goes with --contact-sheet"),
        (["--contact-sheet", "x.png", "--ks", "1,5"], "between 2 and 256, got 1"),
        (["--contact-sheet", "x.png", "--ks", "2,two"], "whole number between 2 and 256, got 'two'"),
        (["--contact-sheet", "x.png", "--ks", "3,3"], "twice"),
        (["--curve", "--palette-format", "css"], "not allowed with"),
        (["--palette-format", "svg"], "invalid choice"),
    ],
)
def test_bad_options_exit_with_a_message(photo, capsys, extra, words):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(photo), *extra])
    assert exit_info.value.code == 2
    assert words in capsys.readouterr().err


def test_missing_photo_is_an_error_not_a_traceback(tmp_path, capsys):
    code, _, err = run([tmp_path / "nope.jpg", "--curve"], capsys)
    assert code == 1 and "no such file" in err


def test_plain_runs_are_unchanged(photo, capsys, tmp_path):
    target = tmp_path / "out.png"
    code, out, _ = run([photo, "-k", "4", "-o", target], capsys)
    assert code == 0 and out.startswith(f"{target}: ")
    with Image.open(target) as image:
        assert image.mode == "P" and len(image.getcolors()) <= 4
