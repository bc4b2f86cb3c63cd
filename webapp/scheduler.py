"""The in-process scheduler of `make run`: a background APScheduler job ticks the workflows (timers,
messages, audit sealing) every SCHEDULER_INTERVAL_SECONDS. Production runs `flask workflows worker`
or cron + `flask workflows tick` instead; any number of tickers is safe."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

log = logging.getLogger(__name__)
_scheduler: BackgroundScheduler | None = None


def start(app: Flask) -> BackgroundScheduler:
    global _scheduler
    if _scheduler is not None:
        return _scheduler

    def tick() -> None:
        from webapp.extensions import db
        from workflows.engine import jobs

        with app.app_context():
            try:
                result = jobs.tick(db.session)
                if result.timers_fired or result.messages_delivered or result.errors:
                    log.info("tick: %s", result)
            except Exception:  # noqa: BLE001 - the scheduler must survive a bad round
                db.session.rollback()
                log.exception("tick failed")
            finally:
                db.session.remove()

    scheduler = BackgroundScheduler(daemon=True, job_defaults={"coalesce": True, "max_instances": 1})
    scheduler.add_job(tick, "interval", seconds=app.config["SCHEDULER_INTERVAL_SECONDS"], id="workflows-tick")
    scheduler.start()
    _scheduler = scheduler
    log.info("scheduler: ticking every %ss", app.config["SCHEDULER_INTERVAL_SECONDS"])
    return scheduler
