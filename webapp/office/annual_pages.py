"""The annual assessment (一年一评估): start it, the party office's review and the Leading Group's
approval task pages, the results per person and per branch, and the workbook for its uses.

The export is one workbook with a sheet per use of the results named in the bureau's practice —
democratic evaluation (民主评议), awards (评优评先), promotion references (职务职级晋升参考) and the
annual appraisal (年度考核) — plus the branches' results. One file because the four uses are fed
from the same approved results at the same moment and the party office hands them out together;
one sheet per use because each reader needs other columns in another order (a branch meeting reads
its own members, an award committee reads eligibility, a personnel office reads rank and percentile).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterator
from decimal import Decimal
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import case, func, select

from models.evaluation import (
    AnnualAssessment,
    AnnualBranchResult,
    AnnualResult,
    AnnualStatus,
    Evaluation,
    FollowUp,
    FollowUpKind,
    Grade,
    Quarter,
    QuarterStatus,
)
from models.org import Branch
from models.people import MembershipStatus, Person
from models.process import HumanTask, TaskState
from webapp.arguments import int_arg
from webapp.authz import allowed, current_principal, guard, load_task_or_404
from webapp.boundary import run_service
from webapp.extensions import db
from webapp.labels import label
from webapp.office import bp
from webapp.office.forms import AnnualApprovalForm, AnnualReviewForm, AnnualStartForm
from webapp.office.routes import scope
from webapp.office.web import in_range, local_now, task_is_open, xlsx_response
from webapp.tasks import register_task_page, task_url
from workflows.quarter import annual
from workflows.reading.paging import Page

register_task_page("annual_review", "office.annual_review_task")
register_task_page("annual_approval", "office.annual_approval_task")

PER_PAGE = 100
QUARTERS = ("1", "2", "3", "4")


def _in(column: Any, ids: Collection[int] | None) -> Any:
    return True if ids is None else column.in_(list(ids) or [-1])


def _assessment(year: int) -> AnnualAssessment:
    assessment = db.session.scalar(select(AnnualAssessment).where(AnnualAssessment.year == in_range(year)))
    if assessment is None:
        abort(404)
    return assessment


def _task_assessment(task: HumanTask) -> AnnualAssessment:
    assessment = db.session.scalar(select(AnnualAssessment).where(AnnualAssessment.instance_id == task.instance_id))
    if assessment is None:
        abort(404)
    return assessment


# --- List and start ---------------------------------------------------------------------------------------


def _index(form: AnnualStartForm) -> Any:
    assessments = db.session.scalars(select(AnnualAssessment).order_by(AnnualAssessment.year.desc())).all()
    open_tasks = db.session.scalars(select(HumanTask).where(
        HumanTask.process_key == "annual_assessment", HumanTask.state == TaskState.OPEN).order_by(HumanTask.id)).all()
    principal = current_principal()
    from workflows.engine import access

    mine = [(t, task_url(t)) for t in open_tasks if principal and access.may_act(principal, t)]
    years = db.session.execute(select(Quarter.year, func.count(), func.sum(
        case((Quarter.status == QuarterStatus.OPEN.value, 1), else_=0)))
        .group_by(Quarter.year).order_by(Quarter.year.desc())).all()
    return render_template("office/annual_index.html", assessments=assessments, form=form, tasks=mine, years=years,
                           may_start=allowed("annual.review"))


@bp.route("/annual/")
@guard("annual.view")
def annual_index():
    """The annual assessments, and (party office) the form that starts one."""
    form = AnnualStartForm()
    if form.year.data is None:
        form.year.data = local_now().year
    return _index(form)


@bp.route("/annual/start", methods=["POST"])
@guard("annual.review")
def annual_start():
    """Start the year's assessment: the four quarters are summed, then reviewed and approved."""
    form = AnnualStartForm()
    status = 422
    if form.validate():
        outcome = run_service(annual.start, current_principal(), form.year.data, form=form)
        if outcome.ok:
            flash(_("The annual assessment of %(year)s is computed and waits for the party office's review.",
                    year=form.year.data), "success")
            return redirect(url_for("office.annual_results", year=form.year.data))
        status = outcome.status
    return _index(form), status


# --- Results -------------------------------------------------------------------------------------------


def _branch_results(assessment: AnnualAssessment, branch_ids: Collection[int] | None) -> list[AnnualBranchResult]:
    return list(db.session.scalars(select(AnnualBranchResult).where(
        AnnualBranchResult.assessment_id == assessment.id, _in(AnnualBranchResult.branch_id, branch_ids))
        .order_by(AnnualBranchResult.rank, AnnualBranchResult.branch_id)))


def _grade_counts(assessment: AnnualAssessment, branch_ids: Collection[int] | None) -> dict[str | None, int]:
    return dict(db.session.execute(select(AnnualResult.grade, func.count()).where(
        AnnualResult.assessment_id == assessment.id, _in(AnnualResult.branch_id, branch_ids))
        .group_by(AnnualResult.grade)).all())


def _people_page(assessment: AnnualAssessment, branch_ids: Collection[int] | None, page: int,
                 grade: str = "") -> Page:
    clauses = [AnnualResult.assessment_id == assessment.id, _in(AnnualResult.branch_id, branch_ids)]
    if grade:
        clauses.append(AnnualResult.grade == grade)
    total = db.session.scalar(select(func.count()).select_from(AnnualResult).where(*clauses)) or 0
    page = max(1, min(page, max(1, math.ceil(total / PER_PAGE))))
    rows = db.session.execute(
        select(AnnualResult, Branch.name.label("branch")).join(Branch, Branch.id == AnnualResult.branch_id)
        .where(*clauses).order_by(AnnualResult.rank, AnnualResult.id)
        .limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    return Page(rows, total, page, PER_PAGE)


def _summary(assessment: AnnualAssessment, branch_ids: Collection[int] | None) -> dict[str, Any]:
    grades = _grade_counts(assessment, branch_ids)
    return {"assessment": assessment, "grades": grades, "people": sum(grades.values()),
            "branches": _branch_results(assessment, branch_ids),
            "quarters": db.session.scalars(select(Quarter).where(Quarter.year == assessment.year)
                                           .order_by(Quarter.quarter, Quarter.id)).all()}


@bp.route("/annual/<int:year>")
@guard("annual.view")
def annual_results(year: int):
    """The year's results per person (quarter scores, annual score, grade, rank) and per branch."""
    assessment = _assessment(year)
    branch_ids = scope("annual.view")
    grade = request.args.get("grade", "")
    grade = grade if grade in [g.value for g in Grade] else ""
    page = _people_page(assessment, branch_ids, int_arg("page", 1), grade)
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == assessment.instance_id,
                                                     HumanTask.state == TaskState.OPEN).limit(1))
    return render_template("office/annual_results.html", page=page, grade=grade, quarter_keys=QUARTERS,
                           task=task, task_link=task_url(task) if task else None,
                           bureau_wide=branch_ids is None, **_summary(assessment, branch_ids))


# --- Review and approval task pages ------------------------------------------------------------------------


@bp.route("/office/tasks/<int:task_id>/annual-review", methods=["GET", "POST"])
@guard("annual.review")
def annual_review_task(task_id: int):
    """The party office reviews the computed annual results and sends them to the Leading Group."""
    return _annual_task(task_id, "annual_review", AnnualReviewForm, annual.review, lambda year, values: _(
        "The annual results of %(year)s are sent to the Leading Group for approval.", year=year))


@bp.route("/office/tasks/<int:task_id>/annual-approval", methods=["GET", "POST"])
@guard("annual.approve")
def annual_approval_task(task_id: int):
    """The Leading Group approves the annual results (they are then published for their uses) or returns them."""
    return _annual_task(task_id, "annual_approval", AnnualApprovalForm, annual.approve, lambda year, values: (
        _("The annual results of %(year)s are approved and published.", year=year)
        if values["decision"] == "approved" else
        _("The annual results of %(year)s were returned to the party office.", year=year)))


def _annual_task(task_id: int, form_key: str, form_class: type, service: Any,
                 message: Callable[[int, dict[str, Any]], str]) -> Any:
    task = load_task_or_404(task_id, form_key)
    assessment = _task_assessment(task)
    if not task_is_open(task):
        return render_template("office/task_done.html", task=task, heading=_("This step of the annual assessment is done."),
                               annual_year=assessment.year)
    form = form_class()
    status = 200
    if form.is_submitted():
        status = 422
        if form.validate():
            values = {"comment": form.comment.data or ""}
            if hasattr(form, "decision"):
                values["decision"] = form.decision.data
            outcome = run_service(service, current_principal(), task.id, **values, form=form)
            if outcome.ok:
                flash(message(assessment.year, values), "success")
                return redirect(url_for("office.annual_results", year=assessment.year))
            status = outcome.status
    top = _people_page(assessment, None, 1)
    return render_template("office/annual_task.html", task=task, form=form, form_key=form_key, top=top,
                           quarter_keys=QUARTERS, **_summary(assessment, None)), status


# --- The workbook for the uses of the results -----------------------------------------------------------


def _results(assessment: AnnualAssessment, branch_ids: Collection[int] | None, *, by_branch: bool = False) -> Iterator[Any]:
    order = ((Branch.sort, Branch.id, AnnualResult.rank) if by_branch else (AnnualResult.rank, AnnualResult.id))
    query = (select(AnnualResult.person_id, AnnualResult.branch_id, AnnualResult.quarter_scores,
                    AnnualResult.quarters_counted, AnnualResult.score, AnnualResult.grade, AnnualResult.rank,
                    Person.name, Person.employee_no, Person.status.label("membership"), Branch.name.label("branch"))
             .join(Person, Person.id == AnnualResult.person_id).join(Branch, Branch.id == AnnualResult.branch_id)
             .where(AnnualResult.assessment_id == assessment.id, _in(AnnualResult.branch_id, branch_ids))
             .order_by(*order))
    yield from db.session.execute(query.execution_options(yield_per=2000, stream_results=True))


def _number(value: Any) -> float | None:
    return None if value in (None, "") else float(Decimal(str(value)))


def _quarter_cells(row: Any) -> list[float | None]:
    scores = row.quarter_scores or {}
    return [_number(scores.get(q)) for q in QUARTERS]


def _year_facts(year: int, branch_ids: Collection[int] | None) -> tuple[dict[int, list[int]], dict[int, int]]:
    """Who lost award eligibility in which quarters of the year, and how many failed quarters each had."""
    disqualified: dict[int, list[int]] = {}
    for person_id, q in db.session.execute(
            select(FollowUp.person_id, Quarter.quarter).join(Quarter, Quarter.id == FollowUp.quarter_id)
            .where(Quarter.year == year, FollowUp.kind == FollowUpKind.AWARD_DISQUALIFICATION,
                   FollowUp.person_id.is_not(None), _in(FollowUp.branch_id, branch_ids))):
        disqualified.setdefault(person_id, []).append(q)
    failed = dict(db.session.execute(
        select(Evaluation.person_id, func.count()).join(Quarter, Quarter.id == Evaluation.quarter_id)
        .where(Quarter.year == year, Quarter.status != QuarterStatus.OPEN, Evaluation.grade == Grade.FAIL,
               _in(Evaluation.branch_id, branch_ids))
        .group_by(Evaluation.person_id)).all())
    return disqualified, failed


def _sheets(assessment: AnnualAssessment, branch_ids: Collection[int] | None) -> list[Any]:
    year = assessment.year
    disqualified, failed = _year_facts(year, branch_ids)
    total = db.session.scalar(select(func.count()).select_from(AnnualResult)
                              .where(AnnualResult.assessment_id == assessment.id)) or 0
    quarter_heads = [_("Q%(n)s", n=q) for q in QUARTERS]

    def grade(row: Any) -> str:
        return label("grade", row.grade)

    def democratic() -> Iterator[list[Any]]:
        branch_id, rank, previous, position = None, 0, None, 0
        for row in _results(assessment, branch_ids, by_branch=True):
            if row.branch_id != branch_id:
                branch_id, rank, previous, position = row.branch_id, 0, None, 0
            position += 1
            if row.score != previous:
                rank, previous = position, row.score
            yield [row.branch, rank, row.name, row.employee_no, label("membership", row.membership),
                   *_quarter_cells(row), row.quarters_counted, _number(row.score), grade(row)]

    def awards() -> Iterator[list[Any]]:
        for row in _results(assessment, branch_ids):
            lost = disqualified.get(row.person_id)
            fails = failed.get(row.person_id, 0)
            if lost or row.grade == Grade.FAIL or fails:
                eligibility = _("Not eligible")
            elif row.grade == Grade.EXCELLENT:
                eligibility = _("Recommended first")
            else:
                eligibility = _("Eligible")
            lost_text = "、".join(_("Q%(n)s", n=q) for q in sorted(lost)) if lost else ""
            yield [row.rank, row.name, row.employee_no, row.branch, _number(row.score), grade(row), fails,
                   lost_text, eligibility]

    def promotion() -> Iterator[list[Any]]:
        for row in _results(assessment, branch_ids):
            top = math.ceil(100 * row.rank / total) if total and row.rank else None
            yield [row.name, row.employee_no, row.branch, _number(row.score), grade(row), row.rank,
                   _("top %(pct)s%%", pct=top) if top is not None else "", row.quarters_counted,
                   *_quarter_cells(row), failed.get(row.person_id, 0)]

    def appraisal() -> Iterator[list[Any]]:
        for row in _results(assessment, branch_ids, by_branch=True):
            notes = []
            if failed.get(row.person_id):
                notes.append(_("below the pass line in %(n)s quarter(s)", n=failed[row.person_id]))
            if disqualified.get(row.person_id):
                notes.append(_("award eligibility withdrawn"))
            if row.membership == MembershipStatus.PROBATIONARY:
                notes.append(_("probationary member: points are a reference for full membership"))
            if row.quarters_counted < 4:
                notes.append(_("evaluated in %(n)s quarter(s)", n=row.quarters_counted))
            yield [row.branch, row.name, row.employee_no, label("membership", row.membership), _number(row.score),
                   grade(row), "；".join(notes)]

    def branches() -> Iterator[list[Any]]:
        for b in _branch_results(assessment, branch_ids):
            yield [b.rank, b.branch.name, b.members, _number(b.mean_score), _number(b.stdev), b.excellent, b.failed]

    name, employee, branch = _("Full name"), _("Employee no."), _("Party branch")
    return [
        (_("Democratic evaluation"), [branch, _("Rank in branch"), name, employee, _("Membership"), *quarter_heads,
                                      _("Quarters counted"), _("Annual score"), _("Grade")], democratic()),
        (_("Awards"), [_("Bureau rank"), name, employee, branch, _("Annual score"), _("Grade"),
                       _("Quarters below the pass line"), _("Award eligibility withdrawn in"), _("Eligibility")], awards()),
        (_("Promotion reference"), [name, employee, branch, _("Annual score"), _("Grade"), _("Bureau rank"),
                                    _("Percentile"), _("Quarters counted"), *quarter_heads,
                                    _("Quarters below the pass line")], promotion()),
        (_("Annual appraisal"), [branch, name, employee, _("Membership"), _("Annual score"), _("Grade"), _("Remarks")],
         appraisal()),
        (_("Party branches"), [_("Rank"), branch, _("Members"), _("Mean"), _("Spread (standard deviation)"),
                         _("Excellent"), _("Below the pass line")], branches()),
    ]


@bp.route("/annual/<int:year>/export.xlsx")
@guard("annual.view")
def annual_export(year: int):
    """The approved annual results as one workbook, a sheet per use (see the module's docstring)."""
    assessment = _assessment(year)
    if assessment.status != AnnualStatus.APPROVED:
        flash(_("The results can be exported once the Leading Group has approved them."), "warning")
        return redirect(url_for("office.annual_results", year=year))
    branch_ids = scope("annual.view")
    title = _("Annual assessment of party members' points, %(year)s (approved %(date)s)", year=year,
              date=assessment.approved_at.astimezone(local_now().tzinfo).strftime("%Y-%m-%d") if assessment.approved_at else "")
    return xlsx_response(_sheets(assessment, branch_ids), f"annual-{year}.xlsx", title_rows=[title])

