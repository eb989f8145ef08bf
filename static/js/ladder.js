// The palettes of one photo, per color space and k, fetched from POST /api/palettes.
// The k the user is on comes first (a priority request of its own). In the background, one
// batch (or one measure of a mean ΔE) at a time, so the server never has more than two requests
// of ours to work on:
//   1. the first k shown, in the other color spaces, so that switching the space right after
//      the first result is quick too;
//   2. the rest of the slider's ladder in the space shown, nearest k first;
//   3. with the ladder complete, the k shown in the other color spaces.
// The server abandons a background batch's k-means within a step when a priority request
// needs one (app/ladder.py); the batch answers what it has, and the rest is asked again once
// the user has had no priority answer for QUIET_MS.
// Palettes come without their mean ΔE (delta_e=0: it is a third of an rgb palette's cost on the server at
// 12 MP, and drawing needs none); measure() asks for the figure of the k shown once the slider rests.
// A lab or oklab palette the user waits for is asked with early=1: the server answers its colors as soon as they
// are chosen (figures: false, shares and PSNR null), and the page draws them while the server measures. The
// figures come with the background batch's answer (or the batch asked for them next): fillIn() adds them to the
// entry drawn, whose colors stay what they were.

// The order other color spaces are fetched ahead in. The page cannot know which one the user will
// pick; CIELAB first, the one the benchmark switches to (bench/bench_live.py).
const SPACES = ["rgb", "lab", "oklab"];
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
    this.start = null; // {k, colorSpace} of the first result
    this.priority = null; // {k, colorSpace}
    this.batch = null; // {ks, colorSpace}
    this.msPerK = new Map(); // color space -> the server's time a palette, last measured
    this.closed = false;
    this.failures = 0;
    this.quietFrom = 0; // no background batch starts before this time
    this.resume = 0;
    this.measuring = new Map(); // "colorSpace|k" -> promise of its delta_e
    this.batchDone = null; // a promise, settled when the batch on its way is answered
    this.holding = false; // app.js: no background batch until the first result is on screen
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
    this.start ||= { k, colorSpace };
    if (!this.get(k, colorSpace) && !this.asked(k, colorSpace)) this.ask(k, colorSpace);
    this.prefetch();
  }

  async ask(k, colorSpace) {
    if (this.priority) return; // one at a time: its answer looks at the focus again
    this.priority = { k, colorSpace };
    try {
      await this.fetch([k], colorSpace, false, colorSpace !== "rgb");
    } catch (error) {
      if (!this.closed) this.onError(error, { k, colorSpace });
      return;
    } finally {
      this.priority = null;
      // After the first result the background starts at once (the user looks at it); after a move,
      // it waits for the hand to rest, so that the next move finds the server free.
      if (k !== this.start.k || colorSpace !== this.start.colorSpace) this.pause();
    }
    this.followFocus();
  }

  followFocus() {
    if (this.closed || !this.focus) return;
    const { k, colorSpace } = this.focus;
    if (!this.get(k, colorSpace) && !this.asked(k, colorSpace)) this.ask(k, colorSpace);
    this.prefetch();
  }

  /** The next background batch, in the order above, once the photo has an image_id and the first result is here. */
  async prefetch() {
    if (this.closed || this.batch || this.measuring.size || !this.focus || !this.photo.imageId || this.failures > 2) return;
    if (this.priority || performance.now() < this.quietFrom) return; // the user is waiting on the server
    const next = this.nextBatch();
    if (!next) return;
    this.batch = next;
    let found = 0;
    let done;
    this.batchDone = new Promise((resolve) => { done = resolve; });
    try {
      found = await this.fetch(next.ks, next.colorSpace, true);
      this.failures = 0;
    } catch {
      this.failures++; // the priority request reports errors; the ladder quietly tries again later
    } finally {
      this.batch = null;
      done();
    }
    if (!found) this.pause(); // given way to someone's priority request, or failed: not again at once
    this.followFocus();
  }

  /** {ks, colorSpace} of the next background batch, or null when there is nothing to fetch ahead. */
  nextBatch() {
    const { k: focusK, colorSpace } = this.focus;
    const start = this.start;
    if (!this.get(start.k, start.colorSpace) || this.holding) return null; // the first result comes first (app.js: until painted)
    const otherSpace = (k, shown) => SPACES.find((space) => space !== shown && !this.get(k, space) && !this.asked(k, space));
    // A palette drawn without its figures (the server gave it up to answer a move, say): its figures first
    // while it is on show, else once nothing else is to fetch.
    if (this.get(focusK, colorSpace)?.figures === false) return { ks: [focusK], colorSpace };
    const early = otherSpace(start.k, start.colorSpace);
    if (early) return { ks: [start.k], colorSpace: early };
    if (this.complete(colorSpace)) {
      const k = Math.min(focusK, this.maxK);
      const space = otherSpace(k, colorSpace);
      return space ? { ks: [k], colorSpace: space } : this.withoutFigures();
    }
    // Per space: a lab palette takes the server ten times an rgb one at 12 MP.
    const size = Math.max(1, Math.min(8, Math.round(BATCH_TARGET_MS / (this.msPerK.get(colorSpace) ?? BATCH_TARGET_MS))));
    const ks = this.missing(colorSpace)
      .filter((k) => !this.asked(k, colorSpace))
      .sort((a, b) => Math.abs(a - focusK) - Math.abs(b - focusK) || a - b)
      .slice(0, size)
      .sort((a, b) => a - b);
    return ks.length ? { ks, colorSpace } : null;
  }

  /** A batch for a palette that came without its figures (early), or null. */
  withoutFigures() {
    for (const [colorSpace, known] of this.palettes) {
      for (const [k, entry] of known) if (entry.figures === false) return { ks: [k], colorSpace };
    }
    return null;
  }

  asked(k, colorSpace) {
    return this.priority?.k === k && this.priority.colorSpace === colorSpace;
  }

  /** No background batch for QUIET_MS. */
  pause() {
    this.quietFrom = performance.now() + QUIET_MS;
    clearTimeout(this.resume);
    this.resume = setTimeout(() => this.prefetch(), QUIET_MS);
  }

  /**
   * The mean ΔE of a palette already here, which the server measures when asked (the same figure
   * /api/quantize gives); it is kept in the palette's entry. Resolves to the number.
   */
  measure(k, colorSpace) {
    const entry = this.get(k, colorSpace);
    if (!entry) return Promise.reject(new Error(`no palette for k = ${k} in ${colorSpace}`));
    if (entry.delta_e != null) return Promise.resolve(entry.delta_e);
    const key = `${colorSpace}|${k}`;
    if (!this.measuring.has(key)) {
      // It takes the background's place: after the batch and the other measures on their way, and no
      // batch starts before it is answered.
      const before = [this.batch ? this.batchDone : null, ...this.measuring.values()];
      const asking = Promise.allSettled(before)
        .then(() => {
          if (this.closed) throw new Error("the photo was closed");
          return this.photo.post("/api/palettes", { ks: String(k), color_space: colorSpace, delta_e: 1 });
        })
        .then(({ palettes }) => {
          const deltaE = palettes[0].delta_e;
          const hadNone = this.get(k, colorSpace)?.figures === false; // the entry here now, not the one asked for
          this.keep(colorSpace, palettes[0]).delta_e = deltaE;
          if (hadNone && !this.closed) this.onArrive(colorSpace, [k]);
          return deltaE;
        })
        .finally(() => {
          this.measuring.delete(key);
          this.prefetch();
        });
      this.measuring.set(key, asking);
    }
    return this.measuring.get(key);
  }

  /** Ask for these palettes; resolves to how many came (a background batch may give way before the end). */
  async fetch(ks, colorSpace, background = false, early = false) {
    const fields = { ks: ks.join(","), color_space: colorSpace, background: background ? 1 : 0, delta_e: 0 };
    if (early) fields.early = 1;
    const answer = await this.photo.post("/api/palettes", fields);
    if (this.closed) return 0;
    const { palettes, timings, unfinished, ...info } = answer;
    this.info = info;
    if (timings.found && !unfinished.length) this.msPerK.set(colorSpace, Math.max(20, timings.quantize_ms / timings.found));
    for (const entry of palettes) this.keep(colorSpace, entry);
    performance.mark("kmeans:palettes", { detail: { ks: palettes.map((p) => p.k), colorSpace, background, timings,
      early: palettes.some((p) => p.figures === false) } });
    if (palettes.length) this.onArrive(colorSpace, ks);
    return palettes.length;
  }

  /**
   * An answer's entry, kept; returns the entry now kept for its k. An entry already here keeps its object (views
   * and the preview compare its palette by identity); one drawn without its figures gets them (fillIn), or is
   * replaced when its colors differ.
   */
  keep(colorSpace, entry) {
    if (!this.palettes.has(colorSpace)) this.palettes.set(colorSpace, new Map());
    const known = this.palettes.get(colorSpace);
    const here = known.get(entry.k);
    if (!here || (here.figures === false && entry.figures !== false && !this.fillIn(here, entry))) {
      known.set(entry.k, { ...entry, colorSpace });
    }
    return known.get(entry.k);
  }

  /**
   * The figures of a full answer, put into an entry that came without them (early): its palette array is
   * the same object, now in the server's order with shares, so the result drawn from it is not drawn again.
   * False when the colors differ (the fit dropped a color no pixel took): the entry must be replaced, and drawn.
   * (A preview color exactly as near to two entries takes the one listed first: drawn again later in the new
   * order, such a pixel could take the other, as any tie may between two orders.)
   */
  fillIn(entry, full) {
    const colors = (palette) => palette.map(({ hex }) => hex).sort().join();
    if (colors(entry.palette) !== colors(full.palette)) return false;
    entry.palette.splice(0, entry.palette.length, ...full.palette);
    Object.assign(entry, { colors: full.colors, psnr: full.psnr, delta_e: full.delta_e ?? entry.delta_e,
      figures: true });
    return true;
  }

  close() {
    this.closed = true;
    clearTimeout(this.resume);
  }
}
