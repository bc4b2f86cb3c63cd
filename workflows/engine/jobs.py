"""Background work: fire due timers, deliver queued messages, seal the audit log.

Run by the in-process scheduler (`make run`), by `flask --app webapp workflows tick` (cron) and by
`flask --app webapp workflows worker` (a loop, for multi-process deployments). Any number of
tickers may run at once: each timer fires under its instance's compare-and-set lock, so a timer
never fires twice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from models import audit
from models.clock import now
from models.process import InstanceStatus, Timer
from workflows.engine import instances, tx
from workflows.errors import EngineError

log = logging.getLogger(__name__)


@dataclass
class TickResult:
    timers_fired: int = 0
    messages_delivered: int = 0
    errors: int = 0
    audit_sealed: int = 0


def fire_due_timers(session: Session, limit: int = 1000) -> tuple[int, int]:
    """Fire the timers that are due by the clock; returns (instances moved, errors)."""
    moment = now()
    instance_ids = list(dict.fromkeys(session.scalars(
        select(Timer.instance_id).where(Timer.due_at <= moment).order_by(Timer.due_at).limit(limit))))
    session.commit()
    moved = errors = 0
    for instance_id in instance_ids:
        try:
            instance = instances.get_instance(session, instance_id)
            if instance.status != InstanceStatus.RUNNING:
                session.rollback()
                continue
            if instances.fire_timers(session, instance):
                moved += 1
            session.commit()
        except (instances.StaleInstance, OperationalError, IntegrityError):
            session.rollback()  # another ticker or a user got there first: nothing lost
        except EngineError as e:
            session.rollback()
            instances.record_error(session, instance_id, str(e))
            session.commit()
            errors += 1
    return moved, errors


def tick(session: Session) -> TickResult:
    """One round of background work (what cron's `workflows tick` does)."""
    result = TickResult()
    # Messages first (they may unblock timers' successors), then timers, then their messages.
    result.messages_delivered += tx.deliver_pending(session)
    result.timers_fired, result.errors = fire_due_timers(session)
    result.messages_delivered += tx.deliver_pending(session)
    result.audit_sealed = audit.seal_pending(session)
    session.commit()
    return result


def run_until_idle(session: Session, rounds: int = 20) -> TickResult:
    """Tick until nothing moves (tests and the demo loader use it)."""
    total = TickResult()
    for _ in range(rounds):
        result = tick(session)
        total.timers_fired += result.timers_fired
        total.messages_delivered += result.messages_delivered
        total.errors += result.errors
        total.audit_sealed += result.audit_sealed
        if not (result.timers_fired or result.messages_delivered):
            break
    return total


def worker(session_factory: object, interval: float = 5.0, once: bool = False) -> None:
    """Loop forever: tick, sleep. Errors are logged and the loop goes on."""
    while True:
        from models.db import db

        try:
            result = tick(db.session)
            if result.timers_fired or result.messages_delivered:
                log.info("tick: %s", result)
        except Exception:  # noqa: BLE001 - a worker must survive a bad round
            db.session.rollback()
            log.exception("tick failed")
        finally:
            db.session.remove()
        if once:
            return
        time.sleep(interval)
