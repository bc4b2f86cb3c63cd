"""The append-only, hash-chained audit log: every action of every user and of the engine.

Writers only INSERT (one statement, cheap enough for the hot path of task completion). A sealer
(`seal_pending`, run by the timer worker, at filing and by `flask audit verify`) gives each new
row the next sequence number and a SHA-256 hash over the previous hash and the row's canonical
content, so editing or deleting any sealed row breaks the chain from there on. Database triggers
(see the migration) refuse UPDATE and DELETE except the one-time sealing of a row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.db import Base, UTCDateTime, utcnow

GENESIS = "0" * 64


class AuditEvent(Base):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    instance_id: Mapped[int | None] = mapped_column(Integer)
    quarter_id: Mapped[int | None] = mapped_column(Integer)
    branch_id: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[str] = mapped_column(Text, default="{}")  # canonical JSON, hashed as stored
    seq: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), unique=True)
    hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_event_instance", "instance_id", "id"),
        Index("ix_audit_event_object", "object_type", "object_id"),
        Index("ix_audit_event_unsealed", "seq"),
        Index("ix_audit_event_actor", "actor_user_id", "id"),
    )


class AuditHead(Base):
    """One row: the last sealed sequence number and hash. Locked while sealing."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    hash: Mapped[str] = mapped_column(String(64), default=GENESIS)


_INSERT = insert(AuditEvent.__table__)  # built once: `record` runs in every completion


def canonical(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def record(
    session: Session,
    action: str,
    *,
    actor_user_id: int | None,
    object_type: str = "",
    object_id: object = "",
    data: dict[str, Any] | None = None,
    instance_id: int | None = None,
    quarter_id: int | None = None,
    branch_id: int | None = None,
    at: datetime | None = None,
) -> None:
    """Append one event in the caller's transaction (never commits)."""
    session.connection().execute(
        _INSERT,
        {
            "at": at or utcnow(),
            "actor_user_id": actor_user_id,
            "action": action,
            "object_type": object_type,
            "object_id": str(object_id),
            "instance_id": instance_id,
            "quarter_id": quarter_id,
            "branch_id": branch_id,
            "data": canonical(data or {}),
        },
    )


def row_digest(prev_hash: str, row: Any) -> str:
    """The chain link of one row: what verify recomputes."""
    material = canonical(
        [
            prev_hash,
            row.seq,
            row.id,
            row.at.isoformat() if row.at else None,
            row.actor_user_id,
            row.action,
            row.object_type,
            row.object_id,
            row.instance_id,
            row.quarter_id,
            row.branch_id,
            row.data,
        ]
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _head(session: Session) -> AuditHead:
    head = session.scalar(select(AuditHead).where(AuditHead.id == 1).with_for_update())
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
        session.flush()
    return head


def seal_pending(session: Session, limit: int = 50_000) -> int:
    """Chain every unsealed row onto the log; returns how many were sealed (caller commits)."""
    head = _head(session)
    table = AuditEvent.__table__
    rows = session.execute(
        select(table).where(table.c.seq.is_(None)).order_by(table.c.id).limit(limit)
    ).all()
    seq, prev = head.seq, head.hash
    for row in rows:
        seq += 1
        digest = row_digest(prev, _Row(row, seq))
        session.execute(update(table).where(table.c.id == row.id).values(seq=seq, hash=digest))
        prev = digest
    if rows:
        head.seq, head.hash = seq, prev
    return len(rows)


class _Row:
    """A row with its sequence number set, for hashing before the UPDATE is visible."""

    def __init__(self, row: Any, seq: int) -> None:
        self._row, self.seq = row, seq

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)


@dataclass
class VerifyResult:
    ok: bool
    sealed: int
    unsealed: int
    first_bad_seq: int | None = None
    message: str = ""


def verify(session: Session, batch: int = 5000) -> VerifyResult:
    """Recompute the whole chain; report the first row whose hash does not follow."""
    table = AuditEvent.__table__
    head = session.get(AuditHead, 1)
    prev, expected_seq, count = GENESIS, 1, 0
    last_seq = 0
    while True:
        rows = session.execute(
            select(table).where(table.c.seq >= expected_seq).order_by(table.c.seq).limit(batch)
        ).all()
        if not rows:
            break
        for row in rows:
            if row.seq != expected_seq:
                return VerifyResult(False, count, 0, expected_seq, f"row with sequence {expected_seq} is missing")
            if row_digest(prev, row) != row.hash:
                return VerifyResult(False, count, 0, row.seq, f"row {row.id} (sequence {row.seq}) was altered")
            prev, expected_seq, count, last_seq = row.hash, expected_seq + 1, count + 1, row.seq
    if head is not None and (head.seq != last_seq or head.hash != prev):
        return VerifyResult(False, count, 0, last_seq + 1, f"sealed rows after sequence {last_seq} are missing")
    unsealed = session.scalar(select(table.c.id).where(table.c.seq.is_(None)).limit(1))
    n_unsealed = 0
    if unsealed is not None:
        from sqlalchemy import func

        n_unsealed = session.scalar(select(func.count()).select_from(table).where(table.c.seq.is_(None))) or 0
    return VerifyResult(True, count, n_unsealed, None, "chain intact")
