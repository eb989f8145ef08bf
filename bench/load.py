"""A bounded load test: gunicorn on 127.0.0.1, 6 to 8 clients posting corpus photos for 60 s.

    .venv/bin/python -m bench.load                     # 6 clients, 60 s, the corpus's web-size photos
    .venv/bin/python -m bench.load --env CACHE_MB=0    # the same without the photo cache
    .venv/bin/python -m bench.load --clients 8 --max-mb 0 --env THREADS=8

It starts its own gunicorn with the project's gunicorn.conf.py, posts the
corpus photos round-robin with varied k, and prints a table: requests,
statuses (zero 5xx is the bar), p50/p90/p99 latency, and the server's
memory (master and workers) at start and as the request count passes 50,
250, 500, 750 and 1,000. If 60 s were not enough for 1,000 requests it keeps
going until they are done (at most --max-seconds). Worker recycling
(MAX_REQUESTS) is off unless --env sets it, so that growth per request shows
instead of being reset. Memory grows until each worker's photo cache
(CACHE_MB) is full; --env CACHE_MB=0 shows what is left without it.
Exits 1 when any request got a 5xx or no answer.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests

from app import settings  # only to print the settings the server runs with
from bench.report import percentile
from testsupport.corpus import CORPUS
from testsupport.servers import gunicorn

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
KS = (4, 8, 12, 16, 24, 32)
SHOWN_SETTINGS = ("WEB_CONCURRENCY", "THREADS", "CACHE_MB", "MAX_REQUESTS", "MAX_UPLOAD_MB", "MAX_PIXELS")
WARM_UP = 50
MILESTONE = 1000
MILESTONES = (WARM_UP, 250, 500, 750, MILESTONE)  # server RSS is read as the count passes each


def server_rss(pid: int) -> tuple[int, list[int]]:
    """Resident memory of the master and its workers together, and the workers' pids."""
    master = psutil.Process(pid)
    workers = master.children()
    total = master.memory_info().rss
    for worker in workers:
        try:
            total += worker.memory_info().rss
        except psutil.Error:
            pass
    return total, sorted(w.pid for w in workers)


class Load:
    def __init__(self, base: str, photos: list[tuple[str, bytes]]):
        self.base = base
        self.photos = photos
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.statuses: dict[str, int] = {}
        self.done = 0
        self.bytes_sent = 0
        self.stop = threading.Event()
        self.milestones: dict[int, int] = {}  # requests done -> server RSS when passed
        self.on_done = lambda count: None

    def client(self, number: int) -> None:
        rng = random.Random(number)
        order = itertools.cycle(rng.sample(self.photos, len(self.photos)))
        with requests.Session() as session:
            while not self.stop.is_set():
                name, data = next(order)
                started = time.perf_counter()
                try:
                    response = session.post(
                        self.base + "/api/quantize", files={"image": (name, data)},
                        data={"k": str(rng.choice(KS))}, timeout=120,
                    )
                    status = str(response.status_code)
                    response.content
                except requests.RequestException as error:
                    status = f"error: {type(error).__name__}"
                elapsed = time.perf_counter() - started
                with self.lock:
                    self.latencies.append(elapsed)
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                    self.done += 1
                    self.bytes_sent += len(data)
                    count = self.done
                self.on_done(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=6, help="client threads, 6 to 8 (default 6)")
    parser.add_argument("--seconds", type=float, default=60, help="length of the run (default 60)")
    parser.add_argument("--max-seconds", type=float, default=300,
                        help=f"keep going after --seconds until {MILESTONE} requests, but no longer than this")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="folder of photos to post")
    parser.add_argument("--max-mb", type=float, default=1.0,
                        help="post only photos up to this size (default 1: the web-size ones; 0 for all)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="a setting for the server")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 16:
        parser.error(f"--clients must be between 1 and 16, got {args.clients}")
    env = dict(item.split("=", 1) for item in args.env)
    photos = [(p.name, p.read_bytes()) for p in sorted(args.corpus.iterdir())
              if p.suffix.lower() in PHOTO_SUFFIXES and (not args.max_mb or p.stat().st_size <= args.max_mb * 2**20)]
    if not photos:
        parser.error(f"no photos in {args.corpus}")

    log = Path(tempfile.mkdtemp(prefix="kmeans-load-")) / "gunicorn.log"
    with gunicorn(log, **{"MAX_REQUESTS": "0", "LOG_LEVEL": "warning", **env}) as (process, base):
        cold_rss, start_workers = server_rss(process.pid)
        load = Load(base, photos)
        samples: list[tuple[float, int]] = []

        def on_done(count: int) -> None:
            if count in MILESTONES:
                load.milestones[count] = server_rss(process.pid)[0]

        load.on_done = on_done
        clients = [threading.Thread(target=load.client, args=(n,), daemon=True) for n in range(args.clients)]
        started = time.monotonic()
        for thread in clients:
            thread.start()
        while True:
            time.sleep(1)
            elapsed = time.monotonic() - started
            samples.append((elapsed, server_rss(process.pid)[0]))
            if elapsed >= args.seconds and (load.done >= MILESTONE or elapsed >= args.max_seconds):
                break
        load.stop.set()
        for thread in clients:
            thread.join(timeout=130)
        wall = time.monotonic() - started
        end_rss, end_workers = server_rss(process.pid)

    effective = settings.load({**os.environ, "MAX_REQUESTS": "0", **env})
    failures = sum(n for status, n in load.statuses.items() if not status.isdigit() or int(status) >= 500)
    mb = 2**20
    rows = [
        ("clients", f"{args.clients}"),
        ("photos", f"{len(photos)} from {args.corpus}, {min(len(d) for _, d in photos) / mb:.2f} to "
                   f"{max(len(d) for _, d in photos) / mb:.2f} MB each"),
        ("server settings", ", ".join(f"{name}={effective[name]}" for name in SHOWN_SETTINGS)),
        ("workers", f"{len(start_workers)} (pids {'unchanged' if start_workers == end_workers else 'changed'})"),
        ("duration", f"{wall:.1f} s"),
        ("requests", f"{load.done} ({load.done / wall:.1f}/s, {load.bytes_sent / mb / wall:.1f} MB/s uploaded)"),
        ("statuses", ", ".join(f"{status}: {n}" for status, n in sorted(load.statuses.items()))),
        ("5xx or no answer", f"{failures}  {'OK' if failures == 0 else 'FAIL'}"),
        ("latency p50", f"{percentile(load.latencies, 0.50) * 1000:.0f} ms"),
        ("latency p90", f"{percentile(load.latencies, 0.90) * 1000:.0f} ms"),
        ("latency p99", f"{percentile(load.latencies, 0.99) * 1000:.0f} ms"),
        ("latency max", f"{max(load.latencies) * 1000:.0f} ms"),
        ("latency mean", f"{statistics.fmean(load.latencies) * 1000:.0f} ms"),
        ("server RSS at start", f"{cold_rss / mb:.0f} MB"),
        *((f"server RSS after {count} requests", _mb(load.milestones.get(count))) for count in MILESTONES),
        ("server RSS peak (1 s samples)", f"{max(rss for _, rss in samples) / mb:.0f} MB"),
        ("server RSS at end", f"{end_rss / mb:.0f} MB"),
    ]
    last = max(load.milestones, default=WARM_UP)
    if WARM_UP in load.milestones and last > WARM_UP:
        growth = (load.milestones[last] - load.milestones[WARM_UP]) / mb
        rows.append((f"growth, request {WARM_UP} to {last}", f"{growth:+.0f} MB"))
    width = max(len(name) for name, _ in rows)
    print(f"{'measure'.ljust(width)} | value")
    print(f"{'-' * width}-|-{'-' * 40}")
    for name, value in rows:
        print(f"{name.ljust(width)} | {value}")
    print(f"(server log: {log})")
    return 1 if failures else 0


def _mb(value: int | None) -> str:
    return "not reached" if value is None else f"{value / 2**20:.0f} MB"


if __name__ == "__main__":
    sys.exit(main())
