"""The merge rounds: exact smallest-first rounds, rounds in two halves side by side, and chain halving."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import cleaning, histograms, merging
from testsupport.cleaning_maps import images, kmeans_map, region_sizes


def test_a_long_chain_of_growing_specks_ends_in_few_rounds_and_in_one_region():
    # Stripes 1, 2, 3, ... pixels wide, alternating colors: every stripe is small.
    widths = np.arange(1, 40)
    pattern = np.repeat(np.arange(len(widths)) % 2, widths)
    indices = np.tile(pattern, (1, 1)).astype(np.uint8)
    pixels = np.where(indices[..., None] == 0, 10, 240).astype(np.uint8).repeat(3, axis=2)
    cleaned = cleaning.clean(indices, np.array([[10] * 3, [240] * 3], np.uint8), pixels, None, indices.size + 1)
    assert cleaned.regions_after == 1 and len(cleaned.result.palette) == 1


@settings(max_examples=40, deadline=None, database=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
@given(pixels=images(), k=st.integers(2, 12), min_region=st.integers(2, 120), exact=st.booleans())
def test_rounds_worked_in_two_halves_side_by_side_merge_as_in_one_piece(pixels, k, min_region, exact):
    fit, indices, hist = kmeans_map(pixels, k)
    exact_rounds, halves_entries = merging.EXACT_ROUNDS, merging._HALVES_ENTRIES
    merging.EXACT_ROUNDS = exact_rounds if exact else 0
    try:
        whole = cleaning.clean(indices, fit.palette, pixels, None, min_region, hist, histograms.pack(pixels), fit.labels)
        merging._HALVES_ENTRIES = 1  # every round in halves, as the first ones at 12 MP
        halves = cleaning.clean(indices, fit.palette, pixels, None, min_region, hist, histograms.pack(pixels), fit.labels)
    finally:
        merging.EXACT_ROUNDS, merging._HALVES_ENTRIES = exact_rounds, halves_entries
    assert np.array_equal(halves.indices, whole.indices)
    assert np.array_equal(halves.result.palette, whole.result.palette) and halves.regions_after == whole.regions_after


@settings(max_examples=60, deadline=None, database=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
@given(pixels=images(), k=st.integers(2, 12), min_region=st.integers(0, 450))
def test_the_chain_halving_rounds_keep_the_guarantee_too(pixels, k, min_region):
    fit, indices, hist = kmeans_map(pixels, k)
    exact_rounds = merging.EXACT_ROUNDS
    merging.EXACT_ROUNDS = 0  # every round by pointer trees, as after a long chain
    try:
        cleaned = cleaning.clean(indices, fit.palette, pixels, None, min_region)
    finally:
        merging.EXACT_ROUNDS = exact_rounds
    sizes = np.concatenate(region_sizes(cleaned.indices))
    assert len(sizes) == 1 if pixels.shape[0] * pixels.shape[1] < min_region else sizes.min() >= min_region
    assert cleaned.regions_after == len(sizes)
