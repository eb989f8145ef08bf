// The page: get a photo in, keep the result in step with the k slider,
// compare, download. The photo travels once; slider moves send its image_id,
// k and a preview size. At most one preview request is in flight: moves made
// meanwhile are coalesced into the next request, and every answer carries a
// sequence number so a stale one never replaces a newer one.

import { ApiError, Photo, dataUrlToBlob, saveBlob } from "./api.js";
import { Viewer } from "./viewer.js";
import { humanBytes, showFigures, showPalette, showResultSize, showStrip } from "./panel.js";
import { Explore } from "./explore.js";
import { PaintByNumber } from "./paint.js";
import { Specks } from "./specks.js";

const SLIDE_DEBOUNCE_MS = 70;
const TYPE_DEBOUNCE_MS = 400;
const PROGRESS_AFTER_MS = 300;
const FULL_AFTER_MS = 600;

document.documentElement.classList.add("js");
const $ = (id) => document.getElementById(id);
const root = $("app");
const settings = {
  defaultK: Number(root.dataset.defaultK),
  sliderMaxK: Number(root.dataset.sliderMaxK),
  maxK: Number(root.dataset.maxK),
  maxUploadMb: Number(root.dataset.maxUploadMb),
  previewSide: Number(root.dataset.previewSide),
};
for (const element of document.querySelectorAll(".needs-js")) element.hidden = false;

const els = {
  form: $("upload-form"), file: $("image"), stage: $("stage"), dropzone: $("dropzone"), toolbar: $("toolbar"),
  compare: $("compare"), original: $("original-img"), result: $("result-img"), caption: $("result-caption"),
  slider: $("k-slider"), k: $("k"), kError: $("k-error"), colorSpace: $("color-space"), dither: $("dither"),
  error: $("error"), status: $("status"), progress: $("progress"), results: $("results"), palette: $("palette"),
  download: $("download"), downloadText: $("download-text"), downloadHelp: $("download-help"), photoName: $("photo-name"),
  strip: $("palette-strip"), zoomFit: $("zoom-fit"), zoom100: $("zoom-100"), zoomLevel: $("zoom-level"),
};

const state = {
  photo: null, // the photo on show (a Photo)
  loading: null, // a new photo on its first request
  originalUrl: null,
  seq: 0,
  inflight: null, // {seq, controller, key}
  shown: null, // {key, answer, ms, announced}
  failedKey: null,
  full: null, // {key, blob, url} full-resolution result of the shown key
  fullJob: null, // {key, controller, promise}
  timers: { debounce: 0, progress: 0, full: 0 },
};

const viewer = new Viewer(els.compare);
viewer.onlabel = (text) => { els.zoomLevel.textContent = text; };
viewer.onzoom = (scale) => {
  els.zoomFit.setAttribute("aria-pressed", String(scale === null));
  els.zoom100.setAttribute("aria-pressed", String(scale === 1));
  if (scale !== null) fetchFull().catch(() => {});
  showBestResult();
};

const explore = new Explore({
  getPhoto: () => state.photo,
  getParams: () => readParams(),
  getStem: () => state.shown?.answer?.filename?.replace(/-k\d+\.\w+$/, "") || "photo",
  setK: (k) => setK(k, 0),
  announce,
  showError: (message) => showError(message),
});

function announce(text) {
  els.status.textContent = text;
}

function showError(message) {
  els.error.textContent = message;
  els.error.hidden = false;
}

function clearError() {
  els.error.hidden = true;
  els.error.textContent = "";
}

/** k and the options, or null while the k field holds something we cannot send. */
const specks = new Specks(root, () => schedule(SLIDE_DEBOUNCE_MS));
const paint = new PaintByNumber({
  getPhoto: () => state.photo,
  getParams: () => readParams(),
  getStem: () => state.shown?.answer?.filename?.replace(/-k\d+\.\w+$/, "") || "photo",
});

function readParams() {
  const raw = els.k.value.trim();
  const k = Number(raw);
  const valid = /^\d+$/.test(raw) && k >= 2 && k <= settings.maxK;
  els.k.setAttribute("aria-invalid", String(!valid));
  els.kError.hidden = valid;
  els.kError.textContent = valid ? "" : `Choose a whole number of colors from 2 to ${settings.maxK}.`;
  if (!valid) return null;
  const params = { k, color_space: els.colorSpace.value, dither: els.dither.value };
  const minRegion = specks.minRegion(params.dither);
  return minRegion ? { ...params, min_region: minRegion } : params;
}

// Cleaning adds its min_region to the key: "k|color_space|dither" or "k|color_space|dither|min_region".
const keyOf = (params) => `${params.k}|${params.color_space}|${params.dither}${params.min_region ? `|${params.min_region}` : ""}`;

/** A preview just big enough for this screen: the palette and figures stay those of the full photo. */
function previewSide() {
  const rect = els.stage.getBoundingClientRect(); // the comparison itself is hidden before the first result
  const wanted = Math.max(rect.width, rect.height, 320) * (window.devicePixelRatio || 1);
  return Math.min(settings.previewSide, Math.ceil(wanted / 128) * 128);
}

function setK(k, delay) {
  els.k.value = String(k);
  els.slider.value = String(Math.min(k, settings.sliderMaxK));
  schedule(delay);
}

function schedule(delay) {
  clearTimeout(state.timers.debounce);
  state.timers.debounce = setTimeout(pump, delay);
}

function startProgress() {
  if (state.timers.progress) return;
  state.timers.progress = setTimeout(() => {
    els.progress.hidden = false;
    els.stage.setAttribute("aria-busy", "true");
  }, PROGRESS_AFTER_MS);
}

function stopProgress() {
  if (state.inflight) return;
  clearTimeout(state.timers.progress);
  state.timers.progress = 0;
  els.progress.hidden = true;
  els.stage.setAttribute("aria-busy", "false");
}

/** Send the next request if nothing is in flight and the shown result is not what is asked for. */
function pump() {
  root.dataset.busy = String(Boolean(state.inflight || state.loading));
  if (!state.photo || state.inflight || state.loading) return;
  const params = readParams();
  if (!params) return;
  const key = keyOf(params);
  if (state.shown?.key === key) return settle();
  if (state.failedKey === key) return;
  request(params, key);
}

async function request(params, key, photo = state.photo) {
  const seq = ++state.seq;
  const controller = new AbortController();
  state.inflight = { seq, controller, key };
  root.dataset.busy = "true";
  cancelFull();
  startProgress();
  const started = performance.now();
  try {
    const answer = await photo.post("/api/quantize", { ...params, max_side: previewSide() }, { signal: controller.signal });
    if (seq !== state.seq) return false;
    if (photo === state.loading) commitPhoto(photo);
    await show(answer, key, started, seq);
    state.failedKey = null;
    clearError();
    return true;
  } catch (error) {
    if (error.name === "AbortError" || seq !== state.seq) return false;
    state.failedKey = key;
    showError(error instanceof ApiError ? error.message : "Something went wrong. Please try again.");
    return false;
  } finally {
    if (state.inflight?.seq === seq) state.inflight = null;
    if (state.loading === photo) state.loading = null;
    pump();
    stopProgress();
  }
}

/** Stop whatever is in flight; its answer, if it still comes, is dropped by its sequence number. */
function abortAll() {
  state.seq++;
  state.inflight?.controller.abort();
  state.inflight = null;
  cancelFull();
}

async function loadFile(file) {
  if (!file) return;
  if (file.size > settings.maxUploadMb * 2 ** 20) {
    const size = humanBytes(file.size);
    showError(`This file is ${size}, more than the limit of ${settings.maxUploadMb} MB. Choose a smaller photo.`);
    return;
  }
  clearError();
  abortAll();
  const photo = new Photo(file, file.name || "pasted-photo.png");
  state.loading = photo;
  state.failedKey = null;
  els.photoName.textContent = `Opening ${photo.name}…`;
  const params = readParams() || { k: settings.defaultK, color_space: els.colorSpace.value, dither: els.dither.value };
  const ok = await request(params, keyOf(params), photo);
  if (!ok && !state.loading && state.photo !== photo) {
    els.photoName.textContent = state.photo ? state.photo.name : "No photo yet";
  }
}

/** The new photo answered: it replaces the one on show. */
function commitPhoto(photo) {
  if (state.originalUrl) URL.revokeObjectURL(state.originalUrl);
  state.photo = photo;
  state.shown = null;
  dropFull();
  state.originalUrl = URL.createObjectURL(photo.file);
  els.original.src = state.originalUrl;
  els.original.alt = `Original photo, ${photo.name}`;
  els.photoName.textContent = photo.name;
  explore.photoChanged();
  specks.photoChanged();
  paint.photoChanged();
}

async function show(answer, key, started, seq) {
  const next = new Image();
  next.src = answer.image;
  try {
    await next.decode(); // swap only a decoded image, so the old one stays until the new one can paint
  } catch {
    // Decoding errors show up as a broken image; the figures are still right.
  }
  if (seq !== state.seq) return;
  els.result.src = answer.image;
  els.result.alt = `Result with ${answer.colors} colors (k = ${answer.k})`;
  els.result.dataset.k = String(answer.k);
  els.caption.textContent = `${answer.colors} colors`;
  els.dropzone.hidden = true;
  els.compare.hidden = false;
  els.toolbar.hidden = false;
  els.results.hidden = false;
  viewer.setSize(answer.original.width, answer.original.height);
  const elapsed = performance.now() - started;
  state.shown = { key, answer, ms: elapsed, announced: false };
  dropFull();
  if (answer.result.full_resolution) {
    const blob = dataUrlToBlob(answer.image);
    state.full = { key, blob, url: URL.createObjectURL(blob) };
  }
  showFigures(answer, { fullBytes: state.full ? state.full.blob.size : null, elapsedMs: elapsed });
  showPalette(els.palette, answer.palette, announce);
  showStrip(els.strip, answer.palette);
  updateDownload();
  root.dataset.shownKey = key;
  performance.mark("kmeans:result-shown", { detail: { k: answer.k, key } });
  explore.resultShown(answer);
  paint.resultShown(answer);
  if (specks.resultShown(answer)) schedule(0);
  showBestResult();
}

/** Nothing more to send: say what is shown, and fetch the full-resolution result in the background. */
function settle() {
  const shown = state.shown;
  if (!shown?.answer) return;
  if (!shown.announced) {
    shown.announced = true;
    const a = shown.answer;
    const psnr = a.psnr == null ? "identical to the original" : `PSNR ${a.psnr.toFixed(1)} dB`;
    announce(`Result ready: ${a.colors} colors, ${psnr}, mean ΔE ${a.delta_e.toFixed(2)}.`);
  }
  clearTimeout(state.timers.full);
  if (!state.full) state.timers.full = setTimeout(() => fetchFull().catch(() => {}), viewer.zoomed() ? 0 : FULL_AFTER_MS);
}

/** The full-resolution PNG of the shown result: for the download, the real file size and zooming to 100%. */
function fetchFull() {
  const shown = state.shown;
  if (!shown?.answer || !state.photo) return Promise.reject(new Error("no result yet"));
  if (state.full?.key === shown.key) return Promise.resolve(state.full);
  if (state.fullJob?.key === shown.key) return state.fullJob.promise;
  cancelFull();
  const controller = new AbortController();
  const [k, color_space, dither, min_region = "0"] = shown.key.split("|");
  const promise = state.photo
    .post("/api/quantize", { k, color_space, dither, min_region }, { accept: "image/png", signal: controller.signal })
    .then((blob) => {
      if (state.shown !== shown) throw new DOMException("superseded", "AbortError");
      state.full = { key: shown.key, blob, url: URL.createObjectURL(blob) };
      showResultSize(blob.size, shown.answer.original.bytes);
      updateDownload();
      showBestResult();
      return state.full;
    })
    .finally(() => {
      if (state.fullJob?.promise === promise) state.fullJob = null;
    });
  state.fullJob = { key: shown.key, controller, promise };
  return promise;
}

function cancelFull() {
  clearTimeout(state.timers.full);
  state.fullJob?.controller.abort();
  state.fullJob = null;
}

function dropFull() {
  if (state.full?.url?.startsWith("blob:")) URL.revokeObjectURL(state.full.url);
  state.full = null;
}

/** Zoomed in, show the full-resolution result when we have it; fitted, the preview is enough. */
function showBestResult() {
  const wanted = viewer.zoomed() && state.full ? state.full.url : state.shown?.answer?.image;
  if (wanted && els.result.src !== wanted) els.result.src = wanted;
}

function updateDownload() {
  const answer = state.shown?.answer;
  if (!answer) return;
  const name = answer.filename.replace(/\.\w+$/, ".png");
  els.downloadText.textContent = "Download PNG";
  els.downloadHelp.textContent = `${name} · full resolution, paletted PNG`;
  els.download.download = name;
  els.download.href = state.full ? state.full.url : "#";
}

els.download.addEventListener("click", async (event) => {
  if (!state.shown?.answer) return; // the no-JS answer's own data: link
  if (state.full?.key === state.shown.key) return; // the link already holds the file
  event.preventDefault();
  if (els.download.getAttribute("aria-busy") === "true") return;
  els.download.setAttribute("aria-busy", "true");
  els.downloadText.textContent = "Preparing full resolution…";
  try {
    const full = await fetchFull();
    saveBlob(full.blob, els.download.download);
  } catch (error) {
    if (error.name !== "AbortError") showError(error.message || "The download failed. Please try again.");
  } finally {
    els.download.removeAttribute("aria-busy");
    updateDownload();
  }
});

// Getting a photo in: pick, drop or paste.
els.file.addEventListener("change", () => loadFile(els.file.files[0]));
els.form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (els.file.files[0] && !state.photo && !state.loading) loadFile(els.file.files[0]);
  else schedule(0);
});
let dragDepth = 0;
document.addEventListener("dragenter", (event) => {
  if (![...(event.dataTransfer?.types || [])].includes("Files")) return;
  dragDepth++;
  els.stage.classList.add("dragging");
});
document.addEventListener("dragleave", () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (!dragDepth) els.stage.classList.remove("dragging");
});
document.addEventListener("dragover", (event) => event.preventDefault());
document.addEventListener("drop", (event) => {
  event.preventDefault();
  dragDepth = 0;
  els.stage.classList.remove("dragging");
  const file = [...(event.dataTransfer?.files || [])][0];
  if (file) loadFile(file);
});
document.addEventListener("paste", (event) => {
  const items = [...(event.clipboardData?.items || [])];
  const item = items.find((entry) => entry.kind === "file" && entry.type.startsWith("image/"));
  if (!item) return;
  event.preventDefault();
  const blob = item.getAsFile();
  loadFile(new File([blob], blob.name || `pasted-photo.${blob.type.split("/")[1] || "png"}`, { type: blob.type }));
});

// A TIFF, say: the server reads it, but the browser cannot show it. Say so rather than show a broken image.
els.original.addEventListener("error", () => {
  if (!state.photo) return;
  els.original.alt = `Original photo, ${state.photo.name}, in a format this browser cannot show`;
  $("original-caption").textContent = "Original (this browser cannot show its format)";
});
els.original.addEventListener("load", () => { $("original-caption").textContent = "Original"; });

// k and the options.
els.slider.addEventListener("input", () => {
  els.k.value = els.slider.value;
  readParams();
  schedule(SLIDE_DEBOUNCE_MS);
});
els.k.addEventListener("input", () => {
  const params = readParams();
  if (params) els.slider.value = String(Math.min(params.k, settings.sliderMaxK));
  schedule(TYPE_DEBOUNCE_MS);
});
els.k.addEventListener("change", () => schedule(0));
for (const select of [els.colorSpace, els.dither]) {
  select.addEventListener("change", () => {
    explore.optionsChanged();
    specks.label(els.dither.value);
    schedule(0);
  });
}

// The comparison.
for (const radio of document.querySelectorAll('input[name="view"]')) {
  radio.addEventListener("change", () => viewer.setView(radio.value));
}
els.zoomFit.addEventListener("click", () => viewer.setScale(null));
els.zoom100.addEventListener("click", () => viewer.setScale(1));

// A no-JS answer on the page (the form was sent before the script ran): carry on from it.
if (root.dataset.imageId) {
  const name = els.photoName.textContent.trim();
  state.photo = new Photo(null, name, root.dataset.imageId);
  els.original.alt = `Original photo, ${name}`;
  const params = readParams();
  if (params) state.shown = { key: keyOf(params), answer: null };
  viewer.setSize(Number(els.original.getAttribute("width")), Number(els.original.getAttribute("height")));
}
root.dataset.ready = "true";
