"""A filed quarter is locked: no score, claim, decision or attachment of it can change.

Two guards: services call `ensure_unlocked` before they write (a clear QuarterLocked error), and
a `before_flush` hook refuses any ORM change to an object of a locked quarter that slipped past
them. Refusals are recorded in the audit log by the transaction boundary (`tx.record_refusal`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import listen
from models.evaluation import Appeal, BranchQuarter, Claim, Evaluation, Evidence, Quarter
from workflows.errors import QuarterLocked


def is_locked(session: Session, quarter_id: int) -> bool:
    """Whether a quarter is locked, read once per transaction (filing happens in its own)."""
    known: dict[int, bool] = session.info.setdefault("pf_locked_quarters", {})
    if quarter_id not in known:
        with session.no_autoflush:
            known[quarter_id] = bool(session.scalar(select(Quarter.locked).where(Quarter.id == quarter_id)))
    return known[quarter_id]


def note(session: Session, quarter_id: int, locked: bool) -> None:
    """What a caller read of the quarter's lock in this transaction (saves `is_locked` a query)."""
    session.info.setdefault("pf_locked_quarters", {})[quarter_id] = bool(locked)


def forget(session: Session) -> None:
    session.info.pop("pf_locked_quarters", None)


def ensure_unlocked(session: Session, quarter_id: int | None) -> None:
    if quarter_id is not None and is_locked(session, quarter_id):
        raise QuarterLocked(quarter_id=quarter_id)


def quarter_of(session: Session, obj: Any) -> int | None:
    if isinstance(obj, (Evaluation, BranchQuarter)):
        return obj.quarter_id
    if isinstance(obj, (Claim, Evidence, Appeal)):
        return session.scalar(select(Evaluation.quarter_id).where(Evaluation.id == obj.evaluation_id))
    return None


_GUARDED = (Evaluation, Claim, Evidence, Appeal, BranchQuarter)


def _refuse_changes_to_locked_quarters(session: Session, flush_context: Any, instances: Any) -> None:
    if session.info.get("allow_locked_writes"):
        return
    for obj in list(session.dirty) + list(session.deleted) + list(session.new):
        if isinstance(obj, _GUARDED) and (obj in session.new or session.is_modified(obj)):
            with session.no_autoflush:
                quarter_id = quarter_of(session, obj)
            if quarter_id is not None and is_locked(session, quarter_id):
                raise QuarterLocked(quarter_id=quarter_id)


def _forget_lock_states(session: Session, *args: Any) -> None:
    forget(session)


def install() -> None:
    """The before-flush guard and the per-transaction cache of lock states (idempotent)."""
    listen(Session, {"before_flush": _refuse_changes_to_locked_quarters, "after_commit": _forget_lock_states,
                     "after_rollback": _forget_lock_states, "after_soft_rollback": _forget_lock_states})
