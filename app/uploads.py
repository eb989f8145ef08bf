"""Uploads stay in memory: nothing the user sends is written to disk."""

from __future__ import annotations

from io import BytesIO

from flask import Request


class InMemoryRequest(Request):
    """Keep uploads in memory: Werkzeug would spool those over 500 KB to disk.

    MAX_CONTENT_LENGTH bounds how much memory that can take.
    """

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return BytesIO()
