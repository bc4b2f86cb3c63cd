"""flask workflows tick | worker"""

from __future__ import annotations

import logging

import click
from flask.cli import AppGroup

from webapp.extensions import db
from workflows.engine import jobs

group = AppGroup("workflows", help="Background work: timers, message delivery, audit sealing.")


@group.command("tick")
def tick_command() -> None:
    """One round: deliver messages, fire due timers, seal the audit log (for cron)."""
    result = jobs.tick(db.session)
    click.echo(f"timers fired: {result.timers_fired}, messages delivered: {result.messages_delivered}, "
               f"errors: {result.errors}, audit rows sealed: {result.audit_sealed}")


@group.command("worker")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between rounds.")
def worker_command(interval: float) -> None:
    """Tick forever (a process beside the web workers in multi-process deployments)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    click.echo(f"pointsflow worker: ticking every {interval:g}s (Ctrl-C stops)")
    try:
        jobs.worker(None, interval=interval)
    except KeyboardInterrupt:
        click.echo("worker stopped")
