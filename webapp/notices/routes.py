"""The quarter's notices (通报点评) for every party member: the list, a notice, and its print view.

A notice shows what was published: the title, the party office's comment, the commendations, the
members under the pass line with their follow-ups, the branches followed up, and every branch's
collective score. Only published notices exist here."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import abort, render_template
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from models.clock import now
from models.evaluation import Notice, Quarter
from models.org import Bureau
from webapp.arguments import int_arg
from webapp.authz import guard
from webapp.extensions import db
from webapp.nav import register
from webapp.notices import bp
from webapp.office.web import in_range
from workflows.reading.paging import Page

register(_l("Notices"), "notices.index", "signed_in", order=55)

ACTION = "signed_in"
PER_PAGE = 30


def _published(notice_id: int) -> Notice:
    notice = db.session.get(Notice, in_range(notice_id))
    if notice is None or notice.published_at is None:
        abort(404)
    return notice


@bp.route("/")
@guard(ACTION)
def index():
    """Every published notice, newest first."""
    clauses = [Notice.published_at.is_not(None)]
    total = db.session.scalar(select(func.count()).select_from(Notice).where(*clauses)) or 0
    page = int_arg("page", 1)
    rows = db.session.execute(select(Notice, Quarter).join(Quarter, Quarter.id == Notice.quarter_id).where(*clauses)
                              .order_by(Notice.published_at.desc(), Notice.id.desc())
                              .limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    return render_template("notices/index.html", page=Page(rows, total, page, PER_PAGE))


def _number(value: Any) -> Decimal | None:
    try:
        return None if value in (None, "") else Decimal(str(value))
    except (ArithmeticError, ValueError):
        return None


def _view(notice: Notice) -> dict[str, Any]:
    """What a notice page shows, from the lists as they were published."""
    data = dict(notice.data or {})
    # The lists keep numbers as text ("100.00"); the tables want numbers.
    data["branches"] = [{**b, **{k: _number(b.get(k)) for k in ("mean", "stdev", "min", "max")}}
                        for b in data.get("branches", [])]
    branch_names = {b["branch_id"]: b["branch"] for b in data.get("branches", [])}
    person_follow_ups: dict[int, list[str]] = {}
    branch_follow_ups: list[tuple[str, str]] = []
    for item in data.get("follow_ups", []):
        if item.get("person_id") is not None:
            person_follow_ups.setdefault(item["person_id"], []).append(item["kind"])
        elif item.get("branch_id") is not None:
            branch_follow_ups.append((branch_names.get(item["branch_id"], str(item["branch_id"])), item["kind"]))
    later = db.session.scalar(select(Notice.id).where(
        Notice.quarter_id == notice.quarter_id, Notice.published_at.is_not(None),
        Notice.published_at > notice.published_at).order_by(Notice.published_at.desc()).limit(1))
    return {"notice": notice, "quarter": notice.quarter, "data": data, "branch_names": branch_names,
            "person_follow_ups": person_follow_ups, "branch_follow_ups": branch_follow_ups, "later_id": later}


@bp.route("/<int:notice_id>")
@guard(ACTION)
def show(notice_id: int):
    """A published notice."""
    return render_template("notices/show.html", **_view(_published(notice_id)))


@bp.route("/<int:notice_id>/print")
@guard(ACTION)
def print_view(notice_id: int):
    """A published notice, laid out for printing."""
    bureau = db.session.scalar(select(Bureau.name).limit(1)) or ""
    return render_template("notices/print.html", bureau_name=bureau, printed_at=now(),
                           **_view(_published(notice_id)))
