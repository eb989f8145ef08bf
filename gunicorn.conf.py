"""gunicorn's configuration: every value comes from app/settings.py, so from the environment.

Run it with `gunicorn -c gunicorn.conf.py` (the Docker image's command); options given
on the command line, such as `-b 127.0.0.1:8000`, win over these.
"""

import logging
import os
import sys

from app import REQUEST_SWITCH_SECONDS, budget, settings

_values = settings.load()  # a bad value stops gunicorn here, with a message naming it

# The memory budget's ledger, in shared memory made here in the master before it forks:
# every worker holds its part in it (app/budget.py explains the design).
_ledger = budget.SharedLedger()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use, not all the machine's
    except AttributeError:
        return os.cpu_count() or 1


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


wsgi_app = "app:create_app()"
bind = [_bind(str(_values["HOST"]), int(_values["PORT"]))]

# Each worker is a process with its own photo cache (up to CACHE_MB), so fewer workers with
# several threads use less memory and hit their cache more often; numpy lets go of the GIL
# in its loops, so one worker's threads keep more than one core busy.
workers = int(_values["WEB_CONCURRENCY"]) or max(1, _cores() // 2)
# gthread: a connection that sends nothing for 5 s, or idles between keep-alive requests, is
# parked in the worker's poller and holds no thread. A client trickling its upload does hold one
# until the body is in: behind a buffering proxy (nginx's default) that wait happens in the proxy.
worker_class = "gthread"
threads = int(_values["THREADS"])
timeout = int(_values["TIMEOUT"])
graceful_timeout = int(_values["GRACEFUL_TIMEOUT"])
max_requests = int(_values["MAX_REQUESTS"])
max_requests_jitter = int(_values["MAX_REQUESTS_JITTER"])
# gunicorn 25+ opens a control socket at ~/.gunicorn/gunicorn.ctl by default: two servers
# under one user (tests, replicas on one host) would take it from each other, and the
# image's user has no home. Signals (TERM, HUP, TTIN/TTOU) do the same jobs.
control_socket_disable = True
if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
    worker_tmp_dir = "/dev/shm"  # the heartbeat file: memory, not a container's overlay disk

loglevel = str(_values["LOG_LEVEL"])
errorlog = "-"
accesslog = None  # the app logs one line per request itself, with pixels and k (app/hooks.py)

_APP_LOGGERS = ("kmeans_filter", "app")


def when_ready(server):
    """The master's own memory counts against MEMORY_MB too."""
    _ledger.hold_baseline(budget.process_memory())


def post_fork(server, worker):
    """In the new worker, before the app is loaded: its budget is the shared one, and its threads take turns at
    the GIL sooner than Python's default 5 ms (app/__init__.py says why)."""
    budget.use_shared(_ledger)
    sys.setswitchinterval(REQUEST_SWITCH_SECONDS)


def child_exit(server, worker):
    """In the master: whatever a worker held, even one killed mid-request, is free again."""
    _ledger.forget(worker.pid)


def post_worker_init(worker):
    """Send the app's log lines through gunicorn's error log (stderr), in its format and level."""
    gunicorn_log = logging.getLogger("gunicorn.error")
    for name in _APP_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = list(gunicorn_log.handlers)
        logger.setLevel(gunicorn_log.level)
        logger.propagate = False
    from app.admission import describe_budget  # the app is loaded: its budget holds every process so far

    gunicorn_log.info(describe_budget(worker.wsgi.extensions["memory_budget"]))
