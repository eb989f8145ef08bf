"""libraries.single_threaded: BLAS on one thread for the process, OpenMP on one thread for the caller."""

import threading

import pytest
from threadpoolctl import threadpool_info

from app import libraries


def _threads(user_api: str) -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == user_api}


@pytest.fixture
def openmp_threads() -> set[int]:
    libraries.preload()
    threads = _threads("openmp")
    if threads == {1}:
        pytest.skip("OpenMP runs on one thread here (one core or a limit in the environment): nothing to limit")
    return threads


def test_blas_stays_on_one_thread_for_every_thread_once_a_fit_has_run():
    libraries.preload()
    with libraries.single_threaded():
        assert _threads("blas") == {1}
    assert _threads("blas") == {1}
    seen = []
    other = threading.Thread(target=lambda: seen.append(_threads("blas")))
    other.start()
    other.join(10)
    assert seen == [{1}]


def test_openmp_is_limited_in_the_calling_thread_and_lifted_when_it_leaves(openmp_threads):
    with libraries.single_threaded():
        with libraries.single_threaded():
            assert _threads("openmp") == {1}
        assert _threads("openmp") == {1}
    assert _threads("openmp") == openmp_threads
