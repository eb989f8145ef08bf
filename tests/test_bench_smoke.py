"""The benchmark's own code on one tiny generated image, so it cannot rot unnoticed.

Fast and offline: no corpus, no timing claims. Command-line peers are
skipped when their binary is absent (CI may not install pngquant or
ImageMagick); everything else must run.
"""

import io
import re

import numpy as np
import pytest
from PIL import Image

from app import histograms, quantize, summary
from bench import bench_quantize, jobs, peers, report, runs
from testsupport.needs import require

K = 4


@pytest.fixture(scope="module")
def photo() -> peers.Photo:
    # A smooth gradient plus a little noise: thousands of distinct colors in 1,536 pixels,
    # enough for the recipe's 1,000-pixel sample.
    y, x = np.mgrid[0:32, 0:48]
    rng = np.random.default_rng(0)
    rgb = np.stack([x * 5, y * 7, (x + y) * 3], axis=2) + rng.integers(0, 8, (32, 48, 3))
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    return peers.Photo("tiny", rgb, peers.png_of(rgb))


@pytest.mark.parametrize("method", peers.METHODS, ids=lambda m: m.name)
def test_every_method_gives_at_most_k_colors_and_a_psnr(method, photo):
    require(method.available(), f"{method.binary or method.module} is not installed",
            "apt-get install -y imagemagick pngquant; pip install -r requirements-dev.txt")
    outcome = method.run(photo, K, 30.0)
    assert outcome.approx.shape == photo.rgb.shape
    assert outcome.approx.dtype == np.uint8
    assert outcome.seconds >= 0
    assert 1 <= jobs.colors_used(outcome.approx) <= K
    assert 5 < jobs.psnr(photo.rgb, outcome.approx) < 60


def test_psnr_matches_the_engine(photo):
    keys = histograms.pack(photo.rgb)
    hist = histograms.histogram(keys)
    result = quantize.find_palette(hist, K)
    approx = result.palette[summary.index_map(keys, hist, result)].reshape(photo.rgb.shape)
    assert jobs.psnr(photo.rgb, approx) == pytest.approx(result.psnr, abs=1e-9)
    assert jobs.psnr(photo.rgb, photo.rgb) == float("inf")


def test_whole_jobs_and_decode(photo):
    buffer = io.BytesIO()
    Image.fromarray(photo.rgb).save(buffer, "PNG")
    data = buffer.getvalue()
    assert jobs.pillow_decode_seconds(data) >= 0
    for job in (jobs.ours_whole_job(data, K), jobs.recipe_whole_job(data, K)):
        assert job.total >= job.decode + job.quantize
        assert 5 < job.psnr < 60
        assert job.png_bytes > 0


def test_sweep_and_tables(photo, tmp_path):
    path = tmp_path / "tiny.png"
    Image.fromarray(photo.rgb).save(path)
    args = bench_quantize.parse_args(["--corpus", str(tmp_path), "--ks", str(K), "--mbk-ks", str(K)])
    rows = runs.run_sweep(args, {path: photo.pixels}, deadline=float("inf"))
    by_method = {r.method: r for r in rows}
    assert by_method["ours"].status == "ok"
    assert by_method["recipe"].status == "ok"
    methods = [(m.name, m.label) for m in args.methods]
    assert "tiny.png" in report.per_photo_table(rows, methods[1:])
    assert report.psnr_table(rows, methods).splitlines()[2].startswith(str(K))
    assert report.delta_table(rows, methods[1:])
    bench_quantize.print_sweep(rows, args, {path: photo.pixels})


def test_budget_skips_instead_of_running(photo, tmp_path):
    path = tmp_path / "tiny.png"
    Image.fromarray(photo.rgb).save(path)
    args = bench_quantize.parse_args(["--corpus", str(tmp_path), "--ks", str(K)])
    rows = runs.run_sweep(args, {path: photo.pixels}, deadline=0.0)
    assert {r.status for r in rows} == {"skipped (budget)"}


def test_issue_10_benchmarks_run_their_peers_on_a_tiny_photo(photo):
    from bench import bench_api, bench_per_k

    require(peers.BY_NAME["libimagequant"].available(), "imagequant is not installed",
            "pip install -r requirements-dev.txt")
    png = peers.png_of(photo.rgb)
    job = bench_api.libimagequant_job(png, K)
    assert Image.open(io.BytesIO(job)).mode == "P"
    assert 5 < bench_api.psnr_of(png, job) < 60
    assert bench_api.floor_seconds(png, job) > 0
    ms, fit = bench_per_k.best_ms(lambda: quantize.find_palette(histograms.histogram(histograms.pack(photo.rgb)), K), 2)
    assert ms > 0 and len(fit.palette) == K


def test_the_perceptual_per_k_bench_runs_this_tree_beside_a_revision(tmp_path, capsys):
    from bench import bench_perceptual_per_k

    y, x = np.mgrid[0:24, 0:32]
    rgb = np.clip(np.stack([x * 8, y * 10, (x + y) * 4], axis=2), 0, 255).astype(np.uint8)
    path = tmp_path / "tiny.png"
    Image.fromarray(rgb).save(path)
    bench_perceptual_per_k.main(["--against", "HEAD", "--photo", str(path), "--ks", "3", "--spaces", "lab",
                                 "--repeat", "1"])
    table = capsys.readouterr().out
    assert "HEAD" in table and "this tree" in table
    # The lab row at k = 3: both engines' times and mean CIEDE2000 measured (4 decimals each).
    assert re.search(r"^lab\s+3\s.*\s\d+\.\d{4}\s+\d+\.\d{4}\s*$", table, re.MULTILINE), table
