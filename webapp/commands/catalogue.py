"""flask catalogue stats | export | import | whatif"""

from __future__ import annotations

import json
from typing import NoReturn

import click
from flask.cli import AppGroup

from models.permissions import Principal
from webapp.extensions import db
from workflows.catalogue import excel as catalogue_excel
from workflows.catalogue import versions as catalogue
from workflows.catalogue import whatif
from workflows.errors import DomainError

group = AppGroup("catalogue", help="The indicator catalogue: counts, Excel, what-if re-scoring.")


@group.command("stats")
@click.option("--version", "version_ids", type=int, multiple=True, help="Only these version ids.")
def stats_command(version_ids: tuple[int, ...]) -> None:
    """One JSON object per catalogue version: what a member of each unit kind sees."""
    for row in catalogue.stats(db.session, version_ids or None):
        click.echo(json.dumps(row, ensure_ascii=False, sort_keys=True))


def _fail(e: DomainError) -> NoReturn:
    raise click.ClickException(e.message)


@group.command("whatif")
@click.argument("quarter")
@click.argument("version_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="The whole result as one JSON object.")
def whatif_command(quarter: str, version_id: int, as_json: bool) -> None:
    """Re-score closed QUARTER (id or label like 2026Q3) under catalogue VERSION_ID; nothing is saved."""
    try:
        result = whatif.rescore(db.session, whatif.find_quarter(db.session, quarter).id, version_id)
    except DomainError as e:
        _fail(e)
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
        return
    counts = result.counts
    click.echo(f"{result.quarter.label} ({result.quarter.status}): catalogue version {result.original.id} → "
               f"{result.target.id}: up {counts['up']} · down {counts['down']} · same {counts['same']}")
    for (before, after), n in sorted(result.grade_changes.items()):
        click.echo(f"  grade {before} → {after}: {n}")
    for m in result.moves:
        if m.direction == "same" and not m.unmatched:
            continue
        click.echo(f"{m.name} ({m.branch}): {m.before} → {m.after} ({m.delta:+}) {m.grade_before} → {m.grade_after}, "
                   f"rank {m.rank_before} → {m.rank_after}")
        for item in m.items:
            claims = "; ".join(f"{code} claim {cid}: {b if b is not None else '—'} → {a if a is not None else '—'}"
                               for cid, code, b, a in item.claims)
            click.echo(f"    {item.code} {item.name}: {item.before} → {item.after}" + (f" ({claims})" if claims else ""))
        for u in m.unmatched:
            click.echo(f"    unmatched: claim {u.claim_id} {u.standard_code} ({u.points}) has no standard in version "
                       f"{result.target.id}")


@group.command("export")
@click.argument("version_id", type=int)
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
def export_command(version_id: int, path: str) -> None:
    """Write catalogue VERSION_ID to PATH as the office's Excel 考评表."""
    try:
        _, data = catalogue_excel.export_version(db.session, version_id)
    except DomainError as e:
        _fail(e)
    with open(path, "wb") as fh:
        fh.write(data)
    click.echo(f"catalogue: version {version_id} written to {path}")


@group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--year", type=int, help="The year of the new draft (default: the workbook's).")
@click.option("--publish", is_flag=True, help="Publish the draft at once (retires the year's published version).")
def import_command(path: str, year: int | None, publish: bool) -> None:
    """Import the workbook at PATH as a new draft; every problem is listed and nothing is saved."""
    with open(path, "rb") as fh:
        data = fh.read(catalogue_excel.MAX_BYTES + 1)
    try:
        version = catalogue_excel.import_workbook(db.session, Principal.system(), data, year=year)
        if publish:
            catalogue.publish(db.session, Principal.system(), version.id)
    except catalogue_excel.WorkbookInvalid as e:
        db.session.rollback()
        for p in e.problems:
            where = " ".join(x for x in (p.sheet, f"row {p.row}" if p.row else "", p.column or "", p.label or "") if x)
            click.echo(f"{where}: {p.message % p.params if p.params else p.message}", err=True)
        raise click.ClickException(e.message) from None
    except DomainError as e:
        db.session.rollback()
        _fail(e)
    db.session.commit()
    click.echo(f"catalogue: imported as version {version.id} ({version.status})")
