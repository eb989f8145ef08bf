"""The memory budget: how much memory the server may use, what a request will take, and who may go now.

Design. Every process of the server holds part of one budget of MEMORY_MB
(by default the container's cgroup limit, else the machine's memory) in a
ledger: a worker holds its own resident memory once the app is loaded, its
photo cache, and a reservation for each request in flight. A request
reserves its expected peak (known from the image header, before decoding,
and measured per option in bench/memory.py) and goes ahead only when that
fits; otherwise it first makes its own worker's cache give way, then asks
the other workers' caches (each worker has a thread that answers), and waits
a bounded time for other requests to finish, and is refused with "busy"
(503) when room does not come. A photo whose request could never fit, even
on an idle server, is refused at once ("too many pixels" for this budget).

Under gunicorn the ledger is shared by the workers: gunicorn.conf.py makes a
small table in shared memory in the master before it forks (one row per
process: its pid and the bytes it holds; a semaphore, not a file lock, guards
the few instructions that read and change it), hands it to each worker
(post_fork), and clears a worker's row when it exits (child_exit), so a
killed worker never leaks its part. Elsewhere (the test client, one process)
the ledger is a plain in-process one.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable

MB = 2**20

# Bytes per pixel of one request, from bench/memory.py (peak over the request through the app, upload
# included, at 12 MP and 48 MP), rounded up: decoding, the histogram, mapping or dithering, the PNG.
PLAIN_BYTES_PER_PIXEL = 10.0  # k-means without dithering: measured 9.3 to 9.8
DITHER_BYTES_PER_PIXEL = 13.0  # Floyd-Steinberg: measured 11.4 to 13.0
PILLOW_BYTES_PER_PIXEL = 17.0  # Pillow's median cut and octree: measured 16.0 to 17.2
PERCEPTUAL_EXTRA_PER_PIXEL = 1.0  # lab and oklab: margin for the per-color CIELAB work on very colorful photos
# min_region: labelling, border graph, merging and the cleaned map on top of the plain job. What it takes
# grows with the share of the pixels in regions under the threshold: through the app at 12 MP, k = 16
# (python -m bench.bench_regions, table 4), 31-32 bytes a pixel in all at 40 px and 38 at 1,000 px (the page's
# strongest level, 160 px of a 1600 px view, is a 16,000th of the photo's pixels), and 60-64 at 1,000,000.
CLEAN_EXTRA_PER_PIXEL = 30.0  # min_region up to a 10,000th of the pixels
STRONG_CLEAN_EXTRA_PER_PIXEL = 56.0  # above: most of the photo may be in regions under it
STRONG_CLEAN_SHARE = 1 / 10_000
# A paint-by-number template decodes the photo (plain), then recolors, cleans, traces and writes a working copy
# of at most TEMPLATE_PIXELS, whatever the photo's size: measured 68 bytes a working pixel.
TEMPLATE_PIXELS = 2400 * 2400
TEMPLATE_BYTES_PER_WORKING_PIXEL = 72.0
FIXED_REQUEST_BYTES = 24 * MB  # the 2**24-entry lookup table and small buffers, whatever the size
# A request on a photo already counted that needs only its histogram (palettes, the curve): the engine's work
# per distinct color, its per-photo caches included. bench/memory.py measures 82-150 bytes a color on the
# 12 MP photo (palettes 2-64 in rgb and lab, the curve); 150-275 in all over k = 2-256 and on kodim23's 72k.
HISTOGRAM_BYTES_PER_COLOR = 320
HISTOGRAM_FIXED_BYTES = 16 * MB
# Kept back from the budget for what no ledger sees: the kernel's page cache, allocator slack, growth.
HEADROOM_FRACTION = 0.1


def request_bytes(pixels: int, dither: str = "none", method: str = "kmeans", color_space: str = "rgb",
                  upload_bytes: int = 0, min_region: int = 0, template: bool = False) -> int:
    """The expected peak memory of one request on a photo of this many pixels (cleaned, or made a template)."""
    if template:  # the working copy is at most TEMPLATE_PIXELS, whatever the photo's size
        working = TEMPLATE_BYTES_PER_WORKING_PIXEL * TEMPLATE_PIXELS
        return int(PLAIN_BYTES_PER_PIXEL * pixels + working) + FIXED_REQUEST_BYTES + 2 * upload_bytes
    if method != "kmeans":
        per_pixel = PILLOW_BYTES_PER_PIXEL
    elif dither != "none":
        per_pixel = DITHER_BYTES_PER_PIXEL
    else:
        per_pixel = PLAIN_BYTES_PER_PIXEL
    if color_space != "rgb":
        per_pixel += PERCEPTUAL_EXTRA_PER_PIXEL
    if min_region:
        per_pixel += CLEAN_EXTRA_PER_PIXEL if min_region <= STRONG_CLEAN_SHARE * pixels else STRONG_CLEAN_EXTRA_PER_PIXEL
    return int(per_pixel * pixels) + FIXED_REQUEST_BYTES + 2 * upload_bytes


def histogram_request_bytes(colors: int) -> int:
    """The expected peak of a request that works on a photo's histogram of this many colors alone."""
    return HISTOGRAM_BYTES_PER_COLOR * colors + HISTOGRAM_FIXED_BYTES


# --- how much memory there is --------------------------------------------------------------------


def _read_int(path: str) -> int | None:
    try:
        with open(path) as file:
            text = file.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" (no limit) is not a number


def _cgroup_paths() -> list[str]:
    """The memory limit files that may apply to this process: its own cgroup's and the mount's root."""
    found = []
    try:
        with open("/proc/self/cgroup") as file:
            lines = file.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        path = path.rstrip("/")
        if controllers == "":  # cgroup v2
            found += [f"/sys/fs/cgroup{path}/memory.max"]
        elif "memory" in controllers.split(","):  # cgroup v1
            found += [f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"]
    return found + ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]


def machine_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def detected_memory() -> int:
    """The cgroup limit (memory.max or memory.limit_in_bytes) when there is one, else the machine's memory."""
    machine = machine_memory()
    limits = [value for value in map(_read_int, _cgroup_paths()) if value]
    return min([machine] + [value for value in limits if value < machine])


def process_memory() -> int:
    """This process's resident memory, in bytes."""
    try:
        with open("/proc/self/statm") as file:
            return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


# --- the ledger ------------------------------------------------------------------------------------


class LocalLedger:
    """Bytes held by this process's parts, for a server of one process."""

    def want(self, nbytes: int, seconds: float) -> None:
        pass  # one process: its own cache gives way inline

    def wanted(self) -> int:
        return 0

    def served(self, nbytes: int) -> None:
        pass

    def __init__(self) -> None:
        self._held = 0
        self._baseline = 0
        self._lock = threading.Lock()

    def try_hold(self, nbytes: int, limit: int) -> bool:
        with self._lock:
            if nbytes > 0 and self._held + nbytes > limit:
                return False
            self._held += nbytes
            return True

    def release(self, nbytes: int) -> None:
        with self._lock:
            self._held -= nbytes

    def hold_baseline(self, nbytes: int) -> None:
        with self._lock:
            self._held += nbytes
            self._baseline += nbytes

    def used(self) -> int:
        return self._held

    def baselines(self) -> int:
        return self._baseline


class SharedLedger:
    """One row per process (pid, bytes held, of which its own memory) in shared memory, made before gunicorn forks."""

    def __init__(self, rows: int = 256) -> None:
        context = multiprocessing.get_context("fork")
        self._pids = context.RawArray("q", rows)
        self._bytes = context.RawArray("q", rows)
        self._baseline = context.RawArray("q", rows)
        # A request waiting for room asks every worker's cache to give way: the bytes it needs, and
        # until when (CLOCK_MONOTONIC, the same clock in every process of the machine).
        self._wanted = context.RawValue("q", 0)
        self._wanted_until = context.RawValue("d", 0.0)
        self._lock = context.Lock()

    def _row(self, pid: int) -> int:
        """This pid's row, claimed if it has none; call with the lock held."""
        free = None
        for i, owner in enumerate(self._pids):
            if owner == pid:
                return i
            if owner == 0 and free is None:
                free = i
        if free is None:
            raise RuntimeError("the memory ledger is full: more than its rows of server processes")
        self._pids[free], self._bytes[free], self._baseline[free] = pid, 0, 0
        return free

    def try_hold(self, nbytes: int, limit: int) -> bool:
        with self._lock:
            if nbytes > 0 and sum(self._bytes) + nbytes > limit:
                return False
            self._bytes[self._row(os.getpid())] += nbytes
            return True

    def release(self, nbytes: int) -> None:
        with self._lock:
            self._bytes[self._row(os.getpid())] -= nbytes

    def hold_baseline(self, nbytes: int) -> None:
        with self._lock:
            row = self._row(os.getpid())
            self._bytes[row] += nbytes
            self._baseline[row] += nbytes

    def forget(self, pid: int) -> None:
        """Everything a process held is free again (it exited, or was killed)."""
        with self._lock:
            for i, owner in enumerate(self._pids):
                if owner == pid:
                    self._pids[i], self._bytes[i], self._baseline[i] = 0, 0, 0

    def used(self) -> int:
        with self._lock:
            return sum(self._bytes)

    def baselines(self) -> int:
        with self._lock:
            return sum(self._baseline)

    def want(self, nbytes: int, seconds: float) -> None:
        """Ask the other workers' caches for nbytes over the next few seconds."""
        with self._lock:
            now = time.monotonic()
            current = self._wanted.value if self._wanted_until.value > now else 0
            self._wanted.value = max(current, nbytes)
            self._wanted_until.value = now + seconds

    def wanted(self) -> int:
        with self._lock:
            return self._wanted.value if self._wanted_until.value > time.monotonic() else 0

    def served(self, nbytes: int) -> None:
        """The request that asked for nbytes got them: stop asking, unless a larger one asks too."""
        with self._lock:
            if self._wanted.value <= nbytes:
                self._wanted.value, self._wanted_until.value = 0, 0.0


_shared: SharedLedger | None = None


def use_shared(ledger: SharedLedger) -> None:
    """Called in each gunicorn worker (post_fork): this process's budget is the shared one."""
    global _shared
    _shared = ledger


def current_ledger() -> LocalLedger | SharedLedger:
    return _shared if _shared is not None else LocalLedger()


# --- admission -------------------------------------------------------------------------------------


class Busy(Exception):
    """No room came within the wait: try again in a few seconds."""


class NeverFits(Exception):
    """The request needs more than the whole budget for requests."""

    def __init__(self, needed: int, available: int):
        super().__init__(f"needs {needed} bytes, the budget for requests is {available}")
        self.needed, self.available = needed, available


@dataclass
class Reservation:
    """Bytes a request holds; it grows as more is learnt, and is let go of once at the end."""

    budget: "Budget"
    nbytes: int = 0

    def grow_to(self, nbytes: int, wait_seconds: float) -> None:
        if nbytes > self.nbytes:
            self.budget.hold(nbytes - self.nbytes, wait_seconds)
            self.nbytes = nbytes

    def release(self) -> None:
        if self.nbytes:
            self.budget.release(self.nbytes)
            self.nbytes = 0


class Budget:
    """MEMORY_MB shared by every process of the server; requests wait for room, caches give way."""

    def __init__(self, total_bytes: int, ledger: LocalLedger | SharedLedger | None = None,
                 clock: Callable[[], float] = time.monotonic, poll_seconds: float = 0.05):
        self.total = total_bytes
        self.ledger = ledger if ledger is not None else LocalLedger()
        self._clock = clock
        self._poll = poll_seconds
        self._freed = threading.Condition()
        # The cache, when there is one: frees up to nbytes of what it holds and says how much it freed.
        self.give_way: Callable[[int], int] = lambda nbytes: 0

    @property
    def limit(self) -> int:
        """What the ledger may hold: the total less headroom for what no ledger sees (page cache, allocator slack)."""
        return self.total - int(self.total * HEADROOM_FRACTION)

    def room_for_requests(self) -> int:
        """What requests and caches may use at most: the limit less the processes' own memory."""
        return max(0, self.limit - self.ledger.baselines())

    def hold_baseline(self, nbytes: int) -> None:
        """This process's own memory (interpreter, libraries, app): held for as long as it runs."""
        self.ledger.hold_baseline(nbytes)

    def check_fits(self, nbytes: int) -> None:
        """Refuse at once what could never fit, even with every other request done and every cache empty."""
        if nbytes > self.room_for_requests():
            raise NeverFits(nbytes, self.room_for_requests())

    def try_hold(self, nbytes: int) -> bool:
        return self.ledger.try_hold(nbytes, self.limit)

    def hold(self, nbytes: int, wait_seconds: float) -> None:
        """Take nbytes of the budget, waiting up to wait_seconds; raises NeverFits or Busy."""
        self.check_fits(nbytes)
        deadline = self._clock() + wait_seconds
        asked = False
        while not self.try_hold(nbytes):
            if self.give_way(nbytes):  # this worker's cache goes first
                continue
            left = deadline - self._clock()
            if left <= 0:
                raise Busy()
            self.ledger.want(nbytes, 4 * self._poll)  # then the other workers' caches
            asked = True
            with self._freed:
                self._freed.wait(min(left, self._poll))  # a release here wakes it; other workers' are polled
        if asked:
            self.ledger.served(nbytes)

    def relieve(self) -> int:
        """Let this worker's cache give way to a request waiting in another worker: as much as that
        request lacks, no more. Returns the bytes freed."""
        wanted = self.ledger.wanted()
        short = self.ledger.used() + wanted - self.limit if wanted else 0
        return self.give_way(short) if short > 0 else 0

    def start_relief(self) -> threading.Thread:
        """In each gunicorn worker: a thread that answers other workers' requests for room."""
        def run() -> None:
            while True:
                time.sleep(self._poll)
                self.relieve()

        thread = threading.Thread(target=run, name="memory-budget-relief", daemon=True)
        thread.start()
        return thread

    def release(self, nbytes: int) -> None:
        self.ledger.release(nbytes)
        with self._freed:
            self._freed.notify_all()

    def reservation(self) -> Reservation:
        return Reservation(self)
