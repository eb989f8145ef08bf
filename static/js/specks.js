// "Clean up specks": the page's control for min_region. Each level is a size
// in pixels of a PREVIEW_SIDE view, scaled to the photo's full size, so a level
// looks alike on a small photo and a 12 MP one; the request carries the
// full-size pixels, and the server cleans at full size before shrinking the
// preview, so what is shown is what the download holds.

const $ = (id) => document.getElementById(id);

export class Specks {
  /** root: the #app element with data-speck-levels and data-preview-side; onchange: called on a new level. */
  constructor(root, onchange) {
    this.levels = root.dataset.speckLevels.split(",").map(Number);
    this.names = root.dataset.speckNames.split(",");
    this.previewSide = Number(root.dataset.previewSide);
    this.size = null; // {width, height} of the photo, from its first answer
    this.dither = "none";
    this.els = { range: $("specks"), value: $("specks-value"), help: $("specks-help"), cleaned: $("fig-cleaned") };
    this.els.range.addEventListener("input", () => { this.label(); onchange(); });
    this.label();
  }

  /** min_region for the photo on show; 0 with dithering, which scatters pixels on purpose. */
  minRegion(dither = this.dither) {
    this.dither = dither;
    const level = this.levels[Number(this.els.range.value)] || 0;
    this.els.range.disabled = dither !== "none";
    this.els.help.textContent = dither !== "none"
      ? "Not with dithering, which scatters pixels on purpose."
      : "Merges regions of one color smaller than this into their neighbor: off … strong.";
    if (!level || dither !== "none") return 0;
    const side = this.size ? Math.max(this.size.width, this.size.height) : this.previewSide;
    return Math.round(level * Math.max(1, (side / this.previewSide) ** 2));
  }

  photoChanged() {
    this.size = null;
  }

  label(dither = this.dither) {
    const index = Number(this.els.range.value);
    const pixels = this.minRegion(dither);
    this.els.value.textContent = pixels ? `${this.names[index]} · under ${pixels.toLocaleString("en")} px` : "Off";
    this.els.range.setAttribute("aria-valuetext", this.els.value.textContent);
  }

  /**
   * A result is shown: learn the photo's size ({width, height}) and say whether the figures are
   * those of the cleaned image (regions: {before, after} from the server, or null).
   */
  resultShown(size, regions, dither) {
    const known = this.size;
    this.size = { width: size.width, height: size.height };
    this.els.cleaned.hidden = !regions;
    this.els.cleaned.textContent = regions
      ? `Figures measured on the cleaned image: ${regions.before.toLocaleString("en")} → ${regions.after.toLocaleString("en")} regions.`
      : "";
    if (!known) this.label(dither);
    return !known && Number(this.els.range.value) > 0; // the level now means another size: ask again
  }
}
