"""flask bpmn deploy | validate | list"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.extensions import db
from workflows.engine import checks, deploy

group = AppGroup("bpmn", help="BPMN processes: deploy, validate, list versions.")


@group.command("deploy")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def deploy_command(files: tuple[Path, ...]) -> None:
    """Deploy the shipped bpmn/*.bpmn (or the FILES given) as new versions where changed."""
    if not files:
        versions = deploy.deploy_shipped(db.session, current_app.config["BPMN_DIR"], actor_user_id=None)
        db.session.commit()
        for v in versions:
            click.echo(f"{v.process_key} v{v.version} {v.content_hash[:12]} {v.filename}")
        return
    failed = False
    for path in files:
        versions, result = deploy.deploy(db.session, path.read_bytes(), path.name, actor_user_id=None,
                                         comment="cli")
        for problem in result.problems:
            click.echo(f"{path.name}: {'warning' if problem.warning else 'error'}: {problem}", err=True)
        if versions:
            db.session.commit()
            for v in versions:
                click.echo(f"{v.process_key} v{v.version} {v.content_hash[:12]} {v.filename}")
        else:
            db.session.rollback()
            failed = True
    if failed:
        sys.exit(1)


@group.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def validate_command(files: tuple[Path, ...]) -> None:
    """Check BPMN files without deploying them; exit 1 when any has an error."""
    thrown = deploy.thrown_messages(db.session)
    bad = False
    for path in files:
        result = checks.check(path.read_bytes(), path.name, known_messages=thrown)
        for problem in result.problems:
            click.echo(f"{path.name}: {'warning' if problem.warning else 'error'}: {problem}")
        bad |= not result.ok
        if result.ok:
            click.echo(f"{path.name}: ok ({', '.join(result.processes)})")
    sys.exit(1 if bad else 0)


@group.command("list")
def list_command() -> None:
    """Every deployed version, newest first per process."""
    from sqlalchemy import select

    from models.process import ProcessVersion

    for v in db.session.scalars(select(ProcessVersion).order_by(ProcessVersion.process_key, ProcessVersion.version.desc())):
        click.echo(f"{v.process_key:<20} v{v.version:<3} {v.content_hash[:12]} {v.deployed_at:%Y-%m-%d %H:%M} {v.filename}")
