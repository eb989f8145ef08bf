// The preview worker's second thread for CIELAB and OKLab renders (preview-worker.js): CIEDE2000 on three
// candidates of every distinct color is most of such a render (about 100 ms at 12 MP), and the server is
// idle by the time its palette is here, so this thread assigns the last part of the photo's distinct colors
// while the preview worker assigns the first. Each color's entry is the one assign() gives it alone.

import { assign, labLattice, labOfKeys, warmAssign } from "./colormatch.js";

let part = null; // {id, keys, lab, lattice}: the photo's colors this thread assigns

self.onmessage = ({ data }) => {
  if (data.type === "colors") {
    // Their CIELAB at once, while the page waits for a perceptual palette, then the matching compiled on a few
    // thousand of them at a time, a task each (as the preview worker's warmUp).
    const lab = labOfKeys(data.keys);
    const mine = part = { id: data.id, keys: data.keys, lab, lattice: labLattice(lab), asked: false };
    const count = Math.min(mine.keys.length, data.warmColors);
    const warm = (round) => {
      if (part !== mine || mine.asked || round === data.warmPalettes.length) return;
      warmAssign(mine.keys, lab, mine.lattice, data.warmPalettes[round], "lab", round, count);
      setTimeout(() => warm(round + 1), 0);
    };
    warm(0);
  } else if (data.type === "drop") { // the preview moved to another photo: its colors are let go
    part = null;
  } else if (data.type === "assign") {
    if (part?.id !== data.id) {
      self.postMessage({ type: "labels", seq: data.seq, labels: null });
      return;
    }
    part.asked = true;
    const labels = assign(part.keys, part.lab, data.palette, data.colorSpace, part.lattice);
    self.postMessage({ type: "labels", seq: data.seq, labels }, [labels.buffer]);
  }
};
