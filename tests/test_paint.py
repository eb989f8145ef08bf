"""POST /api/paint-by-number through Flask's test client: answers, fields and errors."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from test_api import assert_error, image_bytes


def post(client, **fields):
    form = dict(fields)
    if "image" in form:
        form["image"] = (io.BytesIO(form["image"]), "my photo.png")
    return client.post("/api/paint-by-number", data=form, content_type="multipart/form-data")


def test_the_default_answer_is_an_svg_attachment(client):
    response = post(client, image=image_bytes(shape=(30, 40)), k="4")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.headers["Content-Disposition"] == 'attachment; filename="my-photo-k4-paint-by-number.svg"'
    root = ET.fromstring(response.data)
    legend = root.find("{http://www.w3.org/2000/svg}g[@id='legend']")
    assert len(legend) == int(response.headers["X-Colors"]) <= 4
    numbers = root.find("{http://www.w3.org/2000/svg}g[@id='numbers']")
    assert len(numbers) == int(response.headers["X-Regions"])
    assert response.headers.get("X-Image-Id")


def test_png_and_image_id(client):
    first = post(client, image=image_bytes(shape=(30, 40)), k="5", format="png", min_region="2000")
    assert first.status_code == 200 and first.mimetype == "image/png"
    with Image.open(io.BytesIO(first.data)) as image:
        assert image.width == 2400
    again = post(client, image_id=first.headers["X-Image-Id"], k="5", format="png", min_region="2000")
    assert again.status_code == 200 and again.data == first.data


@pytest.mark.parametrize("fields, named", [
    ({"format": "pdf"}, "format"),
    ({"k": "1"}, "k"),
    ({"min_region": "-5"}, "min_region"),
    ({"color_space": "hsv"}, "color_space"),
])
def test_bad_fields_are_400s_naming_them(client, fields, named):
    assert_error(post(client, image=image_bytes(), **fields), 400, "bad_request", named)


def test_no_photo_is_a_400_and_a_gone_one_a_410(client):
    assert_error(post(client, k="4"), 400, "bad_request", "image")
    assert_error(post(client, image_id="nope", k="4"), 410, "image_expired")
