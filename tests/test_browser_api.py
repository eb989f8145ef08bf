"""static/js/api.js, sent.js and sha256.js in headless chromium against gunicorn: never the same photo twice, retries.

Outside CI these tests skip when /usr/bin/chromium is missing; in CI (CI=true) they must run.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from testsupport.browser import csp_violations, open_page, upload, wait_for_result
from testsupport.images import png_bytes


@pytest.fixture
def open_app(browser, live_server):
    opened = []

    def opener():
        context, page, guard, problems = open_page(browser, live_server)
        opened.append((context, page, guard, problems))
        return page

    yield opener
    for context, page, guard, problems in opened:
        violations = csp_violations(page)
        context.close()
        assert guard.outside == [] and violations == [] and problems == [], (guard.outside, violations, problems)


class Uploads:
    """Requests that carry the photo itself, those that ask by image_id, and the uploads the server answered."""

    def __init__(self, page):
        self.files, self.by_id, self.answered, self.first, self.bodies = [], [], [], None, []
        page.on("request", self.seen)
        page.on("response", self.answer)

    @staticmethod
    def carries_file(request) -> bool:
        return request.method == "POST" and b'name="image"; filename=' in (request.post_data_buffer or b"")

    def seen(self, request) -> None:
        if request.method != "POST":
            return
        if self.carries_file(request):
            self.files.append(request.url)
            self.bodies.append(request.post_data_buffer)
        elif b"image_id=" in (request.post_data_buffer or b""):
            self.by_id.append(request.url)
        self.first = self.first or ("upload" if self.carries_file(request) else "by id")

    def answer(self, response) -> None:
        if self.carries_file(response.request):
            self.answered.append(response.status)


def test_the_fallback_sha256_matches_hashlib_and_the_native_digest(open_app, corpus):
    page = open_app()
    lengths = [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 65_537]
    digests = page.evaluate("""async (lengths) => {
        const { sha256Hex } = await import('/static/js/sha256.js');
        const out = [];
        for (const n of lengths) {
            const bytes = new Uint8Array(n).map((_, i) => (i * 131 + 7) & 255);
            out.push([await sha256Hex(new Blob([bytes]), { native: false }), await sha256Hex(new Blob([bytes]))]);
        }
        return out;
    }""", lengths)
    for n, (fallback, native) in zip(lengths, digests):
        expected = hashlib.sha256(bytes((i * 131 + 7) & 255 for i in range(n))).hexdigest()
        assert fallback == native == expected, n
    photo = (corpus / "cam_olympus_ep3_12mp.jpg")
    page.set_input_files("#image", str(photo))  # the file the browser holds, hashed without crypto.subtle
    wait_for_result(page, 16)
    fallback = page.evaluate("""async () => {
        const { sha256Hex } = await import('/static/js/sha256.js');
        return sha256Hex(document.getElementById('image').files[0], { native: false });
    }""")
    assert fallback == hashlib.sha256(photo.read_bytes()).hexdigest()


def fresh_photo(folder: Path, name: str = "fresh.png") -> Path:
    """A photo no earlier test has sent to the session's server, its file dated a minute ago (as a photo on disk is)."""
    rng = np.random.default_rng(uuid.uuid4().int)
    path = folder / name
    path.write_bytes(png_bytes(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)))
    minute_ago = time.time() - 60
    os.utime(path, (minute_ago, minute_ago))
    return path


def uploads_of(sent: Uploads, name: str) -> int:
    return sum(1 for body in sent.bodies if f'filename="{name}"'.encode() in body)


def test_a_photo_is_uploaded_at_once_and_then_asked_for_by_hash(open_app, tmp_path):
    photo = fresh_photo(tmp_path)
    page = open_app()
    sent = Uploads(page)
    upload(page, photo)
    assert sent.first == "upload" and sent.files[0].endswith("/api/palettes")  # no hash round trip first
    page.fill("#k", "7")
    wait_for_result(page, 7)
    # One upload reached the server (a connection dropped under a loaded machine is retried, as it should be).
    # Its answer may be overtaken by the ask by hash that races it (api.js firstUpload: meant for a server that
    # had the photo already), which the server answers from this very upload; the page then drops the upload.
    assert sent.answered in ([200], []) and any(url.endswith("/api/palettes") for url in sent.by_id)


def test_the_same_photo_chosen_again_and_after_a_reload_is_never_uploaded_twice(open_app, tmp_path):
    first, other = fresh_photo(tmp_path, "first.png"), fresh_photo(tmp_path, "other.png")
    page = open_app()
    sent = Uploads(page)
    upload(page, first)
    assert sent.first == "upload"  # never sent from this browser: at once, no hash round trip first
    upload(page, other)
    upload(page, first)  # chosen again: asked for by hash, and the server has it
    page.reload()
    page.wait_for_function("() => document.getElementById('app').dataset.ready === 'true'")
    upload(page, first)
    assert uploads_of(sent, "first.png") == 1 and uploads_of(sent, "other.png") == 1
    assert page.is_hidden("#error")


def test_a_pasted_image_is_hashed_first_and_never_uploaded_twice(open_app, tmp_path):
    photo = fresh_photo(tmp_path, "pasted.png")
    page = open_app()
    sent = Uploads(page)
    paste = """async (bytes) => {
        const data = new DataTransfer();
        data.items.add(new File([new Uint8Array(bytes)], 'image.png', { type: 'image/png' }));
        document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data }));
    }"""
    for _ in range(2):  # each paste is a new File dated now: only its hash can tell it was sent
        page.evaluate(paste, list(photo.read_bytes()))
        wait_for_result(page, 16)
    page.reload()
    page.wait_for_function("() => document.getElementById('app').dataset.ready === 'true'")
    page.evaluate(paste, list(photo.read_bytes()))
    wait_for_result(page, 16)
    assert len(sent.files) == 1 and page.is_hidden("#error")


def test_the_memory_of_photos_sent_keeps_the_last_50_and_only_stable_identities(open_app):
    page = open_app()
    state = page.evaluate("""async () => {
        const sent = await import('/static/js/sent.js');
        const hash = (i) => i.toString(16).padStart(64, '0');
        for (let i = 1; i <= 60; i++) sent.remember(hash(i), null);
        const old = new File(['x'], 'a.jpg', { lastModified: Date.now() - 3_600_000 });
        const renamed = new File(['x'], 'b.jpg', { lastModified: old.lastModified });
        sent.remember(hash(61), sent.fileIdentity(old));
        return {
            known: Array.from({ length: 61 }, (_, i) => sent.knowsHash(hash(i + 1))),
            stored: JSON.parse(localStorage.getItem('kmeans-filter.sent.v1')).length,
            freshFile: sent.fileIdentity(new File(['x'], 'a.jpg')),
            blob: sent.fileIdentity(new Blob(['x'])),
            oldKnown: sent.knowsFile(sent.fileIdentity(old)),
            renamedKnown: sent.knowsFile(sent.fileIdentity(renamed)),
            nameStored: localStorage.getItem('kmeans-filter.sent.v1').includes('a.jpg'),
        };
    }""")
    assert state["known"] == [False] * 11 + [True] * 50 and state["stored"] == 50
    assert state["freshFile"] is None and state["blob"] is None
    assert state["oldKnown"] and not state["renamedKnown"] and not state["nameStored"]


def test_a_slow_upload_of_a_photo_the_deployment_has_is_aborted(open_app, tmp_path):
    photo = fresh_photo(tmp_path)
    upload(open_app(), photo)  # the deployment has it now

    page = open_app()  # another tab, or the same photo chosen again within CACHE_SECONDS, over a slow link
    sent, held, aborted = Uploads(page), [], []
    page.on("requestfailed", lambda request: aborted.append(request.url)
            if b'filename="fresh.png"' in (request.post_data_buffer or b"") else None)

    def hold_uploads(route):  # the upload never gets through: only the ask by hash can answer
        if b'filename="fresh.png"' in (route.request.post_data_buffer or b""):
            held.append(route)
        else:
            route.fallback()

    page.route("**/api/palettes", hold_uploads)
    upload(page, photo)
    page.fill("#k", "5")
    wait_for_result(page, 5)
    assert len(sent.files) == len(held) == 1 and len(sent.by_id) >= 2
    page.wait_for_function("() => true")  # let the abort reach the network layer
    assert aborted == sent.files


def test_requests_made_while_the_photo_is_uploaded_share_that_upload(open_app, tmp_path):
    page = open_app()
    sent = Uploads(page)
    upload(page, fresh_photo(tmp_path))
    # Its one upload answered, or aborted because the ask by hash, made once the hash was ready, came back first.
    page_photo = len(sent.answered)
    assert sent.answered == [200] or (page_photo == 0 and len(sent.files) == 1 and sent.by_id)
    answers = page.evaluate("""async () => {
        const { Photo } = await import('/static/js/api.js');
        // A byte after the PNG's end: the same picture, but bytes the server has never seen.
        const changed = new Blob([document.getElementById('image').files[0], new Uint8Array([0])]);
        const photo = new Photo(changed, 'fresh-changed.png');
        const asks = [3, 4, 5, 6].map((k) => photo.post('/api/quantize', { k, max_side: 64 }));
        const answers = await Promise.all(asks);
        return { ids: answers.map((a) => a.image_id), uploads: photo.uploadCount };
    }""")
    assert answers["uploads"] == 1 and len(set(answers["ids"])) == 1
    assert len(sent.answered) == page_photo + 1 and sent.answered[-1] == 200  # the changed one once


@pytest.mark.parametrize("failure", ["502", "503 Retry-After: 1", "dropped"])
def test_a_failed_preview_is_retried_once_and_shows_retrying_not_an_error(open_app, corpus, failure):
    page = open_app()
    upload(page, corpus / "kodim23.png")
    page.evaluate("""() => {
        window.__retrying = false;
        new MutationObserver(() => {
            if (document.documentElement.dataset.retrying === 'true') window.__retrying = true;
        }).observe(document.documentElement, { attributes: true });
    }""")
    failed = []

    def fail_once(route):  # the palette the page waits for; the ladder's background batches go through
        if failed or b"ks=100" not in (route.request.post_data_buffer or b""):
            return route.fallback()
        failed.append(route.request.url)
        if failure == "dropped":
            return route.abort("connectionreset")
        status, _, after = failure.partition(" Retry-After: ")
        headers = {"Retry-After": after} if after else {}
        route.fulfill(status=int(status), headers=headers, content_type="text/html", body="<h1>Bad Gateway</h1>")

    page.route("**/api/palettes", fail_once)
    page.fill("#k", "100")  # beyond the slider: never fetched ahead, so asked for now
    wait_for_result(page, 100)
    assert failed and page.evaluate("window.__retrying") and page.is_hidden("#error")
    assert page.get_attribute("html", "data-retrying") is None


def test_when_the_retry_fails_too_the_error_is_shown(open_app, corpus):
    page = open_app()
    upload(page, corpus / "kodim23.png")
    failed = []

    def always_502(route):
        if b"ks=100" not in (route.request.post_data_buffer or b""):
            return route.fallback()
        failed.append(route.request.url)
        route.fulfill(status=502, content_type="text/html", body="<h1>Bad Gateway</h1>")

    page.route("**/api/palettes", always_502)
    page.fill("#k", "100")
    error = page.locator("#error[role=alert]")
    error.wait_for(state="visible")
    assert len(failed) == 2  # the request and its one retry
    assert error.text_content().strip() == "The server did not answer. Please try again."


def test_an_expired_photo_is_uploaded_once_then_asked_by_hash(open_app, corpus):
    page = open_app()
    sent = Uploads(page)
    upload(page, corpus / "kodim23.png")  # uploaded, or found by hash when an earlier test sent it
    before = len(sent.files)
    forgotten = []

    def expire_once(route):
        body = route.request.post_data_buffer or b""
        if not forgotten and b"image_id=" in body and b"ks=100" in body:  # the palette the page waits for
            forgotten.append(route.request.url)
            return route.fulfill(status=410, content_type="application/json",
                                 body=json.dumps({"error": {"code": "image_expired", "message": "gone"}}))
        route.fallback()

    page.route("**/api/palettes", expire_once)
    for k in (100, 101, 102):  # beyond the slider: each asked for as it is chosen
        page.fill("#k", str(k))
        wait_for_result(page, k)
    assert len(forgotten) == 1 and len(sent.files) == before + 1 and page.is_hidden("#error")
