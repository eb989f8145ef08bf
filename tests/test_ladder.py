"""POST /api/palettes: the slider's ladder of palettes, and the per-photo fit cache behind it."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from app import background_fits, create_app, histograms, pipeline, quantize
from app.cache import PhotoCache
from app.fits import FitCache, fit_nbytes


def photo_bytes(shape=(40, 60), seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    return buffer.getvalue()


def post(client, path: str, image: bytes | None, fields: dict, **headers):
    """multipart built in memory: the test client would spool a big body to a temp file it never closes."""
    form = MultiDict()
    for key, value in fields.items():
        for one in value if isinstance(value, list) else [value]:
            form.add(key, one)
    if image is not None:
        form.add("image", FileStorage(io.BytesIO(image), "photo.png"))
    boundary, body = encode_multipart(form)
    return client.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}", headers=headers)


def ladder(client, image: bytes | None = None, **fields):
    return post(client, "/api/palettes", image, fields)


def quantize_json(client, image: bytes | None = None, **fields):
    return post(client, "/api/quantize", image, fields, Accept="application/json")


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    return response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    ("name", "color_space", "ks"),
    [("kodim23.png", "rgb", (2, 3, 16, 64)), ("flower.jpg", "oklab", (2, 9, 33)), ("china.jpg", "lab", (4, 24)),
     ("cam_xiaomi_mi9t_12mp_orient6.jpg", "rgb", (5, 40))],
)
def test_each_palette_is_exactly_what_quantize_answers(corpus, name, color_space, ks):
    data = (corpus / name).read_bytes()
    # Two apps: the quantize answers are found afresh, never read from the ladder's cache.
    ladder_client = create_app({"TESTING": True}).test_client()
    quantize_client = create_app({"TESTING": True}).test_client()
    answer = ladder(ladder_client, data, ks=",".join(map(str, ks)), color_space=color_space).get_json()
    assert [p["k"] for p in answer["palettes"]] == list(ks)
    with Image.open(corpus / name) as image:
        upright = image.size if image.getexif().get(0x0112, 1) < 5 else image.size[::-1]
    assert (answer["width"], answer["height"]) == upright
    for entry in answer["palettes"]:
        direct = quantize_json(quantize_client, data, k=str(entry["k"]), color_space=color_space,
                               dither="none", method="kmeans", max_side="64").get_json()
        expected = {key: direct[key] for key in ("colors", "palette", "psnr", "delta_e")}
        assert {key: entry[key] for key in expected} == expected, f"k = {entry['k']}"


def test_palettes_to_draw_with_leave_delta_e_for_later_and_then_give_the_figure_quantize_gives(app, client, corpus):
    data = (corpus / "kodim23.png").read_bytes()
    drawn = ladder(client, data, ks="3,9,40", delta_e="0").get_json()
    assert [p["delta_e"] for p in drawn["palettes"]] == [None, None, None]
    assert all(p["psnr"] > 15 for p in drawn["palettes"])
    fits = app.extensions["photo_cache"].get(drawn["image_id"]).prepared.fits
    assert not any(fits.get((k, "rgb")).delta_e_measured for k in (3, 9, 40))
    measured = ladder(client, image_id=drawn["image_id"], ks="9,40").get_json()
    assert measured["timings"]["found"] == 0 and measured["timings"]["cached"] == 2
    assert [p["palette"] for p in measured["palettes"]] == [p["palette"] for p in drawn["palettes"][1:]]
    # A fresh app measures with the palette: the same figures, to the last digit.
    fresh = create_app({"TESTING": True}).test_client()
    for entry in measured["palettes"]:
        direct = quantize_json(fresh, data, k=str(entry["k"]), max_side="64").get_json()
        assert (entry["delta_e"], entry["psnr"]) == (direct["delta_e"], direct["psnr"])
    # Measured once, it is answered even to those who did not ask; k = 3 was never measured.
    again = ladder(client, image_id=drawn["image_id"], ks="3,9", delta_e="0").get_json()
    assert [p["delta_e"] for p in again["palettes"]] == [None, measured["palettes"][0]["delta_e"]]
    # By image_id, /api/quantize measures the figure of a fit the ladder left unmeasured.
    direct = quantize_json(fresh, data, k="3", max_side="64").get_json()
    assert quantize_json(client, image_id=drawn["image_id"], k="3", max_side="64").get_json()["delta_e"] == direct["delta_e"]
    # The perceptual spaces measure it anyway, to choose their palette.
    lab = ladder(client, image_id=drawn["image_id"], ks="4", color_space="lab", delta_e="0").get_json()
    assert lab["palettes"][0]["delta_e"] > 0


def test_quantize_by_image_id_takes_the_palette_the_ladder_found(app, client):
    answer = ladder(client, photo_bytes(), ks="2-6", color_space="lab").get_json()
    assert answer["timings"]["found"] == 5 and answer["timings"]["cached"] == 0
    prepared = app.extensions["photo_cache"].get(answer["image_id"]).prepared
    fit = prepared.fits.get((4, "lab"))
    assert fit is not None
    direct = quantize_json(client, image_id=answer["image_id"], k="4", color_space="lab").get_json()
    assert direct["palette"] == answer["palettes"][2]["palette"] == pipeline.fit_summary(fit)["palette"]
    again = ladder(client, image_id=answer["image_id"], ks="4,5,7", color_space="lab").get_json()
    assert again["timings"] == {**again["timings"], "found": 1, "cached": 2}
    assert again["palettes"][:2] == answer["palettes"][2:4]


def test_the_cache_counts_the_fits_in_the_photos_bytes(app, client):
    cache = app.extensions["photo_cache"]
    token = ladder(client, photo_bytes(seed=1), ks="2").get_json()["image_id"]
    prepared = cache.get(token).prepared
    before, fits_before = cache.nbytes, prepared.fits.nbytes
    ladder(client, image_id=token, ks="3-40")
    assert len(prepared.fits) == 39 and prepared.fits.nbytes > fits_before
    assert cache.nbytes == before + prepared.fits.nbytes - fits_before == prepared.nbytes


def test_without_ks_the_palette_of_the_default_k(client):
    answer = ladder(client, photo_bytes()).get_json()
    assert [p["k"] for p in answer["palettes"]] == [16]


def test_ks_takes_lists_and_ranges_of_at_most_64(client):
    answer = ladder(client, photo_bytes(), ks="2-4, 10,12-13").get_json()
    assert [p["k"] for p in answer["palettes"]] == [2, 3, 4, 10, 12, 13]
    assert ladder(client, photo_bytes(), ks="2-65").status_code == 200  # 64 values
    assert "1 to 64 values, got 65" in error_of(ladder(client, photo_bytes(), ks="2-66"), 400)


@pytest.mark.parametrize(
    ("fields", "named"),
    [({"ks": ""}, "ks"), ({"ks": "1"}, "between 2 and 256"), ({"ks": "2,300"}, "got 300"),
     ({"ks": "9-3"}, "upward"), ({"ks": "2,x"}, "'x'"), ({"ks": "3,2-4"}, "3 twice"),
     ({"ks": "2", "color_space": "hsv"}, "color_space"), ({"ks": ["2", "3"]}, "ks once"),
     ({"ks": "2", "delta_e": "yes"}, "delta_e")],
)
def test_bad_fields_are_400s_naming_them_before_any_decoding(client, fields, named):
    # Not an image: a field checked after decoding would answer 415 instead.
    response = ladder(client, b"not an image at all", **fields)
    assert named in error_of(response, 400)


def test_an_unknown_image_id_is_410(client):
    assert error_of(ladder(client, image_id="nope", ks="2"), 410)


def test_fit_cache_is_bounded_by_count_and_bytes():
    hist = histograms.histogram(histograms.pack(np.random.default_rng(2).integers(0, 256, (50, 50, 3), dtype=np.uint8)))
    fits = [quantize.find_palette(hist, k) for k in (2, 3, 4)]
    by_count = FitCache(max_fits=2)
    for k, fit in zip((2, 3, 4), fits):
        by_count.put((k, "rgb"), fit)
    assert len(by_count) == 2 and by_count.get((2, "rgb")) is None and by_count.get((4, "rgb")) is fits[2]
    by_bytes = FitCache(max_bytes=fit_nbytes(fits[0]) + fit_nbytes(fits[1]))
    for k, fit in zip((2, 3, 4), fits):
        by_bytes.put((k, "rgb"), fit)
    assert by_bytes.nbytes <= by_bytes.max_bytes and by_bytes.get((4, "rgb")) is fits[2]
    made = []
    fit, cached = by_bytes.get_or_make((9, "lab"), lambda: made.append(1) or fits[0])
    assert fit is fits[0] and not cached and made == [1]
    assert by_bytes.get_or_make((9, "lab"), lambda: made.append(1) or fits[0]) == (fits[0], True) and made == [1]


def test_photo_cache_recount_makes_room_or_drops_what_no_longer_fits():
    cache = PhotoCache(100, 60)
    old, grows = cache.put("old", 40), cache.put("grows", 40)
    cache.recount(grows, 70)
    assert cache.get(old) is None and cache.get(grows) == "grows" and cache.nbytes == 70
    cache.recount(grows, 101)
    assert cache.get(grows) is None and cache.nbytes == 0
    cache.recount(None, 5)  # the cache was off for that photo: nothing to count
    cache.recount("gone", 5)
    assert cache.nbytes == 0


def test_a_background_batch_yields_to_a_request_someone_waits_for(app, client):
    token = ladder(client, photo_bytes(seed=3), ks="2").get_json()["image_id"]
    prepared = app.extensions["photo_cache"].get(token).prepared
    with prepared.fits.foreground((9, "rgb")):  # as a foreground request running on another thread would
        answer = ladder(client, image_id=token, ks="2-6", background="1").get_json()
        assert [p["k"] for p in answer["palettes"]] == [] and answer["unfinished"] == [2, 3, 4, 5, 6]
        waited_for = ladder(client, image_id=token, ks="3-6").get_json()
    assert [p["k"] for p in waited_for["palettes"]] == [3, 4, 5, 6] and waited_for["unfinished"] == []
    assert not prepared.fits.busy  # the waiting is over, and no k-means runs
    assert "background" in error_of(ladder(client, image_id=token, ks="2", background="yes"), 400)


def test_a_background_batch_starts_the_palette_someone_already_waits_for(app, client):
    token = ladder(client, photo_bytes(seed=7), ks="2").get_json()["image_id"]
    prepared = app.extensions["photo_cache"].get(token).prepared
    with prepared.fits.foreground((3, "lab")):  # asked for as the batch that fetches it ahead arrives
        answer = ladder(client, image_id=token, ks="3-5", color_space="lab", background="1").get_json()
    assert [p["k"] for p in answer["palettes"]] == [3] and answer["unfinished"] == [4, 5]
    assert prepared.fits.get((3, "lab")) is not None


@dataclass
class PausedBatch:
    """A background batch for ks 3-9 whose first k-means has begun and waits (holding the photo's lock)
    until go_on is set; its answer lands in answers. real is the engine's own find_palette."""

    token: str
    fits: object
    go_on: threading.Event
    thread: threading.Thread
    answers: list
    real: object


def paused_background_batch(app, client, monkeypatch, seed: int, color_space: str = "rgb") -> PausedBatch:
    token = ladder(client, photo_bytes(seed=seed), ks="2").get_json()["image_id"]
    fits = app.extensions["photo_cache"].get(token).prepared.fits
    started, go_on = threading.Event(), threading.Event()
    real = quantize.find_palette

    def find_palette_after_a_pause(*args, **kwargs):
        started.set()  # the background k-means has begun and holds the photo's lock...
        go_on.wait(10)  # ...when a request someone waits for arrives
        return real(*args, **kwargs)

    monkeypatch.setattr(quantize, "find_palette", find_palette_after_a_pause)
    answers = []
    batch = threading.Thread(target=lambda: answers.append(
        ladder(app.test_client(), image_id=token, ks="3-9", color_space=color_space, background="1").get_json()))
    batch.start()
    assert started.wait(10)
    return PausedBatch(token, fits, go_on, batch, answers, real)


def test_a_background_k_in_progress_is_abandoned_when_someone_waits(app, client, monkeypatch):
    paused = paused_background_batch(app, client, monkeypatch, seed=4)
    token, fits, answers, real = paused.token, paused.fits, paused.answers, paused.real
    with fits.foreground((12, "rgb")):
        paused.go_on.set()
        paused.thread.join(10)
    assert answers[0]["palettes"] == [] and answers[0]["unfinished"] == list(range(3, 10))
    assert fits.get((3, "rgb")) is None  # abandoned, not kept half-made
    monkeypatch.setattr(quantize, "find_palette", real)
    assert [p["k"] for p in ladder(client, image_id=token, ks="3-4", background="1").get_json()["palettes"]] == [3, 4]


def test_someone_waiting_for_the_background_k_in_progress_lets_it_finish(app, client, monkeypatch):
    paused = paused_background_batch(app, client, monkeypatch, seed=6, color_space="oklab")
    fits, answers = paused.fits, paused.answers
    with fits.foreground((3, "oklab")):  # the very palette the batch is finding: not thrown away
        paused.go_on.set()
        paused.thread.join(10)
    assert [p["k"] for p in answers[0]["palettes"]] == [3] and answers[0]["unfinished"] == list(range(4, 10))
    assert fits.get((3, "oklab")) is not None


def test_a_palette_already_found_does_not_interrupt_the_background(app, client, monkeypatch):
    token = ladder(client, photo_bytes(seed=5), ks="2-3").get_json()["image_id"]
    fits = app.extensions["photo_cache"].get(token).prepared.fits
    marked = []
    foreground = fits.foreground
    monkeypatch.setattr(fits, "foreground", lambda key: marked.append(key) or foreground(key))
    assert ladder(client, image_id=token, ks="2-3").get_json()["timings"]["cached"] == 2
    assert marked == []  # answered from the cache: no background k-means was asked to stop
    ladder(client, image_id=token, ks="4")
    assert marked == [(4, "rgb")]


def hex_set(entry) -> set[str]:
    return {color["hex"] for color in entry["palette"]}


def test_early_answers_the_background_fits_palette_once_chosen_and_its_figures_follow(app, client, monkeypatch):
    token = ladder(client, photo_bytes(shape=(60, 80), seed=8), ks="2").get_json()["image_id"]
    fits = app.extensions["photo_cache"].get(token).prepared.fits
    chosen_said, go_on, calls = threading.Event(), threading.Event(), []
    real = quantize.find_palette

    def find_palette_pausing_once_chosen(*args, chosen=None, **kwargs):
        calls.append(args[1:3])

        def said(palette):
            chosen(palette)
            chosen_said.set()
            go_on.wait(10)  # the figures are still being made when someone asks early

        return real(*args, chosen=said if chosen else None, **kwargs)

    monkeypatch.setattr(quantize, "find_palette", find_palette_pausing_once_chosen)
    expected, real_expect = [], fits.expect
    monkeypatch.setattr(fits, "expect", lambda key: expected.append(real_expect(key)) or expected[-1])
    answers = []
    batch = threading.Thread(target=lambda: answers.append(
        ladder(app.test_client(), image_id=token, ks="5", color_space="lab", background="1").get_json()))
    batch.start()
    assert chosen_said.wait(10)
    early = ladder(client, image_id=token, ks="5", color_space="lab", early="1", delta_e="0").get_json()
    go_on.set()
    batch.join(10)
    (entry,), (full,) = early["palettes"], answers[0]["palettes"]
    assert entry["figures"] is False and entry["psnr"] is None and entry["delta_e"] is None
    assert all(color["share"] is None for color in entry["palette"]) and entry["colors"] == len(entry["palette"])
    assert hex_set(entry) == hex_set(full) and full["colors"] == entry["colors"] and "figures" not in full
    assert expected == [False] and calls == [(5, "lab")]  # the early answer began no fit of its own
    again = ladder(client, image_id=token, ks="5", color_space="lab", early="1").get_json()["palettes"][0]
    assert again == full  # the fit has landed: early or not, the full answer
    assert calls == [(5, "lab")] and not fits.busy


def test_early_without_a_fit_running_begins_one_that_says_its_palette_and_keeps_the_fit(app, client, monkeypatch):
    cache = app.extensions["photo_cache"]
    token = ladder(client, photo_bytes(shape=(60, 80), seed=9), ks="2").get_json()["image_id"]
    prepared = cache.get(token).prepared
    fits = prepared.fits
    go_on, calls = threading.Event(), []
    real = quantize.find_palette

    def find_palette_pausing_once_chosen(*args, chosen=None, **kwargs):
        calls.append(args[1:3])
        return real(*args, chosen=lambda palette: (chosen(palette), go_on.wait(10)), **kwargs)

    monkeypatch.setattr(quantize, "find_palette", find_palette_pausing_once_chosen)
    entry = ladder(client, image_id=token, ks="5", color_space="lab", early="1").get_json()["palettes"][0]
    assert entry["figures"] is False and entry["psnr"] is None  # answered while its fit waits after choosing it
    (early_fit,) = [thread for thread in threading.enumerate() if thread.name == "kmeans-early"]
    assert not fits.expect((6, "lab"))  # one such fit per photo at a time
    go_on.set()
    early_fit.join(10)
    assert fits.get((5, "lab")) is not None and fits.early_palette((5, "lab")) is None  # kept; nothing waits
    assert cache.nbytes == prepared.nbytes  # and counted in the photo's cache entry
    full = ladder(client, image_id=token, ks="5", color_space="lab", early="1").get_json()["palettes"][0]
    assert "figures" not in full and hex_set(full) == hex_set(entry) and calls == [(5, "lab")]
    assert fits.expect((6, "lab")) and not fits.expect((7, "lab"))  # the next one may begin, ended by unexpect
    fits.unexpect((6, "lab"))
    rgb = ladder(client, image_id=token, ks="4", color_space="rgb", early="1").get_json()["palettes"][0]
    assert "figures" not in rgb and rgb["psnr"] is not None and calls[-1] == (4, "rgb")  # rgb never comes early
    assert "early" in error_of(ladder(client, image_id=token, ks="2", early="yes"), 400)


def test_an_early_waiter_whose_background_fit_is_abandoned_gets_the_full_answer(app, client, monkeypatch):
    paused = paused_background_batch(app, client, monkeypatch, seed=10, color_space="lab")
    fits, answers = paused.fits, paused.answers
    early = []
    waiter = threading.Thread(target=lambda: early.append(
        ladder(app.test_client(), image_id=paused.token, ks="3", color_space="lab", early="1").get_json()))
    waiter.start()
    with fits.foreground((12, "lab")):  # someone waits for another palette: the batch's k is abandoned
        paused.go_on.set()
        paused.thread.join(10)
        waiter.join(10)
    assert not waiter.is_alive() and answers[0]["palettes"] == []
    entry = early[0]["palettes"][0]
    assert "figures" not in entry and entry["psnr"] is not None  # found by the waiter itself, whole
    assert hex_set(entry) == {"#%02x%02x%02x" % tuple(row) for row in fits.get((3, "lab")).palette}


def made_fit(colors: np.ndarray) -> pipeline.summary.PaletteFit:
    hist = histograms.histogram(histograms.pack(colors))
    return quantize.find_palette(hist, 2, "lab")


@pytest.mark.parametrize("ending", ["lands", "fails"])
def test_fit_cache_tells_early_waiters_the_chosen_palette_and_lets_none_hang(ending):
    fits, key = FitCache(), (2, "lab")
    fit = made_fit(np.array([[0, 0, 0], [10, 10, 10], [250, 250, 250], [240, 240, 240]], dtype=np.uint8))
    began, chosen_said, go_on, heard = threading.Event(), threading.Event(), threading.Event(), []

    def make(chosen):
        began.set()
        if ending == "lands":
            chosen(fit.palette[::-1])
            chosen_said.set()
        go_on.wait(10)
        if ending == "fails":
            raise RuntimeError("the fit failed")
        return fit

    def run():
        try:
            fits.get_or_make(key, make, announce=True)
        except RuntimeError:
            pass

    maker = threading.Thread(target=run)
    maker.start()
    assert began.wait(10)  # the fit runs: a waiter waits for it
    waiter = threading.Thread(target=lambda: heard.append(fits.early_palette(key)))
    waiter.start()
    if ending == "fails":
        waiter.join(0.2)
        assert waiter.is_alive() and not heard  # still waiting while the fit runs
    if ending == "lands":
        assert chosen_said.wait(10)
        waiter.join(10)
        assert {tuple(row) for row in heard[0]} == {tuple(row) for row in fit.palette}
    go_on.set()
    maker.join(10)
    waiter.join(10)
    assert not waiter.is_alive()
    if ending == "fails":
        assert heard == [None] and fits.get(key) is None
    assert fits.early_palette(key) is None and not fits._chosen and not fits._announcing  # nothing kept after
    assert fits.early_palette((3, "lab")) is None  # no fit of it runs: the caller finds it as usual


@pytest.mark.parametrize(("name", "color_space", "k"),
                         [("cam_olympus_ep3_12mp.jpg", "lab", 16), ("kodim23.png", "oklab", 7), ("flower.jpg", "lab", 40)])
def test_a_fit_that_says_its_palette_early_is_the_fit_made_without_saying_it(corpus, name, color_space, k):
    hist = pipeline.prepare((corpus / name).read_bytes(), 50_000_000).hist
    said = []
    told = quantize.find_palette(hist, k, color_space, chosen=said.append)
    plain = quantize.find_palette(hist, k, color_space)
    assert len(said) == 1 and {tuple(row) for row in said[0]} == {tuple(row) for row in told.palette}
    assert np.array_equal(told.palette, plain.palette) and np.array_equal(told.labels, plain.labels)
    assert np.array_equal(told.shares, plain.shares) and (told.psnr, told.delta_e) == (plain.psnr, plain.delta_e)


def test_an_early_fit_begins_only_within_the_memory_budget(app, client):
    token = ladder(client, photo_bytes(seed=11), ks="2").get_json()["image_id"]
    prepared = app.extensions["photo_cache"].get(token).prepared
    memory = app.extensions["memory_budget"]
    free = memory.limit - memory.ledger.used()
    assert memory.try_hold(free)  # every byte left: no room for a fit beside the request
    try:
        background_fits.find_early(prepared.hist, prepared.fits, (3, "lab"), memory, count=lambda: None)
        assert not any(thread.name == "kmeans-early" for thread in threading.enumerate())
        assert prepared.fits.early_palette((3, "lab")) is None  # nothing expected: no waiter would wait
    finally:
        memory.release(free)
    assert prepared.fits.expect((3, "lab"))  # and nothing was left counted as expected
    prepared.fits.unexpect((3, "lab"))


def test_early_fits_are_bounded_over_every_photo(app, client, monkeypatch):
    token = ladder(client, photo_bytes(seed=12), ks="2").get_json()["image_id"]
    prepared = app.extensions["photo_cache"].get(token).prepared
    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(background_fits, "_early_fits", slots)
    assert slots.acquire(blocking=False)  # another photo's early fit runs
    background_fits.find_early(prepared.hist, prepared.fits, (3, "lab"), app.extensions["memory_budget"],
                               count=lambda: None)
    assert not any(thread.name == "kmeans-early" for thread in threading.enumerate())
    assert prepared.fits.early_palette((3, "lab")) is None  # nothing begun: the waiter finds it itself
    slots.release()
    assert prepared.fits.expect((3, "lab"))  # nothing was left counted as expected
    prepared.fits.unexpect((3, "lab"))
