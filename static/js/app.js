// The page: get a photo in, keep the result in step with the k slider, compare, download.
//
// The browser holds the photo, so it draws the result itself (preview.js) from a palette the
// server found (ladder.js, POST /api/palettes). The server's full-resolution result is asked
// for only for the download and for zooming to 100%, once the slider rests.
// With "Clean up specks" on (min_region), a palette alone cannot say what the cleaned image
// looks like: then the server draws the preview (POST /api/quantize with max_side and
// min_region) and the canvas shows that image instead.

import { ApiError, Photo, dataUrlToBlob, saveBlob } from "./api.js";
import { Viewer } from "./viewer.js";
import { humanBytes, showFigures, showPalette, showStrip } from "./panel.js";
import { Explore } from "./explore.js";
import { Ladder } from "./ladder.js";
import { Preview, sameView } from "./preview.js";
import { PaintByNumber } from "./paint.js";
import { Specks } from "./specks.js";

const TYPE_DEBOUNCE_MS = 350;
const DIM_AFTER_MS = 250; // a k whose palette is on its way: dim the previous result after this
const SETTLED_MS = 400; // no new paint for this long: the slider rests
const IDLE_FULL_MS = 1500; // rested this long with every palette here: fetch the download in the background

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
  compare: $("compare"), original: $("original-img"), canvas: $("result-canvas"), full: $("result-full"),
  serverResult: $("result-img"), caption: $("result-caption"), paneStatus: $("pane-status"),
  paneStatusText: $("pane-status-text"), slider: $("k-slider"), k: $("k"), kError: $("k-error"),
  colorSpace: $("color-space"), dither: $("dither"), error: $("error"), status: $("status"),
  progress: $("progress"), progressText: $("progress-text"), results: $("results"), palette: $("palette"),
  swatch: $("swatch-template"), download: $("download"), downloadText: $("download-text"),
  downloadHelp: $("download-help"), photoName: $("photo-name"), strip: $("palette-strip"),
  zoomFit: $("zoom-fit"), zoom100: $("zoom-100"), zoomLevel: $("zoom-level"),
};

/** The photo on show and everything fetched for it; replaced whole when another photo comes in. */
let session = null;

class Session {
  constructor(photo) {
    this.photo = photo;
    this.ladder = new Ladder(photo, {
      maxK: settings.sliderMaxK,
      onArrive: (colorSpace) => {
        // How much of the slider is here, for the curious and for the benchmark.
        if (colorSpace === els.colorSpace.value) root.dataset.ladder = String(settings.sliderMaxK - 1 - this.ladder.missing(colorSpace).length);
        update();
      },
      onError: (error, asked) => failed(this, error, asked),
    });
    // No palette is fetched ahead until the first result is on screen: on a small photo the server's
    // next palette (the start's k in CIELAB, ten times the work of an rgb one) would take the cores
    // the browser needs to draw and paint it (painted() lets go).
    this.ladder.holding = true;
    this.previewing = null; // a promise: the photo handed to the preview worker
    this.full = null; // {view, blob, url, answer}: the server's full-resolution result
    this.fullJob = null; // {view, controller, promise}
    this.cleaned = null; // {key, view, image}: the server's cleaned preview last received
    this.cleanJob = null; // {key, controller}
    this.shownOnce = false;
    this.stem = photo.name.replace(/\.[^.]+$/, "") || "photo";
  }

  close() {
    this.ladder.close();
    this.fullJob?.controller.abort();
    this.cleanJob?.controller.abort();
    if (this.full) URL.revokeObjectURL(this.full.url);
  }
}

const preview = new Preview(els.canvas, { onPaint: painted });
const viewer = new Viewer(els.compare);
viewer.onlabel = (text) => { els.zoomLevel.textContent = text; };
viewer.onzoom = (scale) => {
  els.zoomFit.setAttribute("aria-pressed", String(scale === null));
  els.zoom100.setAttribute("aria-pressed", String(scale === 1));
  rest.restart();
  showFull();
};

const explore = new Explore({
  getPhoto: () => session?.photo,
  getParams: () => readParams(),
  getStem: () => session?.stem || "photo",
  setK: (k) => setK(k),
  announce,
  showError,
  maxK: settings.maxK,
});

const specks = new Specks(root, () => { clearError(); update(); });
const paint = new PaintByNumber({
  getPhoto: () => session?.photo,
  getParams: () => readParams(),
  getStem: () => session?.stem || "photo",
});

function announce(text) {
  els.status.textContent = text;
}

function showError(message) {
  els.error.textContent = message;
  els.error.hidden = false;
  els.error.scrollIntoView({ block: "nearest" });
}

function clearError() {
  els.error.hidden = true;
  els.error.textContent = "";
}

/** k and the options, or null while the k field holds something we cannot use. */
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

// "k|color_space|dither", or "k|color_space|dither|min_region" when cleaning is on.
const keyOf = (params) => `${params.k}|${params.color_space}|${params.dither}${params.min_region ? `|${params.min_region}` : ""}`;
const viewKey = (view) => keyOf({ k: view.k, color_space: view.colorSpace, dither: view.dither, min_region: view.minRegion });

/** What the page should show now: the palette for the chosen k (or the cleaned preview) if it is here, else null. */
function wantedView(params) {
  if (params.min_region) return session?.cleaned?.key === keyOf(params) ? session.cleaned.view : null;
  const entry = session?.ladder.get(params.k, params.color_space);
  return entry ? { ...entry, colorSpace: params.color_space, dither: params.dither } : null;
}

/** The preview size the server draws the cleaned result at: just big enough for this screen. */
function previewSide() {
  const rect = els.stage.getBoundingClientRect();
  const wanted = Math.max(rect.width, rect.height, 320) * (window.devicePixelRatio || 1);
  return Math.min(settings.previewSide, Math.ceil(wanted / 128) * 128);
}

/** Cleaning is on: ask the server for the cleaned preview of params (the latest ask replaces an older one). */
function fetchCleaned(current, params) {
  const key = keyOf(params);
  if (current.cleaned?.key === key || current.cleanJob?.key === key) return;
  current.cleanJob?.controller.abort();
  const controller = new AbortController();
  current.cleanJob = { key, controller };
  const fields = { ...params, max_side: previewSide() };
  current.photo.post("/api/quantize", fields, { signal: controller.signal }).then(async (answer) => {
    const image = new Image();
    image.src = answer.image;
    await image.decode();
    if (current.cleanJob?.key !== key) return;
    current.cleanJob = null;
    const view = {
      k: answer.k, colorSpace: answer.options.color_space, dither: answer.options.dither,
      minRegion: answer.options.min_region, colors: answer.colors, palette: answer.palette, psnr: answer.psnr,
      delta_e: answer.delta_e, regions: answer.regions, answer,
    };
    current.cleaned = { key, view, image };
    if (answer.result.full_resolution) {
      // The preview is the whole result: it is the download too.
      const blob = dataUrlToBlob(answer.image);
      if (current.full) URL.revokeObjectURL(current.full.url);
      current.full = { view, blob, url: URL.createObjectURL(blob), answer };
    }
    if (current === session) update();
  }).catch((error) => {
    if (current.cleanJob?.key === key) current.cleanJob = null;
    if (error.name !== "AbortError") failed(current, error, true);
  });
}

/** The one place that brings the screen in step with the controls. */
function update() {
  if (!session) return;
  const params = readParams();
  if (!params) return;
  session.ladder.aim(params.k, params.color_space);
  if (params.min_region) fetchCleaned(session, params);
  else if (session.cleanJob) {
    session.cleanJob.controller.abort();
    session.cleanJob = null;
  }
  const view = wantedView(params);
  const job = session.fullJob;
  if (job && !job.forDownload && !sameView(job.view, view)) {
    job.controller.abort(); // the slider moved on: the full-resolution result of the last k is not needed now
    session.fullJob = null;
  }
  if (view?.minRegion && (session.previewReady || session.cannotDecode)) {
    session.standInWanted = null;
    if (session.cannotDecode) viewer.setSize(view.answer.original.width, view.answer.original.height);
    if (!preview.isShown(view)) preview.paintImage(session.cleaned.image, view);
  } else if (view && session.previewReady) preview.show(view);
  else if (view && session.cannotDecode) standIn(session, view);
  if (catchUpFigures(session, preview.shown) && session.shownOnce) showPanels(session, preview.shown);
  const waiting = !view || !preview.isShown(view);
  waitingFor(waiting ? params : null);
  if (!waiting) rest.restart();
}

/**
 * A view drawn before its palette's figures came (ladder.js: early, figures false) takes them once its ladder
 * entry has them: the same palette object, so the same colors, and no new render. True when it took them.
 */
function catchUpFigures(current, view) {
  if (view?.figures !== false || view.minRegion) return false;
  const entry = current.ladder.get(view.k, view.colorSpace);
  if (!entry || entry.figures === false || entry.palette !== view.palette) return false;
  Object.assign(view, { colors: entry.colors, psnr: entry.psnr, delta_e: entry.delta_e, figures: true });
  return true;
}

/** A k on its way: keep the last result, dimmed after a moment, with a word of what is coming. */
const waitTimer = { id: 0 };
function waitingFor(params) {
  clearTimeout(waitTimer.id);
  if (!params) {
    els.compare.classList.remove("waiting");
    els.paneStatus.hidden = true;
    els.progress.hidden = true;
    els.stage.setAttribute("aria-busy", "false");
    root.dataset.busy = "false";
    return;
  }
  root.dataset.busy = "true";
  const first = !session?.shownOnce;
  const say = () => {
    const text = first ? `Finding ${params.k} colors…` : `Finding ${params.k} colors… the result shown is still k = ${preview.shown?.k}`;
    els.paneStatusText.textContent = first ? text : `k = ${params.k}…`;
    els.progressText.textContent = text;
    els.paneStatus.hidden = false;
    els.progress.hidden = false;
    els.compare.classList.add("waiting");
    els.stage.setAttribute("aria-busy", "true");
  };
  if (first) say();
  else waitTimer.id = setTimeout(say, DIM_AFTER_MS);
}

function setK(k) {
  els.k.value = String(k);
  els.slider.value = String(Math.min(k, settings.sliderMaxK));
  update();
}

/** A painted frame: the figures, palette and strip follow the pixels. */
function painted(view) {
  if (!session) return;
  const current = session;
  const first = !current.shownOnce;
  current.shownOnce = true;
  catchUpFigures(current, view); // came while it was being drawn
  if (current.ladder.holding) {
    current.ladder.holding = false;
    current.ladder.prefetch();
  }
  if (previous.session) {
    previous.session.close();
    previous.session = null;
  }
  els.serverResult.hidden = true;
  els.canvas.hidden = false;
  els.dropzone.hidden = true;
  els.compare.hidden = false;
  els.toolbar.hidden = false;
  els.caption.textContent = view.minRegion ? `${view.colors} colors · specks cleaned` : `${view.colors} colors`;
  const params = readParams();
  if (params && wantedView(params) && preview.isShown(wantedView(params))) waitingFor(null);
  rest.restart();
  // A photo's first result: its figures, palette and the cards below appear for the first time, and laying
  // them out (20-50 ms here) would hold back the frame that shows its pixels. They follow in the next task.
  if (first) setTimeout(() => { if (session === current && preview.shown === view) showPanels(current, view); }, 0);
  else showPanels(current, view);
}

/** The figures, palette, strip and download of the view on show. */
function showPanels(current, view) {
  els.results.hidden = false;
  const info = current.ladder.info || photoInfo(view.answer);
  const full = sameView(current.full?.view, view) ? current.full : null;
  showFigures(view, info, full);
  showPalette(els.palette, els.swatch, view.palette, announce);
  showStrip(els.strip, view.palette);
  updateDownload(view);
  showFull();
  root.dataset.shownKey = viewKey(view);
  explore.resultShown(view);
  paint.resultShown();
  const sized = info ? specks.resultShown({ width: info.width, height: info.height }, view.regions || null, view.dither) : false;
  if (sized) update(); // the specks level now means another size: ask again
}

/** The photo's figures from a /api/quantize answer, while no palette of the ladder has come. */
function photoInfo(answer) {
  if (!answer) return null;
  const { width, height, unique_colors, bytes } = answer.original;
  return { width, height, unique_colors, bytes };
}

/** Once nothing has been painted for a while: say what is shown, and maybe fetch the full result. */
const rest = {
  id: 0,
  restart() {
    clearTimeout(this.id);
    this.id = setTimeout(() => rested(), SETTLED_MS);
  },
};

function rested() {
  const view = preview.shown;
  if (!session || !view) return;
  const params = readParams();
  if (!params || keyOf(params) !== viewKey(view)) return;
  explore.rested();
  if (view.delta_e == null) {
    // The palettes came without their mean ΔE (ladder.js): ask for the one on show, now that it rests.
    const current = session;
    current.ladder.measure(view.k, view.colorSpace).then((deltaE) => {
      if (session !== current || preview.shown !== view) return;
      view.delta_e = deltaE;
      showFigures(view, current.ladder.info, sameView(current.full?.view, view) ? current.full : null);
      announceReady(view);
    }).catch(() => { // the figure stays "…" (the next rest asks again); the result is announced all the same
      if (session === current && preview.shown === view) announceReady(view);
    });
  } else announceReady(view);
  if (viewer.zoomed()) fetchFull(view).catch(() => {});
  else if (!view.minRegion && session.ladder.complete(view.colorSpace)) {
    const current = session;
    setTimeout(() => {
      if (session === current && sameView(preview.shown, view)) fetchFull(view).catch(() => {});
    }, IDLE_FULL_MS - SETTLED_MS);
  }
}

function announceReady(view) {
  const psnr = view.figures === false ? "figures to follow"
    : view.psnr == null ? "identical to the original" : `PSNR ${view.psnr.toFixed(1)} dB`;
  const deltaE = view.delta_e == null ? "" : `, mean ΔE ${view.delta_e.toFixed(2)}`;
  announce(`Result ready: ${view.colors} colors, ${psnr}${deltaE}.`);
}

/** The server's full-resolution result of a view: for the download, the file size and zooming to 100%. */
function fetchFull(view) {
  const current = session;
  if (!current) return Promise.reject(new Error("no photo"));
  if (sameView(current.full?.view, view)) return Promise.resolve(current.full);
  if (sameView(current.fullJob?.view, view)) return current.fullJob.promise;
  current.fullJob?.controller.abort();
  const controller = new AbortController();
  const fields = { k: view.k, color_space: view.colorSpace, dither: view.dither };
  if (view.minRegion) fields.min_region = view.minRegion;
  const promise = current.photo.post("/api/quantize", fields, { signal: controller.signal }).then((answer) => {
    const blob = dataUrlToBlob(answer.image);
    if (current.full) URL.revokeObjectURL(current.full.url);
    current.full = { view, blob, url: URL.createObjectURL(blob), answer };
    if (view.delta_e == null && view.dither === "none" && !view.minRegion) {
      view.delta_e = answer.delta_e; // the same figure the ladder measures (one palette, one fit on the server)
      const entry = current.ladder.get(view.k, view.colorSpace);
      if (entry && entry.delta_e == null) entry.delta_e = answer.delta_e;
    }
    if (sameView(preview.shown, view)) {
      showFigures(view, current.ladder.info, current.full);
      updateDownload(view);
      showFull();
    }
    return current.full;
  }).finally(() => {
    if (current.fullJob?.promise === promise) current.fullJob = null;
  });
  current.fullJob = { view, controller, promise };
  return promise;
}

/** Zoomed in, the full-resolution result covers the preview, but only while it is the one shown. */
function showFull() {
  const full = session?.full;
  const show = Boolean(viewer.zoomed() && full && sameView(full.view, preview.shown));
  if (show && els.full.src !== full.url) {
    els.full.src = full.url;
    els.full.alt = `Result at full resolution with ${full.view.colors} colors (k = ${full.view.k})`;
    els.full.dataset.k = String(full.view.k);
  }
  els.full.hidden = !show;
}

function updateDownload(view) {
  const name = `${session.stem}-k${view.k}.png`;
  const full = sameView(session.full?.view, view) ? session.full : null;
  els.downloadText.textContent = "Download PNG";
  els.downloadHelp.textContent = `${name} · full resolution, paletted PNG`;
  els.download.download = name;
  els.download.href = full ? full.url : "#";
}

els.download.addEventListener("click", async (event) => {
  const view = preview.shown;
  if (!session || !view) return; // the no-JS answer's own link
  if (sameView(session.full?.view, view)) return; // the link already holds the file
  event.preventDefault();
  if (els.download.getAttribute("aria-busy") === "true") return;
  els.download.setAttribute("aria-busy", "true");
  els.downloadText.textContent = "Preparing full resolution…";
  try {
    const pending = fetchFull(view);
    if (session.fullJob) session.fullJob.forDownload = true;
    const full = await pending;
    saveBlob(full.blob, els.download.download);
  } catch (error) {
    if (error.name !== "AbortError") showError(error.message || "The download failed. Please try again.");
  } finally {
    els.download.removeAttribute("aria-busy");
    if (preview.shown) updateDownload(preview.shown);
  }
});

/** The first answer for a photo failed, or the k the user is on did. */
function failed(failedSession, error, asked) {
  if (failedSession !== session) return;
  const message = error instanceof ApiError ? error.message : "Something went wrong. Please try again.";
  if (!failedSession.shownOnce) {
    failedSession.close();
    session = previous.session;
    previous.session = null;
    restorePrevious();
  }
  waitingFor(null);
  showError(message);
  if (asked && session) session.ladder.focus = null; // do not ask again until the user moves
}

/** While a new photo is on its way, the one before stays ready to come back if the new one fails. */
const previous = { session: null, originalUrl: null };

function restorePrevious() {
  if (!session) {
    els.compare.hidden = true;
    els.toolbar.hidden = true;
    els.dropzone.hidden = false;
    els.photoName.textContent = "No photo yet";
    preview.clear();
    return;
  }
  els.original.src = previous.originalUrl;
  els.photoName.textContent = session.photo.name;
  startPreview(session, els.original).then(() => update());
}

/** The img has loaded (its natural size is known, its pixels may not be decoded yet). */
function loaded(image) {
  if (image.complete) return image.naturalWidth ? Promise.resolve() : Promise.reject(new Error("not an image"));
  return new Promise((resolve, reject) => {
    image.addEventListener("load", resolve, { once: true });
    image.addEventListener("error", reject, { once: true });
  });
}

async function startPreview(target, source) {
  try {
    await loaded(source);
  } catch {
    return false; // not an image this browser can show: the server's answer says what is wrong
  }
  if (target !== session) return false;
  const rect = els.compare.hidden ? els.stage.getBoundingClientRect() : els.canvas.parentElement.getBoundingClientRect();
  const screenSide = Math.max(rect.width, rect.height, 320) * (window.devicePixelRatio || 1);
  let info = null;
  try {
    info = await preview.setPhoto(source, target.photo.file, screenSide);
  } catch {
    return false; // the img could not be decoded after all
  }
  if (!info || target !== session) return false;
  performance.mark("kmeans:preview-ready", { detail: info });
  target.previewReady = true;
  viewer.setSize(source.naturalWidth, source.naturalHeight);
  return true;
}

function loadFile(file) {
  if (!file) return;
  if (file.size > settings.maxUploadMb * 2 ** 20) {
    showError(`This file is ${humanBytes(file.size)}, more than the limit of ${settings.maxUploadMb} MB. Choose a smaller photo.`);
    return;
  }
  clearError();
  if (previous.session) previous.session.close();
  previous.session = session;
  previous.originalUrl = els.original.src;
  const photo = new Photo(file, file.name || "pasted-photo.png");
  root.dataset.ladder = "0";
  session = new Session(photo);
  preview.clear();
  specks.photoChanged(); // before update(): the cleaning's size is the new photo's
  update(); // the first palette's request leaves now, ahead of the page's own work below
  // The original at once, from the file the browser holds; the result follows when its palette comes.
  els.original.src = URL.createObjectURL(file);
  els.original.alt = `Original photo, ${photo.name}`;
  $("original-caption").textContent = "Original";
  els.photoName.textContent = photo.name;
  els.dropzone.hidden = true;
  els.compare.hidden = false;
  els.toolbar.hidden = false;
  els.canvas.hidden = true;
  els.serverResult.hidden = true;
  els.full.hidden = true;
  const current = session;
  startPreview(current, els.original).then((ok) => {
    if (!ok && current === session && !current.previewReady) cannotShow(current);
    update();
  });
  explore.photoChanged();
  paint.photoChanged();
}

/** The browser cannot decode this format (TIFF, say): the server's previews stand in, one at a time. */
function cannotShow(current) {
  current.cannotDecode = true;
  els.original.alt = `Original photo, ${current.photo.name}, in a format this browser cannot show`;
  $("original-caption").textContent = "Original (this browser cannot show its format)";
}

async function standIn(current, view) {
  current.standInWanted = view;
  if (current.standInBusy) return;
  current.standInBusy = true;
  try {
    while (current === session && current.standInWanted && !preview.isShown(current.standInWanted)) {
      const wanted = current.standInWanted;
      const side = Math.ceil(Math.max(els.stage.clientWidth, 320) * (window.devicePixelRatio || 1));
      const fields = { k: wanted.k, color_space: wanted.colorSpace, dither: wanted.dither, max_side: Math.min(settings.previewSide, side) };
      const answer = await current.photo.post("/api/quantize", fields);
      const image = new Image();
      image.src = answer.image;
      await image.decode();
      if (current !== session) return;
      viewer.setSize(answer.original.width, answer.original.height);
      preview.paintImage(image, wanted);
    }
  } catch (error) {
    if (current === session) showError(error.message || "Something went wrong. Please try again.");
  } finally {
    current.standInBusy = false;
  }
}

// Getting a photo in: pick, drop or paste.
els.file.addEventListener("change", () => loadFile(els.file.files[0]));
els.form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (els.file.files[0] && !session) loadFile(els.file.files[0]);
  else update();
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

// k and the options. A new choice clears an old message: it no longer applies.
let typing = 0;
els.slider.addEventListener("input", () => {
  els.k.value = els.slider.value;
  clearError();
  update();
});
els.k.addEventListener("input", () => {
  clearError();
  const params = readParams();
  if (params) els.slider.value = String(Math.min(params.k, settings.sliderMaxK));
  clearTimeout(typing);
  typing = setTimeout(update, TYPE_DEBOUNCE_MS);
});
els.k.addEventListener("change", () => {
  clearTimeout(typing);
  update();
});
els.colorSpace.addEventListener("change", () => {
  clearError();
  explore.colorSpaceChanged();
  update();
});
els.dither.addEventListener("change", () => {
  clearError();
  explore.ditherChanged();
  specks.label(els.dither.value);
  update();
});

// The comparison.
for (const radio of document.querySelectorAll('input[name="view"]')) {
  radio.addEventListener("change", () => viewer.setView(radio.value));
}
els.zoomFit.addEventListener("click", () => viewer.setScale(null));
els.zoom100.addEventListener("click", () => viewer.setScale(1));

// A no-JS answer on the page (the form was sent before the script ran): carry on from it.
if (root.dataset.imageId) {
  const name = els.photoName.textContent.trim();
  session = new Session(new Photo(null, name, root.dataset.imageId));
  els.original.alt = `Original photo, ${name}`;
  viewer.setSize(Number(els.original.getAttribute("width")), Number(els.original.getAttribute("height")));
  startPreview(session, els.original).then(() => update());
}
root.dataset.ready = "true";
