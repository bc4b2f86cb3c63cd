"""My scores (/my/...): every quarter and year with the full "why" of every point, the
evaluation page notifications link to (also open to the branch roles and supervisors), and the
record a probationary member's full membership is decided on (转正)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from models.clock import now
from models.evaluation import (
    Appeal,
    Claim,
    Evaluation,
    Quarter,
    ReportStatus,
    SupervisionReport,
)
from models.people import MembershipStatus, Person
from models.permissions import Target, can
from models.process import HumanTask, ProcessInstance, TaskState, Timer
from webapp.authz import current_principal, guard, load_or_404
from webapp.extensions import db
from webapp.member import bp
from webapp.member.routes import page
from webapp.tasks import task_url
from workflows.quarter import appeals, reports
from workflows.quarter import evaluation as evaluations
from workflows.reading import explain


def _me() -> Person:
    principal = current_principal()
    person = db.session.get(Person, principal.person_id) if principal and principal.person_id else None
    if person is None:
        abort(403)
    return person


def open_report_appeals(person_id: int) -> dict[int, Any]:
    """Report id -> the end of its appeal window, for the person's deductions still open to appeal."""
    rows = db.session.execute(
        select(SupervisionReport.id, SupervisionReport.instance_id, ProcessInstance.waiting_messages)
        .join(ProcessInstance, SupervisionReport.instance_id == ProcessInstance.id)
        .where(SupervisionReport.subject_person_id == person_id,
               SupervisionReport.status == ReportStatus.SUBSTANTIATED)).all()
    out = {}
    for report_id, instance_id, waiting in rows:
        if "report_appeal" in (waiting or "").split():
            report = db.session.get(SupervisionReport, report_id)
            # The deadline timer is mirrored under the event gateway's id, not the timer event's:
            # fall back to the instance's waiting timer.
            out[report_id] = reports.appeal_window_end(db.session, report) or db.session.scalar(
                select(func.min(Timer.due_at)).where(Timer.instance_id == instance_id))
    return out


@bp.route("/my/")
@guard("evaluation.declare")
def index() -> Any:
    """My quarters, years, appeals and what is waiting for me."""
    principal = current_principal()
    person = _me()
    tasks = list(db.session.scalars(select(HumanTask).where(
        HumanTask.assignee_id == principal.user_id, HumanTask.state == TaskState.OPEN,
        HumanTask.form_key == "self_evaluation").order_by(HumanTask.due_at)))
    task_evaluations = {t.id: db.session.scalar(select(Evaluation).where(Evaluation.instance_id == t.instance_id))
                        for t in tasks}
    rows = explain.quarters_of(db.session, person.id)
    years: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        years.setdefault(row["year"], []).append(row)
    annual = {year: explain.annual_of(db.session, person.id, year) for year in years}
    windows = {}
    for row in rows:
        if row["status"] in ("posted", "appeal"):
            evaluation = db.session.get(Evaluation, row["id"])
            bq = appeals.window(db.session, evaluation)
            if bq is not None:
                windows[row["id"]] = bq.publicity_end
    mine = list(db.session.execute(select(Appeal, Evaluation, Quarter)
                                   .join(Evaluation, Appeal.evaluation_id == Evaluation.id)
                                   .join(Quarter, Evaluation.quarter_id == Quarter.id)
                                   .where(Appeal.submitted_by == principal.user_id)
                                   .order_by(Appeal.submitted_at.desc(), Appeal.id.desc())).all())
    report_appeals = []
    for report_id, until in open_report_appeals(person.id).items():
        report = db.session.get(SupervisionReport, report_id)
        claim = db.session.get(Claim, report.claim_id) if report.claim_id else None
        report_appeals.append({"id": report_id, "until": until, "occurred_on": report.occurred_on,
                               "standard": claim.standard.text if claim else ""})
    return page("member/index.html", person=person, tasks=tasks, task_evaluations=task_evaluations, years=years,
                annual=annual, windows=windows, my_appeals=mine, report_appeals=report_appeals,
                task_url=task_url, probationary=person.status == MembershipStatus.PROBATIONARY)


@bp.route("/my/self-evaluation")
@guard("evaluation.declare")
def current_self_evaluation() -> Any:
    """Straight to my open self-evaluation (the reminder's and the menu's way in)."""
    principal = current_principal()
    task = db.session.scalar(select(HumanTask).where(
        HumanTask.assignee_id == principal.user_id, HumanTask.state == TaskState.OPEN,
        HumanTask.form_key == "self_evaluation").order_by(HumanTask.due_at).limit(1))
    if task is None:
        flash(_("No self-evaluation is waiting for you now."), "info")
        return redirect(url_for("member.index"))
    return redirect(task_url(task))


@bp.route("/my/years/<int:year>")
@guard("evaluation.declare")
def year(year: int) -> Any:
    """The four quarters of one year and the annual result, once published."""
    person = _me()
    if not 2000 <= year <= 2100:
        abort(404)
    view = explain.year_view(db.session, person.id, year)
    years = sorted({r["year"] for r in explain.quarters_of(db.session, person.id)} | {year})
    return page("member/year.html", person=person, view=view, years=years)


@bp.route("/my/evaluations/<int:evaluation_id>")
@guard("evaluation.view")
def evaluation(evaluation_id: int) -> Any:
    """One quarter's evaluation with the why of every point (the member's own, or, for the branch
    roles and supervisors, anybody's they may see)."""
    ev = load_or_404(Evaluation, evaluation_id, "evaluation.view")
    principal = current_principal()
    data = explain.build(db.session, ev, viewer=principal)
    own = ev.person_id == principal.person_id
    self_task = evaluations.open_task(db.session, ev, "self_evaluation") if own else None
    proxy_task = evaluations.open_task(db.session, ev, "proxy_self_evaluation")
    if proxy_task is not None and not can(principal, "evaluation.record_for_member", evaluations.target(ev)):
        proxy_task = None
    window = appeals.window(db.session, ev)
    quarter = db.session.get(Quarter, ev.quarter_id)
    return page("member/evaluation.html", ev=ev, data=data, own=own, self_task=self_task, proxy_task=proxy_task,
                task_url=task_url, window=window, locked=quarter.locked,
                can_appeal=own and window is not None and not quarter.locked,
                can_concern=(not own and window is not None and not quarter.locked
                             and can(principal, "evaluation.concern", evaluations.target(ev))),
                report_appeals=open_report_appeals(ev.person_id) if own else {})


def _probation(person: Person) -> Any:
    if person.status != MembershipStatus.PROBATIONARY and not person.joined_party_on:
        abort(404)
    record = explain.probation_record(db.session, person)
    return page("member/probation.html", person=person, record=record, now_utc=now())


@bp.route("/my/probation-record")
@guard("evaluation.declare")
def probation() -> Any:
    """The record used for the decision on full membership (转正), printable."""
    person = _me()
    if person.status != MembershipStatus.PROBATIONARY:
        return redirect(url_for("member.index"))
    return _probation(person)


@bp.route("/people/<int:person_id>/probation-record")
@guard("evaluation.view")
def probation_of(person_id: int) -> Any:
    """The same record of a probationary member, for their branch and the supervisors."""
    person = db.session.get(Person, person_id)
    if person is None:
        abort(404)
    if not can(current_principal(), "evaluation.view", Target(person.branch_id, person.id)):
        abort(403)
    return _probation(person)
