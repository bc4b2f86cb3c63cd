"""The transaction boundary for routes, API, CLI and jobs: run a service, commit, retry when the
instance changed underneath (compare-and-set lost, SQLite snapshot busy, PostgreSQL serialization),
then deliver the messages the step threw, each in its own transaction under its target's lock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import literal, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from models import audit
from models.clock import now
from models.permissions import Principal
from models.process import InstanceStatus, Message, ProcessInstance
from workflows.engine import instances
from workflows.errors import Conflict, EngineError, QuarterLocked

log = logging.getLogger(__name__)
T = TypeVar("T")
M = Message.__table__
PI = ProcessInstance.__table__

# Messages delivered synchronously after a web request; the rest wait for the worker/tick.
DISPATCH_LIMIT = 200


def _transient(error: Exception) -> bool:
    text = str(getattr(error, "orig", error)).lower()
    return any(s in text for s in ("database is locked", "could not serialize", "deadlock detected",
                                   "busy", "snapshot"))


def run(session: Session, fn: Callable[..., T], *args: Any, retries: int = 3, dispatch: bool = True,
        commit_on: tuple[type[BaseException], ...] = (), **kwargs: Any) -> T:
    """Run the service `fn(session, *args, **kwargs)` and commit; retried on a lost compare-and-set
    or a transient lock; then deliver the messages it threw.

    `commit_on`: refusals after which what the service wrote still counts and is committed before
    the refusal is raised (a failed sign-in counts towards the throttle)."""
    for attempt in range(retries + 1):
        try:
            session.info.pop("pf_dispatch", None)
            result = fn(session, *args, **kwargs)
            targets = session.info.pop("pf_dispatch", None)
            session.commit()
        except commit_on:
            session.commit()
            raise
        except instances.StaleInstance:
            session.rollback()
            if attempt == retries:
                raise
        except QuarterLocked as e:
            session.rollback()
            _record_refusal(session, e, fn, args)
            raise
        except (OperationalError, DBAPIError) as e:
            session.rollback()
            if not _transient(e) or attempt == retries:
                raise Conflict() from e
        except BaseException:
            session.rollback()
            raise
        else:
            if dispatch and targets:
                deliver_pending(session, limit=DISPATCH_LIMIT)
            return result
        time.sleep(0.01 * (attempt + 1))
    raise Conflict()


def record_refusal(session: Session, error: QuarterLocked, *, actor_user_id: int | None, what: str) -> None:
    """Record a refused write to a locked quarter (in the caller's fresh transaction)."""
    quarter_id = error.details.get("quarter_id")
    audit.record(session, "locked.refused", actor_user_id=actor_user_id, object_type="quarter",
                 object_id=quarter_id if quarter_id is not None else "",
                 quarter_id=quarter_id if isinstance(quarter_id, int) else None, data={"attempt": what})


def _record_refusal(session: Session, error: QuarterLocked, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """Every refused write to a locked quarter is recorded, whoever tried and however."""
    actor = next((a.acting_user_id for a in args if isinstance(a, Principal)), None)
    try:
        record_refusal(session, error, actor_user_id=actor, what=f"{fn.__module__}.{fn.__name__}")
        session.commit()
    except Exception:  # noqa: BLE001 - recording must never hide the refusal itself
        session.rollback()
        log.exception("could not record a refused write to a locked quarter")


def deliver_pending(session: Session, limit: int = 1000, instance_ids: set[int] | None = None) -> int:
    """Deliver queued messages whose target now waits for them; returns how many were delivered.

    Each delivery commits on its own. A target that is not (yet) waiting keeps its message queued;
    a target that finished drops it; an engine error marks the target failed and keeps the message.
    """
    delivered = 0
    rounds = 0
    while rounds < 50:
        rounds += 1
        # Only messages their target waits for now (or whose target has finished, to drop them):
        # queued messages for busy targets cost nothing until they can be delivered.
        waits = (literal(" ") + PI.c.waiting_messages + literal(" ")).like(literal("% ") + M.c.name + literal(" %"))
        query = (select(M.c.id, M.c.target_instance_id, M.c.name, M.c.payload)
                 .join(PI, PI.c.id == M.c.target_instance_id)
                 .where(M.c.delivered_at.is_(None),
                        (PI.c.status.in_((InstanceStatus.COMPLETED.value, InstanceStatus.CANCELLED.value)))
                        | ((PI.c.status == InstanceStatus.RUNNING.value) & waits))
                 .order_by(M.c.id).limit(limit))
        if instance_ids is not None:
            query = query.where(M.c.target_instance_id.in_(instance_ids))
        rows = session.execute(query).all()
        session.commit()
        moved = 0
        for row in rows:
            if delivered >= limit:
                return delivered
            try:
                instance = instances.get_instance(session, row.target_instance_id)
                if instance.status in (InstanceStatus.COMPLETED, InstanceStatus.CANCELLED):
                    session.execute(update(M).where(M.c.id == row.id).values(
                        delivered_at=now(), last_error="the target instance had already finished"))
                    session.commit()
                    continue
                if instance.status == InstanceStatus.ERROR:
                    session.rollback()
                    continue
                if not instances.send_message(session, instance, row.name, row.payload or {}, actor_user_id=None):
                    session.rollback()
                    continue
                done = session.execute(update(M).where(M.c.id == row.id, M.c.delivered_at.is_(None))
                                       .values(delivered_at=now(), attempts=M.c.attempts + 1))
                if done.rowcount != 1:
                    session.rollback()
                    continue
                session.commit()
                delivered += 1
                moved += 1
            except (instances.StaleInstance, OperationalError):
                session.rollback()
            except EngineError as e:
                session.rollback()
                instances.record_error(session, row.target_instance_id, str(e))
                session.execute(update(M).where(M.c.id == row.id).values(last_error=str(e)[:2000],
                                                                         attempts=M.c.attempts + 1))
                session.commit()
        if not moved:
            break
    return delivered


def commit_bookkeeping(session: Session) -> None:
    """Commit what a request wrote only as bookkeeping beside a read (an API token's last use):
    the boundary's plain commit, for the one case where no service runs."""
    session.commit()
