"""The last step of cleaning: the cleaned index map, and the figures measured on it meanwhile.

Every region takes its final entry, renumbered by the refit
(app/palette_refit.py): the map is made from the runs, and the pixels that
moved are those of the regions whose entry changed, with the specks filled
before labelling. Their (color, entry) pairs are made in the pool while the
figures are measured, or at a strong setting counted as the map is made
(app/cleaned_figures.py).
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from app import histograms, parallel, summary
from app.cleaned_figures import MovedPairs, counted_pairs, mean_delta_e, psnr_from_sums
from app.palette_refit import Refit
from app.region_sums import Pixels
from app.regions import Regions
from app.specks import Specks


@dataclass
class MovablePixels:
    """What was read of the pixels of the regions that can move: the pixels themselves at a weak setting,
    only the sums of their colors at a strong one (the moved pixels are then read from the cleaned map)."""

    pixels: Pixels | None  # let go of once the moved pixels are picked
    sums: np.ndarray  # (regions, 3) float64


def cleaned_map_and_figures(indices: np.ndarray, alpha: np.ndarray | None, regions: Regions, final_index: np.ndarray,
                            moved_region: np.ndarray, specks: Specks, movable: MovablePixels, refit: Refit,
                            keys: np.ndarray, hist: histograms.Histogram, color_labels: np.ndarray, strong: bool
                            ) -> tuple[np.ndarray, summary.PaletteFit]:
    """The cleaned (H, W) map and its figures. `indices` is the map that was labelled, `final_index` each
    region's entry before renumbering, `moved_region` whether it changed."""
    # Every region takes its final entry, renumbered: the map is made from the runs, and the moved pixels
    # are those of the regions whose entry changed: in the pool while the figures are measured, or at a strong
    # setting counted as the map is made, half of the runs on each core.
    renumber = refit.renumber
    run_first, run_lengths = regions.run_first, regions.run_lengths
    runs = len(run_first)
    cleaned = np.empty(indices.shape, dtype=np.uint8)
    flat = cleaned.reshape(-1)

    def entry_of_run() -> np.ndarray:
        return renumber[final_index][regions.run_region]  # renumbered a region at a time: fewer, and bytes

    def fill(entries: np.ndarray, first: int, last: int) -> tuple[int, int]:
        """Runs first..last-1 of the cleaned map take their `entries`; where those runs lie in it."""
        begin, end = placed(first, last)
        flat[begin:end] = np.repeat(entries[first:last], run_lengths[first:last])
        return begin, end

    def placed(first: int, last: int) -> tuple[int, int]:
        return tuple(int(run_first[run]) if run < runs else flat.size for run in (first, last))

    # The specks moved too: those in a region that moved are among its pixels, the others are added.
    speck_region = regions.run_region[np.searchsorted(regions.run_first, specks.position, side="right") - 1]
    still = ~moved_region[speck_region]
    specks_still, entry_of_specks_still = specks.position[still], renumber[final_index[speck_region[still]]]

    def cleaned_map_and_counted_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
        # Each core makes the map of half of the runs and counts the pairs of their moved pixels meanwhile.
        entries, moved_run = entry_of_run(), moved_region[regions.run_region]
        # Under 128 entries a run's entry and whether it moved go in one byte, the top bit: one repeat a pixel.
        tagged = entries | (moved_run.view(np.uint8) << 7) if len(refit.palette) <= _TAGGED_ENTRIES else None

        def part(first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
            if tagged is None:
                begin, end = fill(entries, first, last)
                listed = np.repeat(moved_run[first:last], run_lengths[first:last])
            else:
                begin, end = placed(first, last)
                both = np.repeat(tagged[first:last], run_lengths[first:last])
                np.bitwise_and(both, 0x7F, out=flat[begin:end])
                listed = both > 0x7F
            # A mask picks faster than compress(); the moved pixels' entries are read from the map just made,
            # and the pairs are made in the picked keys' place.
            return counted_pairs(keys[begin:end][listed], flat[begin:end][listed], keys_owned=True)

        counted = parallel.map_ranges(runs, part)
        counted.append(counted_pairs(keys[specks_still], entry_of_specks_still))
        restore_transparent()
        return counted

    def moved_pairs() -> MovedPairs:
        pixels, movable.pixels = movable.pixels, None  # let go of every small pixel once the moved ones are picked
        # Each region's new entry, or 256 when it did not move: one look-up a pixel.
        entry_of_region = np.where(moved_region, renumber[final_index].astype(np.uint16), 256)
        entry = entry_of_region[pixels.region]
        moving = entry < 256
        keys_moved = np.concatenate([np.compress(moving, pixels.keys), keys[specks_still]])
        del pixels
        return MovedPairs.of(keys_moved, np.concatenate([np.compress(moving, entry), entry_of_specks_still]), hist)

    def figures(moved: MovedPairs | Future) -> summary.PaletteFit:
        return summary.PaletteFit(
            palette=refit.palette,
            shares=refit.counts / refit.counts.sum(),
            labels=np.zeros(0, np.uint8),
            psnr=psnr_from_sums(hist, refit.palette, refit.sums, refit.counts),
            delta_e=mean_delta_e(hist, refit.new_of_old[color_labels], refit.palette, moved),
        )

    def cleaned_map() -> None:
        fill(entry_of_run(), 0, runs)
        restore_transparent()

    def restore_transparent() -> None:
        if not regions.visible.all():  # transparent pixels keep their own entry, renumbered
            clear = alpha == 0
            cleaned[clear] = renumber[indices[clear]]

    if strong:  # most pixels moved: their pairs are counted as the map is made, on both cores, then combined in
        # the pool while the figures measure every color at its usual entry
        counted = cleaned_map_and_counted_pairs()
        with parallel.in_background(lambda: MovedPairs.from_counted(counted, hist)) as pairs_soon:
            fit = figures(pairs_soon)
    else:
        with parallel.in_background(moved_pairs) as pairs_soon:
            # The figures here: CIEDE2000 uses the pool itself; the usual entries are measured meanwhile.
            fit, _ = parallel.side_by_side(lambda: figures(pairs_soon), cleaned_map)
    return cleaned, fit


# Up to this many entries, a run's entry and whether it moved share one byte as the strong setting's map is made.
_TAGGED_ENTRIES = 128
