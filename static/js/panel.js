// The figures and the palette beside the photos.

const numbers = new Intl.NumberFormat("en");

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

/** Fill the figures list from a quantize answer. */
export function showFigures(answer, { fullBytes, elapsedMs }) {
  const original = answer.original;
  const set = (id, text) => { document.getElementById(id).textContent = text; };
  set("fig-colors", `${numbers.format(original.unique_colors)} → ${answer.colors}`);
  const megapixels = (original.pixels / 1e6).toFixed(original.pixels < 1e6 ? 2 : 1);
  set("fig-pixels", `${original.width} × ${original.height} · ${megapixels} MP`);
  set("fig-psnr", psnrText(answer.psnr));
  set("fig-delta-e", answer.delta_e.toFixed(2));
  set("fig-size", `${humanBytes(original.bytes)} → ${humanBytes(fullBytes)}`);
  const server = (answer.timings.quantize_ms || 0) + (answer.timings.encode_ms || 0);
  set("fig-time", formatMs(elapsedMs));
  document.getElementById("fig-time").title =
    `Server: ${formatMs(server)} to recolor and encode; the rest is transfer and display.`;
}

export function showResultSize(bytes, original) {
  document.getElementById("fig-size").textContent = `${humanBytes(original)} → ${humanBytes(bytes)}`;
}

/** Swatches sorted by share (the API already sorts them); a click copies the hex code. */
export function showPalette(list, palette, announce) {
  const items = palette.map(({ hex, share }) => {
    const percent = `${(share * 100).toFixed(share >= 0.001 ? 1 : 2)}%`;
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "swatch-button";
    button.dataset.hex = hex;
    button.setAttribute("aria-label", `${hex}, ${percent} of pixels. Copy`);
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.style.backgroundColor = hex;
    const code = document.createElement("span");
    code.className = "hex";
    code.textContent = hex;
    const shareText = document.createElement("span");
    shareText.className = "share";
    shareText.textContent = percent;
    button.append(chip, code, shareText);
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
    item.append(button);
    return item;
  });
  list.replaceChildren(...items);
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
  const rects = palette.map(({ hex, share }) => {
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
