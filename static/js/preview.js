// The result on screen: drawn in the browser from the photo it already holds and a palette
// the server found (POST /api/palettes). The work runs in a worker (preview-worker.js); this
// side keeps only the latest view wanted, starts a render whenever the worker is free, and
// paints at most once per animation frame. The canvas's data-k, data-color-space and
// data-dither are set in the same frame as its pixels, so they always describe what it shows.

const MAX_SIDE = 1600;

/** The preview size: the photo's on-screen size in device pixels, at most MAX_SIDE on its longer side. */
export function previewSize(width, height, screenSide) {
  const side = Math.min(MAX_SIDE, Math.max(256, Math.ceil(screenSide)), Math.max(width, height));
  const scale = side / Math.max(width, height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** Two views show the same pixels. A view: {k, colorSpace, dither, palette: [{hex, share}], minRegion?, ...}. */
export function sameView(a, b) {
  return Boolean(a && b) && a.k === b.k && a.colorSpace === b.colorSpace && a.dither === b.dither
    && (a.minRegion || 0) === (b.minRegion || 0) && a.palette === b.palette;
}

function paletteBytes(palette) {
  const bytes = new Uint8Array(palette.length * 3);
  palette.forEach(({ hex }, i) => {
    bytes[3 * i] = parseInt(hex.slice(1, 3), 16);
    bytes[3 * i + 1] = parseInt(hex.slice(3, 5), 16);
    bytes[3 * i + 2] = parseInt(hex.slice(5, 7), 16);
  });
  return bytes;
}

export class Preview {
  /** canvas: the result element; onPaint(view) runs in the frame that painted it. */
  constructor(canvas, { onPaint = () => {} } = {}) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d");
    this.onPaint = onPaint;
    this.worker = new Worker(new URL("./preview-worker.js", import.meta.url), { type: "module" });
    this.resolvePhoto = null;
    this.worker.onmessage = ({ data }) => this.received(data);
    this.photoId = 0;
    this.ready = false; // the worker holds the photo and the canvas has its size
    this.wanted = null;
    this.rendering = null; // the view the worker is drawing
    this.finished = null; // a drawn view waiting for its frame
    this.shown = null;
    this.seq = 0;
    this.frame = 0;
    this.pendingImage = null; // {image, view}: an image the server drew, waiting for its frame
    this.imageFrame = 0;
  }

  /**
   * Hand the photo over at preview size. image: an img, loaded (its natural size known); file: the
   * photo's File or Blob when the page holds it, else null. Nearest-neighbor sampling: every preview
   * pixel is a pixel of the photo, so it takes exactly the entry its color takes in the full-resolution
   * result. With a file, the worker decodes it straight to preview size, off the main thread and while
   * the img is decoded for the screen; else (or if that fails) the img, decoded, is sampled here.
   */
  async setPhoto(image, file, screenSide) {
    const id = ++this.photoId;
    this.ready = false;
    this.finished = this.shown = null;
    const size = previewSize(image.naturalWidth, image.naturalHeight, screenSide);
    let info = file ? await this.handOver({ type: "photo", id, file, ...size }) : null;
    if (id !== this.photoId) return null;
    if (!info?.width) {
      await image.decode();
      if (id !== this.photoId) return null;
      const sampler = new OffscreenCanvas(size.width, size.height);
      const context = sampler.getContext("2d");
      context.imageSmoothingEnabled = false;
      context.drawImage(image, 0, 0, size.width, size.height);
      const bitmap = sampler.transferToImageBitmap();
      if (id !== this.photoId) {
        bitmap.close();
        return null;
      }
      info = await this.handOver({ type: "photo", id, bitmap }, [bitmap]);
      if (id !== this.photoId) return null;
    }
    this.canvas.width = info.width;
    this.canvas.height = info.height;
    this.ready = true;
    this.kick();
    // No palette yet, once the page has said what it wants (it does so as this resolves): the worker warms its
    // render path on the photo meanwhile. Not when a palette is here: the warming would delay its render.
    setTimeout(() => {
      if (id === this.photoId && !this.wanted && !this.rendering) this.worker.postMessage({ type: "warm", id });
    }, 0);
    return info;
  }

  /** Give the worker the photo; resolves to what it says of it ({failed: true} when it could not read a file). */
  handOver(message, transfer = []) {
    const taken = new Promise((resolve) => { this.resolvePhoto = resolve; });
    this.worker.postMessage(message, transfer);
    return taken;
  }

  /** Show this view as soon as the worker can draw it; a later call replaces an earlier one not yet drawn. */
  show(view) {
    this.wanted = view;
    this.pendingImage = null;
    this.kick();
  }

  isShown(view) {
    return sameView(this.shown, view);
  }

  kick() {
    const view = this.wanted;
    if (!view || this.rendering || !this.ready) return;
    if (sameView(view, this.shown) || sameView(view, this.finished?.view)) return;
    this.rendering = view;
    this.renderSent = performance.now();
    this.worker.postMessage({
      type: "render", id: this.photoId, seq: ++this.seq, palette: paletteBytes(view.palette),
      colorSpace: view.colorSpace, dither: view.dither,
    });
  }

  received(data) {
    if (data.type === "photo") {
      if (data.id === this.photoId) this.resolvePhoto?.(data);
      return;
    }
    const view = this.rendering;
    this.rendering = null;
    if (!data.skipped && data.id === this.photoId && data.seq === this.seq) {
      this.finished = { view, data, sent: this.renderSent, received: performance.now() };
      if (!this.frame) this.frame = requestAnimationFrame(() => this.paint());
    }
    this.kick(); // the worker is free: start on the latest view at once
  }

  paint() {
    this.frame = 0;
    const finished = this.finished;
    this.finished = null;
    if (!finished) return;
    const { view, data, sent, received } = finished;
    if (this.canvas.width !== data.width || this.canvas.height !== data.height) {
      this.canvas.width = data.width; // an image the server drew was shown at another size
      this.canvas.height = data.height;
    }
    this.context.putImageData(new ImageData(data.pixels, data.width, data.height), 0, 0);
    this.label(view);
    this.shown = view;
    performance.mark("kmeans:painted", { detail: { k: view.k, colorSpace: view.colorSpace, dither: view.dither,
      renderMs: data.ms, sent, received } });
    this.onPaint(view);
    // putImageData copied the pixels: the worker may draw into their buffer again.
    this.worker.postMessage({ type: "buffer", buffer: data.pixels.buffer }, [data.pixels.buffer]);
    this.kick();
  }

  /**
   * Paint an image the server made for this view (a format the browser cannot decode, or a result
   * cleaned of specks): same frame rules. A render of the worker in flight is dropped; the photo it
   * holds stays, so a later show() draws from it again.
   */
  paintImage(image, view) {
    this.wanted = this.finished = null;
    this.seq++;
    this.pendingImage = { image, view };
    if (this.imageFrame) return;
    this.imageFrame = requestAnimationFrame(() => {
      this.imageFrame = 0;
      const pending = this.pendingImage;
      this.pendingImage = null;
      if (!pending) return;
      this.canvas.width = pending.image.naturalWidth;
      this.canvas.height = pending.image.naturalHeight;
      this.context.drawImage(pending.image, 0, 0);
      this.label(pending.view);
      this.shown = pending.view;
      this.onPaint(pending.view);
    });
  }

  label(view) {
    const canvas = this.canvas;
    canvas.dataset.k = String(view.k);
    canvas.dataset.colorSpace = view.colorSpace;
    canvas.dataset.dither = view.dither;
    const cleaned = view.minRegion ? `, specks under ${view.minRegion} px cleaned` : "";
    if (view.minRegion) canvas.dataset.minRegion = String(view.minRegion);
    else delete canvas.dataset.minRegion;
    canvas.setAttribute("aria-label", `Result with ${view.colors} colors (k = ${view.k})${cleaned}`);
  }

  clear() {
    this.photoId++;
    this.wanted = this.rendering = this.finished = this.shown = this.pendingImage = null;
    this.ready = false;
    this.canvas.width = 0;
    this.canvas.height = 0;
    delete this.canvas.dataset.k;
    delete this.canvas.dataset.minRegion;
    this.canvas.setAttribute("aria-label", "Result");
  }
}
