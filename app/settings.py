"""Settings: each has a name, a default and a line of help, read from the environment.

The README's configuration table lists every one of them (`python -m app.settings`
prints it); a test checks it. gunicorn.conf.py reads its settings from here too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class Setting:
    name: str
    default: int | str
    help: str
    low: int = 0  # whole-number settings: the smallest value allowed
    high: int | None = None  # and the largest, if any
    choices: tuple[str, ...] = ()  # text settings: the values allowed, if limited


SETTINGS = (
    Setting("MAX_UPLOAD_MB", 30, "Largest upload accepted, in megabytes; larger ones get 413.", low=1),
    Setting("MAX_PIXELS", 50_000_000, "Largest image accepted, in pixels, checked from the header before decoding.",
            low=1),
    Setting("MAX_K", 256, "Largest number of colors a request may ask for (at most 256).", low=2, high=256),
    Setting("DEFAULT_K", 16, "Number of colors used when a request does not give k.", low=2, high=256),
    Setting("SLIDER_MAX_K", 64, "Upper end of the k slider on the page; the number field beside it reaches MAX_K.",
            low=2, high=256),
    Setting("CACHE_MB", 512, "Memory, per worker, for photos kept between slider moves; 0 turns the cache off. "
            "The cache gives way first when requests need MEMORY_MB."),
    Setting("CACHE_SECONDS", 600, "How long a photo stays in that cache, and in Redis, after its last use."),
    Setting("REDIS_URL", "", "Redis (or Valkey) for a photo cache every worker and replica shares, such as "
            "redis://redis:6379/0; empty: each worker keeps its own. Run it without persistence: see Scaling out."),
    Setting("MEMORY_MB", 0, "Memory the whole server may use, shared by its workers, caches and requests; "
            "0 means the container's limit (cgroup memory.max), else the machine's memory."),
    Setting("MEMORY_WAIT_SECONDS", 10, "Seconds a request waits for memory to free up before it gets 503 busy.",
            high=600),
    Setting("HOST", "127.0.0.1", "Address gunicorn listens on; the Docker image sets 0.0.0.0."),
    Setting("PORT", 8000, "TCP port gunicorn listens on.", low=1, high=65535),
    Setting("WEB_CONCURRENCY", 0, "gunicorn worker processes; 0 means one per two CPU cores, at least one.",
            high=256),
    Setting("THREADS", 4, "Threads per worker: requests a worker serves at once, uploads included.", low=1),
    Setting("TIMEOUT", 120, "Seconds a stuck worker may miss gunicorn's heartbeat before it is restarted; 0 never. "
            "Give a proxy's read timeout at least this.", high=86_400),
    Setting("GRACEFUL_TIMEOUT", 8, "Seconds a worker may finish its requests after SIGTERM before it is killed; "
            "keep it below the container's stop timeout (docker stop: 10 s).", high=86_400),
    Setting("MAX_REQUESTS", 500, "Requests after which a worker is replaced, to bound memory growth; 0 never."),
    Setting("MAX_REQUESTS_JITTER", 50, "Random spread added to MAX_REQUESTS so workers do not restart together."),
    Setting("LOG_LEVEL", "info", "Log level: debug, info (one line per request), warning or error.",
            choices=("debug", "info", "warning", "error", "critical")),
)
_BY_NAME = {s.name: s for s in SETTINGS}
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _parse(setting: Setting, raw: str) -> int | str:
    if isinstance(setting.default, int):
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{setting.name} must be a whole number, got {raw!r}") from None
        if value < setting.low or (setting.high is not None and value > setting.high):
            allowed = f"at least {setting.low}" if setting.high is None else f"between {setting.low} and {setting.high}"
            raise ValueError(f"{setting.name} must be {allowed}, got {raw!r}")
        return value
    if setting.choices:
        if raw.lower() not in setting.choices:
            raise ValueError(f"{setting.name} must be one of {', '.join(setting.choices)}, got {raw!r}")
        return raw.lower()
    return raw


def load(environ: Mapping[str, str] | None = None) -> dict[str, int | str]:
    """Read every setting from the environment, falling back to its default.

    A bad value raises ValueError with a message naming the setting and the value.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, int | str] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.name, "").strip()
        values[setting.name] = _parse(setting, raw) if raw else setting.default
    redis_url = str(values["REDIS_URL"])
    if redis_url and not redis_url.startswith(REDIS_SCHEMES):
        raise ValueError(f"REDIS_URL must start with {', '.join(REDIS_SCHEMES)}, got {redis_url[:40]!r}")
    if not int(values["DEFAULT_K"]) <= int(values["MAX_K"]):
        raise ValueError(f"DEFAULT_K must be between 2 and MAX_K ({values['MAX_K']}), got {values['DEFAULT_K']}")
    return values


def get(name: str) -> int | str:
    """One setting from the environment (for the command line)."""
    return load()[_BY_NAME[name].name]


def markdown_table() -> str:
    """The README's configuration table, made from SETTINGS."""
    rows = ["| Variable | Default | What it does |", "| --- | --- | --- |"]
    rows += [f"| `{s.name}` | `{s.default}` | {s.help} |" for s in SETTINGS]
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
