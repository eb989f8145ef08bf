"""The real photos in ../shared/corpus: Kodak PNGs, scikit-learn's JPEGs and 9-12 MP camera JPEGs.

The 12 MP work is kept to a few tests (module-scoped fixtures prepare each big photo once).
"""

import io

import numpy as np
import pytest
from PIL import Image

from app import histograms, imaging, pipeline

BIG = 100_000_000
SMALL_PHOTOS = ["kodim01.png", "kodim03.png", "kodim05.png", "kodim07.png", "kodim13.png", "kodim15.png",
                "kodim20.png", "kodim23.png", "china.jpg", "flower.jpg"]


def decode_output(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def colors_of(rgb: np.ndarray) -> set[int]:
    return set(np.unique(histograms.pack(rgb)).tolist())


def palette_keys(rendered: pipeline.Rendered) -> set[int]:
    return set(histograms.pack(rendered.result.palette).tolist())


@pytest.fixture(scope="module")
def xiaomi(corpus) -> pipeline.Prepared:
    return pipeline.prepare((corpus / "cam_xiaomi_mi9t_12mp_orient6.jpg").read_bytes(), BIG)


def test_the_corpus_is_all_there(corpus):
    for name in SMALL_PHOTOS + ["cam_xiaomi_mi9t_12mp_orient6.jpg", "cam_olympus_ep3_12mp.jpg", "cam_nokia83_9mp.jpg"]:
        assert (corpus / name).is_file(), name


@pytest.mark.parametrize("name", SMALL_PHOTOS)
def test_small_photo_at_k_8_has_exactly_its_palette(corpus, name):
    data = (corpus / name).read_bytes()
    prepared = pipeline.prepare(data, BIG)
    with Image.open(corpus / name) as source:
        width, height = source.size
        original = np.asarray(source.convert("RGB"))
    assert (prepared.decoded.width, prepared.decoded.height) == (width, height)
    assert prepared.hist.pixels == width * height
    assert prepared.hist.unique_colors == len(np.unique(histograms.pack(original)))
    rendered = pipeline.render(prepared, pipeline.Options(k=8))
    out = decode_output(rendered.data)
    assert out.shape == (height, width, 3)
    assert colors_of(out) == palette_keys(rendered) and len(rendered.result.palette) == 8
    assert rendered.data[24] == 4  # bit depth
    assert np.all(np.diff(rendered.result.shares) <= 0) and rendered.result.shares.sum() == pytest.approx(1)
    assert 18 < rendered.result.psnr < 40


def test_kodak_png_at_small_k_is_far_smaller_than_a_24_bit_png(corpus):
    prepared = pipeline.prepare((corpus / "kodim23.png").read_bytes(), BIG)
    png24 = imaging.encode_rgb_png(prepared.decoded.rgb)
    sizes = {k: len(pipeline.render(prepared, pipeline.Options(k=k)).data) for k in (2, 4, 16)}
    assert sizes[2] < sizes[4] < sizes[16]
    assert sizes[16] * 4 < len(png24), (sizes, len(png24))
    assert sizes[16] < prepared.source_bytes


def test_k_bit_depths_on_a_real_photo(corpus):
    prepared = pipeline.prepare((corpus / "kodim03.png").read_bytes(), BIG)
    for k, bits in ((2, 1), (4, 2), (16, 4), (256, 8)):
        rendered = pipeline.render(prepared, pipeline.Options(k=k))
        assert rendered.data[24] == bits == rendered.bit_depth
        assert len(rendered.result.palette) == k


def test_more_colors_give_higher_psnr_on_a_real_photo(corpus):
    prepared = pipeline.prepare((corpus / "flower.jpg").read_bytes(), BIG)
    figures = [pipeline.render(prepared, pipeline.Options(k=k)).result for k in (2, 5, 10, 24, 64)]
    psnrs = [r.psnr for r in figures]
    delta_es = [r.delta_e for r in figures]
    assert psnrs == sorted(psnrs) and psnrs[-1] - psnrs[0] > 10
    assert delta_es == sorted(delta_es, reverse=True)


def test_determinism_on_a_real_photo_across_fresh_prepares(corpus):
    data = (corpus / "china.jpg").read_bytes()
    first = pipeline.render(pipeline.prepare(data, BIG), pipeline.Options(k=24, color_space="oklab")).data
    second = pipeline.render(pipeline.prepare(data, BIG), pipeline.Options(k=24, color_space="oklab")).data
    assert first == second


def test_kmeans_is_at_least_as_good_as_median_cut_on_kodak(corpus):
    """The issue's quality target (median PSNR), on four varied Kodak photos at k=16; bench/ does the full grid."""
    ours, median_cut = [], []
    for name in ("kodim01.png", "kodim05.png", "kodim13.png", "kodim23.png"):
        prepared = pipeline.prepare((corpus / name).read_bytes(), BIG)
        ours.append(pipeline.render(prepared, pipeline.Options(k=16)).result.psnr)
        median_cut.append(pipeline.render(prepared, pipeline.Options(k=16, method="mediancut")).result.psnr)
    assert np.median(ours) >= np.median(median_cut), (ours, median_cut)


def test_the_xiaomi_portrait_comes_out_3000_wide_and_4000_high(xiaomi):
    assert (xiaomi.decoded.width, xiaomi.decoded.height) == (3000, 4000)
    assert xiaomi.decoded.source_format == "JPEG"
    assert xiaomi.hist.pixels == 12_000_000
    assert xiaomi.hist.unique_colors == len(np.unique(xiaomi.keys))


def test_the_xiaomi_result_is_a_portrait_with_at_most_k_colors(xiaomi):
    rendered = pipeline.render(xiaomi, pipeline.Options(k=16))
    assert (rendered.width, rendered.height) == (3000, 4000)
    with Image.open(io.BytesIO(rendered.data)) as image:
        assert image.size == (3000, 4000) and image.mode == "P"
        out = np.asarray(image.convert("RGB"))
    assert colors_of(out) == palette_keys(rendered) and len(rendered.result.palette) == 16
    assert rendered.result.psnr > 25
    assert len(rendered.data) < xiaomi.source_bytes


def test_the_xiaomi_preview_keeps_the_full_palette(xiaomi):
    full = pipeline.render(xiaomi, pipeline.Options(k=5, max_side=200))
    assert (full.width, full.height) == (150, 200)
    again = pipeline.render(xiaomi, pipeline.Options(k=5, max_side=100))
    np.testing.assert_array_equal(full.result.palette, again.result.palette)


def test_an_upright_12_mp_photo_stays_landscape(corpus):
    prepared = pipeline.prepare((corpus / "cam_olympus_ep3_12mp.jpg").read_bytes(), BIG)
    assert (prepared.decoded.width, prepared.decoded.height) == (4032, 3024)
    rendered = pipeline.render(prepared, pipeline.Options(k=2, max_side=400))
    assert (rendered.width, rendered.height) == (400, 300)
    assert len(rendered.result.palette) == 2 and rendered.result.shares.sum() == pytest.approx(1)
