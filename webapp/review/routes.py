"""The pages of the branch's work: review (and review again after an upheld appeal), the
secretary's approval, the general meeting, the discipline member's decision on an appeal or
concern, the verification of a supervision report, and follow-ups.

Each page shows what its actor needs to decide (the member, the quarter, the claims with their
standards and evidence, the history), and completes its task through the task's service in
`workflows`, run by `workflows.tx.run`. A page is for the task's assignee and pool (the party
office may look, to reassign); everybody else gets 403, a missing task 404.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from wtforms import Field

from models.clock import now
from models.db import MAX_ID
from models.evaluation import ClaimStatus, Evaluation
from models.process import HumanTask
from webapp.authz import guard, load_task_or_404
from webapp.boundary import Outcome, run_service
from webapp.extensions import db
from webapp.inbox import common
from webapp.inbox.forms import ButtonForm
from webapp.review import bp
from webapp.review import context as facts
from webapp.review import forms as f
from webapp.review.preview import current_decision, review_preview
from webapp.tasks import register_task_page
from workflows.engine import access
from workflows.errors import ValidationFailed
from workflows.i18n import N_
from workflows.quarter import appeals, branch, followups, reports
from workflows.quarter import evaluation as evaluations
from workflows.quarter import opening as quarter

for _form_key, _endpoint in (("branch_review", "review.branch_review"), ("branch_approval", "review.approval"),
                             ("branch_meeting", "review.meeting"), ("appeal_decision", "review.appeal"),
                             ("report_verification", "review.report"), ("follow_up", "review.follow_up")):
    register_task_page(_form_key, _endpoint)

# What a page's POST hands to the boundary: the service, its keyword arguments, and the errors of
# values that could not even be read (then the service is not called).
Prepared = tuple[Callable[..., Any], dict[str, Any], dict[str, list[str]]]


# --- What every page shares ------------------------------------------------------------------------------


def _base(task: HumanTask) -> dict[str, Any]:
    """The task's header and history: who it is for, who has it, when it is due, what happened."""
    p = common.principal()
    return {
        "task": task, "button": ButtonForm(), "office": common.is_office(p),
        "can_act": common.can_act(p, task), "in_pool": access.in_pool(p, task),
        "assignee": common.name_of_user(task.assignee_id),
        "history": common.history(task.instance_id, private=not common.may_know_authors(p, task)),
        "subject": facts.person(task.subject_person_id), "quarter": facts.quarter(task.quarter_id),
    }


def _render(template: str, status: int, **context: Any) -> tuple[str, int]:
    return render_template(template, **context), status


def _done(task: HumanTask) -> Any:
    flash(_("Done: %(step)s.", step=common.step_name(task.bpmn_id, task.name)), "success")
    return redirect(url_for("inbox.index"))


def _place_errors(form: Any, errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """Put a service's field errors on the form's fields; return those no field of it carries."""
    left: dict[str, list[str]] = {}
    for name, messages in errors.items():
        target = getattr(form, name, None)
        if isinstance(target, Field):
            target.errors = list(target.errors or []) + [_(m) for m in messages]
        else:
            left[name] = [_(m) for m in messages]
    return left


def _parse(value: str | None, name: str, errors: dict[str, list[str]], read: Callable[[str], Any],
           message: str) -> Any:
    """A typed value, None when left empty; what cannot be read is an error on its field."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        return read(text)
    except ValueError:
        errors.setdefault(name, []).append(message)
        return None


def _parse_int(value: str | None, name: str, errors: dict[str, list[str]]) -> int | None:
    number = _parse(value, name, errors, int, N_("Enter a whole number."))
    if number is not None and not -MAX_ID <= number <= MAX_ID:
        errors.setdefault(name, []).append(N_("Out of range."))
        return None
    return number


def _parse_date(value: str | None, name: str, errors: dict[str, list[str]]) -> date | None:
    return _parse(value, name, errors, date.fromisoformat, N_("Enter a date as YYYY-MM-DD."))


def _today() -> str:
    from flask_babel import get_timezone

    return now().astimezone(get_timezone()).date().isoformat()


def _form_task(form_key: str, task_id: int) -> HumanTask:
    return load_task_or_404(task_id, form_key, supervise=True)


def _submit_simple(task: HumanTask, form: Any, call: Callable[[], Prepared]) -> tuple[Any, dict[str, Any]]:
    """POST of a page with one plain form: parse, run the service, and either finish (redirect)
    or say what went wrong on the page (fields keep what was typed)."""
    if not form.validate_on_submit():
        abort(400)
    service, kwargs, parse_errors = call()
    if parse_errors:  # a value that cannot be read is never passed on as "left empty"
        outcome = Outcome(error=ValidationFailed(field_errors=parse_errors), status=422)
    else:
        outcome = run_service(service, common.principal(), task.id, **kwargs)
        if outcome.ok:
            return _done(task), {}
    for messages in _place_errors(form, outcome.field_errors).values():
        form.form_errors.extend(messages)
    return None, {"status": outcome.status, "problem": outcome}


def _simple_page(task: HumanTask, form: Any, template: str, call: Callable[[], Prepared], **context: Any) -> Any:
    """GET shows the page; POST completes the task or shows the page again with what went wrong."""
    state: dict[str, Any] = {}
    if request.method == "POST":
        answer, state = _submit_simple(task, form, call)
        if answer is not None:
            return answer
    return _render(template, state.get("status", 200), **_base(task), **context,
                   form=form, problem=state.get("problem"))


# --- Branch review (and review again after an upheld appeal) ------------------------------------------------


def _review_entries(form: f.ReviewForm, claims: list[facts.ClaimView]) -> None:
    """One decision per claim, pre-filled with what stands (a report's deduction: accepted)."""
    for view in claims:
        claim = view.claim
        if claim.status == ClaimStatus.REVOKED or len(form.decisions) >= f.MAX_DECISIONS:
            continue
        kind = current_decision(claim) or "accept"
        form.decisions.append_entry({
            "claim_id": str(claim.id), "decision": kind,
            "occurrences": str(claim.reviewed_occurrences) if kind == "adjust" and claim.reviewed_occurrences is not None else "",
            "points": str(claim.reviewed_points) if kind == "adjust" and claim.reviewed_points is not None else "",
            "reason": claim.decision_reason if kind in ("adjust", "reject") else "",
        })


def _posted_decisions(form: f.ReviewForm) -> list[dict[str, Any]]:
    return [{"claim_id": e.form.claim_id.data, "decision": e.form.decision.data, "occurrences": e.form.occurrences.data,
             "points": e.form.points.data, "reason": (e.form.reason.data or "").strip()} for e in form.decisions]


def _changed(claim: Any, decision: dict[str, Any]) -> bool:
    """Whether a decided claim's posted decision differs from what stands (only changes are sent)."""
    kind = current_decision(claim)
    if claim.status == ClaimStatus.SUBMITTED or decision["decision"] != kind:
        return True
    if kind == "accept":
        return False
    same_reason = decision["reason"] == (claim.decision_reason or "").strip()
    if kind == "reject":
        return not same_reason
    occurrences = str(claim.reviewed_occurrences) if claim.reviewed_occurrences is not None else ""
    points = str(claim.reviewed_points) if claim.reviewed_points is not None else ""
    return not (same_reason and (decision["occurrences"] or "").strip() == occurrences
                and (decision["points"] or "").strip() == points)


def _additions(form: f.ReviewForm) -> tuple[list[dict[str, Any]], list[int]]:
    """The filled rows of additions, and for each the row it came from."""
    rows, where = [], []
    for index, entry in enumerate(form.additions):
        if entry.form.blank:
            continue
        rows.append({"standard_id": entry.form.standard_id.data, "occurrences": entry.form.occurrences.data,
                     "occurred_on": entry.form.occurred_on.data, "description": entry.form.description.data,
                     "reason": entry.form.reason.data})
        where.append(index)
    return rows, where


def _review_errors(form: f.ReviewForm, errors: dict[str, list[str]], where: list[int]) -> tuple[dict[int, list[str]], list[str]]:
    """Route the review's error keys to the claim fieldsets and addition rows they are about."""
    by_claim: dict[int, list[str]] = {}
    general: list[str] = []
    for key, messages in errors.items():
        text = [_(m) for m in messages]
        parts = key.split("-")
        if key.startswith("claim-") and parts[1].isdigit():
            by_claim.setdefault(int(parts[1]), []).extend(text)
        elif key.startswith("additions-") and len(parts) >= 3 and parts[1].isdigit() and int(parts[1]) < len(where):
            row = form.additions[where[int(parts[1])]].form
            target = getattr(row, "-".join(parts[2:]), None)
            if isinstance(target, Field):
                target.errors = list(target.errors or []) + text
            else:
                general.extend(text)
        else:
            general.extend(text)
    return by_claim, general


@bp.route("/<int:task_id>/review", methods=["GET", "POST"])
@guard("signed_in")
def branch_review(task_id: int):
    """Decide every claim (accept / adjust / reject, a reason for each change), add deductions or
    bonuses from the branch's records, preview the score; submit scores and moves the process on."""
    task = _form_task("branch_review", task_id)
    ev = facts.evaluation_of(task)
    if ev is None:
        abort(404)
    claims = facts.claims_of(ev.id)
    form = f.ReviewForm()
    action = request.form.get("action", "submit")
    status = 200
    claim_errors: dict[int, list[str]] = {}
    general: list[str] = []
    problem = None
    if request.method == "GET":
        _review_entries(form, claims)
    else:
        if not form.validate_on_submit():
            abort(400)
        _complete_entries(form, claims)
        if action == "add_row" and len(form.additions) < f.MAX_ADDITIONS:
            form.additions.append_entry()
        elif action == "submit":
            by_id = {str(v.claim.id): v.claim for v in claims}
            decisions = [d for d in _posted_decisions(form)
                         if d["claim_id"] not in by_id or _changed(by_id[d["claim_id"]], d)]
            additions, where = _additions(form)
            too_long = {f"additions-{i}-reason": [N_("At most 2000 characters.")]
                        for i, row in enumerate(additions) if len((row["reason"] or "").strip()) > evaluations.MAX_TEXT}
            if too_long:
                outcome = Outcome(error=ValidationFailed(field_errors=too_long), status=422)
            else:
                outcome = run_service(evaluations.review, common.principal(), task.id, decisions=decisions,
                                         additions=additions)
                if outcome.ok:
                    return _done(task)
            status, problem = outcome.status, outcome
            claim_errors, general = _review_errors(form, outcome.field_errors, where)
    additions, where = _additions(form)
    preview = review_preview(ev, claims, _posted_decisions(form), additions)
    if action == "preview" and request.method == "POST":
        claim_errors, general = _review_errors(form, preview.errors, where)
    return _render("review/branch_review.html", status, **_base(task), ev=ev, claims=claims, form=form,
                   entries={e.form.claim_id.data: e for e in form.decisions}, preview=preview,
                   choices=facts.standard_choices(evaluations.rules(db.session, ev)),
                   appeals=_appeals_for(task, ev) if task.bpmn_id != "branch_review" else [],
                   claim_errors=claim_errors, general_errors=general, problem=problem, max_additions=f.MAX_ADDITIONS)


def _appeals_for(task: HumanTask, ev: Evaluation) -> list[tuple[Any, str, str]]:
    """The appeals of the evaluation; a concern's author is named only to those who may know."""
    known = common.may_know_authors(common.principal(), task)
    return [(a, who if known or a.kind != "concern" else _("(not shown)"), by) for a, who, by in facts.appeals_of(ev.id)]


def _complete_entries(form: f.ReviewForm, claims: list[facts.ClaimView]) -> None:
    """A posted form lacking a claim's decision (an old page, a tampered one) gets what stands."""
    posted = {e.form.claim_id.data for e in form.decisions}
    for view in claims:
        claim = view.claim
        if claim.status != ClaimStatus.REVOKED and str(claim.id) not in posted and len(form.decisions) < f.MAX_DECISIONS:
            kind = None if claim.status == ClaimStatus.SUBMITTED else current_decision(claim)
            form.decisions.append_entry({"claim_id": str(claim.id), "decision": kind})


# --- The secretary: approval and the general meeting -------------------------------------------------------


def _branch_facts(task: HumanTask) -> dict[str, Any]:
    bq = facts.branch_quarter_of(task)
    if bq is None:
        abort(404)
    return {"bq": bq, "members": facts.members_of(bq)}


@bp.route("/<int:task_id>/approval", methods=["GET", "POST"])
@guard("signed_in")
def approval(task_id: int):
    """The secretary approves the branch's reviewed scores, or returns named members for review."""
    task = _form_task("branch_approval", task_id)
    context = _branch_facts(task)
    form = f.ApprovalForm()
    returned = request.form.getlist("returned_person_ids")[:1000] if request.method == "POST" else []

    def call() -> Prepared:
        return branch.approve, {"decision": form.decision.data, "comment": form.comment.data or "",
                                "returned_person_ids": returned}, {}

    return _simple_page(task, form, "review/approval.html", call, **context, returned=set(returned))


@bp.route("/<int:task_id>/meeting", methods=["GET", "POST"])
@guard("signed_in")
def meeting(task_id: int):
    """The branch general meeting that confirmed every member's score: date, attendance, resolution."""
    task = _form_task("branch_meeting", task_id)
    context = _branch_facts(task)
    form = f.MeetingForm()
    if request.method == "GET":
        form.meeting_date.data = _today()
        form.meeting_expected.data = str(context["bq"].member_count or len(context["members"]))

    def call() -> Prepared:
        errors: dict[str, list[str]] = {}
        values = {"meeting_date": _parse_date(form.meeting_date.data, "meeting_date", errors),
                  "expected": _parse_int(form.meeting_expected.data, "meeting_expected", errors),
                  "present": _parse_int(form.meeting_present.data, "meeting_present", errors),
                  "resolution": form.meeting_resolution.data or ""}
        return branch.confirm_meeting, values, errors

    return _simple_page(task, form, "review/meeting.html", call, **context)


# --- The discipline member: appeals and concerns -------------------------------------------------------------


def _appeal_facts(task: HumanTask) -> dict[str, Any]:
    """The appeal or concern this decision is about, the evaluation it questions and, for an
    appeal against a report's deduction, the report."""
    instance = facts.instance_of(task)
    report = facts.report_of(task) if instance.process_key == "supervision_report" else None
    appeal = appeals.open_appeal_for(db.session, instance)
    if report is not None:
        ev = db.session.get(Evaluation, report.evaluation_id) if report.evaluation_id else None
    else:
        ev = facts.evaluation_of(task)
    if ev is None:
        abort(404)
    history = facts.appeals_of(ev.id)
    if report is not None:  # only the appeals against the report's deduction
        history = [h for h in history if h[0].claim_id is not None and h[0].claim_id == report.claim_id]
    if appeal is None and history:  # decided already: show the latest
        appeal = history[-1][0]
    filed_by = next((who for a, who, _d in history if appeal is not None and a.id == appeal.id), "")
    return {"ev": ev, "report": report, "appeal": appeal, "filed_by": filed_by, "claims": facts.claims_of(ev.id),
            "appeals": history}


@bp.route("/<int:task_id>/appeal", methods=["GET", "POST"])
@guard("signed_in")
def appeal(task_id: int):
    """Uphold (the score is reviewed again) or dismiss an appeal or concern, with the reason the
    member who raised it reads."""
    task = _form_task("appeal_decision", task_id)
    context = _appeal_facts(task)
    form = f.AppealDecisionForm()

    def call() -> Prepared:
        return appeals.decide, {"decision": form.decision.data or "", "reason": form.reason.data or ""}, {}

    return _simple_page(task, form, "review/appeal.html", call, **context)


# --- The points group: a supervision report ------------------------------------------------------------------


@bp.route("/<int:task_id>/report", methods=["GET", "POST"])
@guard("signed_in")
def report(task_id: int):
    """Verify a supervision report: substantiated (with the deduction standard) or not, with a
    reason. The reporter is named only to the discipline member and the party office."""
    task = _form_task("report_verification", task_id)
    item = facts.report_of(task)
    if item is None:
        abort(404)
    p = common.principal()
    named = reports.may_see_reporter(p, item)
    reporter = ""
    if named:
        reporter = (common.name_of_user(item.reporter_user_id) if item.reporter_user_id
                    else item.reporter_name + (f" ({item.reporter_contact})" if item.reporter_contact else ""))
    target = quarter.open_quarter_for_person(db.session, item.subject_person_id)
    choices = facts.standard_choices(evaluations.rules(db.session, target), "deduction") if target else {}
    form = f.ReportVerificationForm()
    if request.method == "GET":
        form.standard_id.data = str(item.suggested_standard_id or "")
        form.occurrences.data = str(item.occurrences or 1)

    def call() -> Prepared:
        errors: dict[str, list[str]] = {}
        values = {"decision": form.decision.data or "", "reason": form.reason.data or "",
                  "standard_id": _parse_int(form.standard_id.data, "standard_id", errors),
                  "occurrences": _parse_int(form.occurrences.data, "occurrences", errors)}
        if form.decision.data != "substantiated":  # the standard only matters for a deduction
            errors.clear()
            values.update(standard_id=None, occurrences=None)
        return reports.verify, values, errors

    return _simple_page(task, form, "review/report.html", call, report=item,
                        reporter=reporter, named=named, target=target, choices=choices)


# --- Follow-ups ------------------------------------------------------------------------------------------------


@bp.route("/<int:task_id>/follow-up", methods=["GET", "POST"])
@guard("signed_in")
def follow_up(task_id: int):
    """Record what was done about a member (or a branch) under the pass line, and when."""
    task = _form_task("follow_up", task_id)
    item = facts.follow_up_of(task)
    if item is None:
        abort(404)
    form = f.FollowUpForm()
    if request.method == "GET":
        form.done_on.data = _today()

    def call() -> Prepared:
        errors: dict[str, list[str]] = {}
        values = {"record": form.record.data or "", "done_on": _parse_date(form.done_on.data, "done_on", errors)}
        return followups.complete, values, errors

    return _simple_page(task, form, "review/follow_up.html", call, facts=item)
