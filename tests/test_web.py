"""The page at / and its no-JavaScript form POST, through Flask's test client."""

from __future__ import annotations

import base64
import io
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from bs4 import BeautifulSoup
from PIL import Image
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from app import create_app
from app.web import human_bytes
from testsupport.images import png_bytes

STATIC = Path(__file__).resolve().parents[1] / "static"
HEX = re.compile(r"^#[0-9a-f]{6}$")


def soup_of(response) -> BeautifulSoup:
    assert response.mimetype == "text/html"
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def data_url_bytes(url: str, mime: str) -> bytes:
    prefix = f"data:{mime};base64,"
    assert url.startswith(prefix), url[:40]
    return base64.b64decode(url[len(prefix):])


def post_form(client, fields: dict):
    """POST multipart built in memory: the test client would spool big bodies to a temp file it never closes."""
    fields = {k: FileStorage(*v) if isinstance(v, tuple) else v for k, v in fields.items()}
    boundary, body = encode_multipart(fields)
    return client.post("/", data=body, content_type=f"multipart/form-data; boundary={boundary}")


def post_photo(client, path: Path | None, **fields):
    data = {key: str(value) for key, value in fields.items()}
    if path is not None:
        data["image"] = (io.BytesIO(path.read_bytes()), path.name)
    return post_form(client, data)


def test_page_offers_every_control_with_a_label(client):
    response = client.get("/")
    assert response.status_code == 200
    page = soup_of(response)
    form = page.select_one("form#upload-form")
    assert form["method"] == "post" and form["action"] == "/" and form["enctype"] == "multipart/form-data"
    file_input = form.select_one("input#image")
    assert file_input["type"] == "file" and file_input["name"] == "image" and file_input["accept"] == "image/*"
    number = form.select_one("input#k")
    number_attributes = [number[name] for name in ("type", "name", "min", "max", "value")]
    assert number_attributes == ["number", "k", "2", "256", "16"]
    slider = form.select_one("input#k-slider")
    assert (slider["type"], slider["min"], slider["max"], slider["value"]) == ("range", "2", "64", "16")
    assert not slider.has_attr("name"), "only the number field posts k: the API refuses a field sent twice"
    assert [o["value"] for o in form.select("select#color-space option")] == ["rgb", "oklab", "lab"]
    assert [o["value"] for o in form.select("select#dither option")] == ["none", "floyd-steinberg"]
    for control in page.select("input:not([type=radio]), select"):
        labelled = page.select_one(f'label[for="{control["id"]}"]') or control.has_attr("aria-label")
        assert labelled, f"#{control['id']} has no label"
    assert page.select_one("#status[aria-live=polite]") is not None
    assert page.select_one("#error[role=alert]").has_attr("hidden")
    assert page.select_one("#dropzone label[for=image]") is not None
    assert page.select_one("#compare").has_attr("hidden") and page.select_one("#results").has_attr("hidden")
    swipe = page.select_one("#divider[role=slider]")
    assert swipe["tabindex"] == "0" and swipe["aria-valuenow"] == "50"


def test_page_follows_the_content_security_policy(client):
    response = client.get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    page = soup_of(response)
    assert page.select("[style]") == [] and page.select("style") == []
    scripts = page.select("script")
    assert scripts and all(s.get("src", "").startswith("/static/") and not s.get_text(strip=True) for s in scripts)
    assert not [el.name for el in page.find_all(True) if any(name.startswith("on") for name in el.attrs)]
    for element in page.select("[src], [href]"):
        url = element.get("src") or element.get("href")
        assert not re.match(r"^(https?:)?//", url), f"external URL {url}"
        if url.startswith("/static/"):
            with client.get(url) as asset:
                assert asset.status_code == 200, url


def test_static_files_make_no_outside_requests():
    texts = {path.name: path.read_text() for path in [*STATIC.glob("**/*.js"), *STATIC.glob("**/*.css")]}
    assert {"app.js", "api.js", "viewer.js", "style.css"} <= texts.keys()
    for name, text in texts.items():
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.\w+[^\s\"'`)]*", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls, f"{name} refers to {urls}"
        assert "@import" not in text and "@font-face" not in text, name


def test_page_reads_its_limits_from_the_settings():
    client = create_app({"TESTING": True, "MAX_K": 100, "SLIDER_MAX_K": 32, "DEFAULT_K": 8}).test_client()
    page = soup_of(client.get("/"))
    assert page.select_one("input#k")["max"] == "100" and page.select_one("input#k")["value"] == "8"
    assert page.select_one("input#k-slider")["max"] == "32"
    app_root = page.select_one("#app")
    assert (app_root["data-max-k"], app_root["data-slider-max-k"], app_root["data-default-k"]) == ("100", "32", "8")


def test_form_post_answers_both_images_figures_and_palette(client, corpus):
    response = post_photo(client, corpus / "kodim23.png", k=8)
    assert response.status_code == 200
    page = soup_of(response)
    original = page.select_one('#compare img[alt^="Original"]')
    result = page.select_one('#compare img[alt^="Result"]')
    assert Image.open(io.BytesIO(data_url_bytes(original["src"], "image/jpeg"))).size == (768, 512)
    shown = Image.open(io.BytesIO(data_url_bytes(result["src"], "image/png")))
    assert shown.size == (768, 512) and shown.mode == "P"
    colors = len(shown.convert("RGB").getcolors(256))
    assert colors <= 8 and result["alt"] == f"Result with {colors} colors (k = 8)"
    assert not page.select_one("#compare").has_attr("hidden") and page.select_one("#dropzone").has_attr("hidden")
    assert (result["data-k"], result["data-color-space"], result["data-dither"]) == ("8", "rgb", "none")

    swatches = page.select("#palette li")
    assert len(swatches) == colors
    hexes = [s.select_one(".hex").get_text() for s in swatches]
    shares = [float(s.select_one(".share").get_text().rstrip("%")) for s in swatches]
    assert all(HEX.match(h) for h in hexes) and shares == sorted(shares, reverse=True)
    assert sum(shares) == pytest.approx(100, abs=0.5)
    assert [s.select_one("rect")["fill"] for s in swatches] == hexes
    assert {"#%02x%02x%02x" % rgb for _, rgb in shown.convert("RGB").getcolors(256)} == set(hexes)

    figures = {div.dt.get_text(strip=True): div.dd.get_text(strip=True) for div in page.select("#figures > div")}
    assert figures["Colors"].endswith(f"→ {colors}") and figures["Pixels"].startswith("768 × 512")
    assert re.fullmatch(r"\d+\.\d dB", figures["PSNR"]) and re.fullmatch(r"\d+\.\d\d", figures["Mean ΔE"])
    assert re.fullmatch(r"\d+(\.\d)? KB → \d+(\.\d)? KB", figures["File size"]), figures["File size"]
    # The PNG is on the page once; the download button posts the answer's image_id and gets the same file.
    png = result["src"].split(",", 1)[1]
    assert response.get_data(as_text=True).count(png) == 1
    button = page.select_one("button.download[type=submit]")
    assert button["formaction"] == "/download"
    image_id = page.select_one("#upload-form input[type=hidden][name=image_id]")["value"]
    fields = {"image": (io.BytesIO(b""), ""), "image_id": image_id, "k": "8", "color_space": "rgb", "dither": "none"}
    boundary, body = encode_multipart({k: FileStorage(*v) if isinstance(v, tuple) else v for k, v in fields.items()})
    downloaded = client.post("/download", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert downloaded.headers["Content-Disposition"] == 'attachment; filename="kodim23-k8.png"'
    assert downloaded.data == data_url_bytes(result["src"], "image/png")
    assert page.select_one("input#k")["value"] == "8" and page.select_one("input#k-slider")["value"] == "8"
    assert page.select_one("#app")["data-image-id"], "the script carries on from the no-JS answer"


def test_form_post_keeps_the_chosen_options(client, corpus):
    response = post_photo(client, corpus / "flower.jpg", k=5, color_space="oklab", dither="floyd-steinberg")
    assert response.status_code == 200
    page = soup_of(response)
    assert page.select_one("#color-space option[selected]")["value"] == "oklab"
    assert page.select_one("#dither option[selected]")["value"] == "floyd-steinberg"
    result = Image.open(io.BytesIO(data_url_bytes(page.select_one('img[alt^="Result"]')["src"], "image/png")))
    assert len(result.convert("RGB").getcolors(256)) <= 5


@pytest.mark.parametrize(
    ("make_fields", "status", "words"),
    [
        (lambda corpus: {"image": (io.BytesIO(b"just some text\n"), "notes.txt"), "k": "16"}, 415, "not an image"),
        (lambda corpus: {"image": (io.BytesIO((corpus / "flower.jpg").read_bytes()), "flower.jpg"), "k": "1"}, 400,
         "k must be between 2 and 256, got 1"),
        (lambda corpus: {"image": (io.BytesIO((corpus / "flower.jpg").read_bytes()), "flower.jpg"), "k": "lots"}, 400,
         "k must be a whole number"),
        (lambda corpus: {"k": "16"}, 400, "Add the photo"),
    ],
    ids=["text-file", "k-too-small", "k-not-a-number", "no-file"],
)
def test_form_post_errors_are_shown_in_the_page(client, corpus, make_fields, status, words):
    response = post_form(client, make_fields(corpus))
    assert response.status_code == status
    page = soup_of(response)
    error = page.select_one("#error[role=alert]")
    assert not error.has_attr("hidden") and words in error.get_text()
    assert page.select_one("form#upload-form input#image") is not None, "the page stays usable"
    assert page.select_one("#compare").has_attr("hidden")
    assert page.select_one("input#k")["value"] == make_fields(corpus)["k"], "what was typed stays to be fixed"


def test_too_large_upload_gets_a_page_in_words(corpus):
    client = create_app({"TESTING": True, "MAX_UPLOAD_MB": 1}).test_client()
    response = post_photo(client, corpus / "cam_nokia83_9mp.jpg", k=4)
    assert response.status_code == 413
    page = soup_of(response)
    assert "larger than the limit of 1 MB" in page.select_one("[role=alert] .error-message").get_text()
    assert page.select_one('[role=alert] a[href="/"]') is not None


def test_unknown_page_is_a_page_with_a_way_back(client):
    response = client.get("/nowhere", headers={"Accept": "text/html"})
    assert response.status_code == 404
    page = soup_of(response)
    assert "nothing at this address" in page.select_one("[role=alert]").get_text()
    assert page.select_one('[role=alert] a[href="/"]') is not None


def test_human_bytes():
    sizes = [human_bytes(n) for n in (None, 512, 2048, 548_799, 3 * 2**20 + 1)]
    assert sizes == ["–", "512 bytes", "2.0 KB", "536 KB", "3.0 MB"]


def test_form_post_logs_its_figures(client, caplog):
    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[:, 20:] = (200, 40, 10)
    with caplog.at_level(logging.INFO, logger="kmeans_filter.access"):
        response = post_form(client, {"image": (io.BytesIO(png_bytes(rgb)), "two.png"), "k": "3"})
    assert response.status_code == 200
    assert "POST / 200" in caplog.text and "pixels=1200 k=3" in caplog.text
    assert "two.png" not in caplog.text


@pytest.mark.parametrize(
    "path, accept, mimetype",
    [("/nope", "application/json", "application/json"), ("/nope", "text/html", "text/html"),
     ("/nope", "*/*", "text/html"), ("/api/nope", "text/html", "application/json"),
     ("/api/nope", "*/*", "application/json"), ("/nope", "text/html;q=0.5, application/json", "application/json")],
)
def test_errors_are_json_where_asked_for_or_under_api(client, path, accept, mimetype):
    response = client.get(path, headers={"Accept": accept})
    assert response.status_code == 404 and response.mimetype == mimetype
    if mimetype == "application/json":
        assert response.get_json() == {"error": {"code": "not_found", "message": "There is nothing at this address."}}


def test_form_post_cleans_specks_and_says_the_figures_are_of_the_cleaned_image(client, corpus):
    from scipy import ndimage

    page = soup_of(client.get("/"))
    assert [o["value"] for o in page.select("select#min-region option")] == ["0", "10", "40", "160"]
    assert page.select_one("#fig-cleaned").has_attr("hidden")
    response = post_photo(client, corpus / "flower.jpg", k=6, min_region=40)
    assert response.status_code == 200
    page = soup_of(response)
    assert page.select_one("#min-region option[selected]")["value"] == "40"
    note = page.select_one("#fig-cleaned")
    assert not note.has_attr("hidden") and note.text.startswith("Figures measured on the cleaned image:")
    result = np.asarray(Image.open(io.BytesIO(data_url_bytes(page.select_one('img[alt^="Result"]')["src"],
                                                             "image/png"))).convert("RGB"))
    for color in np.unique(result.reshape(-1, 3), axis=0):
        labelled, _ = ndimage.label((result == color).all(axis=2))
        assert np.bincount(labelled.ravel())[1:].min() >= 40
