"""libraries.single_threaded: BLAS on one thread for the process, OpenMP on one thread for the caller."""

import json
import subprocess
import sys
import threading

import pytest
from threadpoolctl import threadpool_info

from app import libraries
from testsupport.servers import ROOT


def _threads(user_api: str) -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == user_api}


@pytest.fixture
def openmp_threads() -> set[int]:
    libraries.preload()
    threads = _threads("openmp")
    if threads == {1}:
        pytest.skip("OpenMP runs on one thread here (one core or a limit in the environment): nothing to limit")
    return threads


def test_the_server_and_the_command_line_put_blas_on_one_thread_as_they_start():
    # A fresh process: here, an earlier test may already have done it.
    probe = ("import json, numpy; from threadpoolctl import threadpool_info\n"
             "blas = lambda: sorted({p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'})\n"
             "before = blas()\n"
             "from app import libraries\n"
             "libraries.preload()\n"
             "print(json.dumps([before, blas()]))\n")
    before, after = json.loads(subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                                              check=True).stdout)
    if before == [1]:
        pytest.skip("BLAS runs on one thread here (one core or a limit in the environment): nothing to limit")
    assert after == [1]


def test_blas_stays_on_one_thread_for_every_thread():
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
