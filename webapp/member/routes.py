"""The member's area: the self-evaluation task page (also the branch's recording for an overdue
member), evidence files, my scores with the "why" of every point, the probationary record,
appeals and concerns, and notifications.

The views live in the modules imported at the end; this module holds the blueprint, the
navigation entries and the small helpers the templates of this area share.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from flask import render_template, request
from flask_babel import format_date, format_datetime
from flask_babel import lazy_gettext as _l

from webapp.member import bp
from webapp.nav import register


def when(value: str | datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """A moment (datetime or ISO string, UTC) in the bureau's time zone."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return format_datetime(value, fmt)


def day(value: str | date | None, fmt: str = "yyyy-MM-dd") -> str:
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    return format_date(value, fmt)


def pts(value: Any, signed: bool = False) -> str:
    """Points as people write them: 2, 1.5, 0.25 (and +2 / −1 when `signed`)."""
    if value is None or value == "":
        return "—"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = f"{abs(number):.2f}".rstrip("0").rstrip(".") or "0"
    if signed and number != 0:
        return ("+" if number > 0 else "−") + text
    return ("−" if number < 0 else "") + text


def signed(kind: str, value: Any) -> str:
    """A claim's effect on the score: +2 for a bonus, −1 for a deduction."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return pts(-number if kind == "deduction" else number, signed=True)


def size(n: int | None) -> str:
    if n is None:
        return ""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def safe_link(link: str | None) -> str | None:
    """A same-site path, or None: a stored link never sends anyone elsewhere."""
    if not link:
        return None
    parts = urlsplit(link)
    if not link.startswith("/") or link.startswith("//") or link.startswith("/\\") or parts.scheme or parts.netloc:
        return None
    return link


def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, **context), status


@bp.context_processor
def helpers() -> dict[str, Any]:
    return {"when": when, "day": day, "pts": pts, "signed": signed, "size": size, "q": request.args.get("q", "")}


register(_l("My scores"), "member.index", "evaluation.declare", order=20)
