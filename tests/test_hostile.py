"""Hostile input: a generated corpus of bad uploads and bad fields.

Every case goes through the Flask test client, as the API (JSON) and as the
plain form (HTML); a subset goes through the real gunicorn. Valid images in
odd shapes and modes are served like any other; everything else gets a 4xx
that says what went wrong in words. Never a 500, a traceback or a server path.

The corpus is built in memory (testsupport/hostile_uploads.py): no binary blobs in the repository.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import psutil
import pytest
from bs4 import BeautifulSoup
from PIL import Image, ImageFile

from app import create_app
from testsupport.forms import client_multipart
from testsupport.hostile_uploads import (BY_ID, CASES, HOSTILE_NAME, LIVE_SUBSET, Case, case_data, encode, photo,
                                         random_bytes)

ROOT = Path(__file__).resolve().parents[1]
LEAKS = ("Traceback", 'File "', "site-packages", "/work/", "/usr/lib", "werkzeug", "Werkzeug Debugger")
SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")


# --- checks ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app():
    return create_app({"TESTING": True, "CACHE_MB": 0})


@pytest.fixture
def client(app):
    return app.test_client()


def assert_clean(body: str, headers) -> None:
    """Nothing leaks and nothing hostile is reflected; the security headers are there."""
    for leak in LEAKS:
        assert leak not in body, f"the body leaks {leak!r}: {body[:300]}"
    assert "<script>alert(1)" not in body, "user text reflected unescaped"
    for name in SECURITY_HEADERS:
        assert headers.get(name), f"missing {name}"
    for name, value in headers.items():
        assert "<" not in value and "\n" not in value and "\r" not in value, f"header {name} carries {value!r}"
        assert name.lower() != "x-evil"


def check_api_answer(case: Case, status: int, headers, body: str) -> dict:
    assert status < 500, f"{case.id}: {status} {body[:300]}"
    assert status in case.expect, f"{case.id}: expected {sorted(case.expect)}, got {status}: {body[:300]}"
    assert_clean(body, headers)
    assert headers["Content-Type"].startswith("application/json")
    answer = json.loads(body)
    if status == 200:
        if case.size:
            assert (answer["width"], answer["height"]) == case.size
        assert 1 <= answer["colors"] <= answer["k"]
        assert "<" not in answer["filename"] and "/" not in answer["filename"]
    else:
        assert set(answer) == {"error"} and set(answer["error"]) == {"code", "message"}
        assert len(answer["error"]["message"]) > 10
    return answer


def post_api(client, data: bytes, filename: str, **fields):
    fields.setdefault("k", "4")
    return client.post(
        "/api/quantize", headers={"Accept": "application/json"},
        **client_multipart(("image", (filename, data)), *fields.items()),
    )


def post_form(client, data: bytes, filename: str, **fields):
    fields.setdefault("k", "4")
    return client.post("/", headers={"Accept": "text/html"},
                       **client_multipart(("image", (filename, data)), *fields.items()))


def visible_alert(page: BeautifulSoup):
    """The error the page shows, if any: an element with role=alert that is not hidden and has words."""
    for alert in page.select("[role=alert]"):
        if not alert.has_attr("hidden") and alert.get_text(strip=True):
            return alert
    return None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_api_answers_every_case_in_words(client, case):
    response = post_api(client, case_data(case), case.filename)
    check_api_answer(case, response.status_code, response.headers, response.get_data(as_text=True))
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_form_answers_every_case_with_a_page(client, case):
    response = post_form(client, case_data(case), case.filename)
    body = response.get_data(as_text=True)
    assert response.status_code < 500 and response.status_code in case.expect, f"{response.status_code} {body[:300]}"
    assert response.mimetype == "text/html"
    assert_clean(body, response.headers)
    page = BeautifulSoup(body, "html.parser")
    alert = visible_alert(page)
    if response.status_code == 200:
        assert alert is None, alert
        assert page.select_one("img#result-img[src^='data:image/png;base64,']")
    else:
        assert alert is not None and len(alert.get_text(strip=True)) > 10


def test_hostile_name_is_neither_reflected_nor_in_the_download_name(client):
    data = case_data(BY_ID["script-name"])
    response = client.post("/api/quantize", **client_multipart(("image", (HOSTILE_NAME, data)), ("k", "4")))
    assert response.status_code == 200 and response.mimetype == "image/png"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="[A-Za-z0-9_.-]+"', disposition), disposition
    page = post_form(client, data, HOSTILE_NAME).get_data(as_text=True)
    assert "alert(1)</script>" not in page
    soup = BeautifulSoup(page, "html.parser")
    assert all(script.get("src") for script in soup.find_all("script")), "an inline script appeared"


# --- bombs and many frames: cheap, and only the first frame ----------------------------------------------------------


class DecodeSpy:
    """Counts pixel decodes (ImageFile.load) and frame seeks, public or not, while a request runs."""

    def __init__(self, monkeypatch):
        self.loads = 0
        self.seeks: list[int] = []
        original_load = ImageFile.ImageFile.load

        def load(image, *args, **kwargs):
            self.loads += 1
            return original_load(image, *args, **kwargs)

        monkeypatch.setattr(ImageFile.ImageFile, "load", load)
        from PIL import GifImagePlugin, TiffImagePlugin

        for plugin_class in (GifImagePlugin.GifImageFile, TiffImagePlugin.TiffImageFile):
            seek = plugin_class._seek

            def counted(image, frame, *args, _seek=seek, **kwargs):
                self.seeks.append(frame)
                return _seek(image, frame, *args, **kwargs)

            monkeypatch.setattr(plugin_class, "_seek", counted)


@pytest.mark.parametrize(
    "case_id", ["png-claims-60000x60000", "png-bomb-12000x12000", "gif-claims-65535x65535", "jpeg-claims-65000x65000"]
)
def test_bombs_are_refused_from_the_header_before_any_decode(client, monkeypatch, case_id):
    data = case_data(BY_ID[case_id])
    spy = DecodeSpy(monkeypatch)
    process = psutil.Process()
    rss_before = process.memory_info().rss
    started = time.perf_counter()
    response = post_api(client, data, "bomb.png")
    elapsed = time.perf_counter() - started
    grown = process.memory_info().rss - rss_before
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "too_many_pixels"
    assert "megapixels" in error["message"] and "50" in error["message"], error["message"]
    assert spy.loads == 0, "pixels were decoded before the size was checked"
    assert elapsed < 0.5, f"a refused bomb took {elapsed:.2f} s"
    assert grown < 64 * 2**20, f"a refused bomb grew the process by {grown / 2**20:.0f} MB"


def test_the_pixel_limit_is_a_setting_checked_from_the_header(monkeypatch):
    client = create_app({"TESTING": True, "MAX_PIXELS": 10_000}).test_client()
    spy = DecodeSpy(monkeypatch)
    over = post_api(client, encode(photo(101, 100), "PNG"), "x.png")
    assert over.status_code == 413 and "101x100" in over.get_json()["error"]["message"]
    assert spy.loads == 0
    assert post_api(client, encode(photo(100, 100), "PNG"), "x.png").status_code == 200


@pytest.mark.parametrize("case_id", ["gif-5000-frames", "tiff-300-pages"])
def test_only_the_first_frame_or_page_is_decoded(client, monkeypatch, case_id):
    data = case_data(BY_ID[case_id])
    spy = DecodeSpy(monkeypatch)
    started = time.perf_counter()
    response = post_api(client, data, "many.gif")
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.get_json()
    assert [swatch["hex"] for swatch in answer["palette"]] == ["#ff0000"], "colors from a later frame leaked in"
    assert max(spy.seeks, default=0) == 0, f"seeked to frames {sorted(set(spy.seeks))[:5]}..."
    assert elapsed < 2.0, f"{case_id} took {elapsed:.2f} s"


def test_the_many_frames_corpus_really_has_many_frames():
    """The generated files are what they claim: otherwise the tests above prove nothing."""
    with Image.open(io.BytesIO(case_data(BY_ID["gif-5000-frames"]))) as gif:
        assert gif.n_frames == 5000
        gif.seek(4999)
        gif.load()
    with Image.open(io.BytesIO(case_data(BY_ID["tiff-300-pages"]))) as tiff:
        assert tiff.n_frames == 300
    with pytest.warns(Image.DecompressionBombWarning):
        Image.open(io.BytesIO(case_data(BY_ID["png-bomb-12000x12000"]))).close()
    bomb = case_data(BY_ID["png-bomb-12000x12000"])
    assert len(bomb) < 2**20 and len(zlib.decompress(bomb[41:-16])) == 12000 * (1 + 12000 // 8)


# --- fields ----------------------------------------------------------------------------------------------------------

SMALL_PNG = encode(photo(), "PNG")


@pytest.mark.parametrize("k", ["0", "1", "-3", "1e9", "abc", "", "2.5", "257", "99999999999", " ", "0x10", "4 colors"])
def test_bad_k_is_refused_naming_the_value(client, k):
    response = post_api(client, SMALL_PNG, "x.png", k=k)
    assert response.status_code == 400, f"k={k!r} gave {response.status_code}"
    message = response.get_json()["error"]["message"]
    assert message.startswith("k must"), message
    assert f"got {k.strip()}" in message or f"got {k.strip()!r}" in message, message


@pytest.mark.parametrize(
    "name, value",
    [("color_space", "hsv"), ("dither", "ordered"), ("method", "magic"), ("format", "gif"), ("max_side", "8"),
     ("max_side", "big"), ("format", "<b>bold</b>")],
)
def test_bad_options_are_refused_naming_the_value(client, name, value):
    response = post_api(client, SMALL_PNG, "x.png", **{name: value})
    assert response.status_code == 400
    message = response.get_json()["error"]["message"]
    assert message.startswith(name) and value.lower() in message.lower(), message
    assert_clean(response.get_data(as_text=True), response.headers)


def test_a_hostile_field_value_comes_back_escaped_on_the_page(client):
    response = post_form(client, SMALL_PNG, "x.png", format="<script>alert(1)</script>", k="<script>alert(1)</script>")
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert_clean(body, response.headers)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "alert(1)" in visible_alert(BeautifulSoup(body, "html.parser")).get_text()


def test_missing_image_is_refused(client):
    response = client.post("/api/quantize", **client_multipart(("k", "4")))
    assert response.status_code == 400 and "image" in response.get_json()["error"]["message"]


def test_missing_k_uses_the_default(client, app):
    response = client.post("/api/quantize", headers={"Accept": "application/json"},
                           **client_multipart(("image", ("x.png", SMALL_PNG))))
    assert response.status_code == 200 and response.get_json()["k"] == app.config["DEFAULT_K"]


def test_repeated_fields_are_refused(client):
    twice = client_multipart(("image", ("x.png", SMALL_PNG)), ("k", "4"), ("k", "8"))
    response = client.post("/api/quantize", **twice)
    assert response.status_code == 400 and "k once" in response.get_json()["error"]["message"]
    two_images = client_multipart(("image", ("a.png", SMALL_PNG)), ("image", ("b.png", SMALL_PNG)))
    response = client.post("/api/quantize", **two_images)
    assert response.status_code == 400 and "one image" in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": {"k": 4, "image": "aGVsbG8="}},
        {"data": SMALL_PNG, "content_type": "image/png"},
        {"data": b"k=4&image=abc", "content_type": "application/x-www-form-urlencoded"},
        {"data": b"", "content_type": "multipart/form-data; boundary=zzz"},
        {"data": b"--zzz\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\n4", "content_type":
            "multipart/form-data; boundary=zzz"},
        {"data": b"garbage", "content_type": "multipart/form-data"},
    ],
    ids=["json", "raw-png", "urlencoded", "empty-multipart", "truncated-multipart", "no-boundary"],
)
def test_bodies_that_are_not_a_multipart_upload_are_refused(client, kwargs):
    response = client.post("/api/quantize", headers={"Accept": "application/json"}, **kwargs)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert_clean(response.get_data(as_text=True), response.headers)
    assert response.get_json()["error"]["message"]


@pytest.mark.parametrize("method, path", [("GET", "/api/quantize"), ("PUT", "/api/quantize"),
                                          ("DELETE", "/api/quantize"), ("PATCH", "/"), ("POST", "/healthz")])
def test_the_wrong_method_is_refused_with_allow(client, method, path):
    response = client.open(path, method=method, headers={"Accept": "application/json"})
    assert response.status_code == 405
    assert response.headers["Allow"] and method not in response.headers["Allow"]
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert_clean(response.get_data(as_text=True), response.headers)


# --- upload size -----------------------------------------------------------------------------------------------------


def test_an_upload_over_the_limit_gets_413_in_words():
    client = create_app({"TESTING": True, "MAX_UPLOAD_MB": 1}).test_client()
    data = random_bytes(2**20 + 1000)
    response = post_api(client, data, "big.jpg")
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "too_large" and "1 MB" in error["message"]
    page = post_form(client, data, "big.jpg")
    assert page.status_code == 413 and "1 MB" in BeautifulSoup(page.data, "html.parser").get_text()


# --- the real server -------------------------------------------------------------------------------------------------



def test_the_real_server_answers_the_corpus_and_keeps_serving(live_server):
    import requests

    with requests.Session() as session:
        for case_id in LIVE_SUBSET:
            case = BY_ID[case_id]
            response = session.post(
                live_server + "/api/quantize",
                files={"image": (case.filename, case_data(case))},
                data={"k": "4"},
                headers={"Accept": "application/json"},
                timeout=30,
            )
            check_api_answer(case, response.status_code, response.headers, response.text)
        for k in ("0", "abc", "1e9"):
            response = session.post(live_server + "/api/quantize", files={"image": ("x.png", SMALL_PNG)},
                                    data={"k": k}, timeout=30)
            assert response.status_code == 400 and k in response.json()["error"]["message"]
        response = session.post(live_server + "/api/quantize", json={"k": 4}, timeout=30)
        assert response.status_code == 400
        response = session.get(live_server + "/api/quantize", timeout=30)
        assert response.status_code == 405 and "POST" in response.headers["Allow"]
        response = session.post(live_server + "/api/quantize", files={"image": ("x.png", SMALL_PNG)},
                                data={"k": "4"}, timeout=30)
        assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
        assert session.get(live_server + "/healthz", timeout=10).json() == {"status": "ok"}


def test_every_decoder_failure_in_pillow_is_415_never_500(client, monkeypatch):
    """Pillow raises NotImplementedError (and other types) from inside Image.open and from load()
    for variants it cannot decode; whatever it raises, the answer is 415 in words."""
    from app import imaging

    original_open = imaging.Image.open
    for kind in (NotImplementedError("Unimplemented pixel format"), struct.error("unpack"), IndexError("x"),
                 KeyError("x"), RuntimeError("x")):
        def failing_open(*args, _kind=kind, **kwargs):
            raise _kind

        monkeypatch.setattr(imaging.Image, "open", failing_open)
        response = post_api(client, SMALL_PNG, "x.png")
        assert response.status_code == 415, (kind, response.get_data(as_text=True)[:200])
        assert response.get_json()["error"]["code"] == "unsupported_image"
    monkeypatch.setattr(imaging.Image, "open", original_open)

    def failing_load(self, *args, **kwargs):
        raise NotImplementedError("a variant Pillow cannot decode")

    monkeypatch.setattr(ImageFile.ImageFile, "load", failing_load)
    response = post_api(client, SMALL_PNG, "x.png")
    assert response.status_code == 415 and response.get_json()["error"]["code"] == "unsupported_image"


def test_only_the_documented_formats_reach_a_decoder(monkeypatch):
    """Image.open is asked to try only the formats the README lists."""
    from app import imaging

    seen = []
    original_open = imaging.Image.open

    def spy(*args, **kwargs):
        seen.append(kwargs.get("formats"))
        return original_open(*args, **kwargs)

    monkeypatch.setattr(imaging.Image, "open", spy)
    imaging.decode(SMALL_PNG, 10**6)
    assert seen and set(seen[0]) == {"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"}
    for case_id in ("dds-valid-rgba", "pcx", "tga", "ppm", "ico"):
        assert min(Image.open(io.BytesIO(case_data(BY_ID[case_id]))).size) > 0, "Pillow itself reads it"
        with pytest.raises(imaging.ImageError) as refused:
            imaging.decode(case_data(BY_ID[case_id]), 10**6)
        assert refused.value.code == "unsupported_image"


def raw_exchange(base: str, raw: bytes, seconds: float = 15) -> tuple[float, bytes]:
    """Send raw bytes and read until the answer's headers and a little body are in; (seconds, answer)."""
    import socket

    host, port = base.removeprefix("http://").rsplit(":", 1)
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=seconds) as sock:
        sock.sendall(raw)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < 20:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return time.monotonic() - started, answer


def upload_head(extra: str) -> bytes:
    return ("POST /api/quantize HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
            "Content-Type: multipart/form-data; boundary=hostile\r\n" + extra + "\r\n").encode()


@pytest.mark.parametrize("chunks", [b"zz\r\n", b"-5\r\nhello\r\n0\r\n\r\n", b"5;ext \r\nhello\r\n0\r\n\r\n",
                                    b"5 ;x=1\t \r\nhello\r\n0\r\n\r\n", b"5\r\nhelloXX0\r\n\r\n"],
                         ids=["size-zz", "size-minus-5", "extension-trailing-space", "extension-tab", "no-terminator"])
def test_a_broken_chunked_body_is_400_in_words(live_server, chunks):
    _, answer = raw_exchange(live_server, upload_head("Transfer-Encoding: chunked\r\n") + chunks)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"Traceback" not in answer and b"chunked" in body


def test_an_upload_declared_over_the_limit_that_never_arrives_gets_413_at_once(live_server):
    """40 MB declared (under twice the 30 MB limit, so the server would drain it), 1 MB sent, then
    silence: the 413 comes after a bounded drain, not when the client gives up."""
    raw = upload_head(f"Content-Length: {40 * 2**20}\r\n") + b"x" * 2**20
    seconds, answer = raw_exchange(live_server, raw, seconds=20)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert seconds < 5, f"the 413 took {seconds:.1f} s"


def test_the_corpus_stays_small():
    """No case needs a big file to be hostile; the biggest ones are the metadata chunks."""
    sizes = {case.id: len(case_data(case)) for case in CASES}
    assert max(sizes.values()) < 10 * 2**20, sizes


# --- security: headers, CSP, debug, leaks, disk, fetches -------------------------------------------------------------

STRICT_SOURCES = ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "'wasm-unsafe-eval'", "*", "data:", "http:",
                  "https:", "blob:")


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def assert_strict_csp(header: str) -> None:
    directives = csp_directives(header)
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts, f"no script-src or default-src in {header!r}"
    for loose in STRICT_SOURCES:
        assert loose not in scripts, f"script-src allows {loose}: {header!r}"
    assert directives.get("object-src") == ["'none'"]
    assert directives.get("base-uri") in (["'none'"], ["'self'"])
    assert directives.get("frame-ancestors") in (["'none'"], ["'self'"])
    assert "'unsafe-eval'" not in directives.get("default-src", [])


def every_kind_of_response(client) -> dict[str, object]:
    """One response of each kind the app gives: pages, static files, JSON, every error status."""
    with client.application.test_request_context():
        static = ["/static/style.css"] + [f"/static/js/{path.name}" for path in
                                          sorted((ROOT / "static" / "js").glob("*.js"))]
    responses = {path: client.get(path) for path in ["/", "/healthz", "/api/openapi.json", *static]}
    responses["404"] = client.get("/no/such/page")
    responses["405"] = client.get("/api/quantize")
    responses["400"] = client.post("/api/quantize", json={"k": 4})
    responses["415"] = post_api(client, b"not an image", "x.png")
    responses["413-pixels"] = post_api(client, case_data(BY_ID["png-claims-60000x60000"]), "x.png")
    responses["422"] = post_api(client, case_data(BY_ID["fully-transparent"]), "x.png")
    responses["200-png"] = client.post("/api/quantize", **client_multipart(("image", ("x.png", SMALL_PNG)), ("k", "4")))
    responses["200-form"] = post_form(client, SMALL_PNG, "x.png")
    responses["400-form"] = post_form(client, SMALL_PNG, "x.png", k="abc")
    return responses


def test_every_response_carries_the_security_headers(client):
    for name, response in every_kind_of_response(client).items():
        assert response.status_code < 500, name
        assert response.headers.get("X-Content-Type-Options") == "nosniff", name
        assert response.headers.get("Referrer-Policy") in ("no-referrer", "same-origin", "strict-origin"), name
        assert_strict_csp(response.headers.get("Content-Security-Policy", ""))
        response.close()


def test_the_413_for_an_upload_carries_the_security_headers():
    client = create_app({"TESTING": True, "MAX_UPLOAD_MB": 1}).test_client()
    response = post_api(client, random_bytes(2**20 + 1), "x.jpg")
    assert response.status_code == 413
    assert response.headers["X-Content-Type-Options"] == "nosniff" and response.headers["Referrer-Policy"]
    assert_strict_csp(response.headers["Content-Security-Policy"])


def test_pages_run_no_inline_script_and_the_scripts_never_eval(client):
    pages = [client.get("/"), post_form(client, SMALL_PNG, "x.png"), post_form(client, b"nope", "x.png"),
             client.get("/no/such/page", headers={"Accept": "text/html"})]
    for response in pages:
        soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
        for script in soup.find_all("script"):
            assert script.get("src"), f"inline script: {str(script)[:120]}"
            assert not script.get_text(strip=True)
        for tag in soup.find_all(True):
            handlers = [name for name in tag.attrs if name.lower().startswith("on")]
            assert not handlers, f"inline event handler {handlers} on <{tag.name}>"
            for name in ("href", "src", "action", "formaction"):
                assert not str(tag.get(name, "")).strip().lower().startswith("javascript:"), str(tag)[:120]
    for path in sorted((ROOT / "static" / "js").glob("*.js")):
        source = path.read_text()
        for pattern in (r"\beval\s*\(", r"\bnew\s+Function\s*\(", r"\bset(Timeout|Interval)\s*\(\s*['\"`]"):
            assert not re.search(pattern, source), f"{path.name} matches {pattern}"


def test_an_unexpected_error_is_a_plain_500_without_details(client, monkeypatch):
    from app import pipeline

    def explode(*args, **kwargs):
        raise RuntimeError("boom at /work/main/app/secret.py line 3")

    monkeypatch.setattr(pipeline, "render", explode)
    for response in (post_api(client, SMALL_PNG, "x.png"), post_form(client, SMALL_PNG, "x.png")):
        body = response.get_data(as_text=True)
        assert response.status_code == 500
        assert "boom" not in body and "secret" not in body and "RuntimeError" not in body
        assert_clean(body, response.headers)


def test_debug_is_off_by_default(app):
    assert app.debug is False and app.config["DEBUG"] is False
    assert not app.config.get("PROPAGATE_EXCEPTIONS")


def test_debug_stays_off_whatever_the_environment_says(monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    assert create_app().debug is False


class OpenSpy:
    """Records every os.open that creates a file: all of tempfile's functions go through it."""

    def __init__(self, monkeypatch):
        self.created: list[str] = []
        original = os.open
        creating = os.O_CREAT | getattr(os, "O_TMPFILE", 0)

        def spy(path, flags, *args, **kwargs):
            if flags & creating:
                self.created.append(os.fsdecode(path))
            return original(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", spy)


def big_upload() -> bytes:
    """A 3 MB PNG, stored uncompressed: far over Werkzeug's 500 KB spooling threshold, and quick to quantize."""
    palette = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200], [240, 240, 240]], np.uint8)
    picks = np.frombuffer(random_bytes(1000 * 1000), np.uint8).reshape(1000, 1000) % len(palette)
    return encode(Image.fromarray(palette[picks]), "PNG", compress_level=0)


def test_uploads_are_never_written_to_disk(monkeypatch):
    """Neither the upload nor its decoding (libtiff, libjpeg, libwebp...) creates a file."""
    data = big_upload()
    assert len(data) > 3 * 10**6
    image = Image.open(io.BytesIO(data)).crop((0, 0, 400, 300))
    others = [encode(image, "TIFF", compression="tiff_lzw"), encode(image, "JPEG"), encode(image, "WEBP"),
              case_data(BY_ID["gif-5000-frames"])]
    client = create_app({"TESTING": True, "CACHE_MB": 0}).test_client()
    spy = OpenSpy(monkeypatch)
    for upload in (data, *others):
        response = post_api(client, upload, "big.png", format="jpeg")
        assert response.status_code == 200, response.get_data(as_text=True)[:200]
    assert spy.created == [], f"the upload touched the disk: {spy.created}"


def test_the_disk_spy_catches_werkzeugs_default_spooling(monkeypatch):
    """The control for the test above: with Flask's own Request class, the same upload goes to a temp file."""
    from flask import Request

    app = create_app({"TESTING": True, "CACHE_MB": 0})
    app.request_class = Request
    spy = OpenSpy(monkeypatch)
    with app.test_request_context("/api/quantize", method="POST",
                                  **client_multipart(("image", ("big.png", big_upload())), ("k", "4"))) as context:
        upload = context.request.files["image"]
        assert len(upload.read()) > 3 * 10**6
        upload.close()
    assert spy.created, "Werkzeug no longer spools big uploads: the spy proves nothing"


def test_the_app_has_no_way_to_fetch_urls():
    """No module of the app imports an HTTP or socket client."""
    import ast

    clients = {"urllib.request", "http.client", "requests", "urllib3", "httpx", "aiohttp", "socket", "ftplib",
               "smtplib", "pycurl", "urllib"}
    for path in sorted((ROOT / "app").glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.module != "urllib" else [f"urllib.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                assert name not in clients and not name.startswith(("urllib.request", "http.client")), (
                    f"{path.name} imports {name}"
                )


def test_a_url_instead_of_a_photo_is_refused_without_fetching_it(client):
    import http.server
    import threading

    hits = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(SMALL_PNG)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/photo.png"
        for fields in ([("image", url)], [("image_url", url), ("url", url)], [("image", ("x.png", url.encode()))]):
            response = client.post("/api/quantize", headers={"Accept": "application/json"}, **client_multipart(*fields))
            assert 400 <= response.status_code < 500
        svg = f'<svg xmlns="http://www.w3.org/2000/svg"><image href="{url}" width="9" height="9"/></svg>'.encode()
        assert post_api(client, svg, "x.svg").status_code == 415
    finally:
        server.shutdown()
        server.server_close()
    assert hits == [], f"the server fetched {hits}"


# --- the other endpoints take the same uploads -----------------------------------------------------------------------

OTHER_ENDPOINTS = ["/api/curve", "/api/contact-sheet", "/api/palette"]
BAD_FOR_EVERY_ENDPOINT = ["zero-bytes", "html", "truncated-png", "png-claims-60000x60000", "fully-transparent",
                          "script-name-not-image"]


@pytest.mark.parametrize("path", OTHER_ENDPOINTS)
def test_every_endpoint_refuses_bad_uploads_in_words(client, path):
    for case_id in BAD_FOR_EVERY_ENDPOINT:
        case = BY_ID[case_id]
        response = client.post(path, headers={"Accept": "application/json"},
                               **client_multipart(("image", (case.filename, case_data(case)))))
        body = response.get_data(as_text=True)
        assert response.status_code in case.expect, (path, case_id, response.status_code, body[:200])
        assert_clean(body, response.headers)
        assert response.get_json()["error"]["message"]


@pytest.mark.parametrize("path, fields", [("/api/contact-sheet", [("ks", "2,4")])] +
                         [("/api/palette", [("k", "4"), ("format", fmt)]) for fmt in ("json", "css", "gpl", "png")])
def test_every_download_names_itself_safely(client, path, fields):
    response = client.post(path, **client_multipart(("image", (HOSTILE_NAME, SMALL_PNG)), *fields))
    assert response.status_code == 200, response.get_data(as_text=True)[:200]
    assert re.fullmatch(r'attachment; filename="[A-Za-z0-9_.-]+"', response.headers["Content-Disposition"])
    assert b"<script>" not in response.data and b"alert(1)" not in response.data
    assert_clean(response.get_data(as_text=True) if response.mimetype != "image/png" else "", response.headers)


def test_a_form_with_thousands_of_fields_is_refused_for_what_it_is(client):
    fields = [(f"field{i}", "1") for i in range(client.application.config.get("MAX_FORM_PARTS") or 1500)]
    response = client.post("/api/quantize", **client_multipart(("image", ("x.png", SMALL_PNG)), *fields, ("k", "4")))
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "too_many_fields" and "parts" in error["message"], error
    assert "MB" not in error["message"], "a small form was told it is too large"
