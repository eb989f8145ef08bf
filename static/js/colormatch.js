// Which palette entry each color takes, exactly as the server assigns it (app/perceptual_match.py, app/lattice.py):
//   rgb:         the entry at the smallest squared RGB distance;
//   oklab, lab:  among the 3 entries nearest in CIELAB, the one with the smallest CIEDE2000
//                (nearest_perceptual), CIELAB values rounded to float32 as the server keeps them.
//                Up to LATTICE_FEW_MAX_K entries the server finds those 3 on its CIELAB lattice
//                (app/lattice.py: coordinates times 64, rounded half to even), and so does this.
// Ties go to the entry listed first (the larger share). Pure functions on typed arrays: no DOM,
// so the preview worker and the tests can both use them.

const SRGB_TO_LINEAR = new Float64Array(256);
for (let v = 0; v < 256; v++) {
  const c = v / 255;
  SRGB_TO_LINEAR[v] = c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}
// sRGB (D65) to XYZ, IEC 61966-2-1, each row divided by the white point, as app/colorspace.py does.
const M = [
  [0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041],
];
const WHITE = M.map((row) => row[0] + row[1] + row[2]);
const EPSILON = (6 / 29) ** 3;

function f(t) {
  return t > EPSILON ? Math.cbrt(t) : t / (3 * (6 / 29) ** 2) + 4 / 29;
}

/** CIELAB of packed 0xRRGGBB keys, as float32 triples (app/colorspace.srgb_to_lab, then float32). */
export function labOfKeys(keys) {
  const lab = new Float32Array(keys.length * 3);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const r = SRGB_TO_LINEAR[(key >>> 16) & 255];
    const g = SRGB_TO_LINEAR[(key >>> 8) & 255];
    const b = SRGB_TO_LINEAR[key & 255];
    const fx = f((M[0][0] * r + M[0][1] * g + M[0][2] * b) / WHITE[0]);
    const fy = f((M[1][0] * r + M[1][1] * g + M[1][2] * b) / WHITE[1]);
    const fz = f((M[2][0] * r + M[2][1] * g + M[2][2] * b) / WHITE[2]);
    lab[3 * i] = 116 * fy - 16;
    lab[3 * i + 1] = 500 * (fx - fy);
    lab[3 * i + 2] = 200 * (fy - fz);
  }
  return lab;
}

const RAD = Math.PI / 180;
const POW25_7 = 25 ** 7;
const COS30 = Math.cos(30 * RAD);
const SIN30 = Math.sin(30 * RAD);
const COS6 = Math.cos(6 * RAD);
const SIN6 = Math.sin(6 * RAD);
const COS63 = Math.cos(63 * RAD);
const SIN63 = Math.sin(63 * RAD);
const TINY = 2.2250738585072014e-308; // the smallest normal double, as numpy's finfo(float64).tiny

function pow7(x) {
  const x2 = x * x;
  return x2 * x2 * x2 * x;
}

/**
 * CIEDE2000 between two CIELAB colors (Sharma et al. 2005), the steps of app/ciede2000.between in
 * float64: hue angles handled as vectors, so one arctangent, one exponential and one sine a pair where
 * the textbook form takes seven such calls (9% faster in node). The mean hue bisects the smaller arc
 * between the two hues, so its cosine and sine come from the sum of the unit hue vectors, the four
 * cosines of T from multiple-angle identities, and dH' from the cross and dot products of the (a', b')
 * vectors.
 */
export function ciede2000(L1, a1, b1, L2, a2, b2) {
  const bb1 = b1 * b1;
  const bb2 = b2 * b2;
  const c7 = pow7((Math.sqrt(a1 * a1 + bb1) + Math.sqrt(a2 * a2 + bb2)) * 0.5);
  const scale = 1.5 - 0.5 * Math.sqrt(c7 / (c7 + POW25_7)); // 1 + G
  const a1p = a1 * scale;
  const a2p = a2 * scale;
  const c1p = Math.sqrt(a1p * a1p + bb1);
  const c2p = Math.sqrt(a2p * a2p + bb2);
  const dC = c2p - c1p;
  const dot = a1p * a2p + b1 * b2;
  const cross = a1p * b2 - b1 * a2p;
  // dH' = 2 sqrt(C1'C2') sin(dh'/2) = cross * sqrt(2 / (C1'C2' + dot)): signed, and free of the
  // cancellation that da'^2 + db^2 - dC'^2 suffers when the hues are close.
  let dH = cross * Math.sqrt(2 / Math.max(c1p * c2p + dot, TINY));
  const inv1 = 1 / Math.max(c1p, TINY);
  const inv2 = 1 / Math.max(c2p, TINY);
  const u1x = a1p * inv1; // zero chroma: a zero vector
  const u1y = b1 * inv1;
  const u2x = a2p * inv2;
  const u2y = b2 * inv2;
  let x = u1x + u2x;
  let y = u1y + u2y;
  if (dot < 0) {
    // Hues over 90 degrees apart: the perpendicular of u1 - u2, turned towards u1 + u2, is the
    // better-conditioned bisector, and da'^2 + db^2 - dC'^2 the better-conditioned dH'^2. Exactly
    // opposite hues take the smaller hue plus 90 degrees and a positive dh', as the formula's cases do.
    let sign = Math.sign(cross);
    if (sign === 0) sign = u1y > 0 || (u1y === 0 && u1x > 0) ? 1 : -1;
    x = sign * (u2y - u1y);
    y = sign * (u1x - u2x);
    const da = a2p - a1p;
    const db = b2 - b1;
    dH = sign * Math.sqrt(Math.max(da * da + db * db - dC * dC, 0));
  }
  const norm = Math.sqrt(x * x + y * y);
  const inv = 1 / Math.max(norm, TINY);
  const cosH = x * inv + (norm === 0 ? 1 : 0); // no hue at all: angle 0, as the formula's atan2(0, 0)
  const sinH = y * inv;
  const cos2H = cosH * cosH - sinH * sinH;
  const sin2H = 2 * cosH * sinH;
  const cos3H = cosH * (4 * cosH * cosH - 3);
  const sin3H = sinH * (3 - 4 * sinH * sinH);
  const cos4H = 2 * cos2H * cos2H - 1;
  const sin4H = 2 * sin2H * cos2H;
  const t = 1 - 0.17 * (cosH * COS30 + sinH * SIN30) + 0.24 * cos2H
    + 0.32 * (cos3H * COS6 - sin3H * SIN6) - 0.2 * (cos4H * COS63 + sin4H * SIN63);
  const hue = Math.atan2(sinH, cosH) * (180 / Math.PI); // -180..180
  const offset = (hue - 275 + (hue < 0 ? 360 : 0)) * (1 / 25);
  const dTheta = 30 * Math.exp(-(offset * offset));
  const cpMean = (c1p + c2p) * 0.5;
  const cp7 = pow7(cpMean);
  const rC = 2 * Math.sqrt(cp7 / (cp7 + POW25_7));
  const lm = (L1 + L2) * 0.5 - 50;
  const lm2 = lm * lm;
  const sL = 1 + (0.015 * lm2) / Math.sqrt(20 + lm2);
  const sC = 1 + 0.045 * cpMean;
  const sH = 1 + 0.015 * cpMean * t;
  const rT = -Math.sin(dTheta * (Math.PI / 90)) * rC;
  const dl = (L2 - L1) / sL;
  const dc = dC / sC;
  const dh = dH / sH;
  return Math.sqrt(dl * dl + dc * dc + dh * dh + rT * dc * dh);
}

/** Palette entries [r, g, b] ordered along one axis, for a search that stops early and stays exact. */
class AxisIndex {
  constructor(points, dims) {
    const count = points.length / dims;
    this.dims = dims;
    this.order = Int32Array.from({ length: count }, (_, i) => i)
      .sort((a, b) => points[a * dims] - points[b * dims] || a - b);
    this.points = new Float64Array(points.length);
    this.order.forEach((entry, i) => {
      for (let d = 0; d < dims; d++) this.points[i * dims + d] = points[entry * dims + d];
    });
    this.axis = Float64Array.from(this.order, (_, i) => this.points[i * dims]);
  }

  /** First position whose axis value is >= value. */
  start(value) {
    let low = 0;
    let high = this.axis.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.axis[mid] < value) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}

/**
 * The nearest of `count` entries to (x, y, z) by squared distance, walking out from x along the
 * sorted axis; an entry further along the axis than the worst kept cannot be nearer. Fills
 * bestIdx/bestDist (ascending distance, ties to the lower entry index) and returns how many.
 */
function nearestEntries(index, x, y, z, count, bestIdx, bestDist) {
  const { points, order, axis } = index;
  const n = axis.length;
  let kept = 0;
  let limit = Infinity;
  let up = index.start(x);
  let down = up - 1;
  for (;;) {
    const upGap = up < n ? (axis[up] - x) * (axis[up] - x) : Infinity;
    const downGap = down >= 0 ? (x - axis[down]) * (x - axis[down]) : Infinity;
    if (upGap > limit && downGap > limit) break;
    if (upGap === Infinity && downGap === Infinity) break;
    const pos = upGap <= downGap ? up++ : down--;
    const dx = points[3 * pos] - x;
    const dy = points[3 * pos + 1] - y;
    const dz = points[3 * pos + 2] - z;
    const dist = dx * dx + dy * dy + dz * dz;
    const entry = order[pos];
    if (kept === count && (dist > limit || (dist === limit && entry > bestIdx[kept - 1]))) continue;
    let at = kept < count ? kept++ : count - 1;
    while (at > 0 && (bestDist[at - 1] > dist || (bestDist[at - 1] === dist && bestIdx[at - 1] > entry))) {
      bestDist[at] = bestDist[at - 1];
      bestIdx[at] = bestIdx[at - 1];
      at--;
    }
    bestDist[at] = dist;
    bestIdx[at] = entry;
    if (kept === count) limit = bestDist[count - 1];
  }
  return kept;
}

const LATTICE_FEW_MAX_K = 64; // app/perceptual_match.py
const LAB_LATTICE_SCALE = 64; // app/histograms.py LATTICE_SCALES["lab"]

/** numpy's rint: to the nearest integer, halves to even. */
function rint(value) {
  const rounded = Math.round(value);
  return rounded - value === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded;
}

function onLattice(points) {
  return Float64Array.from(points, (value) => rint(value * LAB_LATTICE_SCALE));
}

/** The palette (flat [r, g, b, ...] bytes) in CIELAB, rounded to float32. */
function paletteLab(palette) {
  const keys = new Uint32Array(palette.length / 3);
  for (let i = 0; i < keys.length; i++) {
    keys[i] = (palette[3 * i] << 16) | (palette[3 * i + 1] << 8) | palette[3 * i + 2];
  }
  return labOfKeys(keys);
}

const CELL_BITS = 4; // nearestRgb's cells: 2**4 along each channel, 4096 in the RGB cube
const CELL_SIDE = 1 << (8 - CELL_BITS); // values of a channel in a cell
const CELL_MASK = (1 << CELL_BITS) - 1;

/** candidates, or a copy of them twice as long when `needed` entries would not fit. */
function withRoom(candidates, needed) {
  if (needed <= candidates.length) return candidates;
  const grown = new Uint8Array(Math.max(candidates.length * 2, needed));
  grown.set(candidates);
  return grown;
}

const span = new Float64Array(2); // cubeDistances' answer: [nearest, farthest]

/** Squared distances from point e of `points` (x, y, z rows) to the nearest and the farthest point of the
 * cube of `side` lattice steps whose lowest corner is `lows`, into span[0] and span[1]. */
function cubeDistances(points, e, lows, side) {
  let near = 0;
  let far = 0;
  for (let c = 0; c < 3; c++) {
    const value = points[3 * e + c];
    const low = lows[c];
    const high = low + side - 1;
    const below = value < low ? low - value : value > high ? value - high : 0;
    const across = Math.max(value - low, high - value);
    near += below * below;
    far += across * across;
  }
  span[0] = near;
  span[1] = far;
}

/**
 * The entries that can be nearest (squared RGB distance) to some color of one cell of the RGB cube,
 * in ascending entry order: those whose least distance to the cell is at most the smallest, over all
 * entries, of the greatest distance to it. Every entry at the least distance from any color of the
 * cell is among them, ties included, so searching only them is exact.
 */
function cellCandidates(cell, palette, count, into, at, least) {
  const lows = [(cell >>> (2 * CELL_BITS)) * CELL_SIDE, ((cell >>> CELL_BITS) & CELL_MASK) * CELL_SIDE,
    (cell & CELL_MASK) * CELL_SIDE];
  let bound = Infinity;
  for (let e = 0; e < count; e++) {
    cubeDistances(palette, e, lows, CELL_SIDE);
    least[e] = span[0];
    if (span[1] < bound) bound = span[1];
  }
  let kept = 0;
  for (let e = 0; e < count; e++) if (least[e] <= bound) into[at + kept++] = e;
  return kept;
}

/**
 * The nearest palette entry (squared RGB distance; ties to the entry listed first) of every packed
 * 0xRRGGBB color, exactly. Each color compares itself only with its cell's candidates (cellCandidates),
 * found the first time a color falls in that cell: at k = 64 a few entries instead of a search.
 */
export function nearestRgb(keys, palette) {
  const count = palette.length / 3;
  const labels = new Uint8Array(keys.length);
  const cells = 1 << (3 * CELL_BITS);
  const first = new Int32Array(cells).fill(-1); // each cell's place in `candidates`, once found
  const sizes = new Uint16Array(cells); // up to 256 candidates
  const least = new Float64Array(count);
  let candidates = new Uint8Array(Math.max(count * 64, 1024));
  let used = 0;
  const shift = 8 - CELL_BITS;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const r = (key >>> 16) & 255;
    const g = (key >>> 8) & 255;
    const b = key & 255;
    const cell = ((r >>> shift) << (2 * CELL_BITS)) | ((g >>> shift) << CELL_BITS) | (b >>> shift);
    let at = first[cell];
    if (at < 0) {
      candidates = withRoom(candidates, used + count);
      at = first[cell] = used;
      sizes[cell] = cellCandidates(cell, palette, count, candidates, at, least);
      used += sizes[cell];
    }
    let best = candidates[at];
    const size = sizes[cell];
    if (size > 1) {
      let smallest = Infinity;
      for (let j = at; j < at + size; j++) {
        const e = candidates[j];
        const dr = r - palette[3 * e];
        const dg = g - palette[3 * e + 1];
        const db = b - palette[3 * e + 2];
        const distance = dr * dr + dg * dg + db * db;
        if (distance < smallest) {
          smallest = distance;
          best = e;
        }
      }
    }
    labels[i] = best;
  }
  return labels;
}

/** The CIELAB of packed colors on the server's lattice (app/lattice.py: times 64, rounded half to even), as
 *  integers: for the preview's photo made once, before any palette comes, and kept with it. */
export function labLattice(keysLab) {
  const lattice = new Int32Array(keysLab.length);
  for (let i = 0; i < keysLab.length; i++) lattice[i] = rint(keysLab[i] * LAB_LATTICE_SCALE);
  return lattice;
}

// nearestOnLattice's cells: 2**8 lattice steps (4 CIELAB units) along each axis, 64 cells per axis from
// -128 to 128 in CIELAB, which holds every sRGB color (a and b stay within -108..99, L within 0..100).
const LAB_CELL_SHIFT = 8;
const LAB_CELL_BITS = 6;
const LAB_CELL_OFFSET = 128 * LAB_LATTICE_SCALE;
const LAB_CELL_SIDE = 1 << LAB_CELL_SHIFT;

/**
 * The entries that can be among the `count` nearest (squared lattice distance) to some point of one cell:
 * those whose least distance to the cell is at most the count-th smallest, over all entries, of the
 * greatest distance to it (`count` entries are never farther than that from any point of the cell). Every
 * entry that is among the count nearest of some point, ties included, is among them, in ascending order.
 */
function labCellCandidates(cell, points, entries, count, into, at, least, farthest) {
  const lows = [cell >>> (2 * LAB_CELL_BITS), (cell >>> LAB_CELL_BITS) & ((1 << LAB_CELL_BITS) - 1),
    cell & ((1 << LAB_CELL_BITS) - 1)].map((c) => c * LAB_CELL_SIDE - LAB_CELL_OFFSET);
  farthest.fill(Infinity);
  for (let e = 0; e < entries; e++) {
    cubeDistances(points, e, lows, LAB_CELL_SIDE);
    least[e] = span[0];
    const far = span[1];
    let place = count - 1; // keep the count smallest of far, ascending
    if (far < farthest[place]) {
      while (place > 0 && farthest[place - 1] > far) {
        farthest[place] = farthest[place - 1];
        place--;
      }
      farthest[place] = far;
    }
  }
  const bound = farthest[count - 1];
  let kept = 0;
  for (let e = 0; e < entries; e++) if (least[e] <= bound) into[at + kept++] = e;
  return kept;
}

/**
 * For every color on the lattice, its `count` nearest entries (points: the palette on the lattice),
 * nearest first, ties to the lower entry, as app/lattice.nearest_few finds them: into found
 * (count per color). Each color compares itself only with its cell's candidates (labCellCandidates),
 * found the first time a color falls in that cell.
 */
export function nearestOnLattice(lattice, points, count, found) {
  const entries = points.length / 3;
  const first = new Int32Array(1 << (3 * LAB_CELL_BITS)).fill(-1); // each cell's place in `candidates`
  const sizes = new Uint16Array(1 << (3 * LAB_CELL_BITS));
  const least = new Float64Array(entries);
  const farthest = new Float64Array(count);
  const bestDist = new Float64Array(count);
  const bestIdx = new Int32Array(count);
  let candidates = new Uint8Array(Math.max(entries * 64, 1024));
  let used = 0;
  const colors = lattice.length / 3;
  for (let i = 0; i < colors; i++) {
    const L = lattice[3 * i];
    const a = lattice[3 * i + 1];
    const b = lattice[3 * i + 2];
    const cell = (((L + LAB_CELL_OFFSET) >> LAB_CELL_SHIFT) << (2 * LAB_CELL_BITS))
      | (((a + LAB_CELL_OFFSET) >> LAB_CELL_SHIFT) << LAB_CELL_BITS) | ((b + LAB_CELL_OFFSET) >> LAB_CELL_SHIFT);
    let at = first[cell];
    if (at < 0) {
      candidates = withRoom(candidates, used + entries);
      at = first[cell] = used;
      sizes[cell] = labCellCandidates(cell, points, entries, count, candidates, at, least, farthest);
      used += sizes[cell];
    }
    let kept = 0;
    for (let j = at; j < at + sizes[cell]; j++) {
      const e = candidates[j]; // ascending: an entry goes after the kept ones at its distance
      const dL = points[3 * e] - L;
      const da = points[3 * e + 1] - a;
      const db = points[3 * e + 2] - b;
      const dist = dL * dL + da * da + db * db;
      if (kept === count && dist >= bestDist[count - 1]) continue;
      let place = kept < count ? kept++ : count - 1;
      while (place > 0 && bestDist[place - 1] > dist) {
        bestDist[place] = bestDist[place - 1];
        bestIdx[place] = bestIdx[place - 1];
        place--;
      }
      bestDist[place] = dist;
      bestIdx[place] = e;
    }
    for (let c = 0; c < count; c++) found[count * i + c] = bestIdx[c];
  }
}

/**
 * The palette entry of every color: keys are packed 0xRRGGBB, keysLab their CIELAB (perceptual only),
 * keysLattice that CIELAB on the lattice (labLattice) when the caller keeps it, else it is made here.
 * Returns a Uint8Array of entry indices.
 */
export function assign(keys, keysLab, palette, colorSpace, keysLattice = null) {
  if (colorSpace === "rgb") return nearestRgb(keys, palette);
  const labels = new Uint8Array(keys.length);
  const lab = paletteLab(palette);
  const candidates = Math.min(3, palette.length / 3);
  const found = new Int32Array(candidates * keys.length);
  if (palette.length / 3 <= LATTICE_FEW_MAX_K) {
    nearestOnLattice(keysLattice ?? labLattice(keysLab), onLattice(lab), candidates, found);
  } else {
    const index = new AxisIndex(lab, 3);
    const bestDist = new Float64Array(3);
    for (let i = 0; i < keys.length; i++) {
      nearestEntries(index, keysLab[3 * i], keysLab[3 * i + 1], keysLab[3 * i + 2], candidates,
        found.subarray(candidates * i, candidates * (i + 1)), bestDist);
    }
  }
  for (let i = 0; i < keys.length; i++) {
    const L = keysLab[3 * i];
    const a = keysLab[3 * i + 1];
    const b = keysLab[3 * i + 2];
    let best = found[candidates * i];
    let smallest = Infinity;
    for (let c = 0; c < candidates; c++) {
      const e = found[candidates * i + c];
      const difference = ciede2000(L, a, b, lab[3 * e], lab[3 * e + 1], lab[3 * e + 2]);
      if (difference < smallest) {
        smallest = difference;
        best = e;
      }
    }
    labels[i] = best;
  }
  return labels;
}

/**
 * assign() on `count` of the colors, the round-th such slice (the last one once past the end), thrown away:
 * the preview worker and its matching thread run it a few times so that the engine has compiled the matching
 * before a palette comes.
 */
export function warmAssign(keys, keysLab, keysLattice, palette, colorSpace, round, count) {
  const at = Math.min(round * count, keys.length - count);
  assign(keys.subarray(at, at + count), keysLab.subarray(3 * at, 3 * (at + count)), palette, colorSpace,
    keysLattice.subarray(3 * at, 3 * (at + count)));
}

/**
 * Floyd–Steinberg error diffusion of RGBA pixels onto the palette, each pixel taking the entry
 * nearest in RGB to its color plus the error carried to it. Writes palette colors into out (RGBA).
 */
export function ditherOnto(rgba, width, height, palette, out) {
  const index = new AxisIndex(palette, 3);
  const bestIdx = new Int32Array(1);
  const bestDist = new Float64Array(1);
  let current = new Float32Array((width + 2) * 3);
  let next = new Float32Array((width + 2) * 3);
  for (let y = 0; y < height; y++) {
    next.fill(0);
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 4;
      const e = (x + 1) * 3;
      const r = Math.min(255, Math.max(0, rgba[p] + current[e]));
      const g = Math.min(255, Math.max(0, rgba[p + 1] + current[e + 1]));
      const b = Math.min(255, Math.max(0, rgba[p + 2] + current[e + 2]));
      nearestEntries(index, r, g, b, 1, bestIdx, bestDist);
      const entry = bestIdx[0] * 3;
      const errors = [r - palette[entry], g - palette[entry + 1], b - palette[entry + 2]];
      out[p] = palette[entry];
      out[p + 1] = palette[entry + 1];
      out[p + 2] = palette[entry + 2];
      out[p + 3] = rgba[p + 3];
      for (let c = 0; c < 3; c++) {
        const error = errors[c];
        current[e + 3 + c] += (error * 7) / 16;
        next[e - 3 + c] += (error * 3) / 16;
        next[e + c] += (error * 5) / 16;
        next[e + 3 + c] += error / 16;
      }
    }
    [current, next] = [next, current];
  }
}
