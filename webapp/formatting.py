"""How pages write values, registered once for every template (`register`): moments and days in
the bureau's time zone, points as people write them (`models.values.plain`), a claim's effect on
the score, file sizes."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Flask
from flask_babel import format_date, format_datetime

from models.values import plain


def moment(value: str | datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """A moment (datetime or ISO text, UTC) in the bureau's time zone."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return format_datetime(value, fmt)


def day(value: str | date | None, fmt: str = "yyyy-MM-dd") -> str:
    """A day (date or ISO text)."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    return format_date(value, fmt)


def points(value: Any, signed: bool = False) -> str:
    """Points as people write them: 2, 1.5, 0.25, −1 (and +2 when `signed`)."""
    return plain(value, signed=signed)


def effect(kind: str, value: Any) -> str:
    """A claim's effect on the score: +2 for a bonus, −1 for a deduction."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return plain(-number if kind == "deduction" else number, signed=True)


def size(n: int | None) -> str:
    """A file's size: 512 B, 40 KB, 1.5 MB."""
    if n is None:
        return ""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def register(app: Flask) -> None:
    """The filters (`|dt`, `|d`, `|points`) and functions (`when`, `day`, `pts`, `signed`, `size`)
    every template may use."""
    app.jinja_env.filters.update(dt=moment, d=day, points=points)
    app.jinja_env.globals.update(when=moment, day=day, pts=points, signed=effect, size=size)
