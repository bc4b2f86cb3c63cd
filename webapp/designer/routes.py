"""The process designer's pages: processes and their versions, a version's diagram and file,
upload (or the in-app modeller) → check → replay → deploy, comparison of two versions, and the
migration of running instances with its dry run. Everything needs `process.design`.

An uploaded file waits as a draft (UPLOAD_DIR/bpmn-drafts/<sha256>.bpmn) between its check and its
deployment, so the review page can be reloaded and the modeller can reopen it.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from models.process import ProcessVersion
from webapp.authz import current_principal, guard, load_or_404
from webapp.boundary import apply_field_errors, run_service
from webapp.designer import bp, texts
from webapp.designer import forms as f
from webapp.extensions import db
from webapp.nav import register
from workflows.designer import compare as comparing
from workflows.designer import migration, replay
from workflows.designer import upload as uploads
from workflows.designer import versions as deployed
from workflows.engine import checks, deploy, registry
from workflows.errors import DomainError
from workflows.reading import monitor

register(_l("Process design"), "designer.index", "process.design", order=75)

DESIGN = "process.design"
DIGEST = re.compile(r"^[0-9a-f]{64}$")
DRAFT_DAYS = 2
REPLAY_LIMIT = 20
MIGRATE_LIMIT = 1000


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"problem_text": texts.problem_text, "field_label": lambda k: _(texts.FIELDS.get(k, k)),
            "outcome_label": lambda k: _(texts.OUTCOMES.get(k, k)), "short_hash": lambda h: (h or "")[:12]}


# --- drafts -----------------------------------------------------------------------------------------------


def _draft_dir() -> Path:
    folder = Path(current_app.config["UPLOAD_DIR"]) / "bpmn-drafts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _save_draft(raw: bytes, filename: str) -> str:
    folder = _draft_dir()
    cutoff = time.time() - DRAFT_DAYS * 86400
    for old in folder.glob("*"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    digest = deploy.content_hash(raw)
    (folder / f"{digest}.bpmn").write_bytes(raw)
    (folder / f"{digest}.json").write_text(json.dumps({"filename": filename, "by": current_user.id}), encoding="utf-8")
    return digest


def _load_draft(digest: str) -> tuple[bytes, str]:
    if not DIGEST.match(digest):
        abort(404)
    folder = _draft_dir()
    path = folder / f"{digest}.bpmn"
    if not path.exists():
        abort(404)
    try:
        meta = json.loads((folder / f"{digest}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    return path.read_bytes(), str(meta.get("filename") or "diagram.bpmn")


def _xml_response(text: str | bytes, filename: str | None = None) -> Response:
    response = Response(text, mimetype="application/xml")
    if filename:
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _names(version: ProcessVersion | None) -> dict[str, str]:
    return dict((version.meta or {}).get("names", {})) if version is not None else {}


# --- processes and versions -------------------------------------------------------------------------------


@bp.route("/")
@guard(DESIGN)
def index():
    """Every process with its versions (hash, who, when, instances on each)."""
    return render_template("designer/index.html", processes=deployed.versions_overview(db.session),
                           form=f.UploadForm())


@bp.route("/versions/<int:version_id>")
@guard(DESIGN)
def version(version_id: int):
    """A version's diagram and what validation found in it: lanes, tasks, forms, timers, messages."""
    v = load_or_404(ProcessVersion, version_id, DESIGN)
    others = [p for p in deployed.versions_overview(db.session) if p.process_key == v.process_key]
    info = others[0] if others else None
    previous = next((x.version for x in info.versions if x.version.version < v.version), None) if info else None
    return render_template("designer/version.html", v=v, info=info, previous=previous,
                           deployer=deployed.user_names(db.session, {v.deployed_by}).get(v.deployed_by or 0, ""))


@bp.route("/versions/<int:version_id>/file")
@guard(DESIGN)
def version_file(version_id: int):
    """The version's BPMN file: inline for the diagram viewer, or (?download=1) as a download."""
    v = load_or_404(ProcessVersion, version_id, DESIGN)
    name = None
    if request.args.get("download"):
        stem = Path(v.filename or v.process_key).stem
        name = f"{stem}-v{v.version}.bpmn"
    return _xml_response(v.bpmn_xml, name)


# --- upload, check, replay, deploy ---------------------------------------------------------------------------


@bp.route("/upload", methods=["GET", "POST"])
@guard(DESIGN)
def upload():
    """Upload a .bpmn file (or the modeller's XML): it is checked before anything is deployed."""
    form = f.UploadForm()
    if form.validate_on_submit():
        digest = _save_draft(form.raw, form.name)
        return redirect(url_for("designer.review", digest=digest))
    status = 422 if request.method == "POST" else 200
    return render_template("designer/upload.html", form=form), status


@bp.route("/review/<digest>")
@guard(DESIGN)
def review(digest: str):
    """What the file would change: its problems (each naming its element), each process next to
    its deployed version, and the replay of recent instances' histories on it."""
    raw, filename = _load_draft(digest)
    checked = uploads.check_upload(db.session, raw, filename)
    replays: dict[str, list[replay.ReplayResult]] = {}
    names: dict[str, dict[str, str]] = {}
    limit = max(1, min(request.args.get("replay", REPLAY_LIMIT, type=int) or REPLAY_LIMIT, 200))
    for process in checked.processes:
        names[process.process_key] = dict(monitor.step_names(db.session, [process.process_key]).get(process.process_key, {}))
        names[process.process_key].update(process.names)
        if checked.ok and process.parsed is not None and process.latest is not None and process.same_as is None:
            replays[process.process_key] = replay.replay(db.session, process.parsed, limit=limit)
    return render_template("designer/review.html", digest=digest, filename=filename, checked=checked,
                           replays=replays, names=names, limit=limit, form=f.DeployForm(),
                           replay_reason=texts.replay_reason, summary=replay.summary)


@bp.route("/review/<digest>/file")
@guard(DESIGN)
def review_file(digest: str):
    """The draft's BPMN (for the viewer and the modeller)."""
    raw, filename = _load_draft(digest)
    return _xml_response(checks.normalize(raw), filename if request.args.get("download") else None)


@bp.route("/review/<digest>/deploy", methods=["POST"])
@guard(DESIGN)
def deploy_draft(digest: str):
    """Deploy the checked draft as new versions."""
    raw, filename = _load_draft(digest)
    form = f.DeployForm()
    if not form.validate_on_submit():
        flash(_("The comment is too long (500 characters at most)."), "error")
        return redirect(url_for("designer.review", digest=digest))
    outcome = run_service(uploads.deploy_upload, current_principal(), raw, filename, form.comment.data or "")
    if not outcome.ok:
        flash(outcome.message, "error")
        return redirect(url_for("designer.review", digest=digest))
    versions = outcome.result
    for v in versions:
        flash(_("%(process)s is deployed as version %(n)s; new instances start on it, running ones stay on theirs.",
                process=v.name, n=v.version), "success")
    return redirect(url_for("designer.version", version_id=versions[0].id) if len(versions) == 1
                    else url_for("designer.index"))


# --- the in-app modeller --------------------------------------------------------------------------------------


@bp.route("/edit")
@guard(DESIGN)
def edit():
    """The bpmn-js modeller, opened on a version, a draft, or a new diagram."""
    source, title = None, _("New process")
    version_id = request.args.get("version", type=int)
    digest = request.args.get("draft")
    if version_id is not None:
        v = load_or_404(ProcessVersion, version_id, DESIGN)
        source, title = url_for("designer.version_file", version_id=v.id), _("%(process)s, version %(n)s",
                                                                            process=v.name, n=v.version)
        filename = v.filename or f"{v.process_key}.bpmn"
    elif digest:
        _raw, filename = _load_draft(digest)
        source, title = url_for("designer.review_file", digest=digest), filename
    else:
        filename = "new_process.bpmn"
    return render_template("designer/edit.html", source=source, title=title, filename=filename,
                           form=f.UploadForm(), forms=sorted(registry.known_forms()),
                           roles=sorted(checks.PROCESS_ROLES))


# --- comparing versions -----------------------------------------------------------------------------------------


@bp.route("/compare")
@guard(DESIGN)
def compare():
    """Tasks, flows and lanes added, removed and changed between two versions of a process."""
    processes = deployed.versions_overview(db.session)
    a, b = request.args.get("a", type=int), request.args.get("b", type=int)
    comparison = old = new = None
    if a is not None and b is not None:
        old, new = load_or_404(ProcessVersion, a, DESIGN), load_or_404(ProcessVersion, b, DESIGN)
        try:
            comparison = comparing.compare_versions(db.session, a, b)
        except DomainError as e:
            flash(_(e.message), "error")
    return render_template("designer/compare.html", processes=processes, comparison=comparison, old=old, new=new,
                           a=a, b=b)


# --- migrating instances ------------------------------------------------------------------------------------------


@bp.route("/processes/<process_key>/migrate", methods=["GET", "POST"])
@guard(DESIGN)
def migrate(process_key: str):
    """Move running instances to a newer version: a dry run first, then the instances chosen."""
    info = next((p for p in deployed.versions_overview(db.session) if p.process_key == process_key), None)
    if info is None:
        abort(404)
    form = f.MigrateForm()
    form.to_version.choices = [(x.version.id, _("Version %(n)s", n=x.version.version)) for x in info.versions]
    form.from_version.choices = [("", _("Any older version"))] + [
        (x.version.id, _("Version %(n)s (%(live)s running)", n=x.version.version, live=x.live))
        for x in info.versions if x.version.id != info.latest.version.id]
    form.quarter.choices = [("", _("All quarters"))] + [(q.id, q.label) for q in monitor.quarters(db.session)]
    if request.method == "GET":
        form.to_version.data = request.args.get("to", type=int) or info.latest.version.id
    target = next((x.version for x in info.versions if x.version.id == form.to_version.data), info.latest.version)
    found = migration.candidates(db.session, process_key, target, from_version_id=form.from_version.data,
                                 quarter_id=form.quarter.data, limit=MIGRATE_LIMIT)
    form.instance_ids.choices = [(i.id, str(i.id)) for i in found]
    checks: list[migration.MigrationCheck] = []
    results: list[tuple[int, str, str]] = []  # (instance id, "moved" | "refused" | "failed", text)
    status = 200
    names = {**_names(info.versions[-1].version), **_names(target)}
    if form.validate_on_submit():
        actor = current_principal()
        if form.migrate.data:
            for instance_id in form.instance_ids.data or []:
                results.append(_migrate_one(actor, instance_id, target.id, names))
            moved = sum(1 for _id, outcome, _t in results if outcome == "moved")
            flash(_("%(moved)s of %(chosen)s instances moved to version %(n)s.", moved=moved, chosen=len(results),
                    n=target.version), "success" if moved == len(results) else "warning")
            found = migration.candidates(db.session, process_key, target, from_version_id=form.from_version.data,
                                         quarter_id=form.quarter.data, limit=MIGRATE_LIMIT)
            form.instance_ids.choices = [(i.id, str(i.id)) for i in found]
        try:
            checks = migration.dry_run(db.session, actor, [i.id for i in found], target.id)
        except DomainError as e:
            db.session.rollback()
            apply_field_errors(form, e)
            status = 422
        form.instance_ids.data = [c.instance_id for c in checks if c.movable]
    elif request.method == "POST":
        status = 422
    subjects = _subjects(found)
    return render_template("designer/migrate.html", info=info, form=form, target=target, found=found, checks=checks,
                           results=results, names=names, subjects=subjects, limit=MIGRATE_LIMIT,
                           reason_text=texts.migration_reason), status


def _migrate_one(actor: Any, instance_id: int, to_version_id: int, names: dict[str, str]) -> tuple[int, str, str]:
    outcome = run_service(migration.migrate_instance, actor, instance_id, to_version_id, ends_request=False)
    if isinstance(outcome.error, migration.MigrationRefused):
        return instance_id, "refused", "; ".join(texts.migration_reason(r, names) for r in outcome.error.check.reasons)
    if not outcome.ok:
        return instance_id, "failed", outcome.message
    return instance_id, "moved", ""


def _subjects(instances: list[Any]) -> dict[int, str]:
    from sqlalchemy import select

    from models.people import Person

    ids = {i.subject_person_id for i in instances if i.subject_person_id}
    if not ids:
        return {}
    return dict(db.session.execute(select(Person.id, Person.name).where(Person.id.in_(ids))).all())
