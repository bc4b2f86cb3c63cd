"""What happens when the app starts: deploy the shipped BPMN files, start the timer scheduler."""

from __future__ import annotations

import logging

from flask import Flask
from sqlalchemy import inspect

from webapp.extensions import db

log = logging.getLogger(__name__)


def on_start(app: Flask) -> None:
    if app.config.get("TESTING"):
        return
    with app.app_context():
        try:
            ready = inspect(db.engine).has_table("process_version")
        except Exception:  # the database may not exist yet (before `flask db upgrade`)
            ready = False
        if ready and app.config.get("AUTO_DEPLOY_BPMN"):
            from workflows.engine import deploy, tx

            try:
                tx.run(db.session, deploy.deploy_shipped, app.config["BPMN_DIR"], actor_user_id=None)
            except Exception:
                log.exception("could not deploy the shipped BPMN files")
    # SCHEDULER=1 is set by `make run` for the serving process only; production runs
    # `flask workflows worker` (or cron + `flask workflows tick`) beside gunicorn instead.
    if app.config.get("SCHEDULER"):
        from webapp import scheduler

        scheduler.start(app)
