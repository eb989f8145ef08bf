// The figures and the palette beside the photos.

const numbers = new Intl.NumberFormat("en");

/** A card's one line of status; `failed` shows it as an error. */
export function setStatus(element, text, failed = false) {
  element.textContent = text;
  element.classList.toggle("failed", failed);
}

export function humanBytes(count) {
  if (count == null) return "…";
  for (const [unit, size] of [["MB", 2 ** 20], ["KB", 2 ** 10]]) {
    if (count >= size) return `${(count / size).toFixed(count < 100 * size ? 1 : 0)} ${unit}`;
  }
  return `${count} bytes`;
}

export function formatMs(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

export function psnrText(psnr) {
  return psnr == null ? "identical" : `${psnr.toFixed(1)} dB`;
}

/** The share as the page writes it (templates/_swatch.html): one decimal, two below 0.1%. */
export function percentText(share) {
  if (share == null) return "…"; // a palette drawn before its shares were measured
  return `${(share * 100).toFixed(share >= 0.001 ? 1 : 2)}%`;
}

/**
 * Fill the figures for a view on show. photo: the server's word on the photo (width, height,
 * unique_colors, bytes). full: the server's full-resolution answer for this view, if fetched:
 * it gives the file size and, with dithering, the figures (a dithered result has its own).
 */
export function showFigures(view, photo, full) {
  const set = (id, text, title = "") => {
    const element = document.getElementById(id);
    element.textContent = text;
    element.title = title;
  };
  // A palette drawn before the server measured it (early: figures false) has its figures on the way.
  const figures = view.figures === false ? null : view.dither === "none" ? view : full?.answer;
  set("fig-colors", photo ? `${numbers.format(photo.unique_colors)} → ${view.colors}` : `${view.colors}`);
  if (photo) {
    const pixels = photo.width * photo.height;
    set("fig-pixels", `${photo.width} × ${photo.height} · ${(pixels / 1e6).toFixed(pixels < 1e6 ? 2 : 1)} MP`);
  }
  const later = view.figures === false ? "Measured by the server as it completes this palette."
    : "Measured on the full-resolution dithered result, made for the download.";
  set("fig-psnr", figures ? psnrText(figures.psnr) : "…", figures ? "" : later);
  const deltaE = figures?.delta_e;
  set("fig-delta-e", deltaE != null ? deltaE.toFixed(2) : "…",
    deltaE != null ? "" : figures ? "Measured once the slider rests." : later);
  const size = full ? humanBytes(full.blob.size) : "…";
  set("fig-size", photo ? `${humanBytes(photo.bytes)} → ${size}` : size,
    full ? "" : "The full-resolution PNG is made when you download it or zoom to 100%, or once you rest.");
  const serverMs = full?.answer?.timings ? (full.answer.timings.quantize_ms || 0) + (full.answer.timings.encode_ms || 0) : null;
  set("fig-time", serverMs == null ? "in the browser" : formatMs(serverMs),
    "Moving k redraws the result in your browser from the palette the server found; "
      + "the time is the server's to make the full-resolution PNG.");
}

/** Swatches sorted by share (the API already sorts them), cloned from the page's own markup; a click copies. */
export function showPalette(list, template, palette, announce) {
  const items = palette.map(({ hex, share }) => {
    const item = template.content.firstElementChild.cloneNode(true);
    const button = item.querySelector("button");
    const percent = percentText(share);
    button.dataset.hex = hex;
    button.dataset.share = String(share ?? ""); // as the template writes a share not measured yet
    button.setAttribute("aria-label", share == null ? `${hex}. Copy` : `${hex}, ${percent} of pixels. Copy`);
    item.querySelector(".chip rect").setAttribute("fill", hex);
    item.querySelector(".hex").textContent = hex;
    const shareText = item.querySelector(".share");
    shareText.textContent = percent;
    button.addEventListener("click", async () => {
      const copied = await copyText(hex);
      announce(copied ? `Copied ${hex}` : `Could not copy; the color is ${hex}`);
      shareText.textContent = copied ? "Copied" : "Select it";
      button.classList.add("copied");
      setTimeout(() => {
        shareText.textContent = percent;
        button.classList.remove("copied");
      }, 1400);
    });
    return item;
  });
  list.replaceChildren(...items);
  // More colors than the box shows: fade its lower edge, and say so.
  const more = list.scrollHeight > list.clientHeight + 1;
  list.classList.toggle("scrolls", more);
  const note = list.nextElementSibling?.classList.contains("palette-more") ? list.nextElementSibling : null;
  if (more && !note) {
    const hint = document.createElement("p");
    hint.className = "palette-more";
    list.after(hint);
  }
  if (more) list.nextElementSibling.textContent = `All ${palette.length} colors: scroll the list for the rest.`;
  else note?.remove();
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard API (or no permission): the old way through a selected text field.
    const field = document.createElement("textarea");
    field.value = text;
    field.setAttribute("readonly", "");
    field.className = "visually-hidden";
    document.body.append(field);
    field.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch {
      copied = false;
    }
    field.remove();
    return copied;
  }
}

/** One bar under the photos: each palette color as wide as its share of the pixels. */
export function showStrip(svg, palette) {
  let x = 0;
  const rects = palette.map(({ hex, share: measured }) => {
    const share = measured ?? 1 / palette.length; // not measured yet: equal parts until the shares come
    const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    rect.setAttribute("x", (x * 1000).toFixed(2));
    rect.setAttribute("width", (share * 1000 + 0.5).toFixed(2)); // the half overlaps the next: no hairline gaps
    rect.setAttribute("height", "10");
    rect.setAttribute("fill", hex);
    x += share;
    return rect;
  });
  svg.replaceChildren(...rects);
  svg.removeAttribute("hidden"); // an SVG element has no hidden property
}
