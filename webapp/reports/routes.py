"""Supervision reports (监督举报): any member reports a member's conduct; the party office records
reports of outside reporters. Members see the reports they made and their outcome; the branch
points group, the discipline member and the party office see the reports of their branches. Who
reported is shown only where `workflows.reports.may_see_reporter` allows it (and never to the
member the report is about)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased

from models.catalogue import Standard
from models.evaluation import Claim, ReportStatus, SupervisionReport
from models.org import Branch
from models.people import EVALUATED_STATUSES, Person, Role, User
from models.permissions import Principal, visible_branch_ids
from models.process import HumanTask, TaskState
from webapp.arguments import int_arg, optional_int
from webapp.authz import current_principal, guard
from webapp.boundary import run_service
from webapp.extensions import db
from webapp.nav import register
from webapp.office.web import choices, in_range
from webapp.reports import bp
from webapp.reports.forms import ReportForm
from webapp.tasks import task_url
from workflows.engine import access
from workflows.quarter import evaluation, reports
from workflows.quarter import opening as quarter
from workflows.reading.paging import Page

register(_l("Supervision reports"), "reports.index", "report.submit", order=70)

ACTION = "report.submit"
PER_PAGE = 50
SEARCH_LIMIT = 20


def _principal() -> Principal:
    principal = current_principal()
    assert principal is not None  # guarded views only
    return principal


def staff_scope(principal: Principal) -> set[int] | None:
    """The branches whose reports the user handles or supervises (None: all); empty: none."""
    return visible_branch_ids(principal, "report.list")


def _may_read(principal: Principal, report: SupervisionReport) -> bool:
    if report.reporter_user_id is not None and report.reporter_user_id == principal.user_id:
        return True
    if report.subject_person_id == principal.person_id:
        return False
    branch_ids = staff_scope(principal)
    return branch_ids is None or report.branch_id in branch_ids


def shows_reporter(principal: Principal, report: SupervisionReport) -> bool:
    """Who reported: only where the rules allow it, and never to the member reported about."""
    return reports.may_see_reporter(principal, report) and report.subject_person_id != principal.person_id


# --- Lists -------------------------------------------------------------------------------------------


@bp.route("/")
@guard(ACTION)
def index():
    """The reports the user made, with their outcome."""
    principal = _principal()
    clauses = [SupervisionReport.reporter_user_id == principal.user_id]
    total = db.session.scalar(select(func.count()).select_from(SupervisionReport).where(*clauses)) or 0
    page = int_arg("page", 1)
    rows = db.session.scalars(select(SupervisionReport).where(*clauses)
                              .order_by(SupervisionReport.created_at.desc(), SupervisionReport.id.desc())
                              .limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    scope = staff_scope(principal)
    return render_template("reports/index.html", page=Page(rows, total, page, PER_PAGE),
                           staff=scope is None or bool(scope))


STATUS_FILTERS = [s.value for s in ReportStatus]


@bp.route("/branches")
@guard("report.list")
def branch_list():
    """The reports of the branches the user works for (points group, discipline member, party office)."""
    principal = _principal()
    scope = staff_scope(principal)
    if scope is not None and not scope:
        abort(403)
    status = request.args.get("status", "")
    status = status if status in STATUS_FILTERS else ""
    clauses: list[Any] = []
    if scope is not None:
        clauses.append(SupervisionReport.branch_id.in_(scope))
    if principal.person_id is not None:
        clauses.append(SupervisionReport.subject_person_id != principal.person_id)
    if status:
        clauses.append(SupervisionReport.status == status)
    total = db.session.scalar(select(func.count()).select_from(SupervisionReport).where(*clauses)) or 0
    page = int_arg("page", 1)
    reporter, reporter_person = aliased(User), aliased(Person)
    task = aliased(HumanTask)
    rows = db.session.execute(
        select(SupervisionReport, Branch.name.label("branch"), reporter, reporter_person.name.label("reporter_person"),
               task)
        .join(Branch, Branch.id == SupervisionReport.branch_id)
        .outerjoin(reporter, reporter.id == SupervisionReport.reporter_user_id)
        .outerjoin(reporter_person, reporter_person.id == reporter.person_id)
        .outerjoin(task, and_(task.instance_id == SupervisionReport.instance_id, task.state == TaskState.OPEN))
        .where(*clauses).order_by(SupervisionReport.created_at.desc(), SupervisionReport.id.desc())
        .limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    view = [{"report": r.SupervisionReport, "branch": r.branch,
             "reporter": _reporter_text(r.SupervisionReport, r.reporter_person or (r[2].name if r[2] else ""))
             if shows_reporter(principal, r.SupervisionReport) else None,
             "task_url": task_url(r[4]) if r[4] is not None and access.may_act(principal, r[4]) else None}
            for r in rows]
    return render_template("reports/branch_list.html", rows=view, page=Page(rows, total, page, PER_PAGE),
                           status=status, statuses=STATUS_FILTERS, scope=scope)


def _reporter_text(report: SupervisionReport, user_name: str) -> str:
    if report.via_party_office:
        contact = f"（{report.reporter_contact}）" if report.reporter_contact else ""
        return _("%(name)s%(contact)s, recorded by the party office", name=report.reporter_name, contact=contact)
    return user_name or "—"


# --- One report ---------------------------------------------------------------------------------------


@bp.route("/<int:report_id>")
@guard(ACTION)
def show(report_id: int):
    """A report: what was reported, its status and outcome; who reported where allowed."""
    principal = _principal()
    report = db.session.get(SupervisionReport, in_range(report_id))
    if report is None:
        abort(404)
    if not _may_read(principal, report):
        abort(403)
    mine = report.reporter_user_id == principal.user_id
    reporter = None
    if shows_reporter(principal, report):
        user = db.session.get(User, report.reporter_user_id) if report.reporter_user_id else None
        reporter = _reporter_text(report, user.name if user else "")
    claim = db.session.get(Claim, report.claim_id) if report.claim_id else None
    standard = None
    if report.suggested_standard_id:
        standard = db.session.get(Standard, report.suggested_standard_id)
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == report.instance_id,
                                                     HumanTask.state == TaskState.OPEN).limit(1))
    link = task_url(task) if task is not None and access.may_act(principal, task) else None
    return render_template("reports/show.html", report=report, mine=mine, reporter=reporter, claim=claim,
                           standard=standard, task=task, task_link=link)


# --- Making a report ------------------------------------------------------------------------------------


def _search(text: str, principal: Principal) -> list[Any]:
    """Members of the bureau matching a name or an employee number (at most SEARCH_LIMIT)."""
    text = (text or "").strip()
    if not text:
        return []
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    query = (select(Person.id, Person.name, Person.employee_no, Branch.name.label("branch"))
             .join(Branch, Branch.id == Person.branch_id)
             .where(Person.active.is_(True), Person.status.in_([s.value for s in EVALUATED_STATUSES]),
                    or_(Person.name.like(pattern, escape="\\"), func.lower(Person.employee_no).like(
                        pattern.lower(), escape="\\")))
             .order_by(Person.name, Person.id).limit(SEARCH_LIMIT))
    if principal.person_id is not None:
        query = query.where(Person.id != principal.person_id)
    return list(db.session.execute(query).all())


def _chosen(person_id: int | None) -> Any:
    if person_id is None:
        return None
    return db.session.execute(select(Person.id, Person.name, Person.employee_no, Branch.name.label("branch"))
                              .join(Branch, Branch.id == Person.branch_id).where(Person.id == person_id)).first()


def _standard_choices(person_id: int | None) -> list[Any]:
    """The deduction standards of the member's open quarter, grouped by item (optgroups)."""
    options = choices([("", _("Not sure: the points group decides"))])
    ev = quarter.open_quarter_for_person(db.session, person_id) if person_id is not None else None
    if ev is None:
        return options
    rules = evaluation.rules(db.session, ev)
    for s in sorted(rules.standards.values(), key=lambda s: (s.item_id, s.code)):
        if s.kind == "deduction":
            item = rules.items.get(s.item_id)
            options += choices([(str(s.id), f"{s.code} {s.text}（−{s.points.normalize():f}）")],
                               optgroup=item.name if item else None)
    return options


@bp.route("/new", methods=["GET", "POST"])
@guard(ACTION)
def new():
    """Report a member's conduct: find the member, say what happened; the branch verifies it."""
    principal = _principal()
    office = principal.holds(Role.PARTY_OFFICE, None)
    form = ReportForm()
    person_id = optional_int(request.form.get("subject_person_id") if request.method == "POST"
                             else request.args.get("person"))
    if person_id is not None and (principal.person_id == person_id or _chosen(person_id) is None):
        person_id = None
    form.suggested_standard_id.choices = _standard_choices(person_id)
    errors: dict[str, list[str]] = {}
    results: list[Any] = []
    status = 200
    if request.method == "POST" and form.search.data:
        results = _search(form.q.data or "", principal)
        if not results:
            errors["q"] = [_("Nobody matches: try part of the name, or the employee number.")]
    elif request.method == "POST":
        status = 422
        if person_id is None:
            errors["subject_person_id"] = [_("Choose the member the report is about.")]
            results = _search(form.q.data or "", principal)
        if form.validate() and person_id is not None:
            via = bool(office and form.via_party_office.data)  # only the party office records for others
            outcome = run_service(reports.submit, principal, subject_person_id=person_id,
                             text=form.text.data or "", occurred_on=form.occurred_on.data,
                             suggested_standard_id=optional_int(form.suggested_standard_id.data),
                             via_party_office=via, reporter_name=(form.reporter_name.data or "") if via else "",
                             reporter_contact=(form.reporter_contact.data or "") if via else "",
                             sections=["subject_person_id"], form=form)
            if outcome.ok:
                flash(_("Your report was sent to the member's branch points group for verification."), "success")
                report = outcome.result
                return redirect(url_for("reports.show", report_id=report.id) if report.reporter_user_id
                                else url_for("reports.branch_list"))
            status = outcome.status
            errors.update(outcome.sections)
    return render_template("reports/new.html", form=form, office=office, chosen=_chosen(person_id),
                           results=results, errors=errors), status
