"""Settings: each has a name, a default and a line of help, read from the environment.

The README's configuration table lists every one of them; a test checks it.
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


SETTINGS = (
    Setting("MAX_UPLOAD_MB", 30, "Largest upload accepted, in megabytes; larger ones get 413."),
    Setting("MAX_PIXELS", 50_000_000, "Largest image accepted, in pixels, checked from the header before decoding."),
    Setting("MAX_K", 256, "Largest number of colors a request may ask for (at most 256)."),
    Setting("DEFAULT_K", 16, "Number of colors used when a request does not give k."),
    Setting("SLIDER_MAX_K", 64, "Upper end of the k slider on the page; the number field beside it reaches MAX_K."),
    Setting("CACHE_MB", 512, "Memory, per worker, for photos kept between slider moves; 0 turns the cache off."),
    Setting("CACHE_SECONDS", 600, "How long a photo stays in that cache after its last use."),
    Setting("PORT", 8000, "TCP port gunicorn listens on."),
    Setting("WEB_CONCURRENCY", 0, "gunicorn worker processes; 0 means one per two CPU cores, at least one."),
    Setting("THREADS", 4, "Threads per worker: requests a worker serves at once."),
    Setting("TIMEOUT", 120, "Seconds a request may run before gunicorn restarts its worker."),
    Setting("MAX_REQUESTS", 500, "Requests after which a worker is replaced, to bound memory growth; 0 never."),
    Setting("MAX_REQUESTS_JITTER", 50, "Random spread added to MAX_REQUESTS so workers do not restart together."),
    Setting("LOG_LEVEL", "info", "gunicorn log level: debug, info, warning or error."),
)
_BY_NAME = {s.name: s for s in SETTINGS}


def load(environ: Mapping[str, str] | None = None) -> dict[str, int | str]:
    """Read every setting from the environment, falling back to its default."""
    environ = os.environ if environ is None else environ
    values: dict[str, int | str] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.name, "").strip()
        if not raw:
            values[setting.name] = setting.default
        elif isinstance(setting.default, int):
            try:
                values[setting.name] = int(raw)
            except ValueError:
                raise ValueError(f"{setting.name} must be a whole number, got {raw!r}") from None
            if values[setting.name] < 0:
                raise ValueError(f"{setting.name} must not be negative, got {raw!r}")
        else:
            values[setting.name] = raw
    if not 2 <= int(values["MAX_K"]) <= 256:
        raise ValueError(f"MAX_K must be between 2 and 256, got {values['MAX_K']}")
    if not 2 <= int(values["DEFAULT_K"]) <= int(values["MAX_K"]):
        raise ValueError(f"DEFAULT_K must be between 2 and MAX_K ({values['MAX_K']}), got {values['DEFAULT_K']}")
    return values


def get(name: str) -> int | str:
    """One setting from the environment (for gunicorn.conf.py)."""
    return load()[_BY_NAME[name].name]
