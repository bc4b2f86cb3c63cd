"""The supervisors' monitor: instances by current step, overdue tasks, failed and stuck instances
(retry), one instance with its diagram, history and engine data, the charts (each downloadable as
data) and reviewer consistency.

Everything needs `monitor.view`: the leading group and the party office see the bureau, a branch
secretary or discipline member their branch (`visible_branch_ids`).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from models.clock import now
from models.org import Unit
from models.people import Role
from models.permissions import visible_branch_ids
from models.process import InstanceStatus, ProcessInstance, ProcessVersion
from webapp.arguments import id_arg, page_number
from webapp.authz import current_principal, guard, load_or_404
from webapp.boundary import run_service
from webapp.extensions import db
from webapp.monitor import bp
from webapp.nav import register
from workflows.engine import instances as process_instances
from workflows.errors import EngineError
from workflows.reading import monitor
from workflows.reading.paging import Page

register(_l("Monitor"), "monitor.index", "monitor.view", order=70)

VIEW = "monitor.view"
PER_PAGE = 50

CHARTS = {
    "completion": _l("Completion by step over time"),
    "scores": _l("Score distribution"),
    "branches": _l("Branch comparison: mean and spread"),
    "grades": _l("Excellent, pass and below the line, by branch"),
    "grade_trend": _l("Excellent, pass and below the line, by quarter"),
    "consistency": _l("Reviewer consistency: mean change at review"),
}
DATASETS = {
    "mean": _l("Mean"), "spread": _l("Spread (standard deviation)"), "low": _l("Lowest"), "high": _l("Highest"),
    "members": _l("Members"), "excellent": _l("Excellent"), "pass": _l("Pass"), "fail": _l("Below the pass line"),
    "mean_change": _l("Mean change at review (points)"), "mean_abs_change": _l("Mean size of the change (points)"),
    "adjusted_rate": _l("Share of claims adjusted"), "rejected_rate": _l("Share of claims rejected"),
    "reviewed": _l("Members reviewed"), "claims": _l("Claims decided"), "added": _l("Items added by reviewers"),
}
ACTIONS = {
    "process.started": _l("Started"), "task.completed": _l("Done"), "task.claimed": _l("Claimed"),
    "task.released": _l("Released"), "task.reassigned": _l("Reassigned"), "process.message": _l("Message received"),
    "process.timer": _l("Timer fired"), "process.error": _l("Engine error"), "process.retried": _l("Retried"),
    "process.migrated": _l("Moved to another version"),
}
FLAGS = {"harsh": _l("Harsher than the others"), "lenient": _l("More lenient than the others")}


# --- helpers ----------------------------------------------------------------------------------------


def _visible() -> set[int] | None:
    principal = current_principal()
    assert principal is not None
    return visible_branch_ids(principal, VIEW)


def _filters() -> monitor.Filters:
    status = request.args.get("status") or None
    if status not in {s.value for s in InstanceStatus}:
        status = None
    process = request.args.get("process") or None
    return monitor.Filters(quarter_id=id_arg("quarter"), unit_id=id_arg("unit"), branch_id=id_arg("branch"),
                           process_key=process[:100] if process else None, status=status)


def _choices(visible: set[int] | None) -> dict[str, Any]:
    """Options of the filter bar: quarters, units and branches the viewer may see, processes."""
    branches = monitor.visible_branches(db.session, visible)
    unit_ids = {b[2] for b in branches}
    units = db.session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(unit_ids or {-1})).order_by(Unit.sort, Unit.id)).all()
    return {"quarters": monitor.quarters(db.session), "units": units, "branches": branches,
            "processes": sorted(monitor.process_names(db.session).items()), "statuses": [s.value for s in InstanceStatus]}


def _may_retry() -> bool:
    principal = current_principal()
    return principal is not None and principal.holds(Role.PARTY_OFFICE, None)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"step_label": _step_label, "args_without": _args_without, "moment": now(),
            "pretty": _pretty, "action_label": lambda a: str(ACTIONS.get(a, a)), "short_hash": lambda h: (h or "")[:12]}


@bp.app_template_filter("groupby_data")
def _groupby_data(tasks: list[monitor.EngineTask]) -> list[tuple[str, list[monitor.EngineTask]]]:
    """Engine tasks grouped by their (pretty-printed) data, in order of first appearance."""
    groups: dict[str, list[monitor.EngineTask]] = {}
    for task in tasks:
        groups.setdefault(_pretty(task.data), []).append(task)
    return list(groups.items())


def _pretty(value: Any) -> str:
    """Task data for people to read: indented JSON, Chinese kept as it is."""
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


def _step_label(step: str, name: str | None = None) -> str:
    if step == monitor.COMPLETED_STEP:
        return _("Completed")
    if not step:
        return _("(nowhere)")
    return name or step


def _args_without(*names: str, **extra: Any) -> dict[str, Any]:
    """The current query arguments minus `names`, plus `extra` (for links that keep the filters)."""
    args = {k: v for k, v in request.args.items() if k not in names and k != "page" and v}
    args.update({k: v for k, v in extra.items() if v is not None})
    return args


# --- overview and lists --------------------------------------------------------------------------------


@bp.route("/")
@guard(VIEW)
def index():
    """Instances by process, current step, status and branch; overdue, failed and stuck work."""
    visible = _visible()
    f = _filters()
    overview = monitor.overview(db.session, visible, f)
    matrix_key = f.process_key or next((p.process_key for p in overview.processes
                                        if p.process_key == "person_quarter"), None) or (
        overview.processes[0].process_key if overview.processes else None)
    columns, rows = monitor.step_matrix(overview, matrix_key) if matrix_key else ([], [])
    overdue, overdue_total = monitor.overdue_tasks(db.session, visible, f, limit=10)
    return render_template(
        "monitor/index.html", f=f, overview=overview, matrix_key=matrix_key, columns=columns, rows=rows,
        overdue=overdue, overdue_total=overdue_total, failed=monitor.failed_instances(db.session, visible, f, limit=20),
        stuck=monitor.stuck_instances(db.session, visible, f, limit=20),
        messages=monitor.failing_messages(db.session, visible, f, limit=20), may_retry=_may_retry(),
        names=monitor.step_names(db.session), **_choices(visible))


@bp.route("/instances")
@guard(VIEW)
def instances():
    """Instances (newest first), narrowed by the filters and, optionally, one current step."""
    visible = _visible()
    f = _filters()
    step = (request.args.get("step") or "")[:100] or None
    number = page_number()
    rows, total = monitor.instances(db.session, visible, f, step=step, limit=PER_PAGE, offset=(number - 1) * PER_PAGE)
    names = monitor.step_names(db.session, [f.process_key] if f.process_key else None)
    step_name = next((n.get(step) for n in names.values() if step and n.get(step)), None)
    return render_template("monitor/instances.html", f=f, step=step, step_name=step_name,
                           page=Page(rows, total, number, PER_PAGE), **_choices(visible))


@bp.route("/overdue")
@guard(VIEW)
def overdue():
    """Every open task past its due date, longest overdue first, with who holds it."""
    visible = _visible()
    f = _filters()
    number = page_number()
    rows, total = monitor.overdue_tasks(db.session, visible, f, limit=PER_PAGE, offset=(number - 1) * PER_PAGE)
    return render_template("monitor/overdue.html", f=f, page=Page(rows, total, number, PER_PAGE), **_choices(visible))


# --- one instance ------------------------------------------------------------------------------------------


@bp.route("/instances/<int:instance_id>")
@guard(VIEW)
def instance(instance_id: int):
    """An instance: its diagram with done and current steps, its history, version and engine data."""
    row = load_or_404(ProcessInstance, instance_id, VIEW)
    detail = monitor.instance_detail(db.session, row)
    return render_template("monitor/instance.html", d=detail, may_retry=_may_retry(),
                           designer=current_principal().holds(Role.PROCESS_DESIGNER, None))  # type: ignore[union-attr]


@bp.route("/instances/<int:instance_id>/diagram.bpmn")
@guard(VIEW)
def diagram(instance_id: int):
    """The BPMN file of the instance's version (the viewer draws it)."""
    row = load_or_404(ProcessInstance, instance_id, VIEW)
    version = db.session.get(ProcessVersion, row.process_version_id)
    if version is None:
        abort(404)
    response = Response(version.bpmn_xml, mimetype="application/xml")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.route("/instances/<int:instance_id>/retry", methods=["POST"])
@guard(VIEW)
def retry(instance_id: int):
    """Run a failed instance again after its cause was fixed (party office)."""
    row = load_or_404(ProcessInstance, instance_id, VIEW)
    outcome = run_service(monitor.retry, current_principal(), row.id)
    if isinstance(outcome.error, EngineError):
        run_service(process_instances.record_error, row.id, outcome.error.message)
        flash(_("The retry failed again: %(error)s", error=outcome.error.message), "error")
        return redirect(url_for("monitor.instance", instance_id=row.id))
    if not outcome.ok:
        flash(outcome.message, "error")
        return redirect(url_for("monitor.instance", instance_id=row.id))
    row = process_instances.get_instance(db.session, row.id)
    if row.status == InstanceStatus.ERROR:
        flash(_("The instance ran, but a message to it failed again: %(error)s", error=row.error or ""), "error")
    else:
        flash(_("The instance runs again."), "success")
    return redirect(url_for("monitor.instance", instance_id=row.id))


# --- charts --------------------------------------------------------------------------------------------------


def _quarter_choice() -> int | None:
    quarter_id = id_arg("quarter")
    if quarter_id is None:
        latest = monitor.quarters(db.session)
        quarter_id = latest[0].id if latest else None
    return quarter_id


def _recent_quarters(quarter_id: int | None, count: int = 4) -> list[int]:
    """The chosen quarter and the ones before it (for the charts that compare quarters)."""
    quarters = monitor.quarters(db.session)
    ids = [q.id for q in quarters]
    if quarter_id in ids:
        ids = ids[ids.index(quarter_id):]
    return list(reversed(ids[:count]))


def _series(name: str, quarter_id: int, unit_id: int | None) -> monitor.Series:
    visible = _visible()
    if name == "completion":
        return monitor.completion_by_step(db.session, visible, quarter_id, ZoneInfo(current_app.config["TIMEZONE"]))
    if name == "scores":
        return monitor.score_distribution(db.session, visible, _recent_quarters(quarter_id), unit_id)
    if name == "grade_trend":
        return monitor.grade_trend(db.session, visible, _recent_quarters(quarter_id), unit_id)
    if name == "consistency":
        return monitor.consistency_series(monitor.reviewer_consistency(db.session, visible, quarter_id))
    stats = monitor.branch_stats(db.session, visible, quarter_id, unit_id)
    return monitor.branch_comparison(stats) if name == "branches" else monitor.grade_counts(stats)


def _translated(series: monitor.Series) -> monitor.Series:
    datasets = {str(DATASETS.get(k, k)): v for k, v in series.datasets.items()}
    return monitor.Series(series.title, series.labels, datasets, series.unit, series.extra)


@bp.route("/charts")
@guard(VIEW)
def charts():
    """Completion by step over time, score distribution, branch comparison, grade counts."""
    visible = _visible()
    quarter_id = _quarter_choice()
    unit_id = id_arg("unit")
    tables = {}
    if quarter_id is not None:
        for name in CHARTS:
            if name != "consistency":
                tables[name] = _translated(_series(name, quarter_id, unit_id))
    return render_template("monitor/charts.html", charts={k: v for k, v in CHARTS.items() if k != "consistency"},
                           tables=tables, quarter_id=quarter_id, unit_id=unit_id, **_choices(visible))


@bp.route("/charts/<name>.<fmt>")
@guard(VIEW)
def chart_data(name: str, fmt: str):
    """A chart's data as JSON (for the page) or CSV (to download)."""
    if name not in CHARTS or fmt not in ("json", "csv"):
        abort(404)
    quarter_id = _quarter_choice()
    if quarter_id is None:
        abort(404)
    raw = _series(name, quarter_id, id_arg("unit"))
    series = _translated(raw)
    if fmt == "json":
        data = series.as_dict()
        data["keys"] = list(raw.datasets)
        data["title"] = str(CHARTS[name])
        if name == "consistency":
            data["flag_labels"] = {k: str(v) for k, v in FLAGS.items()}
        return jsonify(data)
    out = io.StringIO()
    writer = csv.writer(out)
    rows = series.rows()
    rows[0][0] = str(CHARTS[name])
    writer.writerows(rows)
    label_ = next((q.label for q in monitor.quarters(db.session) if q.id == quarter_id), str(quarter_id))
    response = Response("\ufeff" + out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="monitor-{name}-{label_}.csv"'
    return response


@bp.route("/consistency")
@guard(VIEW)
def consistency():
    """Per branch: how far reviewed scores move from self scores, how often claims change."""
    visible = _visible()
    quarter_id = _quarter_choice()
    report = monitor.reviewer_consistency(db.session, visible, quarter_id) if quarter_id else None
    return render_template("monitor/consistency.html", report=report, quarter_id=quarter_id, flags=FLAGS,
                           title=CHARTS["consistency"], bureau=visible is None, **_choices(visible))
