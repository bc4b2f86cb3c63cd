"""Reading untrusted numbers from query strings and form values: anything unreadable, or beyond
what a row id can be (so no query ever fails on it), is "none" or the default, never a 500."""

from __future__ import annotations

from typing import Any

from flask import request

from models.db import MAX_ID  # ids and years are 32-bit integers in the database


def optional_int(value: Any) -> int | None:
    """A whole number from a form or query value, or None ("" and "None" are none too)."""
    if value in (None, "", "None"):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if -MAX_ID <= number <= MAX_ID else None


def id_arg(name: str) -> int | None:
    """A query argument naming a row by its id, or None."""
    value = optional_int(request.args.get(name))
    return value if value is not None and value >= 1 else None


def int_arg(name: str, default: int, low: int = 1, high: int = 10**9) -> int:
    """A whole-number query argument, clamped; anything unreadable gives the default."""
    value = optional_int(request.args.get(name))
    return default if value is None else max(low, min(high, value))


def page_number(high: int = 10_000) -> int:
    """The `page` argument, 1 to `high`."""
    return int_arg("page", 1, 1, high)
