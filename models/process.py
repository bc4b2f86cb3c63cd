"""Deployed BPMN versions, running instances and their mirrors that the inbox and monitor read.

The engine state of an instance is a compact serialization *without* its spec (the spec is
stored once per version). Human tasks, waiting timers and undelivered messages are mirrored into
indexed rows in the same transaction as the state, so nothing but the engine deserialises it.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from models.db import Base, UTCDateTime, utcnow


class ProcessVersion(Base):
    """One immutable deployment of one BPMN process, keyed by the hash of its file."""

    __tablename__ = "process_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(100))  # the BPMN process id
    name: Mapped[str] = mapped_column(String(200), default="")
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255), default="")
    # Deferred: the hot path needs only the hash (the parsed spec is cached by it).
    bpmn_xml: Mapped[str] = deferred(mapped_column(Text))
    # What validation found, kept for the designer: lanes, user tasks with their forms, messages.
    meta: Mapped[dict[str, Any]] = deferred(mapped_column(JSON, default=dict))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deployed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    comment: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        UniqueConstraint("process_key", "content_hash"),
        UniqueConstraint("process_key", "version"),
    )


class InstanceStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    ERROR = "error"  # an engine error is recorded here, shown on the monitor, retried after a fix
    CANCELLED = "cancelled"


class ProcessInstance(Base):
    __tablename__ = "process_instance"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))
    process_key: Mapped[str] = mapped_column(String(100))
    # What the instance is about; the message router correlates on these.
    quarter_id: Mapped[int | None] = mapped_column(Integer)
    branch_id: Mapped[int | None] = mapped_column(Integer)
    subject_person_id: Mapped[int | None] = mapped_column(Integer)
    subject_user_id: Mapped[int | None] = mapped_column(Integer)  # their account, kept out of their own tasks
    object_type: Mapped[str] = mapped_column(String(40), default="")
    object_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=InstanceStatus.RUNNING)
    state: Mapped[bytes] = mapped_column(LargeBinary)
    serializer_version: Mapped[str] = mapped_column(String(20))
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    # Derived from the state on every save; read without deserialising.
    current_steps: Mapped[str] = mapped_column(String(500), default="")  # space-separated bpmn ids
    open_tasks: Mapped[str] = mapped_column(Text, default="")  # space-separated task uuids mirrored
    timer_tasks: Mapped[str] = mapped_column(Text, default="")  # space-separated task uuids mirrored
    waiting_messages: Mapped[str] = mapped_column(String(500), default="")
    step_status: Mapped[str] = mapped_column(String(40), default="")  # the diagram's "status" of where it waits
    error: Mapped[str | None] = mapped_column(Text)
    error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    version: Mapped[ProcessVersion] = relationship(lazy="joined")

    __table_args__ = (
        Index("ix_process_instance_route", "process_key", "quarter_id", "branch_id", "status"),
        Index("ix_process_instance_subject", "subject_person_id", "process_key", "status"),
        Index("ix_process_instance_object", "object_type", "object_id"),
        Index("ix_process_instance_status", "status", "process_key"),
    )


class TaskState(enum.StrEnum):
    OPEN = "open"  # ready; claimed when assignee_id is set
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # withdrawn by the engine (a boundary timer fired, the instance moved)


class HumanTask(Base):
    """A user task waiting for (or done by) a person: the only thing inboxes read."""

    __tablename__ = "human_task"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    task_uuid: Mapped[str] = mapped_column(String(36))
    process_key: Mapped[str] = mapped_column(String(100))
    bpmn_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    form_key: Mapped[str] = mapped_column(String(100))
    # The pool: holders of `role` in `branch_id` (NULL: bureau-wide holders).
    role: Mapped[str] = mapped_column(String(32))
    branch_id: Mapped[int | None] = mapped_column(Integer)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)  # pool moved one level up
    quarter_id: Mapped[int | None] = mapped_column(Integer)
    subject_person_id: Mapped[int | None] = mapped_column(Integer)
    # What the task decides on when that is one thing among several (the appeal of an appeal
    # decision, the person of an "own part"): from the task data by the step's `item` property.
    item_id: Mapped[int | None] = mapped_column(Integer)
    # Nobody acts on what decides on themselves: the accounts left out of the pool, as " 3 17 "
    # (`workflows.engine.access`).
    excluded_users: Mapped[str] = mapped_column(String(2000), default="")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    state: Mapped[str] = mapped_column(String(20), default=TaskState.OPEN)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    instance: Mapped[ProcessInstance] = relationship()

    __table_args__ = (
        UniqueConstraint("instance_id", "task_uuid"),
        Index("ix_human_task_pool", "state", "role", "branch_id", "due_at"),
        Index("ix_human_task_assignee", "assignee_id", "state", "due_at"),
        Index("ix_human_task_instance", "instance_id", "state"),
        Index("ix_human_task_monitor", "quarter_id", "process_key", "bpmn_id", "state"),
        Index("ix_human_task_subject", "subject_person_id", "state"),
    )


class Timer(Base):
    """A waiting timer event of an instance; the ticker fires rows whose due_at has passed."""

    __tablename__ = "timer"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    task_uuid: Mapped[str] = mapped_column(String(36))
    bpmn_id: Mapped[str] = mapped_column(String(100))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (UniqueConstraint("instance_id", "task_uuid"),)


class Message(Base):
    """A BPMN message on its way to one instance (outbox): delivered under that instance's lock,
    kept and retried while the instance is not (yet) waiting for it."""

    __tablename__ = "message"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    target_instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    source_instance_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_message_pending", "delivered_at", "target_instance_id", "id"),
    )
