"""flask demo load | accounts"""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from demo import bureau as demo
from webapp.extensions import db

group = AppGroup("demo", help="Demo data: a bureau with 8 branches and ~150 people.")


@group.command("load")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has people.")
def load_command(if_empty: bool) -> None:
    """Load the demo bureau, its catalogue and quarters."""
    if not demo.is_empty(db.session):
        if if_empty:
            click.echo("demo: the database already has data; nothing loaded.")
            return
        raise click.ClickException("the database is not empty; demo data goes into an empty database only")
    demo.load_all(db.session)
    db.session.commit()
    click.echo("demo: loaded the demo bureau.")


@group.command("accounts")
@click.option("--json", "as_json", is_flag=True, help="Every account as a JSON list.")
def accounts_command(as_json: bool) -> None:
    """Print the demo accounts (all share one password)."""
    if as_json:
        click.echo(json.dumps(demo.list_accounts(db.session), ensure_ascii=False, indent=1))
        return
    rows = demo.list_accounts(db.session, featured_only=True)
    if not rows:
        click.echo("demo: no accounts yet (run `flask --app webapp demo load`).")
        return
    click.echo(f"Demo accounts (password for all: {demo.DEMO_PASSWORD}):")
    for row in rows:
        roles = ", ".join(f"{r['role']}@{r['branch'] or 'bureau'}" for r in row["roles"])  # type: ignore[index]
        click.echo(f"  {row['username']:<10} {row['name']:<6} {roles}")
    click.echo("  ...and every other member: username = employee number in lower case (dw0006, dw0007, ...).")
