"""app.ahead and clustering.rgb_ahead: the slider's k-independent work made ahead, the palettes unchanged."""

import numpy as np

from app import ahead, binning, clustering, quantize
from app.fits import FitCache
from testsupport.engine import hist_of, noisy_image

KS = (17, 3, 40, 24, 64, 9)  # coarse steps only, several starts, MiniBatchKMeans, one start's chain beyond 32


def photo_hist():
    hist = hist_of(noisy_image(seed=5, shape=(160, 200)))
    assert hist.unique_colors > binning.EXACT_POINTS_LIMIT  # fine bins, not the colors themselves
    return hist


def test_palettes_made_after_the_work_ahead_are_those_made_without_it():
    plain = {k: quantize.find_palette(photo_hist(), k) for k in KS}
    hist = photo_hist()
    quantize.find_palette(hist, 16)  # the first result
    steps = clustering.rgb_ahead(hist, 64, around=16)
    for _ in range(25):  # stopped part of the way, as when someone asks for a palette
        next(steps)
    for k in KS:
        fit = quantize.find_palette(hist, k)
        np.testing.assert_array_equal(fit.palette, plain[k].palette)
        np.testing.assert_array_equal(fit.labels, plain[k].labels)
        for _ in steps:  # and the rest of the way after the first of them
            pass


def test_the_work_ahead_is_what_the_palettes_read():
    hist = photo_hist()
    quantize.find_palette(hist, 16)
    for _ in clustering.rgb_ahead(hist, 64):
        pass
    made = set(hist._work)
    drawn = {key: len(chain._chosen) for key, chain in hist._work.items() if "seeds" in str(key)}
    for k in KS:
        quantize.find_palette(hist, k)
    assert set(hist._work) == made  # no fine bins nor chains made on first need any more
    assert {key: len(hist._work[key]._chosen) for key in drawn} == drawn  # nor a seed drawn


def test_make_ahead_waits_while_a_k_means_runs_on_the_photo_and_goes_on_after():
    hist = photo_hist()
    fits = FitCache()
    with fits.foreground((20, "rgb")):
        assert fits.busy
        ahead.make_ahead(hist, 64, 16, lambda: fits.busy)
        ahead._thread.submit(lambda: None).result()  # its one thread has run it
    assert not hist.reuse(("ahead", "rgb", 64), dict).get("done")
    assert not fits.busy
    ahead.make_ahead(hist, 64, 16, lambda: fits.busy)
    ahead._thread.submit(lambda: None).result()
    assert hist.reuse(("ahead", "rgb", 64), dict)["done"]
