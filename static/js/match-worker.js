// The preview worker's second thread for CIELAB and OKLab renders (preview-worker.js): CIEDE2000 on three
// candidates of every distinct color is most of such a render (about 100 ms at 12 MP), and the server is
// idle by the time its palette is here, so this thread assigns the last part of the photo's distinct colors
// while the preview worker assigns the first. Each color's entry is the one assign() gives it alone.

import { assign, labLattice, labOfKeys } from "./colormatch.js";

let part = null; // {id, keys, lab, lattice}: the photo's colors this thread assigns

self.onmessage = ({ data }) => {
  if (data.type === "colors") {
    // Their CIELAB at once, while the page waits for a perceptual palette, and the matching compiled.
    const lab = labOfKeys(data.keys);
    part = { id: data.id, keys: data.keys, lab, lattice: labLattice(lab) };
    const count = Math.min(part.keys.length, 4096);
    assign(part.keys.subarray(0, count), lab.subarray(0, 3 * count), data.warmPalette, "lab",
      part.lattice.subarray(0, 3 * count));
  } else if (data.type === "assign") {
    if (part?.id !== data.id) {
      self.postMessage({ type: "labels", seq: data.seq, labels: null });
      return;
    }
    const labels = assign(part.keys, part.lab, data.palette, data.colorSpace, part.lattice);
    self.postMessage({ type: "labels", seq: data.seq, labels }, [labels.buffer]);
  }
};
