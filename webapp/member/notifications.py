"""Notifications: each stored as a kind with its parameters, worded here in the reader's
language; marked read one by one (opening it does that too) or all at once. The navigation
badge counts the unread ones with one indexed query."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from models.evaluation import Notification
from webapp.authz import current_principal, guard
from webapp.boundary import run_service
from webapp.extensions import db
from webapp.formatting import moment as when
from webapp.labels import label
from webapp.member import bp
from webapp.member.routes import page
from webapp.nav import register
from webapp.redirects import safe_link
from workflows.quarter import notify

PER_PAGE = 30


def unread_count(user_id: int) -> int:
    """Unread notifications of a user (index ix_notification_user_read)."""
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def _moment(value: Any) -> str:
    if isinstance(value, datetime | str) and value:
        return when(value)
    return ""


def describe(n: Notification) -> str:
    """The sentence a notification says, in the reader's language."""
    data = n.data if isinstance(n.data, dict) else {}
    kind = n.kind
    if kind == "self_evaluation_reminder":
        deadline = _moment(data.get("deadline"))
        return _("Reminder: your self-evaluation is due by %(deadline)s. Nothing to declare? One click is enough.",
                 deadline=deadline) if deadline else _("Reminder: your self-evaluation is due soon.")
    if kind == "appeal_decided":
        return _("Your appeal was upheld: the score is reviewed again.") if data.get("decision") == "upheld" \
            else _("Your appeal was dismissed.")
    if kind == "report_deduction":
        until = _moment(data.get("appeal_until"))
        return _("A supervision report about you was found substantiated and a deduction was recorded in your "
                 "quarter. You may appeal until %(until)s.", until=until) if until else \
            _("A supervision report about you was found substantiated and a deduction was recorded in your quarter.")
    if kind == "report_revoked":
        return _("Your appeal was upheld: the deduction from the supervision report has been withdrawn.")
    if kind == "report_closed":
        return _("The supervision report you made was found unsubstantiated and has been closed.")
    if kind == "report_appeal_dismissed":
        return _("Your appeal against the deduction from a supervision report was dismissed.")
    if kind == "follow_up_overdue":
        return _("A follow-up is overdue: %(kind)s.", kind=label("followup_kind", data.get("kind")))
    if kind == "notice_published":
        return _("The notice of %(quarter)s has been published: %(title)s", quarter=data.get("quarter", ""),
                 title=data.get("title", ""))
    if kind == "annual_published":
        return _("The annual assessment of %(year)s has been published.", year=data.get("year", ""))
    if kind == "review_returned":
        return _("The branch secretary returned a review to be done again.")
    return _("You have a new message.")


def _read(notification_id: int) -> Notification:
    """Mark one of my notifications read (somebody else's does not exist for me)."""
    return run_service(notify.mark_read, current_principal(), notification_id).result


@bp.route("/notifications")
@guard("signed_in")
def notifications() -> Any:
    """My notifications, newest first; unread ones marked."""
    principal = current_principal()
    only_unread = request.args.get("unread") == "1"
    query = select(Notification).where(Notification.user_id == principal.user_id)
    if only_unread:
        query = query.where(Notification.read_at.is_(None))
    result = db.paginate(query.order_by(Notification.created_at.desc(), Notification.id.desc()),
                         per_page=PER_PAGE, error_out=False, max_per_page=PER_PAGE)
    items = [{"n": n, "text": describe(n), "link": safe_link(n.link)} for n in result.items]
    return page("member/notifications.html", result=result, items=items, unread=unread_count(principal.user_id),
                only_unread=only_unread)


@bp.route("/notifications/<int:notification_id>/open")
@guard("signed_in")
def open_notification(notification_id: int) -> Any:
    """Follow a notification's link, marking it read on the way."""
    n = _read(notification_id)
    return redirect(safe_link(n.link) or url_for("member.notifications"))


@bp.route("/notifications/<int:notification_id>/read", methods=["POST"])
@guard("signed_in")
def mark_read(notification_id: int) -> Any:
    """Mark one notification read and stay on the list."""
    _read(notification_id)
    return redirect(url_for("member.notifications", page=request.args.get("page", type=int)))


@bp.route("/notifications/read-all", methods=["POST"])
@guard("signed_in")
def mark_all_read() -> Any:
    """Mark every notification read at once."""
    if run_service(notify.mark_all_read, current_principal()).result:
        flash(_("All notifications marked as read."), "success")
    return redirect(url_for("member.notifications"))


register(_l("Notifications"), "member.notifications", "signed_in", order=85,
         badge=lambda principal: unread_count(principal.user_id))
