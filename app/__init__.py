"""kmeans-filter: recolor a photo with the k colors that best characterize it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from flask import Flask

# Nothing of weight at the top: `python -m app` (the command line) imports this package too,
# and has no use for Flask.
FORM_ROOM_BYTES = 64 * 2**10  # multipart boundaries, part headers and the option fields
# A server worker's threads take turns at the GIL: a palette's steps side by side on the pool (app/parallel.py), a
# request beside another photo's work, the work ahead. Most of their calls let go of it for short numpy loops;
# at Python's default switch interval (5 ms) a thread that wants it back may wait that long each time
# (gunicorn.conf.py sets it in each worker; Olympus 12 MP lab switch p50 387 -> 330 ms, bench_live).
REQUEST_SWITCH_SECONDS = 0.0005


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    from flask import Flask

    from app import admission, api, errors, explore, hooks, ladder, libraries, paint, settings, web
    from app.cache import PhotoCache
    from app.uploads import InMemoryRequest

    # Each gunicorn worker creates its app once it has forked, before its first request:
    # that request must not pay for importing scikit-learn.
    libraries.preload()

    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.request_class = InMemoryRequest
    app.config.update(settings.load())
    app.config["DEBUG"] = False  # never from FLASK_DEBUG: the debugger runs code sent to it
    app.debug = False
    app.config.update(config or {})
    # The photo may take MAX_UPLOAD_MB; the request has room for the form around it
    # (app/photos.py checks the file itself), as the README's nginx block does.
    upload_limit = int(app.config["MAX_UPLOAD_MB"]) * 2**20
    app.config["MAX_CONTENT_LENGTH"] = upload_limit + FORM_ROOM_BYTES
    app.config["MAX_FORM_MEMORY_SIZE"] = upload_limit
    memory = app.extensions["memory_budget"] = admission.create_budget(app.config)
    cache = PhotoCache(int(app.config["CACHE_MB"]) * 2**20, int(app.config["CACHE_SECONDS"]), budget=memory)
    memory.give_way = cache.give_way
    app.extensions["photo_cache"] = cache
    if app.config["REDIS_URL"]:
        from app.shared_cache import SharedCache

        app.extensions["shared_cache"] = SharedCache(str(app.config["REDIS_URL"]), int(app.config["CACHE_SECONDS"]))
    errors.register(app)
    admission.register(app)
    hooks.register(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(explore.bp)
    app.register_blueprint(ladder.bp)
    app.register_blueprint(paint.bp)
    app.register_blueprint(web.bp)
    return app
