"""The explore blueprint (app/explore.py): POST /api/curve, /api/contact-sheet and /api/palette."""

import io
import json
import logging
import re

import numpy as np
import pytest
from PIL import GimpPaletteFile, Image

from app import pipeline, sheet

CSS_LINE = re.compile(r"--color-(\d+):\s*(#[0-9a-f]{6});\s*/\*\s*([\d.]+)%\s*\*/")


def photo_bytes(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, np.full(x.shape, 128.0)], axis=-1)
    rgb = np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    return buffer.getvalue()


def post(client, path: str, **kwargs):
    """POST and close the response.

    The test client spools uploads over 500 KB to a temporary file, and only a
    response made with follow_redirects=True closes it (Werkzeug 3.1).
    """
    response = client.post(path, follow_redirects=True, **kwargs)
    response.close()
    return response


def upload(data: bytes | None = None, name: str = "photo.png") -> dict:
    return {"image": (io.BytesIO(photo_bytes() if data is None else data), name)}


def image_id(client, data: bytes | None = None) -> str:
    answer = post(client, "/api/quantize", data={**upload(data), "k": "4"}, headers={"Accept": "application/json"})
    assert answer.status_code == 200
    return answer.get_json()["image_id"]


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.data[:300]
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return body["error"]


# --- /api/curve -------------------------------------------------------------------------------


def test_curve_answers_every_k_and_a_suggestion(client):
    response = post(client, "/api/curve", data=upload())
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"points", "suggested_k", "image_id"}
    assert [p["k"] for p in body["points"]] == list(range(2, 33))
    assert all(set(p) == {"k", "psnr", "delta_e"} for p in body["points"])
    psnr = [p["psnr"] for p in body["points"]]
    assert all(b >= a - 0.05 for a, b in zip(psnr, psnr[1:]))
    assert 2 <= body["suggested_k"] <= 32
    assert body["image_id"]


def test_curve_from_image_id_reuses_the_histogram_without_decoding(client, monkeypatch):
    token = image_id(client)

    def no_decode(*args, **kwargs):
        raise AssertionError("the photo was decoded again")

    monkeypatch.setattr(pipeline, "prepare", no_decode)
    response = post(client, "/api/curve", data={"image_id": token, "color_space": "oklab"})
    assert response.status_code == 200
    assert response.get_json()["image_id"] == token


def test_curve_is_null_psnr_where_exact(client):
    rgb = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 255, 255]]], np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    body = post(client, "/api/curve", data=upload(buffer.getvalue())).get_json()
    assert body["points"][0]["psnr"] is not None
    assert all(p["psnr"] is None and p["delta_e"] == 0 for p in body["points"][2:])
    assert body["suggested_k"] == 4


def test_curve_of_a_corpus_photo(client, corpus):
    body = post(client, "/api/curve", data=upload((corpus / "flower.jpg").read_bytes(), "flower.jpg")).get_json()
    assert 2 <= body["suggested_k"] <= 32
    assert body["points"][-1]["psnr"] > body["points"][0]["psnr"] + 8


@pytest.mark.parametrize(
    "data, status, code, words",
    [
        ({"color_space": "hsv"}, 400, "bad_request", "color_space must be one of rgb, oklab, lab, got 'hsv'"),
        ({}, 400, "bad_request", "'image'"),
        ({"image_id": "gone"}, 410, "image_expired", "Send it again"),
        ({"image": (io.BytesIO(b"not an image"), "x.png")}, 415, "unsupported_image", "not an image"),
    ],
)
def test_curve_errors(client, data, status, code, words):
    error = error_of(post(client, "/api/curve", data=data), status)
    assert error["code"] == code and words in error["message"]


# --- /api/contact-sheet -----------------------------------------------------------------------


def sheet_image(response) -> np.ndarray:
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == "image/png"
    with Image.open(io.BytesIO(response.data)) as image:
        return np.asarray(image.convert("RGB"))


def test_contact_sheet_default_ks(client):
    response = post(client, "/api/contact-sheet", data=upload(name="holiday photo.jpg"))
    assert response.headers["Content-Disposition"] == 'attachment; filename="holiday-photo-contact-sheet.png"'
    assert response.headers["X-Image-Id"]
    image = sheet_image(response)
    # Six tiles of the 64 x 48 photo (smaller than a tile) in a 3 x 2 grid.
    assert sheet.grid_shape(1 + len(sheet.DEFAULT_KS)) == (3, 2)
    assert 3 * 64 < image.shape[1] < 3 * 64 + 40 and 2 * 48 < image.shape[0]


def test_contact_sheet_from_image_id_with_options(client):
    token = image_id(client, photo_bytes(200, 100))
    data = {"image_id": token, "ks": " 3, 7 ", "max_side": "100", "color_space": "lab", "dither": "floyd-steinberg"}
    image = sheet_image(post(client, "/api/contact-sheet", data=data))
    # Three tiles 100 x 50: a 2 x 2 grid.
    assert 200 < image.shape[1] < 200 + 20 and 100 < image.shape[0]


@pytest.mark.parametrize(
    "ks, words",
    [
        ("1", "got 1"),
        ("2,300", "got 300"),
        ("2,five", "got 'five'"),
        ("2,,3", "got ''"),
        ("", "got ''"),
        ("2.5", "got '2.5'"),
        ("-3", "got '-3'"),
        (",".join(str(k) for k in range(2, 15)), "1 to 12 values, got 13"),
        ("4,4", "lists 4 twice"),
    ],
)
def test_contact_sheet_bad_ks_names_the_value(client, ks, words):
    # Fields are checked before the photo: this upload is not even an image.
    response = post(client, "/api/contact-sheet", data={"image": (io.BytesIO(b"junk"), "x.png"), "ks": ks})
    error = error_of(response, 400)
    assert "ks" in error["message"] and words in error["message"]


def test_contact_sheet_ks_respects_max_k(app):
    app.config["MAX_K"] = 20
    error = error_of(post(app.test_client(), "/api/contact-sheet", data={**upload(), "ks": "2,21"}), 400)
    assert "between 2 and 20, got 21" in error["message"]


@pytest.mark.parametrize(
    "data, status, code",
    [
        ({"dither": "random"}, 400, "bad_request"),
        ({"max_side": "10"}, 400, "bad_request"),
        ({"ks": ["2", "3"]}, 400, "bad_request"),
        ({}, 400, "bad_request"),
        ({"image_id": "gone"}, 410, "image_expired"),
    ],
)
def test_contact_sheet_errors(client, data, status, code):
    assert error_of(post(client, "/api/contact-sheet", data=data), status)["code"] == code


# --- /api/palette -----------------------------------------------------------------------------


def quantize_palette(client, token: str, **fields) -> list[dict]:
    answer = post(client, "/api/quantize", data={"image_id": token, **fields}, headers={"Accept": "application/json"})
    return answer.get_json()["palette"]


@pytest.mark.parametrize(
    "options",
    [{"k": "6"}, {"k": "6", "color_space": "oklab"}, {"k": "5", "dither": "floyd-steinberg"},
     {"k": "7", "method": "octree"}],
)
def test_palette_json_is_the_quantize_palette(client, corpus, options):
    token = image_id(client, (corpus / "kodim23.png").read_bytes())
    expected = quantize_palette(client, token, **options)
    response = post(client, "/api/palette", data={"image_id": token, "format": "json", **options})
    assert response.status_code == 200 and response.mimetype == "application/json"
    k = options["k"]
    assert response.headers["Content-Disposition"] == f'attachment; filename="photo-k{k}-palette.json"'
    body = json.loads(response.data)
    assert body["k"] == int(k)
    assert [{"hex": c["hex"], "share": c["share"]} for c in body["colors"]] == expected
    assert all(c["hex"] == "#%02x%02x%02x" % tuple(c["rgb"]) for c in body["colors"])


def test_palette_css_gpl_and_png_hold_the_same_colors(client):
    token = image_id(client)
    expected = [c["hex"] for c in quantize_palette(client, token, k="8")]

    css = post(client, "/api/palette", data={"image_id": token, "k": "8", "format": "css"})
    assert css.headers["Content-Type"] == "text/css; charset=utf-8"
    assert css.headers["Content-Disposition"] == 'attachment; filename="photo-k8-palette.css"'
    found = CSS_LINE.findall(css.get_data(as_text=True))
    assert [int(n) for n, _, _ in found] == list(range(1, len(expected) + 1))
    assert [h for _, h, _ in found] == expected

    gpl = post(client, "/api/palette", data={"image_id": token, "k": "8", "format": "gpl"})
    assert gpl.headers["Content-Type"] == "application/x-gimp-palette"
    assert gpl.headers["Content-Disposition"] == 'attachment; filename="photo-k8-palette.gpl"'
    assert gpl.data.startswith(b"GIMP Palette\nName: photo k8\n")
    colors = GimpPaletteFile.GimpPaletteFile.frombytes(gpl.data).palette
    assert ["#" + colors[i : i + 3].hex() for i in range(0, len(colors), 3)] == expected

    png = post(client, "/api/palette", data={"image_id": token, "k": "8", "format": "png"})
    assert png.mimetype == "image/png"
    assert png.headers["Content-Disposition"] == 'attachment; filename="photo-k8-palette.png"'
    with Image.open(io.BytesIO(png.data)) as strip:
        row = np.asarray(strip.convert("RGB"))[0]
    changes = np.concatenate([[0], np.flatnonzero(np.any(np.diff(row, axis=0) != 0, axis=1)) + 1])
    assert ["#%02x%02x%02x" % tuple(row[i]) for i in changes] == expected


def test_palette_upload_defaults_to_json_and_default_k(client, app):
    response = post(client, "/api/palette", data=upload())
    assert response.status_code == 200
    assert json.loads(response.data)["k"] == app.config["DEFAULT_K"]
    assert response.headers["X-Image-Id"]


@pytest.mark.parametrize(
    "data, status, code, words",
    [
        ({"format": "svg"}, 400, "bad_request", "format must be one of json, css, gpl, png, got 'svg'"),
        ({"k": "1"}, 400, "bad_request", "k must be between 2 and 256, got 1"),
        ({"k": "many"}, 400, "bad_request", "got 'many'"),
        ({"color_space": "xyz"}, 400, "bad_request", "got 'xyz'"),
    ],
)
def test_palette_bad_fields(client, data, status, code, words):
    error = error_of(post(client, "/api/palette", data={**upload(), **data}), status)
    assert error["code"] == code and words in error["message"]


def test_palette_missing_or_expired_photo(client):
    assert error_of(post(client, "/api/palette", data={"format": "css"}), 400)["code"] == "bad_request"
    assert error_of(post(client, "/api/palette", data={"image_id": "gone"}), 410)["code"] == "image_expired"
    assert error_of(post(client, "/api/palette", json={"k": 4}), 400)["code"] == "bad_request"


# --- all three --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/curve", "/api/contact-sheet", "/api/palette"])
def test_get_is_refused_with_allow(client, path):
    response = client.get(path)
    assert error_of(response, 405)["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "OPTIONS, POST"


@pytest.mark.parametrize("path", ["/api/curve", "/api/contact-sheet", "/api/palette"])
def test_too_many_pixels_is_413(app, path):
    app.config["MAX_PIXELS"] = 1000
    error = error_of(post(app.test_client(), path, data=upload()), 413)
    assert error["code"] == "too_many_pixels"


@pytest.mark.parametrize(
    "path, data, k",
    [("/api/curve", {}, "2-32"), ("/api/contact-sheet", {"ks": "2,3"}, "2,3"), ("/api/palette", {"k": "5"}, "5")],
)
def test_access_log_has_pixels_and_k(client, caplog, path, data, k):
    with caplog.at_level(logging.INFO, logger="kmeans_filter.access"):
        assert post(client, path, data={**upload(), **data}).status_code == 200
    assert f"pixels=3072 k={k}" in caplog.text
    assert "photo.png" not in caplog.text


def test_openapi_documents_the_three_endpoints(client):
    document = client.get("/api/openapi.json").get_json()
    assert "/api/quantize" in document["paths"]
    fields = {
        path: document["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
        for path in ("/api/curve", "/api/contact-sheet", "/api/palette")
    }
    assert set(fields["/api/curve"]) == {"image", "image_id", "color_space"}
    assert set(fields["/api/contact-sheet"]) == {"image", "image_id", "ks", "color_space", "dither", "method",
                                                 "max_side"}
    assert fields["/api/contact-sheet"]["ks"]["default"] == "2,5,10,15,24"
    assert set(fields["/api/palette"]) == {"image", "image_id", "k", "color_space", "dither", "method", "format",
                                        "min_region"}
    assert fields["/api/palette"]["format"]["enum"] == ["json", "css", "gpl", "png"]
    curve_schema = document["components"]["schemas"]["Curve"]
    assert set(curve_schema["required"]) == {"points", "suggested_k", "image_id"}
    for path in fields:
        assert {"400", "410", "413", "415", "422"} <= set(document["paths"][path]["post"]["responses"])


def test_readme_api_section_documents_every_endpoint_field_and_choice(client):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = re.search(r"<!-- section:api -->(.*?)<!-- /section:api -->", readme, re.DOTALL).group(1)
    document = client.get("/api/openapi.json").get_json()
    for path, methods in document["paths"].items():
        assert path in section, path
        body = methods.get("post", {}).get("requestBody")
        if not body:
            continue
        for name, schema in body["content"]["multipart/form-data"]["schema"]["properties"].items():
            assert f"`{name}`" in section, (path, name)
            for choice in schema.get("enum", []):
                assert f"`{choice}`" in section, (path, name, choice)
    for status in ("400", "405", "410", "413", "415", "422"):
        assert f"| {status} |" in section
    assert "curl" in section and "image_expired" in section
