// Beyond one result: the error curve that helps choose k, a comparison with
// classic quantizers, the contact sheet and the palette files.

import { saveBlob } from "./api.js";
import { drawCurve } from "./chart.js";
import { psnrText, setStatus } from "./panel.js";

const $ = (id) => document.getElementById(id);
const METHODS = [["kmeans", "k-means"], ["mediancut", "Median cut"], ["octree", "Octree"]];
const METHOD_SIDE = 480;

const SPACE_WORDS = { rgb: "RGB", oklab: "OKLab", lab: "CIELAB" };

function optionWords(params) {
  return `${SPACE_WORDS[params.color_space]}, ${params.dither === "none" ? "no dithering" : "Floyd–Steinberg dithering"}`;
}

/** The values of k for the contact sheet, checked here so the message speaks of the page, not the API. */
function checkKs(text, maxK) {
  const parts = text.split(",").filter((part) => part !== "");
  if (!parts.length) return "Give at least one value of k, such as 2, 8, 16.";
  if (parts.length > 12) return `A contact sheet holds at most 12 values of k; this list has ${parts.length}.`;
  const seen = new Set();
  for (const part of parts) {
    if (!/^\d+$/.test(part)) return `Values of k are whole numbers separated by commas; "${part}" is not one.`;
    const k = Number(part);
    if (k < 2 || k > maxK) return `Each value of k must be between 2 and ${maxK}; ${k} is not.`;
    if (seen.has(k)) return `k = ${k} is listed twice; give each value once.`;
    seen.add(k);
  }
  return null;
}

/** A small picture opened large, in a dialog that Escape or a click closes. */
export function enlargeImage(src, alt) {
  const dialog = document.getElementById("enlarged");
  const image = dialog.querySelector("img");
  image.src = src;
  image.alt = alt;
  dialog.showModal();
}

export class Explore {
  /** host: {getPhoto, getParams, getStem, setK, announce, showError, maxK} */
  constructor(host) {
    this.host = host;
    this.curve = null;
    this.curveWanted = false;
    this.curveJob = null;
    this.els = {
      chart: $("curve-chart"), curveStatus: $("curve-status"), curveUse: $("curve-use"),
      methodsRun: $("methods-run"), methodsList: $("methods-list"), methodsStatus: $("methods-status"),
      contactMake: $("contact-make"), contactKs: $("contact-ks"), contactFigure: $("contact-figure"),
      contactImg: $("contact-img"), contactDownload: $("contact-download"), contactStatus: $("contact-status"),
      exports: $("palette-exports"),
    };
    this.contactUrl = null;
    this.els.curveUse.addEventListener("click", () => host.setK(Number(this.els.curveUse.dataset.k)));
    this.els.methodsRun.addEventListener("click", () => this.compareMethods());
    this.els.contactMake.addEventListener("click", () => this.contactSheet());
    $("contact-enlarge").addEventListener("click", () => enlargeImage(this.els.contactImg.src, this.els.contactImg.alt));
    const dialog = $("enlarged");
    dialog.addEventListener("click", () => dialog.close());
    for (const button of this.els.exports.querySelectorAll("button[data-format]")) {
      button.addEventListener("click", () => this.exportPalette(button));
    }
  }

  photoChanged() {
    this.curveWanted = true;
    this.curveJob?.abort();
    this.curve = null;
    this.els.chart.replaceChildren();
    this.els.curveUse.hidden = true;
    this.els.methodsList.replaceChildren();
    setStatus(this.els.methodsStatus, "");
    this.els.contactFigure.hidden = true;
    setStatus(this.els.contactStatus, "");
    this.els.methodsRun.disabled = false;
    this.els.contactMake.disabled = false;
  }

  /** The curve and the comparison depend on the color space; the contact sheet on every option. */
  colorSpaceChanged() {
    this.curveWanted = true;
    this.els.methodsList.replaceChildren();
    setStatus(this.els.methodsStatus, "");
    this.contactStale();
  }

  ditherChanged() {
    this.contactStale();
  }

  contactStale() {
    if (this.els.contactFigure.hidden) return;
    const made = this.els.contactFigure.dataset.options;
    setStatus(this.els.contactStatus, `This sheet was made with ${made}. Press Make for the current options.`);
  }

  resultShown(view) {
    this.curve?.setCurrent(view.k);
  }

  /**
   * The slider rests on a result: now the curve may be measured. It keeps the server busy for
   * up to a second or two on a 12 MP photo, time a k the user jumps to would otherwise wait for.
   */
  rested() {
    if (this.curveWanted) this.loadCurve();
  }

  async loadCurve() {
    const photo = this.host.getPhoto();
    const params = this.host.getParams();
    if (!photo || !params) return;
    this.curveWanted = false;
    this.curveJob?.abort();
    const job = new AbortController();
    this.curveJob = job;
    setStatus(this.els.curveStatus, "Measuring k from 2 to 32…");
    try {
      const answer = await photo.post("/api/curve", { color_space: params.color_space }, { signal: job.signal });
      if (this.curveJob !== job) return;
      this.curve = drawCurve(this.els.chart, answer.points, answer.suggested_k, (k) => {
        this.host.setK(k);
        this.host.announce(`k set to ${k}`);
      });
      this.curve.setCurrent(Number(this.host.getParams()?.k));
      this.els.curveUse.hidden = false;
      this.els.curveUse.dataset.k = String(answer.suggested_k);
      this.els.curveUse.textContent = `Use k = ${answer.suggested_k}`;
      setStatus(this.els.curveStatus, `Suggested: k = ${answer.suggested_k}, where more colors stop paying off.`);
    } catch (error) {
      if (error.name === "AbortError") return;
      setStatus(this.els.curveStatus, `The curve is not available: ${error.message}`, true);
    }
  }

  async compareMethods() {
    const photo = this.host.getPhoto();
    const params = this.host.getParams();
    if (!photo || !params) return;
    const button = this.els.methodsRun;
    button.disabled = true;
    const items = [];
    this.els.methodsList.replaceChildren();
    try {
      // One after the other: the server's cores are shared with the slider.
      for (const [method, name] of METHODS) {
        setStatus(this.els.methodsStatus, `Running ${name} with k = ${params.k}…`);
        const fields = { k: params.k, color_space: params.color_space, method, max_side: METHOD_SIDE };
        const answer = await photo.post("/api/quantize", fields);
        const item = document.createElement("li");
        item.dataset.method = method;
        item.dataset.deltaE = String(answer.delta_e);
        const image = document.createElement("img");
        image.src = answer.image;
        image.alt = `Result of ${name} with ${answer.colors} colors`;
        const enlarge = document.createElement("button");
        enlarge.type = "button";
        enlarge.className = "enlarge";
        enlarge.setAttribute("aria-label", `Enlarge the result of ${name}`);
        enlarge.append(image);
        enlarge.addEventListener("click", () => enlargeImage(image.src, image.alt));
        const title = document.createElement("span");
        title.className = "method-name";
        title.textContent = name;
        const figures = document.createElement("span");
        figures.className = "method-figures";
        figures.textContent = `PSNR ${psnrText(answer.psnr)} · ΔE ${answer.delta_e.toFixed(2)}`;
        item.append(enlarge, title, figures);
        items.push(item);
        this.els.methodsList.append(item);
      }
      const best = items.reduce((a, b) => (Number(b.dataset.deltaE) < Number(a.dataset.deltaE) ? b : a));
      best.classList.add("best");
      const winner = best.querySelector(".method-name").textContent;
      setStatus(this.els.methodsStatus, `k = ${params.k}. Lowest mean ΔE, closest to the original (★): ${winner}.`);
      this.host.announce("Comparison ready.");
    } catch (error) {
      setStatus(this.els.methodsStatus, `The comparison failed: ${error.message}`, true);
    } finally {
      button.disabled = false;
    }
  }

  async contactSheet() {
    const photo = this.host.getPhoto();
    const params = this.host.getParams();
    if (!photo || !params) return;
    const ks = this.els.contactKs.value.replace(/\s+/g, "");
    const problem = checkKs(ks, this.host.maxK);
    if (problem) {
      setStatus(this.els.contactStatus, problem, true);
      return;
    }
    const button = this.els.contactMake;
    button.disabled = true;
    setStatus(this.els.contactStatus, "Making the contact sheet…");
    try {
      const blob = await photo.post("/api/contact-sheet", { ks, color_space: params.color_space, dither: params.dither },
        { accept: "image/png" });
      if (this.contactUrl) URL.revokeObjectURL(this.contactUrl);
      this.contactUrl = URL.createObjectURL(blob);
      const name = `${this.host.getStem()}-contact-sheet.png`;
      this.els.contactImg.src = this.contactUrl;
      this.els.contactImg.alt = `Contact sheet: the photo at k = ${ks.split(",").join(", ")}`;
      this.els.contactDownload.href = this.contactUrl;
      this.els.contactDownload.download = name;
      this.els.contactFigure.hidden = false;
      this.els.contactFigure.dataset.options = optionWords(params);
      setStatus(this.els.contactStatus, "");
      this.host.announce("Contact sheet ready.");
    } catch (error) {
      setStatus(this.els.contactStatus, error.message, true);
    } finally {
      button.disabled = false;
    }
  }

  async exportPalette(button) {
    const photo = this.host.getPhoto();
    const params = this.host.getParams();
    if (!photo || !params) return;
    const format = button.dataset.format;
    button.disabled = true;
    try {
      const blob = await photo.post("/api/palette", { ...params, format }, { accept: "*/*" });
      saveBlob(blob, `${this.host.getStem()}-k${params.k}-palette.${format}`);
      this.host.announce(`Palette saved as ${format.toUpperCase()}.`);
    } catch (error) {
      this.host.showError(`The palette export failed: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }
}
