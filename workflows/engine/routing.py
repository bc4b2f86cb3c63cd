"""Where a message thrown by one instance goes: every running instance of a process that catches
that message and whose quarter / branch / person match the payload's keys of those names.

Bureau-level instances (branch NULL) receive branch-scoped messages of their quarter; a payload
list `person_ids` targets several persons. Messages go to an outbox (`message` table) in the
thrower's transaction and are delivered after commit, each under its target's lock; a message
that arrives before its target waits for it stays queued until it does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.orm import Session

from models.clock import now
from models.process import InstanceStatus, Message, ProcessInstance, ProcessVersion

PI = ProcessInstance.__table__

_catchers: dict[tuple[str, int], set[str]] = {}  # (message, versions count) -> process keys


def catching_processes(session: Session, message: str) -> set[str]:
    """Process keys whose deployed versions catch `message` (cached per deployment count)."""
    count = session.scalar(select(func.count()).select_from(ProcessVersion)) or 0
    key = (message, count)
    if key not in _catchers:
        keys = set()
        for process_key, meta in session.execute(select(ProcessVersion.process_key, ProcessVersion.meta)):
            if message in (meta or {}).get("catches", {}).values():
                keys.add(process_key)
        _catchers[key] = keys
    return _catchers[key]


def targets(session: Session, source: ProcessInstance, name: str, payload: dict[str, Any]) -> list[int]:
    keys = catching_processes(session, name)
    if not keys:
        return []
    query = select(PI.c.id).where(PI.c.process_key.in_(keys), PI.c.status.in_(
        (InstanceStatus.RUNNING.value, InstanceStatus.ERROR.value)), PI.c.id != source.id)
    if "quarter_id" in payload:
        query = query.where(or_(PI.c.quarter_id == payload["quarter_id"], PI.c.quarter_id.is_(None)))
    if "branch_id" in payload:
        query = query.where(or_(PI.c.branch_id == payload["branch_id"], PI.c.branch_id.is_(None)))
    if "person_id" in payload:
        query = query.where(or_(PI.c.subject_person_id == payload["person_id"], PI.c.subject_person_id.is_(None)))
    if "person_ids" in payload:
        query = query.where(PI.c.subject_person_id.in_(list(payload["person_ids"] or [-1])))
    return list(session.scalars(query.order_by(PI.c.id)))


def enqueue(session: Session, source: ProcessInstance, events: list[Any]) -> int:
    """Put the messages an instance threw into the outbox; returns how many rows were written."""
    rows = []
    moment = now()
    for event in events:
        name = event.event_definition.name
        payload = event.payload if isinstance(event.payload, dict) else {"value": event.payload}
        for target in targets(session, source, name, payload):
            rows.append({"name": name, "target_instance_id": target, "source_instance_id": source.id,
                         "payload": payload, "created_at": moment, "attempts": 0})
    if rows:
        session.execute(insert(Message.__table__), rows)
        session.info.setdefault("pf_dispatch", set()).update(r["target_instance_id"] for r in rows)
    return len(rows)
