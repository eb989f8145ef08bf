"""libraries.single_threaded: one process-wide BLAS/OpenMP limit, shared by the threads inside it."""

import threading

import pytest
from threadpoolctl import threadpool_info

from app import libraries


def _blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


@pytest.fixture
def blas_threads() -> set[int]:
    libraries.preload()
    threads = _blas_threads()
    if threads == {1}:
        pytest.skip("BLAS runs on one thread here (one core or a limit in the environment): nothing to limit")
    return threads


def test_the_limit_holds_until_the_last_thread_leaves_and_is_then_lifted(blas_threads):
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with libraries.single_threaded():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second():
        first_in.wait(10)
        with libraries.single_threaded():
            second_in.set()
            first_out.wait(10)
            seen["inside after the first left"] = _blas_threads()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert seen["inside after the first left"] == {1}
    assert _blas_threads() == blas_threads  # lifted once both are out, not left at one thread for good


def test_nested_in_one_thread(blas_threads):
    with libraries.single_threaded():
        with libraries.single_threaded():
            assert _blas_threads() == {1}
        assert _blas_threads() == {1}
    assert _blas_threads() == blas_threads
