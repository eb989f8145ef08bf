"""The specks control and the paint-by-number card in headless chromium, against gunicorn.

Outside CI these tests skip when /usr/bin/chromium is missing; in CI (CI=true) they must run.
Each test checks that no request left the app and that the CSP was never violated.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from testsupport.browser import csp_violations, open_page, shown_result, upload, wait_for_result

# How much of the picture is colored (not white, not the gray of lines and numbers), drawn by chromium itself.
COLORED_SHARE = """img => {
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(img, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let colored = 0;
  for (let i = 0; i < data.length; i += 4) {
    const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
    if (Math.max(r, g, b) - Math.min(r, g, b) > 24) colored++;
  }
  return colored / (data.length / 4);
}"""


@pytest.fixture
def page(browser, live_server):
    context, page, guard, problems = open_page(browser, live_server)
    yield page
    violations = csp_violations(page)
    context.close()
    assert guard.outside == [], f"requests left 127.0.0.1: {guard.outside}"
    assert violations == [], f"CSP violations: {violations}"
    assert problems == [], problems


def test_cleaning_specks_cleans_the_preview_and_says_the_figures_are_of_the_cleaned_image(page, corpus):
    upload(page, corpus / "kodim23.png")
    assert page.is_hidden("#fig-cleaned")
    plain_psnr = page.text_content("#fig-psnr")
    page.locator("#specks").fill("2")  # Medium: 40 px of a 1600 px view; kodim23 is smaller, so 40 px
    assert page.text_content("#specks-value") == "Medium · under 40 px"
    wait_for_result(page, 16, "rgb|none|40")
    assert page.is_visible("#fig-cleaned")
    assert page.text_content("#fig-cleaned").startswith("Figures measured on the cleaned image:")
    assert page.text_content("#fig-psnr") != plain_psnr
    result = shown_result(page)
    assert result.info["data"]["k"] == "16" and result.info["data"]["space"] == "rgb"
    assert result.info["data"]["dither"] == "none"
    canvas = page.locator('#compare canvas[aria-label^="Result"]')
    assert canvas.get_attribute("data-min-region") == "40"
    assert "specks under 40 px cleaned" in canvas.get_attribute("aria-label")
    shown = np.asarray(result.convert("RGB"))
    assert shown.shape[:2] == (512, 768), "at this size the preview is the full result"
    for color in np.unique(shown.reshape(-1, 3), axis=0):
        labelled, _ = ndimage.label((shown == color).all(axis=2))
        assert np.bincount(labelled.ravel())[1:].min() >= 40, "a speck survived in the preview"
    page.locator("#specks").fill("0")  # off again: the page draws from the palette itself
    wait_for_result(page, 16, "rgb|none")
    assert canvas.get_attribute("data-min-region") is None and page.is_hidden("#fig-cleaned")
    assert page.text_content("#fig-psnr") == plain_psnr
    page.locator("#specks").fill("2")
    wait_for_result(page, 16, "rgb|none|40")
    page.select_option("#dither", "floyd-steinberg")
    wait_for_result(page, 16, "rgb|floyd-steinberg")
    assert page.locator("#specks").is_disabled() and page.is_hidden("#fig-cleaned")


def test_the_paint_by_number_card_renders_the_svg_and_shows_its_colors(page, corpus):
    upload(page, corpus / "kodim23.png")
    page.fill("#k", "8")
    wait_for_result(page, 8)
    page.click("#paint-make")
    page.wait_for_function("() => { const img = document.getElementById('paint-img');"
                           " return !document.getElementById('paint-figure').hidden && img.complete"
                           " && img.naturalWidth > 0 && img.dataset.colors === 'false'; }")
    image = page.locator("#paint-img")
    assert image.evaluate("img => img.naturalWidth") == 2400
    assert "numbered regions" in page.text_content("#paint-status")
    template_share = image.evaluate(COLORED_SHARE)
    assert page.get_attribute("#paint-svg", "download") == "kodim23-k8-paint-by-number.svg"
    page.check("#paint-colors")
    page.wait_for_function("() => { const img = document.getElementById('paint-img');"
                           " return img.dataset.colors === 'true' && img.complete && img.naturalWidth > 0; }")
    answer_share = image.evaluate(COLORED_SHARE)
    # Hidden, the colors layer leaves the template white with gray lines; shown, it paints the picture
    # (the legend's swatches are colored in both).
    assert template_share < 0.05 and answer_share > 0.5, (template_share, answer_share)
    with page.expect_download() as download:
        page.click("#paint-png")
    assert download.value.suggested_filename == "kodim23-k8-paint-by-number.png"
