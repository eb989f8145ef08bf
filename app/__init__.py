"""kmeans-filter: recolor a photo with the k colors that best characterize it."""

from __future__ import annotations

from io import BytesIO
from typing import Any, Mapping

from flask import Flask, Request


class InMemoryRequest(Request):
    """Keep uploads in memory: Werkzeug would spool those over 500 KB to disk.

    MAX_CONTENT_LENGTH bounds how much memory that can take.
    """

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return BytesIO()


FORM_ROOM_BYTES = 64 * 2**10  # multipart boundaries, part headers and the option fields


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    from app import admission, api, errors, explore, hooks, ladder, paint, settings, web
    from app.cache import PhotoCache

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
