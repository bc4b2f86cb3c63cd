"""The bureau's task pages of a quarter: the notice and comment (party office), the filing acceptance
and the quarterly verification (leading group). Each renders (GET) and completes (POST) its task."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from models.evaluation import (
    Claim,
    Evaluation,
    FollowUp,
    FollowUpStatus,
    Notice,
    VerificationFinding,
)
from models.process import HumanTask
from webapp.arguments import int_arg, optional_int
from webapp.authz import current_principal, guard, load_task_or_404
from webapp.boundary import run_service
from webapp.extensions import db
from webapp.office import bp, summary
from webapp.office.forms import FilingForm, NoticeForm, VerificationForm
from webapp.office.routes import get_quarter
from webapp.office.web import task_is_open
from webapp.tasks import register_task_page
from workflows.quarter import notices
from workflows.reading import ranking

register_task_page("quarter_notice", "office.notice_task")
register_task_page("filing_acceptance", "office.filing_task")
register_task_page("quarter_verification", "office.verification_task")

PERSON_KINDS = [k.value for k in notices.PERSON_FOLLOW_UPS]
BRANCH_KINDS = [k.value for k in notices.BRANCH_FOLLOW_UPS]
NOTICE_SECTIONS = ("commended_person_ids", "person_follow_ups", "branch_follow_ups")


def _done(task: HumanTask, heading: str, **links: Any) -> Any:
    """A task page after its task was completed or withdrawn: say so, link onwards."""
    return render_template("office/task_done.html", task=task, heading=heading, **links)


def _latest_notice(quarter_id: int) -> Notice | None:
    return db.session.scalar(select(Notice).where(Notice.quarter_id == quarter_id, Notice.published_at.is_not(None))
                             .order_by(Notice.published_at.desc(), Notice.id.desc()).limit(1))


# --- Notice and comment (通报点评) ----------------------------------------------------------------------


def _ints(values: list[str]) -> tuple[list[int], bool]:
    """Whole numbers from form values; the flag says whether something unreadable was dropped."""
    out, bad = [], False
    for value in values:
        number = optional_int(value)
        if number is None:
            bad = True
        else:
            out.append(number)
    return out, bad


@bp.route("/office/tasks/<int:task_id>/notice", methods=["GET", "POST"])
@guard("quarter.notice")
def notice_task(task_id: int):
    """Compose the quarter's notice from the generated lists: commendations, follow-ups of members under
    the pass line and of weak branches, every branch's collective score, the title and the comment."""
    task = load_task_or_404(task_id, "quarter_notice")
    quarter = get_quarter(task.quarter_id)
    if not task_is_open(task):
        notice = _latest_notice(quarter.id)
        return _done(task, _("The notice of this quarter has been published."),
                     notice_url=url_for("notices.show", notice_id=notice.id) if notice else None,
                     quarter=quarter)
    lists = notices.compose(db.session, quarter.id)
    under_ids = [u["person_id"] for u in lists["under_pass"]]
    branch_ids = [b["branch_id"] for b in lists["branches"]]
    form = NoticeForm()
    status, sections, bad = 200, {}, False
    if request.method == "GET":
        form.title.data = _("Notice on the party members' points of quarter %(q)s of %(year)s",
                            q=quarter.quarter, year=quarter.year)
        commended = [c["person_id"] for c in lists["commendations"]]
        person_choice = {pid: [PERSON_KINDS[0]] for pid in under_ids}
        branch_choice = {bid: BRANCH_KINDS[0] for bid in lists["low_branches"]}
    else:
        commended, bad = _ints(request.form.getlist("commend"))
        person_choice = {pid: [k for k in request.form.getlist(f"fu-{pid}") if k] for pid in under_ids}
        branch_choice = {bid: v for bid in branch_ids if (v := request.form.get(f"bfu-{bid}", ""))}
        if bad:
            sections["commended_person_ids"] = [_("Choose members from the list.")]
            status = 422
        elif form.validate():
            outcome = run_service(notices.save_notice, current_principal(), task.id, title=form.title.data or "",
                             body=form.body.data or "", commended_person_ids=commended,
                             person_follow_ups={p: k for p, k in person_choice.items() if k},
                             branch_follow_ups=branch_choice, sections=NOTICE_SECTIONS, form=form)
            if outcome.ok:
                notice = _latest_notice(quarter.id)
                flash(_("The notice is published to every party member; its follow-ups have started."), "success")
                if notice is not None:
                    return redirect(url_for("notices.show", notice_id=notice.id))
                return redirect(url_for("office.quarter_page", quarter_id=quarter.id))
            status, sections = outcome.status, outcome.sections
        else:
            status = 422
    return render_template("office/notice_task.html", task=task, quarter=quarter, form=form, lists=lists,
                           commended=set(commended), person_choice=person_choice, branch_choice=branch_choice,
                           low=set(lists["low_branches"]), person_kinds=PERSON_KINDS, branch_kinds=BRANCH_KINDS,
                           sections=sections), status


# --- Filing acceptance (上报备案) ---------------------------------------------------------------------------


@bp.route("/office/tasks/<int:task_id>/filing", methods=["GET", "POST"])
@guard("quarter.file")
def filing_task(task_id: int):
    """The quarter's summary for the Leading Group, who accept it for filing (locking it) or return it."""
    task = load_task_or_404(task_id, "filing_acceptance")
    quarter = get_quarter(task.quarter_id)
    if not task_is_open(task):
        return _done(task, _("The filing of this quarter has been decided."), quarter=quarter)
    form = FilingForm()
    status = 200
    if form.is_submitted():
        status = 422
        if form.validate():
            outcome = run_service(notices.accept_filing, current_principal(), task.id, decision=form.decision.data,
                             comment=form.comment.data or "", form=form)
            if outcome.ok:
                if form.decision.data == "accepted":
                    flash(_("%(label)s is filed: it is locked and nothing of it can change any more.",
                            label=quarter.label), "success")
                else:
                    flash(_("%(label)s was returned to the party office with your comment.", label=quarter.label),
                          "success")
                return redirect(url_for("office.quarter_page", quarter_id=quarter.id))
            status = outcome.status
    data = summary.progress(db.session, quarter, None)
    open_follow_ups = db.session.scalars(select(FollowUp).where(
        FollowUp.quarter_id == quarter.id, FollowUp.status == FollowUpStatus.OPEN)
        .order_by(FollowUp.due_at, FollowUp.id).limit(100)).all()
    return render_template("office/filing_task.html", task=task, quarter=quarter, form=form, data=data,
                           branches=ranking.collective(db.session, quarter.id, None),
                           appeals=summary.appeals_list(db.session, quarter.id),
                           open_follow_ups=open_follow_ups), status


# --- Quarterly verification (一季一核查) -------------------------------------------------------------------

SAMPLE_SIZE = 10


def _sample(quarter_id: int, size: int) -> tuple[list[Evaluation], dict[int, list[Claim]]]:
    """The reproducible sample and the claims of each sampled evaluation (with their evidence)."""
    sampled = notices.sample(db.session, quarter_id, size)
    claims: dict[int, list[Claim]] = {e.id: [] for e in sampled}
    for claim in db.session.scalars(select(Claim).where(Claim.evaluation_id.in_(list(claims) or [-1]))
                                    .options(selectinload(Claim.evidence)).order_by(Claim.id)):
        claims[claim.evaluation_id].append(claim)
    return sampled, claims


@bp.route("/office/tasks/<int:task_id>/verification", methods=["GET", "POST"])
@guard("quarter.verify")
def verification_task(task_id: int):
    """Check a reproducible sample of the filed quarter against its evidence: a finding per evaluation."""
    task = load_task_or_404(task_id, "quarter_verification")
    quarter = get_quarter(task.quarter_id)
    form = VerificationForm()
    size = optional_int(form.size.data) if request.method == "POST" else int_arg("size", SAMPLE_SIZE, 1, 50)
    size = max(1, min(50, size or SAMPLE_SIZE))
    sampled, claims = _sample(quarter.id, size)
    previous = db.session.scalars(select(VerificationFinding).where(VerificationFinding.quarter_id == quarter.id)
                                  .order_by(VerificationFinding.id)).all()
    if not task_is_open(task):
        return _done(task, _("The verification of this quarter has been recorded."), quarter=quarter,
                     findings=previous)
    values = {e.id: {"result": request.form.get(f"result-{e.id}", ""), "finding": request.form.get(f"finding-{e.id}", "")}
              for e in sampled}
    errors: dict[int, list[str]] = {}
    status = 200
    if form.is_submitted():
        status = 422
        if form.validate():
            findings = [{"evaluation_id": e.id, **values[e.id]} for e in sampled]
            outcome = run_service(notices.record_verification, current_principal(), task.id, findings=findings,
                             sections=[f"findings-{i}" for i in range(len(sampled))], form=form)
            if outcome.ok:
                issues = sum(1 for f in findings if f["result"] == "issue")
                flash(_("The verification is recorded: %(checked)s checked, %(issues)s with an issue.",
                        checked=len(findings), issues=issues), "success")
                return redirect(url_for("office.quarter_page", quarter_id=quarter.id))
            status = outcome.status
            errors = {sampled[int(k.split("-")[1])].id: v for k, v in outcome.sections.items()}
    else:
        form.size.data = str(size)
    return render_template("office/verification_task.html", task=task, quarter=quarter, form=form, sampled=sampled,
                           claims=claims, values=values, errors=errors, size=size, previous=previous), status
