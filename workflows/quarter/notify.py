"""In-app notifications: a reminder, a decision with its reason, a deduction from a report.

A notification stores its kind and parameters; the web layer words it in the reader's language.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from models.clock import now
from models.evaluation import Notification
from models.people import Role, RoleAssignment, User
from models.permissions import Principal
from workflows.errors import NotFound

KINDS = (
    "self_evaluation_reminder", "appeal_decided", "report_deduction", "report_revoked", "report_closed",
    "report_appeal_dismissed", "follow_up_overdue", "notice_published", "annual_published", "review_returned",
)


def notify(session: Session, user_ids: Iterable[int | None], kind: str, *, data: dict[str, Any] | None = None,
           body: str = "", link: str = "") -> int:
    """Add one notification per user (bulk); returns how many."""
    moment = now()
    rows = [{"user_id": u, "kind": kind, "data": data or {}, "body": body, "link": link, "created_at": moment}
            for u in dict.fromkeys(u for u in user_ids if u is not None)]
    if rows:
        session.execute(insert(Notification.__table__), rows)
    return len(rows)


def mark_read(session: Session, actor: Principal, notification_id: int) -> Notification:
    """Mark one of the actor's notifications read (anybody else's does not exist for them)."""
    item = session.get(Notification, notification_id)
    if item is None or item.user_id != actor.user_id:
        raise NotFound()
    if item.read_at is None:
        item.read_at = now()
    return item


def mark_all_read(session: Session, actor: Principal) -> int:
    """Mark every unread notification of the actor read; how many there were."""
    done = session.execute(update(Notification).where(
        Notification.user_id == actor.user_id, Notification.read_at.is_(None)).values(read_at=now()))
    return int(done.rowcount or 0)


def user_of_person(session: Session, person_id: int | None) -> int | None:
    if person_id is None:
        return None
    return session.scalar(select(User.id).where(User.person_id == person_id))


def holders(session: Session, role: Role | str, branch_id: int | None = None) -> list[int]:
    """Users holding a role in a branch (and bureau-wide), or bureau-wide only when branch_id is None."""
    query = select(RoleAssignment.user_id).where(RoleAssignment.role == str(role))
    if branch_id is None:
        query = query.where(RoleAssignment.branch_id.is_(None))
    else:
        query = query.where((RoleAssignment.branch_id == branch_id) | RoleAssignment.branch_id.is_(None))
    return list(dict.fromkeys(session.scalars(query)))
