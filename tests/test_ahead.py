"""app/ahead.py and FitCache.start_ahead: the first result's palette in CIELAB, begun beside it."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from app import budget, create_app, quantize
from app.fits import FitCache
from tests.test_ladder import ladder, photo_bytes, quantize_json

WAIT_S = 10  # a bound on every wait below, so that a broken schedule fails rather than hangs


class PausedAhead:
    """quantize.find_palette, with the fits ahead (lab) paused where they begin until go_on is set.

    The first result's own fit (rgb) and any other go straight through."""

    def __init__(self, monkeypatch):
        self.real = quantize.find_palette
        self.begun, self.go_on = threading.Event(), threading.Event()
        self.lab_calls = []  # (thread name, whether it had been told to give way when it went on)
        monkeypatch.setattr(quantize, "find_palette", self.find_palette)

    def find_palette(self, hist, k, color_space="rgb", *args, cancelled=None, **kwargs):
        if color_space == "lab":
            self.begun.set()
            assert self.go_on.wait(WAIT_S)
            self.lab_calls.append((threading.current_thread().name, bool(cancelled and cancelled())))
        return self.real(hist, k, color_space, *args, cancelled=cancelled, **kwargs)


def fits_of(app, token: str) -> FitCache:
    return app.extensions["photo_cache"].get(token).fits


def test_the_first_result_begins_its_lab_palette_which_is_then_answered_not_found_again(app, client):
    data = photo_bytes((60, 80), seed=11)
    first = ladder(client, data, ks="6", delta_e="0").get_json()
    fits = fits_of(app, first["image_id"])
    assert fits.wait_ahead(WAIT_S)
    assert fits.get((6, "lab")) is not None
    lab = ladder(client, image_id=first["image_id"], ks="6", color_space="lab", delta_e="0").get_json()
    assert lab["timings"]["found"] == 0 and lab["timings"]["cached"] == 1
    # Exactly what a fresh server finds for it.
    direct = quantize_json(create_app({"TESTING": True}).test_client(), data, k="6", color_space="lab").get_json()
    assert lab["palettes"][0]["palette"] == direct["palette"]
    cache = app.extensions["photo_cache"]
    assert cache.nbytes == cache.get(first["image_id"]).nbytes, "the palette found ahead is counted in the photo's bytes"


def test_only_a_photos_first_palette_in_another_space_begins_one(app, client):
    token = ladder(client, photo_bytes(seed=12), ks="5", color_space="lab").get_json()["image_id"]
    fits = fits_of(app, token)
    assert fits.wait_ahead(WAIT_S) and len(fits) == 1  # asked in lab already: nothing ahead
    ladder(client, image_id=token, ks="7")
    assert fits.wait_ahead(WAIT_S) and fits.get((7, "lab")) is None  # not its first palette
    batch = ladder(client, photo_bytes(seed=13), ks="5", background="1").get_json()["image_id"]
    assert fits_of(app, batch).wait_ahead(WAIT_S) and fits_of(app, batch).get((5, "lab")) is None


def test_a_lab_request_takes_the_fit_ahead_in_progress_rather_than_finding_it_again(app, client, monkeypatch):
    paused = PausedAhead(monkeypatch)
    token = ladder(client, photo_bytes(seed=14), ks="5").get_json()["image_id"]
    assert paused.begun.wait(WAIT_S)  # the first result was answered while its lab palette is under way
    fits = fits_of(app, token)
    waiting = threading.Thread(target=lambda: answers.append(
        ladder(app.test_client(), image_id=token, ks="5", color_space="lab").get_json()))
    answers = []
    waiting.start()
    for _ in range(WAIT_S * 100):  # until the request waits for the palette
        if fits.wanted_now:
            break
        threading.Event().wait(0.01)
    assert fits.wanted_now
    paused.go_on.set()
    waiting.join(WAIT_S)
    assert [name for name, _ in paused.lab_calls] == ["fit-ahead"]  # found once, ahead, never told to give way
    assert not paused.lab_calls[0][1]
    assert answers[0]["timings"]["found"] == 0 and fits.get((5, "lab")) is not None


def test_a_move_someone_waits_for_is_not_held_up_by_the_fit_ahead_which_gives_way(app, client, monkeypatch):
    paused = PausedAhead(monkeypatch)
    memory = app.extensions["memory_budget"]
    cache = app.extensions["photo_cache"]
    token = ladder(client, photo_bytes(seed=15), ks="5").get_json()["image_id"]
    assert paused.begun.wait(WAIT_S)
    fits = fits_of(app, token)
    held = memory.ledger.used() - memory.ledger.baselines() - cache.nbytes
    assert held == budget.histogram_request_bytes(cache.get(token).hist.unique_colors)
    # The move is answered while the fit ahead is still paused: it waits for no lock the fit ahead holds.
    move = ladder(client, image_id=token, ks="9").get_json()
    assert move["timings"]["found"] == 1
    paused.go_on.set()
    assert fits.wait_ahead(WAIT_S)
    assert paused.lab_calls == [("fit-ahead", True)]  # told to give way, once the move was asked for
    assert fits.get((5, "lab")) is None  # stopped, nothing half-made kept
    assert memory.ledger.used() == memory.ledger.baselines() + cache.nbytes, "the fit ahead let go of its memory"
    # Asked for later, the palette is found then, and is what a fresh server finds.
    monkeypatch.setattr(quantize, "find_palette", paused.real)
    lab = ladder(client, image_id=token, ks="5", color_space="lab").get_json()
    assert lab["timings"]["found"] == 1


def test_no_fit_ahead_when_its_memory_does_not_fit_now():
    app = create_app({"TESTING": True, "MEMORY_MB": 100_000, "MEMORY_WAIT_SECONDS": 0})
    client = app.test_client()
    memory = app.extensions["memory_budget"]
    data = photo_bytes(seed=16)
    needed = budget.request_bytes(40 * 60) + 2 * len(data) + 10 * budget.MB
    blocker = memory.reservation()
    blocker.grow_to(memory.limit - memory.ledger.used() - needed, wait_seconds=0)  # room for the request only
    try:
        token = ladder(client, data, ks="5").get_json()["image_id"]
        fits = fits_of(app, token)
        assert fits.wait_ahead(WAIT_S) and fits.get((5, "lab")) is None
        assert len(app.extensions["photo_cache"]) == 1, "no cache gave way to a palette no one asked for"
    finally:
        blocker.release()


def paused_make(go_on: threading.Event, told: list):
    """A make for start_ahead that waits for go_on, notes whether it was told to give way, and stops if so."""
    hist = quantize.histogram(quantize.pack(np.random.default_rng(3).integers(0, 256, (20, 20, 3), dtype=np.uint8)))

    def make(cancelled):
        assert go_on.wait(WAIT_S)
        told.append(cancelled())
        return quantize.find_palette(hist, 4, "lab", cancelled=cancelled)

    return make


def test_another_photos_fit_ahead_supersedes_the_one_running():
    go_on, told_first, told_second = threading.Event(), [], []
    first, second = FitCache(), FitCache()
    ended = []
    assert first.start_ahead((4, "lab"), paused_make(go_on, told_first), finished=lambda: ended.append(1))
    assert first.start_ahead((5, "lab"), paused_make(go_on, [])) is None  # one at a time on a photo
    assert second.start_ahead((4, "lab"), paused_make(go_on, told_second))
    go_on.set()
    assert first.wait_ahead(WAIT_S) and second.wait_ahead(WAIT_S)
    assert told_first == [True] and told_second == [False] and ended == [1]
    assert first.get((4, "lab")) is None and second.get((4, "lab")) is not None
    assert second.start_ahead((4, "lab"), paused_make(go_on, [])) is None  # found already


@pytest.mark.parametrize(("waited", "gives_way"), [((4, "lab"), False), ((4, "rgb"), False), ((9, "rgb"), True)])
def test_a_fit_ahead_gives_way_only_to_palettes_it_does_not_serve(waited, gives_way):
    go_on, told = threading.Event(), []
    fits = FitCache()
    assert fits.start_ahead((4, "lab"), paused_make(go_on, told), beside=((4, "rgb"),))
    with fits.foreground(waited):
        go_on.set()
        assert fits.wait_ahead(WAIT_S)
    assert told == [gives_way] and (fits.get((4, "lab")) is None) == gives_way
