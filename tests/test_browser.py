"""The page in a real browser: headless Debian chromium driven by Playwright, against gunicorn.

Outside CI these tests skip when /usr/bin/chromium is missing; in CI (CI=true) they must run.
Every test also checks that no request left the app and that the CSP was never violated.
"""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np
import pytest
from PIL import Image

import requests

from testsupport.browser import (
    RESULT, RequestCounter, color_count, colors_of, csp_violations, open_page, shown_result,
    take_screenshot,
    upload, wait_for_result,
)



@pytest.fixture
def open_app(browser, live_server):
    """Opens the page (with any context options); checks afterwards that it stayed local and within its CSP."""
    opened = []

    def opener(**context_options):
        context, page, guard, problems = open_page(browser, live_server, **context_options)
        opened.append((context, page, guard, problems, context_options.get("java_script_enabled", True)))
        return page

    yield opener
    for context, page, guard, problems, scripted in opened:
        violations = csp_violations(page) if scripted else []
        context.close()
        assert guard.outside == [], f"requests left 127.0.0.1: {guard.outside}"
        assert violations == [], f"CSP violations: {violations}"
        assert problems == [], problems


@pytest.fixture
def page(open_app):
    return open_app()


def test_upload_shows_original_result_figures_and_palette(page, corpus, live_server):
    upload(page, corpus / "kodim23.png")
    assert page.is_hidden("#dropzone") and page.is_visible("#compare")
    original = page.locator('#compare img[alt^="Original"]')
    result = page.locator(RESULT)
    assert original.evaluate("img => img.complete && img.naturalWidth") == 768
    assert result.get_attribute("aria-label") == f"Result with {color_count(shown_result(page))} colors (k = 16)"
    assert shown_result(page).info["data"] | {"url": ""} == {"url": "", "k": "16", "space": "rgb", "dither": "none"}
    assert page.text_content("#photo-name") == "kodim23.png"
    colors = color_count(shown_result(page))
    assert colors <= 16
    assert page.text_content("#fig-colors").endswith(f"→ {colors}")
    assert page.text_content("#fig-pixels").startswith("768 × 512")
    assert page.text_content("#fig-psnr").endswith("dB")
    # The palettes come without their mean ΔE; the page asks for it once the slider rests: /api/quantize's figure.
    page.wait_for_function("() => !document.getElementById('fig-delta-e').textContent.includes('…')")
    direct = requests.post(f"{live_server}/api/quantize", files={"image": ("kodim23.png", (corpus / "kodim23.png").read_bytes())},
                           data={"k": "16", "max_side": "64"}, headers={"Accept": "application/json"}, timeout=60).json()
    assert page.text_content("#fig-delta-e") == f"{direct['delta_e']:.2f}"
    page.wait_for_function("() => !document.getElementById('fig-size').textContent.includes('…')")
    assert page.text_content("#fig-size").startswith("536 KB →")
    swatches = page.locator("#palette .swatch-button")
    assert swatches.count() == colors
    shares = [float(t.rstrip("%")) for t in swatches.locator(".share").all_text_contents()]
    assert shares == sorted(shares, reverse=True)
    hexes = swatches.evaluate_all("buttons => buttons.map(b => b.dataset.hex)")
    assert swatches.locator(".chip rect").evaluate_all("rects => rects.map(r => r.getAttribute('fill'))") == hexes
    assert colors_of(shown_result(page)) == set(hexes), "the canvas shows exactly the palette listed"
    page.wait_for_function("() => document.getElementById('status').textContent.startsWith('Result ready')")


def test_slider_moves_change_the_result_without_piling_up(page, corpus):
    counter = RequestCounter()
    counter.attach(page)
    upload(page, corpus / "kodim23.png")
    before = shown_result(page).tobytes()
    slider = page.locator("#k-slider")
    slider.focus()
    page.keyboard.press("Home")
    wait_for_result(page, 2)
    assert page.input_value("#k") == "2"
    two = shown_result(page)
    assert color_count(two) <= 2 and two.tobytes() != before
    for _ in range(10):  # a quick burst of presses
        page.keyboard.press("ArrowRight")
    wait_for_result(page, 12)
    twelve = shown_result(page)
    assert 2 < color_count(twelve) <= 12
    assert page.get_attribute(RESULT, "data-k") == "12" == page.input_value("#k")
    # A hand that keeps moving: a new value every 120 ms, while palettes are on their way.
    page.evaluate("""() => new Promise((done) => {
        const slider = document.getElementById('k-slider');
        let step = 0;
        const timer = setInterval(() => {
            slider.value = String(13 + step);
            slider.dispatchEvent(new Event('input', {bubbles: true}));
            if (++step === 12) { clearInterval(timer); done(); }
        }, 120);
    })""")
    wait_for_result(page, 24)
    assert counter.most <= 2, "palette requests piled up: at most one batch and one priority request at a time"
    assert color_count(shown_result(page)) <= 24
    page.fill("#k", "100")  # the number field reaches past the slider
    wait_for_result(page, 100)
    assert slider.input_value() == "64" and color_count(shown_result(page)) <= 100
    # Once the hand rests, the rest of the ladder comes, never more than one batch at a time.
    page.wait_for_function("() => document.getElementById('app').dataset.ladder === '63'")
    assert counter.most <= 2


def palette_asks(page) -> list[dict]:
    """Every POST /api/palettes the page sends, as its form fields, in order (a measure of delta_e has no background field)."""
    asks = []

    def seen(request):
        if request.url.endswith("/api/palettes") and b"image_id=" in (request.post_data_buffer or b""):
            fields = parse_qs((request.post_data_buffer or b"").decode())
            asks.append({key: values[0] for key, values in fields.items()})

    page.on("request", seen)
    return asks


def test_after_the_first_result_the_other_spaces_of_its_k_come_first(page, corpus):
    asks = palette_asks(page)
    upload(page, corpus / "kodim23.png")
    page.wait_for_function("() => Number(document.getElementById('app').dataset.ladder) >= 3")
    background = [(a["ks"], a["color_space"]) for a in asks if a.get("background") == "1"]
    assert background[:2] == [("16", "lab"), ("16", "oklab")], background[:4]
    assert all(space == "rgb" for _, space in background[2:])
    page.select_option("#color-space", "lab")  # its palette is here: no request for it, on screen at once
    wait_for_result(page, 16, "lab|none")
    assert not any(a["color_space"] == "lab" and a.get("background") == "0" for a in asks)


def test_nothing_is_fetched_ahead_until_the_first_result_is_on_screen(page, corpus):
    # The page's own clock: when each background batch left, against the mark of the first paint.
    page.add_init_script("""
        window.__background = [];
        const pageFetch = window.fetch;
        window.fetch = (resource, init) => {
          if (String(resource).endsWith('/api/palettes') && init?.body?.get?.('background') === '1') {
            window.__background.push(performance.now());
          }
          return pageFetch(resource, init);
        };""")
    page.reload()
    page.wait_for_function("() => document.getElementById('app').dataset.ready === 'true'")
    upload(page, corpus / "kodim23.png")
    page.wait_for_function("() => Number(document.getElementById('app').dataset.ladder) >= 3")
    painted = page.evaluate("() => performance.getEntriesByName('kmeans:painted')[0].startTime")
    background = page.evaluate("() => window.__background")
    assert background and min(background) >= painted, (painted, background[:3])


def test_the_curve_waits_until_the_slider_rests(page, corpus):
    curve_requests = RequestCounter("/api/curve")
    curve_requests.attach(page)
    upload(page, corpus / "kodim23.png")
    page.evaluate("""() => new Promise((done) => {  // a hand that moves on at once and keeps moving
        const slider = document.getElementById('k-slider');
        let step = 0;
        const timer = setInterval(() => {
            slider.value = String(20 + (step % 2));
            slider.dispatchEvent(new Event('input', {bubbles: true}));
            if (++step === 12) { clearInterval(timer); done(); }
        }, 100);
    })""")
    assert curve_requests.total == 0, "measuring the curve would keep the server from the palettes asked for"
    page.locator("#curve-chart svg circle.suggested").wait_for()
    assert curve_requests.total == 1


def test_slow_work_dims_the_old_result_and_says_what_is_coming(page, corpus):
    upload(page, corpus / "kodim23.png")
    page.evaluate("""() => {
        const progress = document.getElementById('progress');
        const compare = document.getElementById('compare');
        window.__seen = {progress: false, dimmed: false, status: ''};
        new MutationObserver(() => {
            if (!progress.hidden) window.__seen.progress = true;
            if (compare.classList.contains('waiting') && !window.__seen.dimmed) {
                window.__seen.dimmed = true;
                window.__seen.status = document.getElementById('pane-status-text').textContent;
                setTimeout(() => {  // once the fade is done
                    window.__seen.opacity = getComputedStyle(document.getElementById('result-canvas')).opacity;
                }, 400);
            }
        }).observe(document.getElementById('stage'), {attributes: true, subtree: true});
    }""")
    page.route("**/api/palettes", lambda route: (time.sleep(1.0), route.fallback()))
    page.fill("#k", "100")  # beyond the slider: never fetched ahead
    wait_for_result(page, 100)
    seen = page.evaluate("() => window.__seen")
    assert seen["progress"] and seen["dimmed"], "no sign of work for a request of over a second"
    assert seen["status"] == "k = 100…" and float(seen["opacity"]) < 0.9
    assert page.is_hidden("#progress") and page.get_attribute("#stage", "aria-busy") == "false"
    assert "waiting" not in page.get_attribute("#compare", "class")


def test_first_result_shows_the_original_and_progress_at_once(page, corpus):
    page.evaluate("""() => {
        window.__first = null;
        const status = document.getElementById('pane-status');
        document.getElementById('image').addEventListener('change', () => {
            const chosen = performance.now();
            new MutationObserver((_, observer) => {
                if (status.hidden || window.__first) return;
                observer.disconnect();
                window.__first = {ms: performance.now() - chosen, text: status.textContent,
                    original: document.getElementById('original-img').src.startsWith('blob:')
                        && !document.getElementById('compare').hidden,
                    k: document.getElementById('result-canvas').dataset.k ?? null};
            }).observe(status, {attributes: true});
        }, {capture: true});
    }""")
    page.set_input_files("#image", str(corpus / "kodim23.png"))
    wait_for_result(page, 16)
    first = page.evaluate("() => window.__first")
    assert first["text"] == "Finding 16 colors…" and first["original"] and first["k"] is None
    assert first["ms"] < 100, "no visible progress within 100 ms of choosing the file"


def test_drop_and_paste_bring_a_photo_in(page, corpus):
    def hand_over(event: str, path: Path) -> None:
        page.evaluate(
            """([event, name, data]) => {
                const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
                const transfer = new DataTransfer();
                transfer.items.add(new File([bytes], name, {type: 'image/jpeg'}));
                const target = document.getElementById('stage');
                const init = {bubbles: true, cancelable: true};
                if (event === 'drop') target.dispatchEvent(new DragEvent('drop', {...init, dataTransfer: transfer}));
                else target.dispatchEvent(new ClipboardEvent('paste', {...init, clipboardData: transfer}));
            }""",
            [event, path.name, base64.b64encode(path.read_bytes()).decode("ascii")],
        )

    hand_over("drop", corpus / "flower.jpg")
    page.wait_for_function("() => document.getElementById('photo-name').textContent === 'flower.jpg'")
    wait_for_result(page, 16)
    assert page.get_attribute("#original-img", "src").startswith("blob:")
    hand_over("paste", corpus / "china.jpg")
    page.wait_for_function("() => document.getElementById('photo-name').textContent === 'china.jpg'")
    wait_for_result(page, 16)
    assert page.evaluate("() => document.getElementById('original-img').naturalWidth") == 640


def test_without_javascript_the_form_answers_both_images(open_app, corpus):
    page = open_app(java_script_enabled=False)
    assert page.is_visible("button[type=submit]") and page.is_hidden("#k-slider")
    page.set_input_files("#image", str(corpus / "flower.jpg"))
    page.fill("#k", "6")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.locator('img[alt^="Original"]').evaluate("img => img.naturalWidth") == 640
    src = page.get_attribute('img[alt^="Result"]', "src")
    with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as result:
        colors = color_count(result)
        shown_colors = colors_of(result)
        assert result.size == (640, 427) and colors <= 6
    assert page.locator("#palette li").count() == colors
    assert page.content().count(src.split(",", 1)[1]) == 1, "the result PNG is on the page once"
    with page.expect_download() as waiting:
        page.click("button.download")
    assert waiting.value.suggested_filename == "flower-k6.png"
    with Image.open(waiting.value.path()) as full:
        assert full.size == (640, 427) and colors_of(full) == shown_colors


def test_a_form_sent_before_the_script_ran_carries_on_with_the_slider(page, corpus):
    page.set_input_files("#image", str(corpus / "flower.jpg"))
    with page.expect_navigation():
        page.evaluate("() => document.getElementById('upload-form').submit()")  # no submit event: the plain POST
    page.wait_for_function("() => document.getElementById('app').dataset.ready === 'true'")
    assert page.get_attribute("#app", "data-image-id")
    assert page.get_attribute('img[alt^="Result"]', "src").startswith("data:image/png")
    wait_for_result(page, 16)  # the script draws the same result itself, from the page's original
    assert page.is_hidden('img[alt^="Result"]') and color_count(shown_result(page)) <= 16
    page.fill("#k", "3")
    wait_for_result(page, 3)
    assert color_count(shown_result(page)) <= 3 and page.is_hidden("#error")


def test_keyboard_focus_is_always_visible(page, corpus):
    upload(page, corpus / "kodim23.png")
    seen = set()
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => {
            const el = document.activeElement;
            if (el === document.body) return null;  // focus went round to the browser itself
            // The file input is visually hidden: its label button carries the ring.
            const shown = el.id === 'image' ? document.getElementById('pick-label') : el;
            const style = getComputedStyle(shown);
            return [el.id || el.dataset.hex || el.textContent.trim(), style.outlineStyle, parseFloat(style.outlineWidth)];
        }""")
        if focused is None:
            continue
        name, outline, width = focused
        assert outline != "none" and width >= 2, f"no visible focus on {name}"
        seen.add(name)
    assert {"image", "k", "k-slider", "color-space", "dither", "view-side", "zoom-fit", "viewport-original"} <= seen


def test_typed_k_out_of_range_is_explained_and_not_sent(page, corpus):
    upload(page, corpus / "kodim23.png")
    asked = []  # the ladder keeps fetching in the background; none of it may be for k = 1
    page.on("request", lambda r: asked.extend(parse_qs((r.post_data_buffer or b"").decode()).get("ks", [""])[0].split(","))
            if r.url.endswith("/api/palettes") else None)
    page.fill("#k", "1")
    page.wait_for_selector("#k-error", state="visible")
    assert "from 2 to 256" in page.text_content("#k-error") and page.get_attribute("#k", "aria-invalid") == "true"
    page.wait_for_timeout(800)
    assert "1" not in asked and page.get_attribute(RESULT, "data-k") == "16"
    page.fill("#k", "5")
    wait_for_result(page, 5)
    assert page.is_hidden("#k-error")


def test_swipe_view_divider_reveals_the_original(page, corpus):
    upload(page, corpus / "kodim23.png")
    page.click("label[for=view-swipe]")
    divider = page.locator("#divider")
    assert divider.is_visible() and page.get_attribute("#compare", "data-view") == "swipe"
    box = page.locator("#viewport-result").bounding_box()

    def top_image(fraction: float, where: dict = box) -> str:
        x, y = where["x"] + where["width"] * fraction, where["y"] + where["height"] / 2
        return page.evaluate("([x, y]) => { const el = document.elementFromPoint(x, y);"
                             " return el.alt || el.getAttribute('aria-label') || ''; }", [x, y])

    assert top_image(0.25).startswith("Original") and top_image(0.75).startswith("Result")
    handle = divider.locator(".divider-handle").bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.85, handle["y"], steps=8)
    page.mouse.up()
    assert 83 <= int(divider.get_attribute("aria-valuenow")) <= 87
    assert top_image(0.75).startswith("Original") and top_image(0.95).startswith("Result")
    divider.focus()
    page.keyboard.press("Home")
    assert divider.get_attribute("aria-valuenow") == "0" and top_image(0.05).startswith("Result")
    page.keyboard.press("ArrowRight")
    assert divider.get_attribute("aria-valuenow") == "2"
    page.click("label[for=view-side]")
    side = page.locator("#viewport-result").bounding_box()
    assert divider.is_hidden() and side["width"] < box["width"] / 1.8
    assert top_image(0.05, side).startswith("Result") and top_image(0.95, side).startswith("Result")


def test_zoom_to_100_percent_and_pan_keep_both_views_in_step(page, corpus):
    upload(page, corpus / "cam_olympus_ep3_12mp.jpg")

    def placements():
        script = "shown => shown.map(i => [i.style.width, i.style.transform])"
        return page.eval_on_selector_all("#original-img, #result-canvas", script)

    fitted = placements()
    assert fitted[0] == fitted[1]
    page.click("#zoom-100")
    zoomed = placements()
    assert zoomed[0] == zoomed[1] and zoomed[0][0] == "4032px"
    assert page.text_content("#zoom-level") == "100%"
    # At 100% the full-resolution PNG, fetched once the slider rests, covers the preview.
    page.wait_for_function("() => !document.getElementById('result-full').hidden")
    full = page.locator("#result-full")
    assert full.get_attribute("src").startswith("blob:") and full.get_attribute("data-k") == "16"
    assert full.evaluate("img => img.decode().then(() => img.naturalWidth)") == 4032
    assert full.evaluate("img => img.style.width") == "4032px"
    box = page.locator("#viewport-original").bounding_box()
    page.mouse.move(box["x"] + 200, box["y"] + 200)
    page.mouse.down()
    page.mouse.move(box["x"] + 100, box["y"] + 120, steps=5)
    page.mouse.up()
    panned = placements()
    assert panned[0] == panned[1] and panned[0][1] != zoomed[0][1]
    page.focus("#viewport-result")
    page.keyboard.press("ArrowLeft")
    assert placements()[0] == placements()[1] != panned[0]
    page.click("label[for=view-swipe]")  # the same zoom and place in the other view
    assert placements()[0][0] == "4032px"
    page.click("#zoom-fit")
    refitted = placements()
    assert refitted[0] == refitted[1] and refitted[0][0] != "4032px"
    assert page.text_content("#zoom-level").startswith("Fit")


def test_download_is_the_full_resolution_png(page, corpus, tmp_path):
    upload(page, corpus / "cam_xiaomi_mi9t_12mp_orient6.jpg")
    assert shown_result(page).size[1] <= 1600, "slider moves get a screen-sized preview"
    with page.expect_download() as waiting:
        page.click("#download")
    download = waiting.value
    assert download.suggested_filename == "cam_xiaomi_mi9t_12mp_orient6-k16.png"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    preview = shown_result(page).convert("RGB")
    with Image.open(saved) as image:
        assert image.format == "PNG" and image.mode == "P"
        assert image.size == (3000, 4000), "full resolution, upright as the camera's orientation says"
        assert color_count(image) <= 16
        # The preview is the same picture, upright too: sampled from the same pixels (perhaps at
        # other points of each block), it agrees with the download shrunk alike almost everywhere.
        shrunk = np.asarray(image.convert("RGB").resize(preview.size, Image.Resampling.NEAREST))
    assert preview.width < preview.height
    assert (np.asarray(preview) == shrunk).all(axis=2).mean() > 0.8
    page.wait_for_function("() => !document.getElementById('fig-size').textContent.includes('…')")
    assert page.text_content("#fig-size").endswith("MB")


def test_not_an_image_gives_an_inline_error_and_the_page_stays_usable(page, corpus, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("These are words, not pixels.\n")
    page.set_input_files("#image", str(notes))
    error = page.locator("#error[role=alert]")
    error.wait_for(state="visible")
    assert "not an image" in error.text_content()
    assert page.is_visible("#dropzone") and page.is_hidden("#compare")
    upload(page, corpus / "flower.jpg")
    assert error.is_hidden() and page.text_content("#photo-name") == "flower.jpg"


def test_a_photo_the_server_forgot_is_sent_again(page, corpus):
    upload(page, corpus / "kodim23.png")
    forgotten = []

    def expire_once(route):
        if not forgotten and b"image_id=" in (route.request.post_data_buffer or b""):
            forgotten.append(route.request.post_data)
            route.fulfill(status=410, content_type="application/json",
                          body=json.dumps({"error": {"code": "image_expired", "message": "gone"}}))
        else:
            route.fallback()

    page.route("**/api/palettes", expire_once)

    def sends_the_file(request) -> bool:
        return request.url.endswith("/api/palettes") and b'name="image"' in (request.post_data_buffer or b"")

    with page.expect_request(sends_the_file):
        page.fill("#k", "70")
    wait_for_result(page, 70)
    assert forgotten and page.is_hidden("#error") and color_count(shown_result(page)) <= 70


def test_clicking_a_swatch_copies_its_hex_code(open_app, live_server, corpus):
    page = open_app(permissions=["clipboard-read", "clipboard-write"])
    upload(page, corpus / "kodim23.png", k=16)
    swatch = page.locator("#palette .swatch-button").nth(2)
    hex_code = swatch.get_attribute("data-hex")
    swatch.click()
    page.wait_for_function("h => document.getElementById('status').textContent === 'Copied ' + h", arg=hex_code)
    assert page.evaluate("navigator.clipboard.readText()") == hex_code
    assert swatch.locator(".share").text_content() == "Copied"


def test_color_space_and_dither_are_sent_and_applied(page, corpus):
    upload(page, corpus / "kodim23.png")
    with page.expect_request(lambda r: r.url.endswith("/api/palettes")
                             and b"color_space=oklab" in (r.post_data_buffer or b"")):
        page.select_option("#color-space", "oklab")
    wait_for_result(page, 16, "oklab|none")
    plain = shown_result(page)
    hexes = set(page.eval_on_selector_all("#palette .swatch-button", "bs => bs.map(b => b.dataset.hex)"))
    assert colors_of(plain) == hexes
    page.select_option("#dither", "floyd-steinberg")  # drawn in the browser, onto the same palette
    wait_for_result(page, 16, "oklab|floyd-steinberg")
    dithered = shown_result(page)
    assert colors_of(dithered) <= hexes and dithered.tobytes() != plain.tobytes()
    assert dithered.info["data"]["dither"] == "floyd-steinberg" and dithered.info["data"]["space"] == "oklab"


def test_error_curve_marks_a_suggestion_and_a_click_sets_k(page, corpus):
    upload(page, corpus / "kodim23.png")
    suggested = page.locator("#curve-chart svg circle.suggested")
    suggested.wait_for()
    points = page.locator("#curve-chart svg circle.point")
    assert points.count() == 31 and points.first.get_attribute("data-k") == "2"
    suggested_k = int(suggested.get_attribute("data-suggested-k"))
    assert 2 <= suggested_k <= 32 and page.text_content("#curve-use") == f"Use k = {suggested_k}"
    target = points.nth(6)  # k = 8
    assert target.get_attribute("data-k") == "8"
    box = target.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    wait_for_result(page, 8)
    assert page.input_value("#k") == "8" and page.input_value("#k-slider") == "8"
    page.click("#curve-use")
    wait_for_result(page, suggested_k)


def test_palette_files_and_contact_sheet_download(page, corpus, tmp_path):
    upload(page, corpus / "kodim23.png", k=16)
    hexes = page.eval_on_selector_all("#palette .swatch-button", "buttons => buttons.map(b => b.dataset.hex)")
    saved = {}
    for fmt in ("json", "css", "gpl", "png"):
        with page.expect_download() as waiting:
            page.click(f"#palette-exports button[data-format={fmt}]")
        assert waiting.value.suggested_filename == f"kodim23-k16-palette.{fmt}"
        saved[fmt] = tmp_path / waiting.value.suggested_filename
        waiting.value.save_as(saved[fmt])
    assert "--color-1:" in saved["css"].read_text() and saved["gpl"].read_text().startswith("GIMP Palette")
    assert hexes[0] in saved["json"].read_text().lower()
    with Image.open(saved["png"]) as strip:
        assert strip.format == "PNG" and strip.width > strip.height

    page.fill("#contact-ks", "2, 8, 32")
    page.click("#contact-make")
    page.wait_for_selector("#contact-figure", state="visible")
    sheet = page.locator("#contact-img")
    assert sheet.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0
    assert sheet.get_attribute("alt").startswith("Contact sheet")
    with page.expect_download() as waiting:
        page.click("#contact-download")
    assert waiting.value.suggested_filename == "kodim23-contact-sheet.png"
    with Image.open(waiting.value.path()) as image:
        assert image.format == "PNG" and image.width > 0
    page.fill("#contact-ks", "2, 1000")
    page.click("#contact-make")
    page.wait_for_selector("#contact-status.failed")
    assert "between 2 and 256" in page.text_content("#contact-status")


def test_classic_quantizers_are_compared_with_k_means(page, corpus):
    upload(page, corpus / "kodim23.png")
    page.click("#methods-run")
    items = page.locator("#methods-list li")
    page.wait_for_function("() => document.querySelectorAll('#methods-list li').length === 3 && "
                           "!document.getElementById('methods-run').disabled")
    assert [items.nth(i).get_attribute("data-method") for i in range(3)] == ["kmeans", "mediancut", "octree"]
    for i in range(3):
        assert items.nth(i).locator("img").get_attribute("alt").startswith("Result of")
        assert "PSNR" in items.nth(i).text_content() and "ΔE" in items.nth(i).text_content()
    assert page.locator("#methods-list li.best").count() == 1


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_width_and_color_scheme(open_app, corpus, scheme):
    page = open_app(viewport={"width": 390, "height": 844}, color_scheme=scheme, is_mobile=True, has_touch=True)
    upload(page, corpus / "kodim23.png")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the page scrolls sideways on a phone"
    result = page.locator(RESULT).bounding_box()
    assert result["width"] > 300
    slider = page.locator("#k-slider").bounding_box()
    assert result["y"] >= 0 and slider["y"] + slider["height"] <= 844, "the slider and the result on one screen"
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    red, green, blue = (int(v) for v in background[4:-1].split(","))
    assert (red + green + blue < 150) == (scheme == "dark")


def test_the_readme_screenshot_can_be_taken(page, corpus, tmp_path):
    """What tools/screenshot.py does, into a temp dir: the tracked docs/screenshot.png is never rewritten here."""
    target = tmp_path / "screenshot.png"
    take_screenshot(page, corpus / "kodim23.png", target)
    with Image.open(target) as image:
        assert image.size == (1280, 800)
        assert color_count(image) > 1000, "the screenshot shows a photo"


def quantize_palette(base: str, photo: Path, k: int, color_space: str = "rgb") -> list[str]:
    """The palette /api/quantize answers for the photo, k and options (the download's colors)."""
    answer = requests.post(f"{base}/api/quantize", files={"image": (photo.name, photo.read_bytes())},
                           data={"k": k, "color_space": color_space, "dither": "none", "max_side": 64},
                           headers={"Accept": "application/json"}, timeout=120).json()
    return [swatch["hex"] for swatch in answer["palette"]]


SAMPLE_PAINTS = """() => {
    window.__paints = [];
    const canvas = document.getElementById('result-canvas');
    const context = canvas.getContext('2d');
    new PerformanceObserver((list) => {
        // data-k and the pixels change together, in one frame: read both in one task.
        const pixels = new Uint32Array(context.getImageData(0, 0, canvas.width, canvas.height).data.buffer);
        const colors = new Set();
        for (const p of pixels) colors.add(p & 0xffffff);
        const hex = [...colors].map(c => '#' + [c & 255, (c >> 8) & 255, (c >> 16) & 255]
            .map(v => v.toString(16).padStart(2, '0')).join(''));
        window.__paints.push({k: Number(canvas.dataset.k), space: canvas.dataset.colorSpace, hex});
    }).observe({type: 'mark'});
}"""


def test_sliding_shows_exactly_the_palette_of_each_k_and_nothing_snaps(page, live_server, corpus):
    photo = corpus / "kodim23.png"
    upload(page, photo)
    page.wait_for_function("() => document.getElementById('app').dataset.ladder === '63'")
    page.evaluate(SAMPLE_PAINTS)
    page.evaluate("""() => new Promise(async (done) => {
        const slider = document.getElementById('k-slider');
        for (let k = 2; k <= 40; k++) {
            await new Promise(requestAnimationFrame);
            slider.value = String(k);
            slider.dispatchEvent(new Event('input', {bubbles: true}));
        }
        done();
    })""")
    wait_for_result(page, 40)
    paints = page.evaluate("() => window.__paints")
    painted_ks = {p["k"] for p in paints}
    # Many, not all: a frame whose drawing is still under way is skipped (fewer on a loaded machine).
    assert len(painted_ks) >= 10 and 40 in painted_ks, f"a drag paints many k values, got {sorted(painted_ks)}"
    palettes = {}
    for paint in paints[:: max(1, len(paints) // 12)] + paints[-1:]:
        k = paint["k"]
        palettes.setdefault(k, quantize_palette(live_server, photo, k))
        assert len(paint["hex"]) <= k and set(paint["hex"]) <= set(palettes[k]), f"k = {k}: colors not of its palette"
    last = shown_result(page)
    page.wait_for_timeout(2500)  # the slider rests: the full-resolution result is fetched in the background
    assert shown_result(page).tobytes() == last.tobytes() and page.get_attribute(RESULT, "data-k") == "40"


def test_perceptual_preview_takes_the_servers_palette(page, live_server, corpus):
    photo = corpus / "flower.jpg"
    upload(page, photo)
    page.select_option("#color-space", "lab")
    for k in (5, 23):
        page.fill("#k", str(k))
        wait_for_result(page, k, "lab|none")
        colors = colors_of(shown_result(page))
        assert len(colors) <= k and colors <= set(quantize_palette(live_server, photo, k, "lab"))


def test_colormatch_assigns_every_color_as_the_server_does(page, corpus):
    """static/js/colormatch.js against app/perceptual_match.py on a real histogram, color by color."""
    from app import pipeline, quantize

    prepared = pipeline.prepare((corpus / "kodim23.png").read_bytes(), 50_000_000)
    keys = prepared.hist.keys.tolist()
    for color_space, k in (("rgb", 16), ("rgb", 48), ("lab", 12), ("oklab", 40)):
        fit = quantize.find_palette(prepared.hist, k, color_space)
        got = page.evaluate(
            """async ([keys, palette, space]) => {
                const m = await import('/static/js/colormatch.js');
                const keyArray = Uint32Array.from(keys);
                const lab = space === 'rgb' ? null : m.labOfKeys(keyArray);
                return Array.from(m.assign(keyArray, lab, Uint8Array.from(palette), space));
            }""",
            [keys, fit.palette.ravel().tolist(), color_space],
        )
        labels = fit.labels.astype(int).tolist()
        differ = [i for i, (a, b) in enumerate(zip(got, labels)) if a != b]
        if color_space == "rgb":
            # Only exact ties may differ: the server breaks them by an entry order its answer does not carry.
            colors = prepared.hist.colors.astype(int)
            distance = lambda i, e: int(((colors[i] - fit.palette[e].astype(int)) ** 2).sum())  # noqa: E731
            assert all(distance(i, got[i]) == distance(i, labels[i]) for i in differ)
            assert len(differ) < len(keys) / 1000
        else:
            assert len(differ) <= len(keys) // 10_000, f"{color_space}: {len(differ)} colors take another entry"


def test_a_perceptual_render_split_between_two_threads_is_the_one_pass_assignment(page):
    """preview-worker.js hands the last half of a large photo's colors to its matching thread (match-worker.js) for
    lab and oklab: every pixel still takes the entry colormatch.assign gives its color over all colors at once."""
    result = page.evaluate(
        """async () => {
            const m = await import('/static/js/colormatch.js');
            const side = 256;  // 65,536 distinct colors: over the split's threshold
            const rgba = new Uint8ClampedArray(side * side * 4);
            const keys = new Uint32Array(side * side);
            for (let i = 0; i < side * side; i++) {
                rgba.set([i & 255, i >>> 8, (i * 37) & 255, 255], 4 * i);
                keys[i] = ((i & 255) << 16) | ((i >>> 8) << 8) | ((i * 37) & 255);
            }
            const worker = new Worker('/static/js/preview-worker.js', {type: 'module'});
            const next = (type) => new Promise((resolve) => {
                worker.addEventListener('message', function got({data}) {
                    if (data.type === type) { worker.removeEventListener('message', got); resolve(data); }
                });
            });
            const bitmap = await createImageBitmap(new ImageData(rgba, side, side));
            worker.postMessage({type: 'photo', id: 1, bitmap}, [bitmap]);
            await next('photo');
            const palette = Uint8Array.from({length: 3 * 24}, (_, i) => (i * 89 + 17) % 256);
            const mismatches = {};
            let seq = 0;
            for (const space of ['rgb', 'lab', 'oklab', 'lab']) {  // the first render makes the colors' CIELAB
                worker.postMessage({type: 'render', id: 1, seq: ++seq, palette, colorSpace: space, dither: 'none'});
                const rendered = await next('render');
                const drawn = new Uint32Array(rendered.pixels.buffer);
                const labels = m.assign(keys, space === 'rgb' ? null : m.labOfKeys(keys), palette, space);
                let differ = 0;
                for (let i = 0; i < keys.length; i++) {
                    const e = labels[i];
                    if (drawn[i] !== ((255 << 24) | (palette[3 * e + 2] << 16) | (palette[3 * e + 1] << 8) | palette[3 * e]) >>> 0) differ++;
                }
                mismatches[space + seq] = [differ, rendered.split];
            }
            worker.terminate();
            return mismatches;
        }"""
    )
    # No pixel differs, and the matching thread did assign its half of the 65,536 colors (not the fallback here).
    assert result == {"rgb1": [0, 0], "lab2": [0, 32768], "oklab3": [0, 32768], "lab4": [0, 32768]}


def test_the_nearest_rgb_entry_is_exact_with_ties_to_the_entry_listed_first(page, corpus):
    """colormatch.nearestRgb (the preview's RGB assignment, by cells of the RGB cube) against a brute force."""
    from app import pipeline

    keys = pipeline.prepare((corpus / "kodim23.png").read_bytes(), 50_000_000).hist.keys
    rng = np.random.default_rng(3)
    every_cell = np.arange(0, 1 << 24, 4099, dtype=np.uint32)  # colors in every cell of the cube, edges too
    colors = np.concatenate([keys, every_cell, np.array([0, 0xFFFFFF, 0x0F0F0F, 0x101010], np.uint32)])
    rgb = np.stack([(colors >> 16) & 255, (colors >> 8) & 255, colors & 255], axis=1).astype(np.int64)
    palettes = [rng.integers(0, 256, (k, 3)) for k in (2, 7, 64, 256)]
    # Ties: entries the same distance from many colors (mirror images about a cell's edge), and duplicates.
    palettes.append(np.array([[15, 100, 100], [17, 100, 100], [16, 90, 100], [16, 110, 100], [17, 100, 100]]))
    palettes.append(np.array([[128, 128, 128]] * 3 + [[0, 0, 0], [255, 255, 255]]))
    palettes.append(rng.integers(100, 108, (256, 3)))  # every entry a candidate in many cells
    for palette in palettes:
        got = page.evaluate(
            """async ([keys, palette]) => {
                const m = await import('/static/js/colormatch.js');
                return Array.from(m.nearestRgb(Uint32Array.from(keys), Uint8Array.from(palette)));
            }""",
            [colors.tolist(), palette.ravel().tolist()],
        )
        nearest, least = np.zeros(len(rgb), np.int64), np.full(len(rgb), np.inf)
        for entry, color in enumerate(palette):  # strictly nearer only: a tie keeps the entry listed first
            distance = ((rgb - color) ** 2).sum(axis=1)
            nearer = distance < least
            nearest[nearer], least[nearer] = entry, distance[nearer]
        assert got == nearest.tolist(), f"k = {len(palette)}"


def test_the_nearest_cielab_entries_are_exact_with_ties_to_the_lower_entry(page, corpus):
    """colormatch.nearestOnLattice (the lab and oklab candidates, by cells of the CIELAB lattice) against a brute force:
    the 3 nearest entries of every color by squared lattice distance, nearest first, ties to the lower entry."""
    from app import colorspace, pipeline

    keys = pipeline.prepare((corpus / "kodim23.png").read_bytes(), 50_000_000).hist.keys
    every_cell = np.arange(0, 1 << 24, 4099, dtype=np.uint32)
    colors = np.concatenate([keys, every_cell, np.array([0, 0xFFFFFF, 0xFF0000, 0x0000FF, 0x00FF00], np.uint32)])
    rgb = np.stack([(colors >> 16) & 255, (colors >> 8) & 255, colors & 255], axis=1)
    points = np.rint(colorspace.srgb_to_lab(rgb).astype(np.float32).astype(np.float64) * 64).astype(np.int64)
    rng = np.random.default_rng(5)
    palettes = [np.rint(colorspace.srgb_to_lab(rng.integers(0, 256, (k, 3))) * 64).astype(np.int64) for k in (2, 3, 16, 64)]
    # Ties: entries mirrored about a cell's faces (cells are 256 lattice steps), duplicates, and a crowd in one cell.
    palettes.append(np.array([[5000, 0, 0], [5000, 0, 0], [5120, 0, 0], [5136, 0, 0], [4864, 0, 0], [5000, 256, 0]]))
    palettes.append(np.array([[3000, 100 + i, -100 - 2 * i] for i in range(40)] + [[0, 0, 0], [6400, 0, 0]]))
    for palette in palettes:
        count = min(3, len(palette))
        got = page.evaluate(
            """async ([lattice, palette, count]) => {
                const m = await import('/static/js/colormatch.js');
                const found = new Int32Array(count * lattice.length / 3);
                m.nearestOnLattice(Int32Array.from(lattice), Float64Array.from(palette), count, found);
                return Array.from(found);
            }""",
            [points.ravel().tolist(), palette.ravel().tolist(), count],
        )
        distances = ((points[:, None, :] - palette[None, :, :]) ** 2).sum(axis=2)
        expected = np.argsort(distances, axis=1, kind="stable")[:, :count]  # stable: ties keep the lower entry first
        assert np.array_equal(np.array(got).reshape(-1, count), expected), f"k = {len(palette)}"


def test_swatches_are_one_markup_with_and_without_the_script(open_app, corpus):
    nojs = open_app(java_script_enabled=False)
    nojs.set_input_files("#image", str(corpus / "flower.jpg"))
    nojs.fill("#k", "6")
    with nojs.expect_navigation():
        nojs.click("button[type=submit]")
    server_made = nojs.eval_on_selector_all("#palette li", "items => items.map(i => i.outerHTML)")
    page = open_app()
    page.set_input_files("#image", str(corpus / "flower.jpg"))
    page.fill("#k", "6")
    wait_for_result(page, 6)
    script_made = page.eval_on_selector_all("#palette li", "items => items.map(i => i.outerHTML)")
    assert script_made == server_made and len(server_made) >= 2


def test_the_chart_line_label_and_keyboard(page, corpus):
    upload(page, corpus / "kodim23.png")
    chart = page.locator("#curve-chart svg")
    page.locator("#curve-chart svg circle.suggested").wait_for()
    page.wait_for_function("() => document.getElementById('app').dataset.ladder === '63'")
    for k in range(2, 33):
        page.evaluate("k => { const s = document.getElementById('k-slider'); s.value = String(k);"
                      " s.dispatchEvent(new Event('input', {bubbles: true})); }", k)
        wait_for_result(page, k)
        line, label = page.evaluate("""() => ['line.current', 'text[data-label=suggested]'].map((s) => {
            const r = document.querySelector('#curve-chart ' + s).getBoundingClientRect();
            return [r.left, r.top, r.right, r.bottom];
        })""")
        crosses = line[0] <= label[2] + 1 and line[2] >= label[0] - 1 and line[1] <= label[3] and line[3] >= label[1]
        assert not crosses, f"at k = {k} the current line cuts the label"
    page.fill("#k", "40")  # beyond the chart's 32: no line at all, never one beside the axis
    page.wait_for_function("() => document.querySelector('#curve-chart line.current').getAttribute('visibility') === 'hidden'")
    page.fill("#k", "16")
    wait_for_result(page, 16)
    chart.focus()
    page.keyboard.press("ArrowRight")
    wait_for_result(page, 17)
    page.keyboard.press("Home")
    wait_for_result(page, 2)
    assert chart.get_attribute("role") == "slider" and chart.get_attribute("aria-valuenow") == "2"
    outline = chart.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none"


def test_controls_are_not_clipped(open_app, corpus, tmp_path):
    page = open_app(viewport={"width": 1440, "height": 900})
    long_name = tmp_path / ("a-rather-long-holiday-photo-name-from-a-phone-" + "x" * 30 + ".png")
    long_name.write_bytes((corpus / "kodim23.png").read_bytes())
    upload(page, long_name)
    button = page.locator("#pick-label").bounding_box()
    line_height = page.eval_on_selector("#pick-label", "el => parseFloat(getComputedStyle(el).lineHeight)")
    assert button["height"] < 2 * line_height + 20, "the choose button wraps"
    page.select_option("#dither", "floyd-steinberg")
    for select in ("#color-space", "#dither"):
        room, text = page.eval_on_selector(select, """el => {
            const style = getComputedStyle(el);
            const context = document.createElement('canvas').getContext('2d');
            context.font = style.font;
            const text = context.measureText(el.selectedOptions[0].text).width;
            return [el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 18, text];
        }""")
        assert text <= room, f"{select} clips its choice"
    wait_for_result(page, 16, "rgb|floyd-steinberg")
    palette = page.locator("#palette").bounding_box()
    for swatch in page.locator("#palette .swatch-button").all():
        box = swatch.bounding_box()
        assert box["y"] + box["height"] <= palette["y"] + palette["height"] + 1, "a swatch is cut at the default k"
    first = page.locator("#palette .swatch-button").first
    ring = first.evaluate("el => { const s = getComputedStyle(el); return [parseFloat(s.outlineOffset), 3]; }")
    assert ring[0] + ring[1] <= 0, "the focus ring is drawn outside the scrolling list and clipped"
    page.fill("#k", "64")
    wait_for_result(page, 64, "rgb|floyd-steinberg")
    assert "scrolls" in page.get_attribute("#palette", "class")
    assert page.text_content(".palette-more").startswith("All ")


def test_old_messages_do_not_linger(page, corpus, tmp_path):
    curve_requests = RequestCounter("/api/curve")
    curve_requests.attach(page)
    upload(page, corpus / "kodim23.png")
    page.locator("#curve-chart svg").wait_for()
    page.click("#methods-run")
    page.wait_for_function("() => document.getElementById('methods-status').textContent.includes('Lowest mean')")
    page.fill("#contact-ks", "2,8")
    page.click("#contact-make")
    page.wait_for_selector("#contact-figure", state="visible")
    asked = curve_requests.total
    page.select_option("#dither", "floyd-steinberg")
    wait_for_result(page, 16, "rgb|floyd-steinberg")
    page.wait_for_timeout(500)
    assert curve_requests.total == asked, "dithering does not change the curve: it is not measured again"
    assert "made with RGB, no dithering" in page.text_content("#contact-status")
    with page.expect_response(lambda response: response.url.endswith("/api/curve")):  # once the slider rests
        page.select_option("#color-space", "oklab")
        wait_for_result(page, 16, "oklab|floyd-steinberg")
        assert page.text_content("#methods-status") == "" and page.locator("#methods-list li").count() == 0
    assert curve_requests.total == asked + 1
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    page.set_input_files("#image", str(notes))
    page.wait_for_selector("#error", state="visible")
    page.fill("#k", "1")
    page.wait_for_selector("#k-error", state="visible")
    assert page.is_hidden("#error"), "the file error lingers beside the k error"


def test_page_errors_speak_of_the_page_not_the_api(page, corpus):
    upload(page, corpus / "kodim23.png")
    page.fill("#contact-ks", "2, 1000")
    page.click("#contact-make")
    page.wait_for_selector("#contact-status.failed")
    message = page.text_content("#contact-status")
    assert "between 2 and 256" in message and "ks" not in message.split()
    translated = page.evaluate("""() => import('/static/js/api.js').then(m => [
        m.forPeople("Add the photo as a file in the 'image' field."),
        m.forPeople("ks lists 4 twice; give each value once."),
        m.forPeople("color_space must be one of rgb, oklab, lab, got 'x'.")])""")
    assert translated == ["Choose a photo first.", "the values of k lists 4 twice; give each value once.",
                          "the color space must be one of rgb, oklab, lab, got 'x'."]


def test_thumbnails_open_large(page, corpus):
    upload(page, corpus / "kodim23.png")
    page.click("#methods-run")
    page.wait_for_function("() => document.querySelectorAll('#methods-list li').length === 3")
    page.locator("#methods-list li").nth(1).locator("button.enlarge").click()
    dialog = page.locator("#enlarged")
    assert dialog.evaluate("d => d.open")
    big = dialog.locator("img")
    assert big.get_attribute("alt").startswith("Result of Median cut") and big.bounding_box()["width"] > 400
    page.keyboard.press("Escape")
    assert not dialog.evaluate("d => d.open")
    page.click("#contact-make")
    page.wait_for_selector("#contact-figure", state="visible")
    page.click("#contact-enlarge")
    assert dialog.evaluate("d => d.open") and big.get_attribute("alt").startswith("Contact sheet")


def test_touch_screens_get_touch_words_and_see_errors(open_app, tmp_path):
    page = open_app(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    dropzone = page.locator("#dropzone")
    assert "Drop a photo" not in dropzone.inner_text() and "Ctrl" not in dropzone.inner_text()
    assert "Choose a photo to recolor" in dropzone.inner_text()
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    page.set_input_files("#image", str(notes))
    error = page.locator("#error")
    error.wait_for(state="visible")
    box = error.bounding_box()
    assert 0 <= box["y"] and box["y"] + box["height"] <= 844, "the error is below the fold"


def test_dark_mode_logo_and_even_cards(open_app, corpus):
    page = open_app(color_scheme="dark")
    navy = page.eval_on_selector(".brand-mark .navy", "el => getComputedStyle(el).fill")
    red, green, blue = (int(v) for v in navy[4:-1].split(","))
    assert 0.2126 * red + 0.7152 * green + 0.0722 * blue > 80, "the navy square disappears on the dark header"
    upload(page, corpus / "kodim23.png")
    page.locator("#curve-chart svg").wait_for()
    cards = page.locator("#explore > .card")
    heights = {round(cards.nth(i).bounding_box()["height"]) for i in range(3)}
    titles = {round(cards.nth(i).locator(".card-title").bounding_box()["y"]) for i in range(3)}
    assert len(heights) == 1 and len(titles) == 1, (heights, titles)


def test_a_format_the_browser_cannot_show_gets_the_servers_previews(page, corpus, tmp_path):
    tiff = tmp_path / "parrots.tiff"
    with Image.open(corpus / "kodim23.png") as image:
        image.save(tiff)
    upload(page, tiff)
    assert "cannot show its format" in page.text_content("#original-caption")
    assert color_count(shown_result(page)) <= 16 and page.get_attribute(RESULT, "aria-label").startswith("Result")
    page.fill("#k", "5")
    wait_for_result(page, 5)
    assert color_count(shown_result(page)) <= 5


def test_a_busy_server_is_retried_and_the_page_says_so(page, corpus):
    """503 busy (no memory free for the photo yet): the page says "busy, retrying…", waits Retry-After, retries."""
    upload(page, corpus / "kodim23.png")
    page.evaluate("""() => {
        window.__busyTexts = [];
        const watch = (element) => new MutationObserver(() => {
            if (/busy, retrying/i.test(element.textContent)) window.__busyTexts.push(element.id || 'label');
        }).observe(element, {childList: true, characterData: true, subtree: true});
        watch(document.getElementById('progress'));
        watch(document.getElementById('status'));
    }""")
    busy = []

    def busy_twice(route):  # the palette asked for now; the ladder's background batches go through
        if len(busy) < 2 and "ks=100" in (route.request.post_data or ""):
            busy.append(time.monotonic())
            route.fulfill(status=503, headers={"Retry-After": "1"}, content_type="application/json",
                          body=json.dumps({"error": {"code": "busy", "message": "The server is busy. Try again."}}))
        else:
            route.fallback()

    page.route("**/api/palettes", busy_twice)
    page.fill("#k", "100")  # beyond the slider: never fetched ahead, so its palette is asked for now
    wait_for_result(page, 100)
    assert len(busy) == 2 and busy[1] - busy[0] >= 0.9, "retried before Retry-After"
    assert page.evaluate("() => window.__busyTexts").count("progress") >= 1
    assert page.is_hidden("#error") and color_count(shown_result(page)) <= 100
    assert "busy" not in (page.text_content("#progress") or "").lower()


def test_an_early_lab_palette_is_drawn_at_once_and_its_figures_fill_in_on_the_same_pixels(page, live_server, corpus):
    """The no-rest switch to lab: the page asks with early=1 and draws the colors that come without their figures;
    the full entry (the background batch's answer) brings shares and PSNR, and the canvas is not drawn again.
    The routes make the order sure: the early answer is the server's palette without its figures, in another
    order, and the background batch for 16 in lab is held until the early result has been checked."""
    held, early_asks = [], []

    def route(request_route):
        body = request_route.request.post_data_buffer or b""
        fields = {key: values[0] for key, values in parse_qs(body.decode(errors="replace")).items()} \
            if b"image_id=" in body else {}
        lab_16_ahead = fields.get("color_space") == "lab" and fields.get("ks") == "16" and fields.get("background") == "1"
        if lab_16_ahead and not held:
            held.append(request_route)  # answered once the early result has been checked
        elif fields.get("color_space") == "lab" and fields.get("early") == "1":
            answer = request_route.fetch().json()
            early_asks.append(fields)
            for entry in answer["palettes"]:
                entry.update(psnr=None, delta_e=None, figures=False,
                             palette=[{"hex": hex_code, "share": None}
                                      for hex_code in sorted(color["hex"] for color in entry["palette"])])
            request_route.fulfill(status=200, content_type="application/json", body=json.dumps(answer))
        else:
            request_route.fallback()

    page.route("**/api/palettes", route)
    photo = corpus / "kodim23.png"
    upload(page, photo)
    deadline = time.monotonic() + 30
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(20)
    assert held, "the page fetches the first k in lab ahead once the first result is on screen"
    page.select_option("#color-space", "lab")
    wait_for_result(page, 16, "lab|none")
    assert early_asks and early_asks[0]["background"] == "0"
    drawn = shown_result(page)
    listed = page.locator("#palette .swatch-button").evaluate_all("buttons => buttons.map(b => b.dataset.hex)")
    assert colors_of(drawn) <= set(listed) and len(listed) <= 16
    assert page.text_content("#fig-psnr") == "…"
    assert set(page.locator("#palette .share").all_text_contents()) == {"…"}
    paints = page.evaluate("() => performance.getEntriesByName('kmeans:painted').length")
    held[0].fallback()  # the full entry comes
    page.wait_for_function("() => document.getElementById('fig-psnr').textContent.endsWith('dB')")
    full = quantize_palette(live_server, photo, 16, "lab")
    swatches = page.locator("#palette .swatch-button")
    assert swatches.evaluate_all("buttons => buttons.map(b => b.dataset.hex)") == full  # by share, as the server lists
    shares = [float(text.rstrip("%")) for text in swatches.locator(".share").all_text_contents()]
    assert shares == sorted(shares, reverse=True) and abs(sum(shares) - 100) < 1
    assert shown_result(page).tobytes() == drawn.tobytes(), "the figures' arrival changed no pixel"
    assert page.evaluate("() => performance.getEntriesByName('kmeans:painted').length") == paints, "not drawn again"
    assert page.get_attribute(RESULT, "data-color-space") == "lab" and page.get_attribute(RESULT, "data-k") == "16"
    page.wait_for_function("() => !document.getElementById('fig-delta-e').textContent.includes('…')")
