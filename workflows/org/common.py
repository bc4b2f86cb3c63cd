"""Small helpers shared by the organisation services (units, people, accounts, roles)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import audit
from models.org import Branch
from models.people import Role, RoleAssignment, User
from models.permissions import Principal, can
from workflows.errors import NotAllowed, NotFound, ValidationFailed
from workflows.i18n import N_

M = TypeVar("M")
Errors = dict[str, list[str]]


def require_admin(actor: Principal) -> None:
    """Organisation, people, accounts, roles and the roster are the administrator's (bureau-wide)."""
    if not can(actor, "admin.manage"):
        raise NotAllowed()


def get(session: Session, model: type[M], ident: int | None) -> M:
    """The object with this id, or NotFound."""
    found = session.get(model, ident) if ident is not None else None
    if found is None:
        raise NotFound()
    return found


def taken(session: Session, model: type, column: str, value: str, except_id: int | None) -> bool:
    """Whether another row of `model` than `except_id` has this value in `column`."""
    found = session.scalar(select(model.id).where(getattr(model, column) == value))
    return found is not None and found != except_id


def raise_if(errors: Errors) -> None:
    if errors:
        raise ValidationFailed(field_errors=errors)


def require(errors: Errors, **values: str) -> None:
    """Add "Required." to each field whose value is empty."""
    for name, value in values.items():
        if not value:
            errors.setdefault(name, []).append(N_("Required."))


def apply_changes(obj: object, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Set attributes; returns {field: [old, new]} for those that changed (what the audit keeps)."""
    changes: dict[str, list[Any]] = {}
    for name, value in values.items():
        old = getattr(obj, name)
        if old != value:
            changes[name] = [old, value]
            setattr(obj, name, value)
    return changes


def flip(session: Session, actor: Principal, obj: Any, kind: str, active: bool,
         branch_id: int | None = None) -> None:
    """Set `active` and audit it as "<kind>.activated" / "<kind>.deactivated" (nothing when unchanged)."""
    if obj.active != active:
        obj.active = active
        audit.record(session, f"{kind}.{'activated' if active else 'deactivated'}",
                     actor_user_id=actor.acting_user_id, object_type=kind, object_id=obj.id, branch_id=branch_id)


def branch_errors(session: Session, branch_id: int | None, errors: Errors) -> None:
    """A branch to put somebody in must exist and be active (None: no branch, nothing to check)."""
    if branch_id is None:
        return
    branch = session.get(Branch, branch_id)
    if branch is None:
        errors.setdefault("branch_id", []).append(N_("Unknown branch."))
    elif not branch.active:
        errors.setdefault("branch_id", []).append(N_("This branch is inactive."))


def active_administrators(session: Session, except_user_id: int) -> int:
    """How many active accounts other than `except_user_id` hold the bureau-wide administrator role."""
    return session.scalar(
        select(func.count(func.distinct(RoleAssignment.user_id))).join(User, User.id == RoleAssignment.user_id)
        .where(RoleAssignment.role == Role.ADMINISTRATOR.value, RoleAssignment.branch_id.is_(None),
               User.active.is_(True), User.id != except_user_id)
    ) or 0
