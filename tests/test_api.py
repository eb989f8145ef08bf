"""The HTTP API through Flask's test client, and one round trip against the real server."""

import base64
import io
import json
import urllib.error
import urllib.request
import uuid

import numpy as np
import pytest
from PIL import Image

from app import create_app
from testsupport.forms import multipart


def image_bytes(fmt="PNG", shape=(48, 64), seed=0, mode="RGB", **options) -> bytes:
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 / w, y * 255 / h, 128 + 60 * np.sin(x / 5)], axis=-1)
    rgb = np.clip(rgb + rng.normal(0, 10, rgb.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).convert(mode).save(buffer, fmt, **options)
    return buffer.getvalue()


def post(client, data=None, image=None, filename="photo.png", accept=None, **fields):
    form = {key: value for key, value in fields.items()}
    if image is not None:
        form["image"] = (io.BytesIO(image), filename)
    if data:
        form.update(data)
    headers = {"Accept": accept} if accept else {}
    return client.post("/api/quantize", data=form, headers=headers, content_type="multipart/form-data")


def post_json(client, image=None, **fields):
    return post(client, image=image, accept="application/json", **fields)


def decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGBA"))


def colors_in(rgba: np.ndarray) -> set[str]:
    visible = rgba[..., 3] > 0
    return {"#%02x%02x%02x" % tuple(c) for c in np.unique(rgba[..., :3][visible], axis=0).tolist()}


def assert_error(response, status: int, code: str | None = None, *named: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) >= {"code", "message"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    for text in named:
        assert text in body["error"]["message"]
    return body


# --- the binary answer ---------------------------------------------------------------------------


def test_default_answer_is_the_png(client):
    response = post(client, image=image_bytes(), k="5", filename="holiday photo.jpg")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.headers["Content-Disposition"] == 'attachment; filename="holiday-photo-k5.png"'
    assert response.headers.get("X-Image-Id")
    rgba = decoded(response.data)
    assert rgba.shape == (48, 64, 4)
    assert len(colors_in(rgba)) == 5
    assert response.data[24] == 4  # paletted PNG, 4 bits for 5 colors


def test_a_browser_accept_header_still_gets_the_png(client):
    response = post(client, image=image_bytes(), k="3", accept="text/html,application/xhtml+xml,*/*;q=0.8")
    assert response.status_code == 200 and response.mimetype == "image/png"


def test_k_defaults_to_the_setting(client, app):
    response = post(client, image=image_bytes(), filename="a.png")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith(f'a-k{app.config["DEFAULT_K"]}.png"')
    assert len(colors_in(decoded(response.data))) <= app.config["DEFAULT_K"]


@pytest.mark.parametrize("filename, stem", [("../../etc/passwd", "passwd"), ("C:/x/Ünïcode ☃.png", "n-code"),
                                            ("...", "image"), ("a b;c.png", "a-b-c"), (".hidden", "image")])
def test_the_download_name_is_safe(client, filename, stem):
    response = post(client, image=image_bytes(), k="2", filename=filename)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == f'attachment; filename="{stem}-k2.png"'


@pytest.mark.parametrize("fmt, mime, suffix", [("jpeg", "image/jpeg", "jpg"), ("jpg", "image/jpeg", "jpg"),
                                               ("webp", "image/webp", "webp")])
def test_other_output_formats(client, fmt, mime, suffix):
    response = post(client, image=image_bytes(), k="4", format=fmt, filename="p.png")
    assert response.status_code == 200
    assert response.mimetype == mime
    assert response.headers["Content-Disposition"].endswith(f'p-k4.{suffix}"')
    assert decoded(response.data).shape == (48, 64, 4)


# --- the JSON answer -----------------------------------------------------------------------------


def test_json_answer_has_every_field(client):
    source = image_bytes()
    response = post_json(client, image=source, k="6", filename="sunset.png")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert {"image", "image_id", "palette", "psnr", "delta_e", "original", "result", "timings", "k", "colors",
            "width", "height", "filename"} <= set(body)
    prefix = "data:image/png;base64,"
    assert body["image"].startswith(prefix)
    png = base64.b64decode(body["image"][len(prefix):])
    rgba = decoded(png)
    assert body["k"] == 6 and body["colors"] == len(body["palette"]) == 6
    assert body["filename"] == "sunset-k6.png"
    assert (body["width"], body["height"]) == (64, 48)
    # palette: exactly the colors in the image, sorted by share, shares summing to 1
    assert colors_in(rgba) == {p["hex"] for p in body["palette"]}
    shares = [p["share"] for p in body["palette"]]
    assert shares == sorted(shares, reverse=True) and sum(shares) == pytest.approx(1, abs=1e-5)
    for swatch in body["palette"]:
        assert set(swatch) == {"hex", "share"}
        assert len(swatch["hex"]) == 7 and swatch["hex"] == swatch["hex"].lower() and swatch["hex"][0] == "#"
        count = int(np.all(rgba[..., :3] == [int(swatch["hex"][i : i + 2], 16) for i in (1, 3, 5)], axis=2).sum())
        assert count / (48 * 64) == pytest.approx(swatch["share"], abs=1e-6)
    # figures
    original = np.asarray(Image.open(io.BytesIO(source)).convert("RGB")).astype(float)
    mse = ((original - rgba[..., :3]) ** 2).mean()
    assert body["psnr"] == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-3)
    assert isinstance(body["delta_e"], float) and body["delta_e"] > 0
    expected_original = {"width": 64, "height": 48, "pixels": 3072, "bytes": len(source), "format": "PNG",
                         "unique_colors": len(np.unique(original.reshape(-1, 3), axis=0))}
    assert {key: body["original"].get(key) for key in expected_original} == expected_original
    assert body["result"]["bytes"] == len(png)
    assert body["result"]["format"] == "png"
    assert body["result"]["bit_depth"] == png[24] == 4
    assert body["result"]["full_resolution"] is True
    assert {"decode_ms", "quantize_ms", "encode_ms"} <= set(body["timings"])
    assert isinstance(body["image_id"], str) and body["image_id"]


def test_json_psnr_is_null_when_the_image_is_unchanged(client):
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10), (1, 2, 3)).save(buffer, "PNG")
    body = post_json(client, image=buffer.getvalue(), k="2").get_json()
    assert body["psnr"] is None and body["delta_e"] == 0
    assert body["palette"] == [{"hex": "#010203", "share": 1.0}]
    assert body["original"]["unique_colors"] == 1


def test_the_same_request_gives_the_same_bytes(client):
    source = image_bytes(seed=3)
    first = post(client, image=source, k="9").data
    second = post(client, image=source, k="9").data
    assert first == second


# --- image_id --------------------------------------------------------------------------------------


def test_image_id_reuses_the_photo_without_sending_it_again(client):
    source = image_bytes(seed=4)
    first = post_json(client, image=source, k="3", filename="cat.png").get_json()
    token = first["image_id"]
    again = post_json(client, image_id=token, k="7")
    assert again.status_code == 200
    body = again.get_json()
    assert body["k"] == 7 and len(body["palette"]) == 7
    assert body["original"] == first["original"]
    assert body["filename"] == "cat-k7.png"
    assert "decode_ms" in first["timings"] and "decode_ms" not in body["timings"]  # not decoded again
    binary = post(client, image_id=token, k="7")
    assert binary.status_code == 200 and binary.mimetype == "image/png"
    # same answer as sending the photo again
    assert binary.data == post(client, image=source, k="7").data


def test_an_unknown_image_id_is_410_image_expired(client):
    response = post_json(client, image_id=uuid.uuid4().hex, k="4")
    assert_error(response, 410, "image_expired")


def test_an_expired_image_id_is_410(app, client):
    token = post_json(client, image=image_bytes(), k="3").get_json()["image_id"]
    cache = app.extensions["photo_cache"]
    clock = [cache._clock()]
    cache._clock = lambda: clock[0]
    clock[0] += cache.ttl + 1
    assert_error(post_json(client, image_id=token, k="4"), 410, "image_expired")


def test_with_the_cache_off_there_is_no_image_id():
    client = create_app({"TESTING": True, "CACHE_MB": 0}).test_client()
    response = post(client, image=image_bytes(), k="3")
    assert response.status_code == 200 and "X-Image-Id" not in response.headers
    assert post_json(client, image=image_bytes(), k="3").get_json()["image_id"] is None


# --- max_side preview ------------------------------------------------------------------------------


def test_max_side_shrinks_the_image_but_keeps_palette_and_figures(client):
    source = image_bytes(shape=(120, 200), seed=5)
    full = post_json(client, image=source, k="5").get_json()
    preview = post_json(client, image=source, k="5", max_side="50").get_json()
    assert (preview["width"], preview["height"]) == (50, 30)
    png = base64.b64decode(preview["image"].split(",", 1)[1])
    assert decoded(png).shape[:2] == (30, 50)
    assert preview["palette"] == full["palette"]
    assert (preview["psnr"], preview["delta_e"]) == (full["psnr"], full["delta_e"])
    assert preview["original"] == full["original"]
    assert preview["result"]["full_resolution"] is False and full["result"]["full_resolution"] is True
    assert colors_in(decoded(png)) <= {p["hex"] for p in full["palette"]}


# --- errors ----------------------------------------------------------------------------------------


def test_missing_image_is_400(client):
    assert_error(post(client, k="4"), 400, "bad_request", "image")


def test_not_multipart_is_400(client):
    response = client.post("/api/quantize", data=image_bytes(), content_type="image/png")
    assert_error(response, 400, "bad_request")


@pytest.mark.parametrize("k", ["1", "257", "0", "-1", "abc", "2.5", "16.0", "", " ", "1e3", "99999999999"])
def test_bad_k_is_400_naming_the_value(client, k):
    body = assert_error(post(client, image=image_bytes(), k=k), 400, "bad_request", "k")
    if k.strip():
        assert k[:10] in body["error"]["message"]


def test_k_above_a_lower_max_k_setting_is_400():
    client = create_app({"TESTING": True, "MAX_K": 64, "DEFAULT_K": 16}).test_client()
    assert_error(post(client, image=image_bytes(), k="65"), 400, "bad_request", "65", "64")
    assert post(client, image=image_bytes(), k="64").status_code == 200


@pytest.mark.parametrize("field, value", [("color_space", "hsv"), ("dither", "ordered"), ("method", "magic"),
                                          ("format", "gif"), ("max_side", "5"), ("max_side", "big")])
def test_bad_option_is_400_naming_it(client, field, value):
    assert_error(post(client, image=image_bytes(), k="4", **{field: value}), 400, "bad_request", field, value)


def test_repeated_field_is_400(client):
    response = client.post("/api/quantize", data={"image": (io.BytesIO(image_bytes()), "a.png"), "k": ["4", "5"]},
                           content_type="multipart/form-data")
    assert_error(response, 400, "bad_request", "k")


def test_two_images_is_400(client):
    response = client.post("/api/quantize",
                           data={"image": [(io.BytesIO(image_bytes()), "a.png"), (io.BytesIO(image_bytes()), "b.png")]},
                           content_type="multipart/form-data")
    assert_error(response, 400, "bad_request")


def test_fields_are_checked_before_the_image_is_decoded(client):
    # a bad k with a non-image: the cheap field check answers, not the decoder
    assert_error(post(client, image=b"not an image", k="999"), 400, "bad_request")


def test_too_large_upload_is_413():
    client = create_app({"TESTING": True, "MAX_UPLOAD_MB": 1}).test_client()
    big = image_bytes(fmt="BMP", shape=(600, 600))  # about 1.08 MB
    assert len(big) > 2**20
    # a body built here: the test client would spool a large one to a temporary file it never closes
    body, content_type = multipart(("k", "4"), ("image", ("big.bmp", big)))
    response = client.post("/api/quantize", data=body, content_type=content_type,
                           headers={"Accept": "application/json"})
    assert_error(response, 413, "too_large", "1 MB")
    assert post(client, image=image_bytes(), k="4").status_code == 200


def test_too_many_pixels_is_413():
    client = create_app({"TESTING": True, "MAX_PIXELS": 1000}).test_client()
    assert_error(post(client, image=image_bytes(shape=(48, 64)), k="4"), 413, "too_many_pixels", "megapixels")


@pytest.mark.parametrize("data", [b"hello, this is text", b"%PDF-1.7\n" + bytes(100), b"GIF89a" + bytes(3),
                                  b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'])
def test_not_an_image_is_415(client, data):
    assert_error(post(client, image=data, k="4", filename="x.jpg"), 415, "unsupported_image")


def test_an_empty_file_is_an_error_not_a_crash(client):
    response = post(client, image=b"", k="4")
    assert response.status_code in (400, 415)
    assert_error(response, response.status_code)


def test_a_truncated_image_is_422(client):
    whole = image_bytes(shape=(100, 100))
    assert_error(post(client, image=whole[: len(whole) // 2], k="4"), 422, "unusable_image")


def test_a_fully_transparent_image_is_422(client):
    buffer = io.BytesIO()
    Image.new("RGBA", (8, 8), (255, 0, 0, 0)).save(buffer, "PNG")
    assert_error(post(client, image=buffer.getvalue(), k="4"), 422, "unusable_image")


def test_k_256_on_a_transparent_photo_with_many_colors_is_answered(client):
    rgb = np.asarray(Image.open(io.BytesIO(image_bytes(shape=(64, 64)))).convert("RGB"))
    alpha = np.full((64, 64), 255, np.uint8)
    alpha[:8] = 0
    buffer = io.BytesIO()
    Image.fromarray(np.dstack([rgb, alpha])).save(buffer, "PNG")
    response = post(client, image=buffer.getvalue(), k="256")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    rgba = decoded(response.data)
    np.testing.assert_array_equal(rgba[..., 3], alpha)
    assert len(colors_in(rgba)) <= 256


def test_wrong_method_is_405_json(client):
    response = client.get("/api/quantize")
    assert_error(response, 405)
    assert "POST" in response.headers["Allow"]


def test_unknown_api_path_is_404_json(client):
    assert_error(client.get("/api/nothing-here"), 404)


# --- every input format and mode through the API -------------------------------------------------


@pytest.mark.parametrize(
    "fmt, mode, options",
    [("JPEG", "RGB", {}), ("PNG", "RGBA", {}), ("WEBP", "RGB", {}), ("GIF", "P", {}), ("BMP", "RGB", {}),
     ("TIFF", "CMYK", {}), ("PNG", "L", {}), ("PNG", "1", {}), ("PNG", "LA", {}), ("TIFF", "I", {}), ("TIFF", "F", {}),
     ("PNG", "I;16", {})],
)
def test_every_format_and_mode_is_accepted(client, fmt, mode, options):
    if mode in ("I", "F", "I;16"):
        gray = np.asarray(Image.open(io.BytesIO(image_bytes(mode="L"))))
        values = {"I": gray.astype(np.int32), "F": gray.astype(np.float32) / 255,
                  "I;16": gray.astype(np.uint16) * 257}[mode]
        buffer = io.BytesIO()
        Image.fromarray(values).save(buffer, fmt)
        data = buffer.getvalue()
    else:
        data = image_bytes(fmt=fmt, mode=mode, **options)
    response = post_json(client, image=data, k="3")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["original"]["format"] == fmt
    assert (body["width"], body["height"]) == (64, 48)
    assert len(body["palette"]) <= 3


# --- other routes ----------------------------------------------------------------------------------


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200


def test_openapi_document(client, app):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    doc = response.get_json()
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["title"] and doc["info"]["version"]
    operation = doc["paths"]["/api/quantize"]["post"]
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    fields = {"image", "image_id", "k", "color_space", "dither", "method", "format", "max_side"}
    assert fields <= set(schema["properties"])
    k = schema["properties"]["k"]
    expected_k = ("integer", 2, app.config["MAX_K"], app.config["DEFAULT_K"])
    assert (k["type"], k["minimum"], k["maximum"], k["default"]) == expected_k
    for status in ("200", "400", "410", "413", "415", "422"):
        assert status in operation["responses"]
    assert "image/png" in operation["responses"]["200"]["content"]
    assert "application/json" in operation["responses"]["200"]["content"]
    # every $ref resolves
    text = json.dumps(doc)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        node = doc
        for key in ref.lstrip("#/").split("/"):
            node = node[key]
    # the JSON answer's fields are all described
    recolored = doc["components"]["schemas"]["Recolored"]["properties"]
    answer = post_json(client, image=image_bytes(), k="3").get_json()
    assert set(answer) <= set(recolored)


def test_api_answers_carry_security_headers(client):
    response = post(client, image=image_bytes(), k="2")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- the real server -------------------------------------------------------------------------------


def test_real_server_round_trip_with_a_corpus_photo(live_server, corpus):
    photo = corpus / "kodim23.png"
    body, content_type = multipart(("k", "8"), ("image", (photo.name, photo.read_bytes())))
    request = urllib.request.Request(f"{live_server}/api/quantize", data=body, method="POST",
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.status == 200
        answer = json.loads(response.read())
    png = base64.b64decode(answer["image"].split(",", 1)[1])
    rgba = decoded(png)
    assert rgba.shape[:2] == (512, 768)
    assert colors_in(rgba) == {p["hex"] for p in answer["palette"]} and len(answer["palette"]) == 8
    assert answer["original"]["pixels"] == 768 * 512
    assert answer["psnr"] > 20

    # the binary download of the same photo, then the same k again by image_id
    body, content_type = multipart(("k", "8"), ("image", (photo.name, photo.read_bytes())))
    request = urllib.request.Request(f"{live_server}/api/quantize", data=body, method="POST",
                                     headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.headers["Content-Type"] == "image/png"
        assert response.headers["Content-Disposition"] == 'attachment; filename="kodim23-k8.png"'
        assert response.read() == png
        token = response.headers["X-Image-Id"]
    body, content_type = multipart(("k", "8"), ("image_id", token))
    request = urllib.request.Request(f"{live_server}/api/quantize", data=body, method="POST",
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            assert response.read() == png  # same worker: the cached photo
    except urllib.error.HTTPError as error:
        assert error.code == 410  # another worker: the page sends the photo again
        assert json.loads(error.read())["error"]["code"] == "image_expired"


def test_real_server_healthz_and_error_shape(live_server):
    with urllib.request.urlopen(f"{live_server}/healthz", timeout=10) as response:
        assert response.status == 200
    body, content_type = multipart(("k", "4"), ("image", ("x.jpg", b"plain text")))
    request = urllib.request.Request(f"{live_server}/api/quantize", data=body, method="POST",
                                     headers={"Content-Type": content_type})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == 415
    assert json.loads(info.value.read())["error"]["code"] == "unsupported_image"
    info.value.close()


# --- min_region: cleaning up specks --------------------------------------------------------------


def test_min_region_cleans_and_the_figures_describe_the_cleaned_image(client):
    from scipy import ndimage

    photo = image_bytes(shape=(60, 80), seed=3)
    plain = post_json(client, image=photo, k="6").get_json()
    cleaned = post_json(client, image=photo, k="6", min_region="25").get_json()
    assert plain["regions"] is None and plain["options"]["min_region"] == 0
    assert cleaned["options"]["min_region"] == 25
    assert cleaned["regions"]["after"] < cleaned["regions"]["before"]
    rgba = decoded(base64.b64decode(cleaned["image"].split(",", 1)[1]))
    original = decoded(photo)[..., :3].astype(np.float64)
    assert cleaned["psnr"] == pytest.approx(10 * np.log10(255**2 / ((original - rgba[..., :3]) ** 2).mean()), abs=1e-3)
    assert cleaned["psnr"] < plain["psnr"]
    for hex_code in colors_in(rgba):
        mask = (rgba[..., :3] == [int(hex_code[i:i + 2], 16) for i in (1, 3, 5)]).all(axis=2)
        labelled, count = ndimage.label(mask)
        assert np.bincount(labelled.ravel())[1:].min() >= 25
    assert [p["hex"] for p in cleaned["palette"]] == sorted(colors_in(rgba), key=lambda h: -(
        (rgba[..., :3] == [int(h[i:i + 2], 16) for i in (1, 3, 5)]).all(axis=2).sum()))


@pytest.mark.parametrize("value", ["-1", "1000001", "ten", "", "2.5"])
def test_a_bad_min_region_is_a_400_naming_it(client, value):
    assert_error(post(client, image=image_bytes(), k="4", min_region=value), 400, "bad_request", "min_region")


def test_min_region_with_dither_is_a_400_saying_why(client):
    response = post(client, image=image_bytes(), k="4", min_region="10", dither="floyd-steinberg")
    assert_error(response, 400, "bad_request", "min_region", "dither")
