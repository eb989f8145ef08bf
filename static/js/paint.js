// The paint-by-number card: a template of the photo at the chosen k, shown as
// an image, with its colors layer shown or hidden, and downloads of the SVG
// and the PNG. The SVG is the file the API answers; "Show colors" shows the
// same file with its hidden "colors" layer displayed.

import { saveBlob } from "./api.js";
import { setStatus } from "./panel.js";

const $ = (id) => document.getElementById(id);

export class PaintByNumber {
  /** host: {getPhoto, getParams, getStem} */
  constructor(host) {
    this.host = host;
    this.els = {
      make: $("paint-make"), figure: $("paint-figure"), img: $("paint-img"), colors: $("paint-colors"),
      svg: $("paint-svg"), png: $("paint-png"), status: $("paint-status"),
    };
    this.urls = null; // {template, answer} object URLs of the SVG without and with its colors
    this.made = null; // {k, color_space, name, svg: Blob}
    this.els.make.addEventListener("click", () => this.make());
    this.els.colors.addEventListener("change", () => this.showLayer());
    this.els.png.addEventListener("click", () => this.downloadPng());
  }

  photoChanged() {
    this.els.make.disabled = !this.host.getPhoto();
    this.forget();
  }

  resultShown() {
    this.els.make.disabled = !this.host.getPhoto();
  }

  forget() {
    if (this.urls) for (const url of Object.values(this.urls)) URL.revokeObjectURL(url);
    this.urls = null;
    this.made = null;
    this.els.figure.hidden = true;
    setStatus(this.els.status, "");
  }

  fields() {
    const params = this.host.getParams();
    return params ? { k: params.k, color_space: params.color_space } : null;
  }

  async make() {
    const photo = this.host.getPhoto();
    const fields = this.fields();
    if (!photo || !fields) return;
    this.els.make.disabled = true;
    setStatus(this.els.status, `Making the template at k = ${fields.k}…`);
    try {
      const blob = await photo.post("/api/paint-by-number", { ...fields, format: "svg" }, { accept: "image/svg+xml" });
      const text = await blob.text();
      this.forget();
      // The same file with its colors layer shown: only the layer's display attribute differs.
      const answer = text.replace('<g id="colors"', '<g id="colors" data-shown="true"').replace(
        /(<g id="colors"[^>]*?) display="none"/, "$1");
      this.urls = {
        template: URL.createObjectURL(new Blob([text], { type: "image/svg+xml" })),
        answer: URL.createObjectURL(new Blob([answer], { type: "image/svg+xml" })),
      };
      const name = `${this.host.getStem()}-k${fields.k}-paint-by-number`;
      this.made = { ...fields, name, svg: blob };
      this.els.svg.href = this.urls.template;
      this.els.svg.download = `${name}.svg`;
      this.showLayer();
      this.els.figure.hidden = false;
      const numbers = text.slice(text.indexOf('<g id="numbers"'), text.indexOf('<g id="legend"'));
      const regions = (numbers.match(/<text /g) || []).length;
      setStatus(this.els.status, `${regions.toLocaleString("en")} numbered regions, ${(blob.size / 2 ** 20).toFixed(1)} MB SVG.`);
    } catch (error) {
      setStatus(this.els.status, error.message || "The template could not be made.", true);
    } finally {
      this.els.make.disabled = false;
    }
  }

  showLayer() {
    if (!this.urls) return;
    const shown = this.els.colors.checked;
    this.els.img.src = shown ? this.urls.answer : this.urls.template;
    this.els.img.alt = shown ? "Paint-by-number template with its colors filled in" : "Paint-by-number template";
    this.els.img.dataset.colors = String(shown);
  }

  async downloadPng() {
    const photo = this.host.getPhoto();
    if (!photo || !this.made) return;
    setStatus(this.els.status, "Making the PNG…");
    try {
      const { k, color_space } = this.made;
      const blob = await photo.post("/api/paint-by-number", { k, color_space, format: "png" }, { accept: "image/png" });
      saveBlob(blob, `${this.made.name}.png`);
      setStatus(this.els.status, "PNG saved.");
    } catch (error) {
      setStatus(this.els.status, error.message || "The PNG could not be made.", true);
    }
  }
}
