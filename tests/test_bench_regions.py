"""bench/bench_regions.py and its peer, the classic facet reduction, on small generated images (no timing)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from app import pipeline
from bench import bench_regions
from bench.classic_facets import classic_clean


def photo(seed: int = 0) -> pipeline.Prepared:
    rng = np.random.default_rng(seed)
    pixels = np.kron(rng.integers(0, 256, (5, 6, 3)), np.ones((8, 8, 1)))
    pixels = np.clip(pixels + rng.normal(0, 30, pixels.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return pipeline.prepare(buffer.getvalue(), 10**6)


def test_the_classic_peer_leaves_no_small_region_and_keeps_the_palette():
    prepared = photo()
    fit, indices = pipeline.palette_and_indices(prepared, pipeline.Options(k=5))
    indices = indices.reshape(prepared.decoded.height, prepared.decoded.width)
    cleaned = classic_clean(indices, fit.palette, 12)
    assert set(np.unique(cleaned)) <= set(range(len(fit.palette)))
    for value in np.unique(cleaned):
        labelled, _ = ndimage.label(cleaned == value)
        assert np.bincount(labelled.ravel())[1:].min() >= 12


def test_the_comparison_rows_and_tables():
    rows = bench_regions.compare("generated", photo(1), [4, 6], [5, 20])
    assert len(rows) == 4
    for row in rows:
        assert row["ours"] <= row["before"] and row["classic"] <= row["before"]
        assert row["base_psnr"] >= row["ours_psnr"] - 1.0  # the refit may win back a little, never much
    detail = bench_regions.detail_table(rows)
    summary, verdicts = bench_regions.summary_table(rows)
    assert "generated" in detail and len(summary.splitlines()) == 2 + 4
    assert any(line.startswith("20 px: PSNR ours >= classic") for line in verdicts)


def test_the_stage_table_names_each_step_of_a_cleaning(tmp_path):
    rng = np.random.default_rng(2)
    pixels = np.clip(np.kron(rng.integers(0, 256, (6, 7, 3)), np.ones((9, 9, 1))) + rng.normal(0, 30, (54, 63, 3)),
                     0, 255).astype(np.uint8)
    path = tmp_path / "generated.png"
    Image.fromarray(pixels).save(path)
    lines = bench_regions.stages_table([path], 6, [5, 40], repeat=1).splitlines()
    header = lines[0].split()
    for step in ("index", "labelling", "borders", "small", "merging", "rest", "total"):
        assert step in header
    assert len(lines) == 2 + 2 and all(line.startswith("generated.png") for line in lines[2:])
    assert bench_regions.cleaning.label_regions.__module__ == "app.regions"  # the steps are put back


def test_the_stage_table_refuses_a_step_the_cleaning_never_calls(tmp_path, monkeypatch):
    path = tmp_path / "generated.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(path)
    # Given the photo's colors' entries, clean() never builds them from a lookup table.
    monkeypatch.setattr(bench_regions, "STAGES", {**bench_regions.STAGES, "_labels_of_colors": "colors' entries"})
    with pytest.raises(RuntimeError, match="colors' entries"):
        bench_regions.stages_table([path], 4, [5], repeat=1)
    assert bench_regions.cleaning._labels_of_colors.__module__ == "app.cleaning"
