"""The checks every form of the quarter makes of its free text, decisions and dates, each one
written once: a text is stripped, may be required, and is at most its field's length."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from models.clock import now
from workflows.i18n import N_

SHORT, MEDIUM, LONG = 2000, 4000, 20000  # the lengths a reason, a record and a notice's body may have
TOO_LONG = {100: N_("At most 100 characters."), 300: N_("At most 300 characters."),
            SHORT: N_("At most 2000 characters."), MEDIUM: N_("At most 4000 characters."),
            LONG: N_("At most 20000 characters.")}


def text(errors: dict[str, list[str]], field: str, value: Any, *, limit: int, missing: str | None = None) -> str:
    """`value` stripped; an error on `field` when it is missing (with `missing` given) or too long."""
    clean = (value or "").strip() if isinstance(value, str) or value is None else str(value).strip()
    if missing is not None and not clean:
        errors.setdefault(field, []).append(missing)
    elif len(clean) > limit:
        errors.setdefault(field, []).append(TOO_LONG[limit])
    return clean


def decision(errors: dict[str, list[str]], field: str, value: Any, choices: Iterable[str], message: str) -> str:
    """One of `choices`, else an error on `field`."""
    if value not in tuple(choices):
        errors.setdefault(field, []).append(message)
    return str(value or "")


def not_in_future(errors: dict[str, list[str]], field: str, day: date | None, message: str) -> None:
    if day is not None and day > now().date():
        errors.setdefault(field, []).append(message)
