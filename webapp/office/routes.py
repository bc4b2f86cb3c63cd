"""The party office and leading group pages: quarters (open one, follow its progress), the notice,
filing and verification task pages, follow-ups, and the annual assessment with its exports.

Quarter pages need `branch.view` and show the branches the viewer may see (all of them for the
party office and the leading group); the actions have their own rules (`quarter.open`,
`quarter.notice`, `quarter.file`, `quarter.verify`, `followup.manage`, `annual.*`).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased

from models.catalogue import CatalogueStatus, CatalogueVersion
from models.clock import now
from models.evaluation import FollowUp, FollowUpKind, FollowUpStatus, Quarter
from models.org import Branch, Unit
from models.people import User
from models.permissions import visible_branch_ids
from models.process import HumanTask, TaskState
from webapp import tasks as task_pages
from webapp.arguments import int_arg, optional_int
from webapp.authz import current_principal, guard
from webapp.boundary import run_service
from webapp.extensions import db
from webapp.nav import register
from webapp.office import bp, summary
from webapp.office.forms import OpenQuarterForm
from webapp.office.web import choices, in_range, local_now, local_zone
from workflows.engine import access
from workflows.quarter import opening as quarters
from workflows.reading.paging import Page

register(_l("Quarters"), "office.quarters_list", "branch.view", order=40)

PER_PAGE = 100


def scope(action: str = "branch.view") -> set[int] | None:
    """The branches whose objects the current user may see for `action` (None: all)."""
    principal = current_principal()
    assert principal is not None  # guarded views only
    return visible_branch_ids(principal, action)


def get_quarter(quarter_id: int) -> Quarter:
    quarter = db.session.get(Quarter, in_range(quarter_id))
    if quarter is None:
        abort(404)
    return quarter


# --- Quarters -----------------------------------------------------------------------------------------


@bp.route("/office/")
@bp.route("/office/quarters")
@guard("branch.view")
def quarters_list():
    """Every quarter with its progress (in the viewer's branches)."""
    return render_template("office/quarters.html", rows=summary.quarter_rows(db.session, scope()))


@bp.route("/office/quarters/<int:quarter_id>")
@guard("branch.view")
def quarter_page(quarter_id: int):
    """A quarter: deadlines, progress by step, branches, and links to its notice, follow-ups and checks."""
    quarter = get_quarter(quarter_id)
    branch_ids = scope()
    data = summary.progress(db.session, quarter, branch_ids)
    version = db.session.get(CatalogueVersion, quarter.catalogue_version_id)
    unit = db.session.get(Unit, quarter.unit_id) if quarter.unit_id else None
    principal = current_principal()
    task_links = [(t, task_pages.task_url(t) if access.may_act(principal, t) else None) for t in data.tasks]
    posted = any(row.BranchQuarter.publicity_start is not None for row in data.branches)
    return render_template("office/quarter.html", quarter=quarter, data=data, version=version, unit=unit,
                           task_links=task_links, bureau_wide=branch_ids is None, posted=posted, now=now())


def _open_choices(form: OpenQuarterForm) -> None:
    form.unit_id.choices = choices([("", _("Whole bureau"))] + [
        (str(u.id), f"{u.name}（{u.kind.name}）") for u in db.session.scalars(
            select(Unit).where(Unit.active.is_(True)).order_by(Unit.sort, Unit.id))])
    form.catalogue_version_id.choices = choices([("", _("The published catalogue of the year"))] + [
        (str(v.id), f"{v.year} · {v.name}") for v in db.session.scalars(
            select(CatalogueVersion).where(CatalogueVersion.status == CatalogueStatus.PUBLISHED)
            .order_by(CatalogueVersion.year.desc(), CatalogueVersion.id.desc()))])


def _next_unopened(year: int, quarter: int) -> tuple[int, int]:
    """The current quarter, or the first after it that is not open bureau-wide yet (the form's default)."""
    opened = set(db.session.execute(select(Quarter.year, Quarter.quarter).where(Quarter.scope_key == "bureau")).all())
    for _step in range(4):
        if (year, quarter) not in opened:
            break
        year, quarter = (year + 1, 1) if quarter == 4 else (year, quarter + 1)
    return year, quarter


@bp.route("/office/quarters/new", methods=["GET", "POST"])
@guard("quarter.open")
def open_quarter():
    """Open a quarter for the bureau or one unit: every evaluated person gets a self-evaluation."""
    form = OpenQuarterForm()
    _open_choices(form)
    if request.method == "GET":
        today = local_now()
        form.year.data, quarter_number = _next_unopened(today.year, (today.month - 1) // 3 + 1)
        form.quarter.data = str(quarter_number)
        form.self_eval_deadline.data = datetime.combine(today.date() + timedelta(days=10), time(17, 30))
        form.publicity_days.data = 5
        return render_template("office/open_quarter.html", form=form)
    status = 422
    if form.validate():
        deadline = form.self_eval_deadline.data.replace(tzinfo=local_zone())
        outcome = run_service(quarters.open_quarter, current_principal(), year=form.year.data,
                         quarter=int(form.quarter.data), self_eval_deadline=deadline,
                         publicity_days=form.publicity_days.data, unit_id=optional_int(form.unit_id.data),
                         catalogue_version_id=optional_int(form.catalogue_version_id.data),
                         title=(form.title.data or "").strip(), form=form)
        if outcome.ok:
            result = outcome.result
            flash(_("%(label)s is open: %(people)s people in %(branches)s branches can now declare.",
                    label=result.quarter.label, people=result.evaluations, branches=result.branches), "success")
            return redirect(url_for("office.quarter_page", quarter_id=result.quarter.id))
        status = outcome.status
    return render_template("office/open_quarter.html", form=form), status


# --- Follow-ups ---------------------------------------------------------------------------------------

FOLLOW_UP_FILTERS = ("open", "overdue", "done", "all")


@bp.route("/office/follow-ups")
@guard("followup.manage")
def follow_ups():
    """Every follow-up (of one quarter, or all): kind, who, assignee, due date, overdue, what was done."""
    quarter_id = optional_int(request.args.get("quarter"))
    state = request.args.get("status", "all")
    state = state if state in FOLLOW_UP_FILTERS else "all"
    kind = request.args.get("kind", "")
    kind = kind if kind in [k.value for k in FollowUpKind] else ""
    moment = now()
    task = aliased(HumanTask)
    assignee, done_by = aliased(User), aliased(User)
    clauses: list[Any] = []
    if quarter_id is not None:
        clauses.append(FollowUp.quarter_id == quarter_id)
    if kind:
        clauses.append(FollowUp.kind == kind)
    if state == "open":
        clauses.append(FollowUp.status == FollowUpStatus.OPEN)
    elif state == "overdue":
        clauses += [FollowUp.status == FollowUpStatus.OPEN, FollowUp.due_at < moment]
    elif state == "done":
        clauses.append(FollowUp.status == FollowUpStatus.DONE)
    total = db.session.scalar(select(func.count()).select_from(FollowUp).where(*clauses)) or 0
    page = int_arg("page", 1)
    pages = max(1, -(-total // PER_PAGE))
    page = min(page, pages)
    rows = db.session.execute(
        select(FollowUp, Quarter.year, Quarter.quarter, task, assignee, done_by)
        .join(Quarter, Quarter.id == FollowUp.quarter_id)
        .outerjoin(task, and_(task.instance_id == FollowUp.instance_id, task.state == TaskState.OPEN))
        .outerjoin(assignee, assignee.id == task.assignee_id)
        .outerjoin(done_by, done_by.id == FollowUp.done_by)
        .where(*clauses)
        .order_by(FollowUp.status.desc(), FollowUp.due_at, FollowUp.id)
        .limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    quarter_choices = db.session.scalars(select(Quarter).where(Quarter.id.in_(select(FollowUp.quarter_id)))
                                         .order_by(Quarter.year.desc(), Quarter.quarter.desc())).all()
    return render_template("office/follow_ups.html", rows=rows, page=Page(rows, total, page, PER_PAGE),
                           quarter_id=quarter_id, state=state, kind=kind, kinds=[k.value for k in FollowUpKind],
                           quarter_choices=quarter_choices, filters=FOLLOW_UP_FILTERS, now=moment,
                           branch_names=dict(db.session.execute(select(Branch.id, Branch.name)).all()))
