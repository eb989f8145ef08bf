"""multipart/form-data bodies built in memory, for the real server and the Flask test client alike.

Werkzeug's test client would spool a large body to a temporary file (and
leave it open); building the body here keeps the tests' own uploads off the disk too.
"""

from __future__ import annotations

import uuid

Field = tuple[str, "str | tuple[str, bytes]"]  # (name, text) or (name, (filename, data))


def multipart(*fields: Field, boundary: str | None = None) -> tuple[bytes, str]:
    """The body and its Content-Type for fields in order; a field may repeat."""
    boundary = boundary or uuid.uuid4().hex
    parts = []
    for name, value in fields:
        if isinstance(value, tuple):
            filename, data = value
            head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n")
            parts.append(head.encode() + data + b"\r\n")
        else:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def client_multipart(*fields: Field) -> dict:
    """Keyword arguments for a Flask test client's post() with that body."""
    body, content_type = multipart(*fields)
    return {"data": body, "content_type": content_type}
