// The comparison: side by side, or one image with a draggable divider (swipe).
// Both views share one zoom and one center, so the two photos always show
// the same part of the picture. Styles are set through the CSSOM: the CSP
// forbids style attributes in the HTML.

const MAX_SCALE = 16;
const PAN_STEP = 48;

export class Viewer {
  constructor(compare) {
    this.compare = compare;
    this.viewports = [...compare.querySelectorAll(".viewport")];
    this.images = [...compare.querySelectorAll(".viewport img, .viewport canvas")];
    this.resultPane = compare.querySelector(".pane-result");
    this.divider = compare.querySelector(".divider");
    this.size = null; // logical size of the photo, {w, h}
    this.scale = null; // null: fit the viewport; 1: 100%
    this.center = { x: 0, y: 0 };
    this.split = 0.5;
    this.view = "side";
    this.onzoom = () => {};
    this.onlabel = () => {};
    compare.classList.add("zoomable");
    for (const image of this.images) image.draggable = false;
    for (const viewport of this.viewports) this.bindViewport(viewport);
    this.bindDivider();
    new ResizeObserver(() => this.apply()).observe(compare);
  }

  setSize(width, height) {
    const changed = !this.size || this.size.w !== width || this.size.h !== height;
    this.size = { w: width, h: height };
    if (changed) {
      this.scale = null;
      this.center = { x: width / 2, y: height / 2 };
      this.onzoom(this.scale);
    }
    this.apply();
  }

  setView(view) {
    this.view = view;
    this.compare.dataset.view = view;
    this.divider.hidden = view !== "swipe";
    this.apply();
  }

  /** scale: null to fit, or image pixels per CSS pixel (1 is 100%). */
  setScale(scale, anchor) {
    const box = this.box(this.viewports[0]);
    if (!box) return;
    // Never smaller than fit, except to show a small photo at its true 100%.
    if (scale !== null && scale < Math.min(box.fit, 1) - 1e-6) scale = null;
    if (scale !== null) {
      scale = Math.min(scale, MAX_SCALE);
      const s = box.s;
      // Keep the picture point under the anchor (or the middle) where it is.
      const px = anchor ? anchor.x : box.vw / 2;
      const py = anchor ? anchor.y : box.vh / 2;
      const ix = (px - box.tx) / s;
      const iy = (py - box.ty) / s;
      this.center = { x: ix - (px - box.vw / 2) / scale, y: iy - (py - box.vh / 2) / scale };
    }
    this.scale = scale;
    this.apply();
    this.onzoom(this.scale);
  }

  zoomed() {
    return this.scale !== null;
  }

  /** Size, fit scale, current scale and offset of the photo in one viewport. */
  box(viewport) {
    const vw = viewport.clientWidth;
    const vh = viewport.clientHeight;
    if (!this.size || !vw || !vh) return null;
    const { w, h } = this.size;
    const fit = Math.min(vw / w, vh / h);
    const s = this.scale ?? fit;
    let cx = this.center.x;
    let cy = this.center.y;
    if (this.scale === null || w * s <= vw) cx = w / 2;
    else cx = Math.min(Math.max(cx, vw / (2 * s)), w - vw / (2 * s));
    if (this.scale === null || h * s <= vh) cy = h / 2;
    else cy = Math.min(Math.max(cy, vh / (2 * s)), h - vh / (2 * s));
    return { vw, vh, fit, s, cx, cy, tx: vw / 2 - cx * s, ty: vh / 2 - cy * s };
  }

  /** As tall as the photo needs at this width, up to what the window allows: no empty bands. */
  fitHeight() {
    if (!this.size) return;
    const columns = getComputedStyle(this.compare).gridTemplateColumns.split(" ").length;
    const gap = parseFloat(getComputedStyle(this.compare).columnGap) || 0;
    const paneWidth = (this.compare.clientWidth - gap * (columns - 1)) / columns;
    const stacked = columns === 1 && this.view === "side";
    const tallest = stacked ? window.innerHeight * 0.27 : Math.min(Math.max(288, window.innerHeight - 150), 900);
    const height = Math.max(160, Math.min(tallest, (paneWidth * this.size.h) / this.size.w));
    this.compare.style.setProperty("--stage-height", `${Math.round(height)}px`);
  }

  apply() {
    this.fitHeight();
    let first = null;
    for (const viewport of this.viewports) {
      const box = this.box(viewport);
      if (!box) continue;
      first ??= box;
      for (const image of viewport.querySelectorAll("img, canvas")) {
        image.style.width = `${this.size.w * box.s}px`;
        image.style.height = `${this.size.h * box.s}px`;
        image.style.transform = `translate(${box.tx}px, ${box.ty}px)`;
      }
    }
    if (!first) return;
    if (this.scale !== null) this.center = { x: first.cx, y: first.cy };
    this.compare.classList.toggle("zoomed", this.scale !== null);
    this.compare.classList.toggle("pixelated", first.s >= 1);
    this.onlabel(this.scale === null ? `Fit · ${Math.round(first.s * 100)}%` : `${Math.round(first.s * 100)}%`);
    this.applySplit();
  }

  applySplit() {
    const swipe = this.view === "swipe";
    this.resultPane.style.clipPath = swipe ? `inset(0 0 0 ${this.split * 100}%)` : "";
    this.divider.style.left = `${this.split * 100}%`;
    const percent = Math.round(this.split * 100);
    this.divider.setAttribute("aria-valuenow", String(percent));
    this.divider.setAttribute("aria-valuetext", `${percent}% original, ${100 - percent}% result`);
  }

  setSplit(split) {
    this.split = Math.min(1, Math.max(0, split));
    this.applySplit();
  }

  panBy(dx, dy) {
    if (this.scale === null) return;
    this.center = { x: this.center.x - dx / this.scale, y: this.center.y - dy / this.scale };
    this.apply();
  }

  bindViewport(viewport) {
    let drag = null;
    viewport.addEventListener("pointerdown", (event) => {
      if (event.button !== 0 || !this.size) return;
      viewport.setPointerCapture(event.pointerId);
      drag = { x: event.clientX, y: event.clientY };
      if (!this.zoomed() && this.view === "swipe") this.splitAt(event.clientX);
      viewport.classList.add("panning");
    });
    viewport.addEventListener("pointermove", (event) => {
      if (!drag) return;
      if (this.zoomed()) this.panBy(event.clientX - drag.x, event.clientY - drag.y);
      else if (this.view === "swipe") this.splitAt(event.clientX);
      drag = { x: event.clientX, y: event.clientY };
    });
    const end = () => {
      drag = null;
      viewport.classList.remove("panning");
    };
    viewport.addEventListener("pointerup", end);
    viewport.addEventListener("pointercancel", end);
    viewport.addEventListener("dblclick", (event) => {
      const rect = viewport.getBoundingClientRect();
      this.setScale(this.zoomed() ? null : 1, { x: event.clientX - rect.left, y: event.clientY - rect.top });
    });
    viewport.addEventListener("wheel", (event) => {
      // Pinch on a touchpad, or Ctrl + wheel: zoom around the pointer. A plain wheel scrolls the page.
      if (!event.ctrlKey || !this.size) return;
      event.preventDefault();
      const rect = viewport.getBoundingClientRect();
      const current = this.box(viewport);
      const anchor = { x: event.clientX - rect.left, y: event.clientY - rect.top };
      this.setScale(current.s * Math.exp(-event.deltaY * 0.01), anchor);
    }, { passive: false });
    viewport.addEventListener("keydown", (event) => {
      const moves = {
        ArrowLeft: [PAN_STEP, 0], ArrowRight: [-PAN_STEP, 0], ArrowUp: [0, PAN_STEP], ArrowDown: [0, -PAN_STEP],
      };
      const current = this.box(viewport);
      if (!current) return;
      if (moves[event.key] && this.zoomed()) this.panBy(...moves[event.key]);
      else if (event.key === "+" || event.key === "=") this.setScale(current.s * 2);
      else if (event.key === "-") this.setScale(current.s / 2);
      else if (event.key === "0") this.setScale(null);
      else if (event.key === "1") this.setScale(1);
      else return;
      event.preventDefault();
    });
  }

  splitAt(clientX) {
    const rect = this.compare.getBoundingClientRect();
    this.setSplit((clientX - rect.left) / rect.width);
  }

  bindDivider() {
    const divider = this.divider;
    let dragging = false;
    divider.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      event.stopPropagation();
      dragging = true;
      divider.setPointerCapture(event.pointerId);
      divider.focus({ preventScroll: true });
    });
    divider.addEventListener("pointermove", (event) => {
      if (dragging) this.splitAt(event.clientX);
    });
    divider.addEventListener("pointerup", () => { dragging = false; });
    divider.addEventListener("pointercancel", () => { dragging = false; });
    divider.addEventListener("keydown", (event) => {
      const small = event.shiftKey ? 0.1 : 0.02;
      const steps = { ArrowLeft: -small, ArrowDown: -small, ArrowRight: small, ArrowUp: small, PageDown: -0.1, PageUp: 0.1 };
      if (event.key in steps) this.setSplit(this.split + steps[event.key]);
      else if (event.key === "Home") this.setSplit(0);
      else if (event.key === "End") this.setSplit(1);
      else return;
      event.preventDefault();
    });
  }
}
