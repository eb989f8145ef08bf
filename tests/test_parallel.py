"""app/parallel.py: independent steps side by side."""

from __future__ import annotations

import threading

import pytest

from app import parallel


def test_side_by_side_runs_the_first_here_the_others_in_the_pool_and_keeps_their_order():
    here = threading.get_ident()
    threads = parallel.side_by_side(threading.get_ident, threading.get_ident, threading.get_ident)
    assert threads[0] == here
    if parallel.workers() > 1:
        assert here not in threads[1:]
    assert parallel.side_by_side(lambda: "a", lambda: "b", lambda: "c") == ["a", "b", "c"]


def test_side_by_side_on_one_core_runs_everything_here(monkeypatch):
    monkeypatch.setattr(parallel, "_workers", lambda: 1)
    here = threading.get_ident()
    assert parallel.side_by_side(threading.get_ident, threading.get_ident) == [here, here]


def test_an_error_in_any_step_reaches_the_caller():
    def fails():
        raise ValueError("step failed")

    with pytest.raises(ValueError, match="step failed"):
        parallel.side_by_side(lambda: 1, fails)
    with pytest.raises(ValueError, match="step failed"):
        parallel.side_by_side(fails, lambda: 1)


def test_within_one_part_a_pass_runs_here_in_one_part():
    here, calls = threading.get_ident(), []
    with parallel.one_part():
        parallel.for_ranges(10 * parallel.MIN_PART, lambda first, last: calls.append((first, last, threading.get_ident())))
    assert calls == [(0, 10 * parallel.MIN_PART, here)]
    calls.clear()
    parallel.for_ranges(10 * parallel.MIN_PART, lambda first, last: calls.append((first, last)))
    assert len(calls) == parallel.workers()  # outside it, one part a core again


def test_when_the_first_step_fails_the_others_have_finished_before_the_error_reaches_the_caller():
    if parallel.workers() == 1:
        pytest.skip("one core: side_by_side runs its steps one after the other, and none starts after an error")
    finished = threading.Event()

    def slow():
        finished.wait(0.2)
        finished.set()

    def fails():
        raise ValueError("step failed")

    with pytest.raises(ValueError, match="step failed"):
        parallel.side_by_side(fails, slow)
    assert finished.is_set()


def test_when_the_callers_part_of_a_pass_fails_the_pool_parts_have_finished_before_the_error():
    if parallel.workers() == 1:
        pytest.skip("one core: a pass runs in one part here")
    finished = threading.Event()

    def part(first: int, last: int) -> None:
        if first == 0:
            raise ValueError("part failed")
        finished.wait(0.2)
        finished.set()

    with pytest.raises(ValueError, match="part failed"):
        parallel.map_ranges(parallel.workers() * parallel.MIN_PART, part)
    assert finished.is_set()


def test_in_background_runs_in_the_pool_and_hands_back_its_result_or_error():
    here = threading.get_ident()
    with parallel.in_background(threading.get_ident) as future:
        pass
    if parallel.workers() > 1:
        assert future.result() != here

    def fails():
        raise ValueError("step failed")

    with parallel.in_background(fails) as future:
        pass
    with pytest.raises(ValueError, match="step failed"):
        future.result()


def test_leaving_the_block_waits_for_the_background_step_even_when_the_block_fails():
    release, finished = threading.Event(), threading.Event()

    def slow():
        release.wait(5)
        finished.set()

    with pytest.raises(RuntimeError, match="block failed"):
        with parallel.in_background(slow):
            threading.Timer(0.05, release.set).start()
            raise RuntimeError("block failed")
    assert finished.is_set()


def test_in_background_on_one_core_runs_here_before_the_block(monkeypatch):
    monkeypatch.setattr(parallel, "_workers", lambda: 1)
    here = threading.get_ident()
    with parallel.in_background(threading.get_ident) as future:
        assert future.done() and future.result() == here


def test_a_step_in_the_pool_does_its_passes_in_one_part_and_so_never_waits_on_the_pool():
    def step():
        calls = []
        parallel.for_ranges(10 * parallel.MIN_PART, lambda first, last: calls.append((first, last)))
        return calls

    # Every pool thread busy with a step that makes a pass: split, they would wait on each other for ever.
    results = []
    driver = threading.Thread(target=lambda: results.extend(
        parallel.side_by_side(lambda: "here", *(step for _ in range(parallel.workers())))), daemon=True)
    driver.start()
    driver.join(60)
    assert not driver.is_alive(), "the pool's steps waited on each other"
    assert results[1:] == [[(0, 10 * parallel.MIN_PART)]] * parallel.workers()
