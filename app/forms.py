"""Reading a request's form: each option of app/options.py is read and checked once, here.

Fields are checked before the photo is decoded, so a bad field costs nothing.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from app import options
from app.errors import bad_request


def field(name: str) -> str | None:
    """One form field as sent, refusing it when it was sent more than once."""
    values = request.form.getlist(name)
    if len(values) > 1:
        raise bad_request(f"Send {name} once, not {len(values)} times.")
    return values[0] if values else None


def read(option: options.Option) -> Any:
    """The value of one option from the form: its default when absent, a 400 naming it when bad."""
    try:
        return option.parse(field(option.name), current_app.config)
    except options.OptionError as error:
        raise bad_request(error.message) from None


def read_all(endpoint: str) -> dict[str, Any]:
    """Every option the endpoint takes (options.ENDPOINTS), by name, in the table's order."""
    values = {option.name: read(option) for option in options.ENDPOINTS[endpoint]}
    problem = options.conflict(values)
    if problem:
        raise bad_request(problem)
    return values
