// A small inline SVG chart of error against k, built by hand: no library.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 300;
const HEIGHT = 150;
const MARGIN = { left: 30, right: 10, top: 16, bottom: 24 };

function node(name, attributes, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text != null) element.textContent = text;
  return element;
}

/**
 * Draw points [{k, psnr, delta_e}] with the suggested k marked. onPick(k) is
 * called when the chart is clicked. Returns {svg, setCurrent(k)}.
 */
export function drawCurve(container, points, suggestedK, onPick) {
  const ks = points.map((p) => p.k);
  const values = points.map((p) => p.delta_e);
  const kMin = Math.min(...ks);
  const kMax = Math.max(...ks);
  const top = Math.max(...values) * 1.05;
  const bottom = Math.max(0, Math.min(...values) * 0.9);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (k) => MARGIN.left + ((k - kMin) / Math.max(1, kMax - kMin)) * plotW;
  const y = (v) => MARGIN.top + (1 - (v - bottom) / Math.max(1e-9, top - bottom)) * plotH;

  const suggested = points.find((p) => p.k === suggestedK);
  const label = `Mean ΔE falls from ${values[0].toFixed(1)} at k = ${kMin} to ${values.at(-1).toFixed(1)} at k = ${kMax}` +
    (suggested ? `; it flattens around k = ${suggestedK} (ΔE ${suggested.delta_e.toFixed(1)}).` : ".");
  // A slider to the keyboard: arrows, Home and End pick k, as a click does.
  const svg = node("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "slider", tabindex: 0, "aria-label": `Pick k on the chart. ${label}`,
    "aria-valuemin": kMin, "aria-valuemax": kMax, "aria-orientation": "horizontal",
  });
  svg.append(node("title", {}, label));

  for (const tick of [bottom, (bottom + top) / 2, top]) {
    svg.append(node("line", { class: "grid", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(tick), y2: y(tick) }));
    svg.append(node("text", { class: "label", x: MARGIN.left - 6, y: y(tick) + 4, "text-anchor": "end" }, tick.toFixed(1)));
  }
  for (const k of [kMin, 8, 16, 24, kMax].filter((k, i, all) => k >= kMin && k <= kMax && all.indexOf(k) === i)) {
    svg.append(node("text", { class: "label", x: x(k), y: HEIGHT - 8, "text-anchor": "middle" }, `k ${k}`));
  }
  const base = HEIGHT - MARGIN.bottom;
  svg.append(node("line", { class: "axis", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: base, y2: base }));

  const current = node("line", { class: "current", y1: MARGIN.top, y2: HEIGHT - MARGIN.bottom, x1: -10, x2: -10 });
  svg.append(current);
  const path = points.map((p, i) => `${i ? "L" : "M"}${x(p.k).toFixed(1)},${y(p.delta_e).toFixed(1)}`).join("");
  svg.append(node("path", { class: "line", d: path }));
  for (const p of points) {
    const dot = node("circle", { class: "point", cx: x(p.k), cy: y(p.delta_e), r: 2.6, "data-k": p.k });
    const psnr = p.psnr == null ? "identical" : `${p.psnr.toFixed(1)} dB`;
    dot.append(node("title", {}, `k = ${p.k}: mean ΔE ${p.delta_e.toFixed(2)}, PSNR ${psnr}`));
    svg.append(dot);
  }
  let suggestedLabel = null;
  if (suggested) {
    const cx = x(suggested.k);
    const cy = y(suggested.delta_e);
    svg.append(node("circle", { class: "suggested", cx, cy, r: 6, "data-suggested-k": suggested.k }));
    suggestedLabel = node("text", { class: "label strong", "data-label": "suggested" });
    suggestedLabel.append(node("tspan", {}, `k = ${suggested.k}`), node("tspan", { dy: 13 }, "suggested"));
    svg.append(suggestedLabel);
  }
  // The label sits beside its point, on a side the current-k line does not cross.
  const LABEL_WIDTH = 64;
  const placeLabel = (currentX) => {
    if (!suggestedLabel) return;
    const cx = x(suggested.k);
    const width = (suggestedLabel.isConnected && suggestedLabel.getBBox().width) || LABEL_WIDTH;
    const span = (anchor) => (anchor === "start" ? [cx + 8, cx + 10 + width] : [cx - 10 - width, cx - 8]);
    const fits = (anchor) => { const [lo, hi] = span(anchor); return lo >= MARGIN.left && hi <= WIDTH; };
    const clear = (anchor) => { const [lo, hi] = span(anchor); return currentX === null || currentX < lo - 3 || currentX > hi + 3; };
    const sides = ["start", "end"].filter(fits);
    const anchor = sides.find(clear) || sides[0] || "start";
    const top = Math.max(MARGIN.top + 10, y(suggested.delta_e) - 16);
    suggestedLabel.setAttribute("text-anchor", anchor);
    suggestedLabel.setAttribute("y", top);
    for (const tspan of suggestedLabel.children) tspan.setAttribute("x", cx + (anchor === "start" ? 9 : -9));
    // No side is clear (the line runs just beside the point): the line starts below the label instead.
    current.setAttribute("y1", clear(anchor) ? MARGIN.top : top + 19);
  };
  placeLabel(null);

  svg.addEventListener("click", (event) => {
    const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
    const k = Math.round(kMin + ((point.x - MARGIN.left) / plotW) * (kMax - kMin));
    onPick(Math.min(kMax, Math.max(kMin, k)));
  });
  let currentK = null;
  svg.addEventListener("keydown", (event) => {
    const from = currentK ?? suggestedK ?? kMin;
    const steps = { ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1, PageDown: -5, PageUp: 5 };
    let k;
    if (event.key in steps) k = from + steps[event.key];
    else if (event.key === "Home") k = kMin;
    else if (event.key === "End") k = kMax;
    else return;
    event.preventDefault();
    onPick(Math.min(kMax, Math.max(kMin, k)));
  });
  container.replaceChildren(svg);

  return {
    svg,
    setCurrent(k) {
      currentK = k;
      const inside = k >= kMin && k <= kMax;
      // Outside the chart's range (k above 32), no line: never one drawn beside the axis.
      current.setAttribute("visibility", inside ? "visible" : "hidden");
      current.setAttribute("x1", inside ? x(k) : MARGIN.left);
      current.setAttribute("x2", inside ? x(k) : MARGIN.left);
      const point = points.find((p) => p.k === k);
      svg.setAttribute("aria-valuenow", String(Math.min(kMax, Math.max(kMin, k))));
      svg.setAttribute("aria-valuetext", point ? `k = ${k}, mean ΔE ${point.delta_e.toFixed(1)}` : `k = ${k}`);
      placeLabel(inside ? x(k) : null);
    },
  };
}
