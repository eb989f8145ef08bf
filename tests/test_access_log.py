"""app.access_log: one log line a request, never the image or its name, and the Server-Timing header (the
forged-line test is in test_deploy.py)."""

import io
import logging
import re

from testsupport.images import gradient, png_bytes

TIMING = re.compile(r"^(\w+);dur=(\d+\.\d)$")


def server_timing(response) -> dict[str, float]:
    entries = [TIMING.match(part.strip()) for part in response.headers["Server-Timing"].split(",")]
    assert all(entries), response.headers["Server-Timing"]
    return {entry.group(1): float(entry.group(2)) for entry in entries}


def test_a_recolored_photo_logs_its_figures_and_says_where_its_time_went(client, caplog):
    caplog.set_level(logging.INFO, logger="kmeans_filter.access")
    response = client.post("/api/quantize", data={"image": (io.BytesIO(png_bytes(gradient(48, 32))), "secret-name.png"),
                                                  "k": "4"}, content_type="multipart/form-data")
    assert response.status_code == 200
    timing = server_timing(response)
    assert set(timing) == {"app", "cpu", "process", "gc"}
    # The engine ran in this request: its thread used CPU, and the process at least as much.
    assert timing["app"] > 0 and 0 < timing["cpu"] <= timing["process"] + 0.1
    lines = [record.getMessage() for record in caplog.records if record.name == "kmeans_filter.access"]
    assert len(lines) == 1 and re.fullmatch(r"POST /api/quantize 200 \d+\.\dms pixels=1536 k=4", lines[0])
    assert "secret-name" not in lines[0]


def test_a_refused_request_has_its_timing_too(client):
    response = client.post("/api/quantize", data={"k": "4"}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert set(server_timing(response)) == {"app", "cpu", "process", "gc"}

