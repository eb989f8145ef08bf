"""app.ahead and clustering.rgb_ahead: the slider's k-independent work made ahead, the palettes unchanged."""

import gc
import io
import threading
import weakref

import numpy as np
from PIL import Image

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


def test_the_work_ahead_keeps_no_more_than_the_sliders_palettes_would():
    # The photo cache counts a histogram's work per color (CACHED_BYTES_PER_COLOR), as the slider's palettes leave it.
    made_ahead, visited = photo_hist(), photo_hist()
    quantize.find_palette(made_ahead, 16)
    for _ in clustering.rgb_ahead(made_ahead, 64, around=16):
        pass
    for k in range(2, 65):
        quantize.find_palette(visited, k)
    assert set(made_ahead._work) <= set(visited._work)
    assert made_ahead.work_bytes <= visited.work_bytes


def test_make_ahead_waits_while_a_k_means_runs_on_the_photo_and_goes_on_after():
    hist = photo_hist()
    fits = FitCache()
    with fits.foreground((20, "rgb")):
        assert fits.busy
        ahead.make_ahead(hist, fits, 64, 16)
        ahead._thread.submit(lambda: None).result()  # its one thread has run it
    assert not hist.reuse(("ahead", "rgb", 64), dict).get("done")
    assert not fits.busy
    ahead.make_ahead(hist, fits, 64, 16)
    ahead._thread.submit(lambda: None).result()
    assert hist.reuse(("ahead", "rgb", 64), dict)["done"]


def test_one_photo_waits_for_the_work_ahead_at_most_and_none_is_kept_beyond_its_cache_entry():
    held = threading.Event()
    ahead._thread.submit(held.wait)  # the thread busy with another photo
    try:
        photos = [(hist_of(noisy_image(seed=seed, shape=(40, 60))), FitCache()) for seed in range(5)]
        for hist, fits in photos:
            ahead.make_ahead(hist, fits, 64, 16)
            assert ahead.waiting() == 1  # the latest asked takes the place of the one before
        gone = [weakref.ref(hist) for hist, _ in photos]
        del photos, hist, fits
        gc.collect()
        assert all(ref() is None for ref in gone)  # the photos left the cache: nothing here holds them
    finally:
        held.set()
    ahead._thread.submit(lambda: None).result()
    assert ahead.waiting() == 0


def started(client, image_id: str) -> bool:
    """Whether the photo's work ahead (k up to the slider's end) has begun: its state is kept with the histogram."""
    hist = client.application.extensions["photo_cache"].get(image_id).hist
    return ("ahead", "rgb", client.application.config["SLIDER_MAX_K"]) in hist._work


def palettes(client, **fields):
    return client.post("/api/palettes", data={"background": "0", "delta_e": "0", **fields})


def test_after_a_photos_first_palette_the_ladder_makes_the_k_beside_it_ahead_and_the_rest_after_a_move(
        client, monkeypatch):
    stepped, real_step = set(), clustering.rgb_ahead_step
    monkeypatch.setattr(clustering, "rgb_ahead_step", lambda hist, k, step, *rest: (
        stepped.add(k), real_step(hist, k, step, *rest))[1])
    image = io.BytesIO()
    Image.fromarray(noisy_image(seed=9, shape=(160, 200))).save(image, "PNG")
    first = client.post("/api/palettes", data={"ks": "16", "background": "0", "delta_e": "0",
                                               "image": (io.BytesIO(image.getvalue()), "photo.png")})
    image_id = first.get_json()["image_id"]
    first.close()
    ahead._thread.submit(lambda: None).result()
    assert stepped == {15, 16, 17}  # where a drag from the first result starts
    assert not client.application.extensions["photo_cache"].get(image_id).hist._work[
        ("ahead", "rgb", client.application.config["SLIDER_MAX_K"])].get("done")
    palettes(client, ks="16", color_space="lab", image_id=image_id).close()
    ahead._thread.submit(lambda: None).result()
    assert stepped == {15, 16, 17}
    palettes(client, ks="40", image_id=image_id).close()  # a move
    ahead._thread.submit(lambda: None).result()
    assert stepped == set(range(2, 65))


def test_a_photo_that_leaves_the_cache_while_its_work_ahead_runs_is_let_go_after_the_step_in_hand(monkeypatch):
    hist, fits = photo_hist(), FitCache()
    steps, in_third, dropped = [], threading.Event(), threading.Event()
    real_step = clustering.rgb_ahead_step

    def step(hist, k, number, seed=0):
        steps.append((k, number))
        if len(steps) == 3:
            in_third.set()
            dropped.wait(10)
        return real_step(hist, k, number, seed)

    monkeypatch.setattr(clustering, "rgb_ahead_step", step)
    ahead.make_ahead(hist, fits, 64, 16)
    assert in_third.wait(10)
    photo = weakref.ref(hist)
    del hist, fits  # the cache lets the photo go while the thread is in a step
    dropped.set()
    ahead._thread.submit(lambda: None).result()
    gc.collect()
    assert photo() is None
    assert len(steps) == 3  # no step after the one in hand


def test_palettes_found_while_the_work_ahead_runs_beside_them_are_those_made_without_it():
    plain = {k: quantize.find_palette(photo_hist(), k) for k in KS}
    for _ in range(3):
        hist = photo_hist()
        beside = threading.Thread(target=lambda: [None for _ in clustering.rgb_ahead(hist, 64, around=16)])
        beside.start()
        found = {k: quantize.find_palette(hist, k) for k in KS}
        beside.join(60)
        for k in KS:
            assert np.array_equal(found[k].palette, plain[k].palette), k
            assert np.array_equal(found[k].labels, plain[k].labels), k


def first_palette(client, **fields) -> str:
    image = io.BytesIO()
    Image.fromarray(noisy_image(seed=11, shape=(120, 160))).save(image, "PNG")
    first = client.post("/api/palettes", data={"ks": "16", "background": "0", "delta_e": "0", **fields,
                                               "image": (io.BytesIO(image.getvalue()), "photo.png")})
    assert first.status_code == 200
    image_id = first.get_json()["image_id"]
    first.close()  # the answer sent: call_on_close
    ahead._thread.submit(lambda: None).result()  # the worker's thread is done with what it was given
    return image_id


def cached_fits(client, image_id):
    return client.application.extensions["photo_cache"].get(image_id).fits


def test_after_a_photos_first_palette_the_palette_asked_next_is_begun_at_once_and_is_the_one_asked_for(client):
    image_id = first_palette(client, then="lab")
    found = cached_fits(client, image_id).get((16, "lab"))
    assert found is not None  # found by the worker's thread, before anyone asked for it
    asked = palettes(client, ks="16", color_space="lab", image_id=image_id).get_json()
    assert asked["timings"]["found"] == 0  # the request took it from the cache
    alone = quantize.find_palette(client.application.extensions["photo_cache"].get(image_id).hist, 16, "lab")
    np.testing.assert_array_equal(found.palette, alone.palette)
    np.testing.assert_array_equal(found.labels, alone.labels)


def test_without_then_or_without_room_in_the_budget_nothing_is_begun(client):
    assert cached_fits(client, first_palette(client)).get((16, "lab")) is None
    memory = client.application.extensions["memory_budget"]
    blocked, go_on = threading.Event(), threading.Event()
    ahead._thread.submit(lambda: (blocked.set(), go_on.wait(10)))  # the thread busy while the photo comes in
    blocked.wait(10)
    image = io.BytesIO()
    Image.fromarray(noisy_image(seed=12, shape=(120, 160))).save(image, "PNG")
    first = client.post("/api/palettes", data={"ks": "16", "background": "0", "delta_e": "0", "then": "lab",
                                               "image": (io.BytesIO(image.getvalue()), "photo.png")})
    image_id = first.get_json()["image_id"]
    first.close()
    free = memory.limit - memory.ledger.used()
    assert memory.try_hold(free)  # every byte left, once the request has let go of its own
    try:
        go_on.set()
        ahead._thread.submit(lambda: None).result()
    finally:
        memory.release(free)
    assert cached_fits(client, image_id).get((16, "lab")) is None


def test_then_is_checked_like_every_field(client):
    answer = client.post("/api/palettes", data={"ks": "16", "then": "hsv", "image_id": "0" * 64})
    assert answer.status_code == 400
    assert "then" in answer.get_json()["error"]["message"]
