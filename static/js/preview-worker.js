// The preview's heavy work, off the main thread so the slider never waits for it.
// It holds the photo at preview size: its pixels, their distinct colors and, for each
// pixel, which distinct color it is. A render assigns each distinct color its palette
// entry (colormatch.js) and then every pixel through that table; dithering diffuses
// the error pixel by pixel.

import { assign, ditherOnto, labLattice, labOfKeys, warmAssign } from "./colormatch.js";

let photo = null;
let latest = 0; // the id of the photo last handed over: an older one still decoding is dropped

/** Distinct colors of RGBA pixels by open addressing: keys (0xRRGGBB) and each pixel's slot among them. */
function distinctColors(rgba) {
  const pixels = rgba.length / 4;
  const words = new Uint32Array(rgba.buffer, rgba.byteOffset, pixels);
  let size = 1 << 12;
  while (size < pixels * 2) size <<= 1;
  const shift = 32 - Math.log2(size);
  const table = new Int32Array(size).fill(-1);
  const keys = new Uint32Array(pixels);
  const inverse = new Uint32Array(pixels);
  let count = 0;
  for (let i = 0; i < pixels; i++) {
    const w = words[i]; // little-endian RGBA: 0xAABBGGRR
    const key = ((w & 0xff) << 16) | (w & 0xff00) | ((w >>> 16) & 0xff);
    let slot = Math.imul(key, 0x9e3779b1) >>> shift;
    for (;;) {
      const at = table[slot];
      if (at === -1) {
        table[slot] = count;
        keys[count] = key;
        inverse[i] = count++;
        break;
      }
      if (keys[at] === key) {
        inverse[i] = at;
        break;
      }
      slot = (slot + 1) & (size - 1);
    }
  }
  return { keys: keys.slice(0, count), inverse };
}

async function takePhoto({ bitmap, file, width, height, id }) {
  const started = performance.now();
  latest = id;
  if (file) {
    try {
      bitmap = await createImageBitmap(file, { resizeWidth: width, resizeHeight: height, resizeQuality: "pixelated" });
    } catch {
      self.postMessage({ type: "photo", id, failed: true }); // the page samples its img instead
      return;
    }
    if (id !== latest) {
      bitmap.close();
      return;
    }
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
  spare.length = 0; // the last photo's
  if (matching) matching.postMessage({ type: "drop" });
  photo = {
    id, width: canvas.width, height: canvas.height, rgba, lab: null, labLattice: null, ...distinctColors(rgba),
  };
  self.postMessage({ type: "photo", id, width: photo.width, height: photo.height, distinct: photo.keys.length,
    ms: performance.now() - started });
}

/** The CIELAB of the photo's distinct colors and that CIELAB on the server's lattice (where the nearest
 *  entries are found), made on first need and kept with the photo: of its first photo.split colors, where the
 *  matching thread (match-worker.js) holds the others and makes theirs at the same time. */
function labOf(photo) {
  if (!photo.lab) {
    photo.split = photo.keys.length;
    const other = photo.keys.length >= SPLIT_MIN_COLORS ? matcher() : null;
    if (other) {
      photo.split = photo.keys.length >> 1;
      other.postMessage({ type: "colors", id: photo.id, keys: photo.keys.slice(photo.split), warmColors: WARM_LAB_COLORS,
        warmPalettes: Array.from({ length: WARM_LAB_ROUNDS }, (_, round) => warmPalette(photo, round)) });
    }
    photo.lab = labOfKeys(photo.keys.subarray(0, photo.split));
  }
  photo.labLattice ||= labLattice(photo.lab);
  return photo.lab;
}

// A perceptual render splits its colors with a second thread from this many distinct colors on (a 12 MP
// photo at preview size has about 100,000); below, a hand-over costs more than half the matching.
const SPLIT_MIN_COLORS = 32768;
let matching = null; // the matching thread: null before it is needed, false where none can start
let asked = 0;
const answers = new Map(); // the matching thread's labels by request, each to a resolve

function matcher() {
  if (matching === null) {
    try {
      matching = new Worker(new URL("./match-worker.js", import.meta.url), { type: "module" });
      matching.onmessage = ({ data }) => {
        answers.get(data.seq)?.(data.labels);
        answers.delete(data.seq);
      };
      matching.onerror = () => { // it did not start, or failed: every part is assigned here from now on
        matching.terminate(); // a thread that threw keeps no photo's colors
        matching = false;
        for (const resolve of answers.values()) resolve(null);
        answers.clear();
      };
    } catch {
      matching = false; // a browser whose workers cannot start workers
    }
  }
  return matching || null;
}

/** The entries of the photo's colors from photo.split on, and whether the matching thread assigned them;
 *  else (that thread gone, or holding another photo) they are assigned here, their CIELAB kept with the photo. */
async function otherPart(photo, palette, colorSpace) {
  const other = matcher();
  const labels = other && await new Promise((resolve) => {
    answers.set(++asked, resolve);
    other.postMessage({ type: "assign", id: photo.id, seq: asked, palette, colorSpace });
  });
  if (labels) return { labels, there: true };
  const keys = photo.keys.subarray(photo.split);
  photo.restLab ||= labOfKeys(keys);
  photo.restLattice ||= labLattice(photo.restLab);
  return { labels: assign(keys, photo.restLab, palette, colorSpace, photo.restLattice), there: false };
}

const warmed = new Set();

/** CIELAB's matching (or oklab's), once the first result is shown, on the photo's colors WARM_LAB_COLORS at a time,
 *  WARM_LAB_ROUNDS tasks in turn (a palette that comes meanwhile waits for one), so that the engine has compiled it
 *  before a palette comes: cold, the first CIELAB render took 70-120 ms where a warm one takes 55-95; after one
 *  round it still took 100-135 ms in chromium (at load 3-4), after four 50-90. (RGB's whole render path is warmed
 *  by warmRender; the matching thread warms itself the same way.) */
function warmUp(colorSpace, round = 0) {
  if (!photo?.lab || photo.matched || (round === 0 && warmed.has(colorSpace))) return;
  warmed.add(colorSpace);
  const id = photo.id;
  warmAssign(photo.keys.subarray(0, photo.split), photo.lab, photo.labLattice, warmPalette(photo, round), colorSpace,
    round, Math.min(photo.split, WARM_LAB_COLORS));
  if (round + 1 < WARM_LAB_ROUNDS) setTimeout(() => photo?.id === id && warmUp(colorSpace, round + 1), 0);
}

const WARM_LAB_COLORS = 4096;
const WARM_LAB_ROUNDS = 4;

/** 16 of the photo's own colors, spread over its first 4,096 distinct ones (4,096 more each round). */
function warmPalette(photo, round = 0) {
  const count = Math.min(photo.keys.length, WARM_LAB_COLORS * (round + 1));
  const palette = new Uint8Array(3 * 16);
  for (let e = 0; e < 16; e++) {
    const key = photo.keys[Math.floor((e * count) / 16)];
    palette.set([(key >>> 16) & 255, (key >>> 8) & 255, key & 255], 3 * e);
  }
  return palette;
}

/** A buffer of byteLength for a render's pixels: one the page has handed back after painting it, else a new one.
 *  A buffer sent to the page is transferred (detached here), so only one it returns can be written again. */
function pixelBuffer(byteLength) {
  const index = spare.findIndex((buffer) => buffer.byteLength === byteLength);
  if (index < 0) return new Uint8ClampedArray(byteLength);
  return new Uint8ClampedArray(spare.splice(index, 1)[0]);
}

const spare = []; // buffers of the photo's size that the page has painted and handed back
const SPARE_MAX = 3;

function keep(buffer) {
  if (photo && buffer.byteLength === photo.rgba.length && spare.length < SPARE_MAX) spare.push(buffer);
}

/** Pixels start to end take the entry their distinct color took (labels[inverse[i]]), their own alpha kept. */
function mapPixels(photo, palette, labels, out, start = 0, end = photo.inverse.length) {
  const entries = new Uint32Array(palette.length / 3);
  for (let e = 0; e < entries.length; e++) {
    entries[e] = (palette[3 * e + 2] << 16) | (palette[3 * e + 1] << 8) | palette[3 * e];
  }
  const { rgba, inverse } = photo;
  const source = new Uint32Array(rgba.buffer, rgba.byteOffset, rgba.length / 4);
  const target = new Uint32Array(out.buffer, out.byteOffset, out.length / 4);
  for (let i = start; i < end; i++) {
    target[i] = (entries[labels[inverse[i]]] | (source[i] & 0xff000000)) >>> 0;
  }
}

/** The result into out; returns how many of the photo's colors the matching thread assigned (0: none). */
async function draw(photo, palette, colorSpace, dither, out) {
  if (dither === "floyd-steinberg") {
    ditherOnto(photo.rgba, photo.width, photo.height, palette, out);
    return 0;
  }
  if (colorSpace === "rgb") {
    mapPixels(photo, palette, assign(photo.keys, null, palette, colorSpace), out);
    return 0;
  }
  labOf(photo);
  photo.matched = true; // no more warming: the matching thread's warm-up ends when its first part is asked for
  const labels = new Uint8Array(photo.keys.length);
  const theirs = photo.split < photo.keys.length ? otherPart(photo, palette, colorSpace) : null;
  labels.set(assign(photo.keys.subarray(0, photo.split), photo.lab, palette, colorSpace, photo.labLattice));
  const other = theirs && await theirs;
  if (other) labels.set(other.labels, photo.split);
  mapPixels(photo, palette, labels, out);
  return other?.there ? photo.keys.length - photo.split : 0;
}

/** Once per photo, while its first palette is on the server (the page asks, when it has none yet): an RGB
 *  render of the photo's first colors and pixels, thrown away, so that the first real one runs compiled code.
 *  Cold, a first render took 15-34 ms on kodim23 where a warm one takes 3-7. It goes in slices, each a task of
 *  a few ms, so that a palette that comes meanwhile waits for one slice at most, and stops once a real render
 *  ran. Its buffer is kept for that render. */
function warmRender(id) {
  if (photo?.id !== id || photo.rendered) return;
  const palette = warmPalette(photo);
  const out = pixelBuffer(photo.rgba.length);
  const { keys, inverse } = photo;
  const labels = new Uint8Array(keys.length);
  const steps = [];
  for (let at = 0; at < Math.min(keys.length, WARM_COLORS * WARM_SLICES); at += WARM_COLORS) {
    steps.push(() => labels.set(assign(keys.subarray(at, at + WARM_COLORS), null, palette, "rgb"), at));
  }
  for (let at = 0; at < Math.min(inverse.length, WARM_PIXELS * WARM_SLICES); at += WARM_PIXELS) {
    steps.push(() => mapPixels(photo, palette, labels, out, at, Math.min(at + WARM_PIXELS, inverse.length)));
  }
  const next = (step) => {
    if (photo?.id !== id || photo.rendered) return;
    if (step === steps.length) {
      keep(out.buffer);
      return;
    }
    steps[step]();
    setTimeout(() => next(step + 1), 0);
  };
  setTimeout(() => next(0), 0);
}

const WARM_COLORS = 16384;
const WARM_PIXELS = 1 << 18;
const WARM_SLICES = 3; // of each: enough for compiled code; the whole of a 12 MP photo's would take CPU from the server

async function render({ id, seq, palette, colorSpace, dither }) {
  if (!photo || photo.id !== id) {
    self.postMessage({ type: "render", id, seq, skipped: true });
    return;
  }
  const started = performance.now();
  photo.rendered = true;
  const { width, height } = photo;
  const out = pixelBuffer(width * height * 4);
  const split = await draw(photo, palette, colorSpace, dither, out); // colors the matching thread assigned
  self.postMessage({ type: "render", id, seq, pixels: out, width, height, split, ms: performance.now() - started },
    [out.buffer]);
  // Once the photo's first result is shown, while the page waits for its other palettes (hundreds of
  // ms): the CIELAB of its colors, which lab and oklab renders need, and that matching warmed up.
  // Not sooner: the first palette could come meanwhile, and wait.
  if (!photo.lab) {
    setTimeout(() => {
      if (photo?.id !== id || photo.lab) return;
      labOf(photo);
      warmUp("lab");
    }, 0);
  }
}

/** While the page loads, before any photo: the whole path (distinct colors, RGB matching, pixel mapping) runs
 *  a few times on a small made-up image, each time a task of its own, so that the engine has compiled it when
 *  the first photo and its palette come. It stops once a photo is handed over. */
function warmAtStart(round = 0) {
  if (latest || round === 4) return;
  const side = 256;
  const rgba = new Uint8ClampedArray(side * side * 4);
  for (let i = 0; i < side * side; i++) {
    rgba[4 * i] = (i * 7 + round) & 255;
    rgba[4 * i + 1] = (i >>> 3) & 255;
    rgba[4 * i + 2] = (i * 29) >>> 9;
    rgba[4 * i + 3] = 255;
  }
  const made = { rgba, width: side, height: side, ...distinctColors(rgba) };
  const palette = warmPalette(made);
  mapPixels(made, palette, assign(made.keys, null, palette, "rgb"), new Uint8ClampedArray(rgba.length));
  setTimeout(() => warmAtStart(round + 1), 0);
}
setTimeout(warmAtStart, 0);

self.onmessage = ({ data }) => {
  if (data.type === "photo") takePhoto(data);
  else if (data.type === "render") render(data);
  else if (data.type === "warm") warmRender(data.id);
  else if (data.type === "buffer") keep(data.buffer);
};
