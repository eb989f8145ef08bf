// The palettes of one photo, per color space and k, fetched from POST /api/palettes.
// The k the user is on comes first (a priority request of its own); in the background the
// rest of the slider's ladder follows in small batches, nearest k first, one batch at a time,
// so the server never has more than two requests of ours to work on. The background waits
// while the user keeps landing on k values not here yet: each of those then has the server
// to itself, and the ladder goes on as soon as the hand rests for a moment.

const SPACES = ["rgb", "oklab", "lab"];
const QUIET_MS = 300; // the background resumes this long after the last priority answer
const BATCH_TARGET_MS = 250; // a batch takes about this long on the server, whatever its photo

export class Ladder {
  /** photo: an api.js Photo. onArrive(colorSpace, ks) after each answer; onError(error) when k itself failed. */
  constructor(photo, { minK = 2, maxK = 64, onArrive = () => {}, onError = () => {} } = {}) {
    this.photo = photo;
    this.minK = minK;
    this.maxK = maxK;
    this.onArrive = onArrive;
    this.onError = onError;
    this.palettes = new Map(); // color space -> Map(k -> entry)
    this.info = null; // the photo as the server read it: width, height, unique_colors, bytes
    this.focus = null; // {k, colorSpace}
    this.priority = null; // {k, colorSpace}
    this.batch = null; // {ks, colorSpace}
    this.msPerK = 250;
    this.closed = false;
    this.failures = 0;
    this.quietFrom = 0; // no background batch starts before this time
    this.resume = 0;
  }

  get(k, colorSpace) {
    return this.palettes.get(colorSpace)?.get(k);
  }

  /** Every k of the slider is here for this color space. */
  complete(colorSpace) {
    return this.missing(colorSpace).length === 0;
  }

  missing(colorSpace) {
    const known = this.palettes.get(colorSpace) || new Map();
    const ks = [];
    for (let k = this.minK; k <= this.maxK; k++) if (!known.has(k)) ks.push(k);
    return ks;
  }

  /** The user is at k: ask for it now if it is missing, and keep the background ladder near it. */
  aim(k, colorSpace) {
    this.focus = { k, colorSpace };
    if (!this.get(k, colorSpace) && !this.asking(k, colorSpace)) this.ask(k, colorSpace);
    this.prefetch();
  }

  asking(k, colorSpace) {
    return (this.priority?.k === k && this.priority.colorSpace === colorSpace)
      || (this.batch?.colorSpace === colorSpace && this.batch.ks.includes(k));
  }

  async ask(k, colorSpace) {
    if (this.priority) return; // one at a time: its answer looks at the focus again
    this.priority = { k, colorSpace };
    try {
      await this.fetch([k], colorSpace);
    } catch (error) {
      if (!this.closed) this.onError(error, { k, colorSpace });
      return;
    } finally {
      this.priority = null;
      this.quietFrom = performance.now() + QUIET_MS;
      clearTimeout(this.resume);
      this.resume = setTimeout(() => this.prefetch(), QUIET_MS);
    }
    this.followFocus();
  }

  followFocus() {
    if (this.closed || !this.focus) return;
    const { k, colorSpace } = this.focus;
    if (!this.get(k, colorSpace) && !this.asking(k, colorSpace)) this.ask(k, colorSpace);
    this.prefetch();
  }

  /**
   * The next few k of the ladder, nearest the focus first, once the photo has an image_id. With the
   * ladder complete, the focus k in the other color spaces, so that switching is instant too.
   */
  async prefetch() {
    if (this.closed || this.batch || !this.focus || !this.photo.imageId || this.failures > 2) return;
    if (this.priority || performance.now() < this.quietFrom) return; // the user is waiting on the server
    let { k: focusK, colorSpace } = this.focus;
    if (this.complete(colorSpace)) {
      colorSpace = SPACES.find((space) => space !== colorSpace && !this.get(focusK, space)) ?? colorSpace;
      if (focusK > this.maxK) focusK = this.maxK;
    }
    const size = Math.max(1, Math.min(8, Math.round(BATCH_TARGET_MS / this.msPerK)));
    const ks = (colorSpace === this.focus.colorSpace ? this.missing(colorSpace) : [focusK].filter((k) => !this.get(k, colorSpace)))
      .filter((k) => !(this.priority?.k === k && this.priority.colorSpace === colorSpace))
      .sort((a, b) => Math.abs(a - focusK) - Math.abs(b - focusK) || a - b)
      .slice(0, size)
      .sort((a, b) => a - b);
    if (!ks.length) return;
    this.batch = { ks, colorSpace };
    try {
      await this.fetch(ks, colorSpace, true);
      this.failures = 0;
    } catch {
      this.failures++; // the priority request reports errors; the ladder quietly tries again later
    } finally {
      this.batch = null;
    }
    this.followFocus();
  }

  async fetch(ks, colorSpace, background = false) {
    const fields = { ks: ks.join(","), color_space: colorSpace, background: background ? 1 : 0 };
    const answer = await this.photo.post("/api/palettes", fields);
    if (this.closed) return;
    const { palettes, timings, unfinished, ...info } = answer;
    this.info = info;
    if (timings.found) this.msPerK = Math.max(20, timings.quantize_ms / timings.found);
    if (!this.palettes.has(colorSpace)) this.palettes.set(colorSpace, new Map());
    for (const entry of palettes) this.palettes.get(colorSpace).set(entry.k, { ...entry, colorSpace });
    this.onArrive(colorSpace, ks);
  }

  close() {
    this.closed = true;
    clearTimeout(this.resume);
  }
}
