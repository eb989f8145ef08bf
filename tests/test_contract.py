"""The OpenAPI document is a contract: every bound it states is the bound the API enforces.

For every operation and every form parameter with an enum, a minimum or a maximum,
a value just outside gets 400 and a JSON error whose message names the parameter,
and every boundary value (each choice, the minimum, the maximum) gets 200. Tiny
generated images keep it fast; the Flask test client runs every case, and one
test runs them all once more against the real gunicorn.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest

from app import create_app
from testsupport.forms import client_multipart, multipart
from testsupport.images import gradient, png_bytes

TINY = png_bytes(gradient(8, 6))


@dataclass(frozen=True)
class Case:
    path: str
    name: str
    value: str
    status: int  # 200 for a boundary value, 400 for one just outside

    @property
    def id(self) -> str:
        return f"{self.path} {self.name}={self.value} -> {self.status}"


def bounded_parameters(document: dict) -> list[tuple[str, str, dict]]:
    """(path, name, schema) of every form parameter of every operation with an enum, a minimum or a maximum."""
    found = []
    for path, methods in document["paths"].items():
        for operation in methods.values():
            body = operation.get("requestBody")
            if not body:
                continue
            for name, schema in body["content"]["multipart/form-data"]["schema"]["properties"].items():
                if {"enum", "minimum", "maximum"} & set(schema):
                    found.append((path, name, schema))
    return found


def cases_for(path: str, name: str, schema: dict) -> list[Case]:
    cases = []
    for choice in schema.get("enum", []):
        cases.append(Case(path, name, choice, 200))
    if "enum" in schema:
        cases.append(Case(path, name, max(schema["enum"], key=len) + "x", 400))
    if "minimum" in schema:
        cases += [Case(path, name, str(schema["minimum"]), 200), Case(path, name, str(schema["minimum"] - 1), 400)]
    if "maximum" in schema:
        cases += [Case(path, name, str(schema["maximum"]), 200), Case(path, name, str(schema["maximum"] + 1), 400)]
    return cases


def all_cases(document: dict) -> list[Case]:
    return [case for parameter in bounded_parameters(document) for case in cases_for(*parameter)]


DOCUMENT = create_app({"TESTING": True}).test_client().get("/api/openapi.json").get_json()
CASES = all_cases(DOCUMENT)


def check_answer(case: Case, status: int, content_type: str, body: bytes) -> None:
    assert status == case.status, (case.id, body[:300])
    if case.status == 400:
        assert content_type.startswith("application/json"), case.id
        error = json.loads(body)["error"]
        assert error["code"] == "bad_request"
        assert error["message"].startswith(case.name) or f"in {case.name} " in error["message"], (case.id, error)
        assert case.value in error["message"], (case.id, error)


def test_the_contract_covers_every_bounded_option():
    checked = {(path, name) for path, name, _ in bounded_parameters(DOCUMENT)}
    for path, names in {
        "/api/quantize": ("k", "color_space", "dither", "method", "format", "max_side"),
        "/api/curve": ("color_space",),
        "/api/contact-sheet": ("color_space", "dither", "method", "max_side"),
        "/api/palette": ("k", "color_space", "dither", "method", "format"),
    }.items():
        for name in names:
            assert (path, name) in checked, (path, name)
    # the bound that once went undocumented: max_side of a preview
    max_side = DOCUMENT["paths"]["/api/quantize"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert max_side["schema"]["properties"]["max_side"]["maximum"] == 100_000


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_each_bound_in_the_document_is_the_bound_enforced(client, case):
    response = client.post(case.path, headers={"Accept": "application/json"},
                           **client_multipart(("image", ("tiny.png", TINY)), (case.name, case.value)))
    check_answer(case, response.status_code, response.content_type, response.get_data())


def test_the_real_server_keeps_the_contract(live_server):
    with urllib.request.urlopen(live_server + "/api/openapi.json", timeout=30) as response:
        cases = all_cases(json.loads(response.read()))
    assert cases == CASES  # the served document is the one the test client saw
    for case in cases:
        body, content_type = multipart(("image", ("tiny.png", TINY)), (case.name, case.value))
        request = urllib.request.Request(live_server + case.path, data=body, method="POST",
                                         headers={"Content-Type": content_type, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                check_answer(case, response.status, response.headers["Content-Type"], response.read())
        except urllib.error.HTTPError as error:
            with error:
                check_answer(case, error.code, error.headers["Content-Type"], error.read())
