"""Start gunicorn with gunicorn.conf.py, after checking every setting: the Docker image's command.

    python -m app.serve [gunicorn options]

gunicorn reads WEB_CONCURRENCY itself, as a bare int(), while it loads its own
modules: a bad value would stop it with a traceback before gunicorn.conf.py
can say which setting is wrong. So the settings are checked here first, and a
bad one ends the start with one line naming it (exit status 2). Then this
process becomes gunicorn (exec), so it is still PID 1 in a container and gets
Docker's signals itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from app import settings

CONFIG = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"


def main(argv: list[str]) -> None:
    try:
        settings.load()
    except ValueError as error:
        print(f"kmeans-filter: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", "--config", str(CONFIG), *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
