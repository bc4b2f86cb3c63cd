"""How values are written: in stored and served JSON (moments as ISO text, points as text with two
decimals) and for people to read (points as people write them: 2, 1.5, −1). One place, so the
explanation, the API, the pages and the charts say a number the same way."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
MINUS = "−"  # U+2212, the minus sign of printed numbers


def iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def money(value: Decimal | int | float | str) -> str:
    """Points as stored JSON writes them: text with two decimals ("1.50", "-2.00")."""
    return format(Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP), "f")


def points_text(value: Decimal | int | float | str | None) -> str | None:
    """`money`, or None."""
    return None if value is None else money(value)


def plain(value: Any, *, signed: bool = False) -> str:
    """Points as people write them: 2, 1.5, 0.25, −1 (and +2 when `signed`); "—" for nothing."""
    if value is None or value == "":
        return "—"
    try:
        number = Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return str(value)
    text = f"{abs(number):.2f}".rstrip("0").rstrip(".") or "0"
    if number == 0:
        return "0"
    if signed:
        return ("+" if number > 0 else MINUS) + text
    return (MINUS if number < 0 else "") + text
