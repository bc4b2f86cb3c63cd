"""flask audit verify | seal"""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from models import audit
from webapp.extensions import db

group = AppGroup("audit", help="The append-only, hash-chained audit log.")


@group.command("seal")
def seal_command() -> None:
    """Chain every new audit row onto the log."""
    n = audit.seal_pending(db.session)
    db.session.commit()
    click.echo(f"sealed {n} rows")


@group.command("verify")
@click.option("--seal/--no-seal", default=True, show_default=True, help="Seal new rows first.")
def verify_command(seal: bool) -> None:
    """Recompute the whole chain; exit 1 and name the first altered or missing row if broken."""
    if seal:
        audit.seal_pending(db.session)
        db.session.commit()
    result = audit.verify(db.session)
    db.session.rollback()
    if result.ok:
        click.echo(f"audit log intact: {result.sealed} sealed rows, {result.unsealed} not yet sealed")
        return
    click.echo(f"AUDIT LOG BROKEN at sequence {result.first_bad_seq}: {result.message}", err=True)
    sys.exit(1)
