"""Appeals (申诉) about one's own posted score, concerns (反映) about anybody's posted score, and
appeals against a supervision report's deduction. Each is accepted only while its window is
open; outside it the page says so and why."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from models.evaluation import (
    AppealKind,
    BranchQuarter,
    Claim,
    ClaimStatus,
    Evaluation,
    Quarter,
    SupervisionReport,
)
from models.permissions import can
from webapp.authz import current_principal, guard, load_or_404
from webapp.boundary import run_service
from webapp.extensions import db
from webapp.member import bp
from webapp.member.forms import AppealForm, TextForm
from webapp.member.routes import page
from workflows.quarter import appeals, reports
from workflows.quarter.evaluation import target


def _window_state(ev: Evaluation) -> dict[str, Any]:
    """Whether appeals are open now, and the dates that explain why not."""
    quarter = db.session.get(Quarter, ev.quarter_id)
    bq = db.session.scalar(select(BranchQuarter).where(BranchQuarter.quarter_id == ev.quarter_id,
                                                       BranchQuarter.branch_id == ev.branch_id))
    open_bq = appeals.window(db.session, ev)
    if quarter is not None and quarter.locked:
        reason = "locked"
    elif open_bq is not None:
        reason = "open"
    elif bq is None or bq.publicity_start is None:
        reason = "not_yet"
    else:
        reason = "over"
    return {"open": reason == "open", "reason": reason, "start": bq.publicity_start if bq else None,
            "end": bq.publicity_end if bq else None}


def _file(ev: Evaluation, form: AppealForm | TextForm, kind: str, success: str, back: str) -> Any:
    """The appeal and concern pages: file while the window is open, else say why not."""
    window = _window_state(ev)
    status = 200
    if window["open"] and form.validate_on_submit():
        raw = getattr(getattr(form, "claim_id", None), "data", None) or ""
        outcome = run_service(appeals.file_appeal, current_principal(), ev.id, kind=kind, text=form.text.data or "",
                              claim_id=int(raw) if raw.isdigit() else None, form=form)
        if outcome.ok:
            flash(success, "success")
            return redirect(back)
        status = 422
        window = _window_state(ev)
    elif form.is_submitted():
        status = 422
        if not window["open"]:
            form.form_errors.append(_("Appeals are accepted only while the scores are under publicity."))
    # A concern's page shows only what the publicity board shows, and only while it shows it.
    return page("member/appeal.html", status, ev=ev, form=form, window=window, kind=kind)


@bp.route("/my/evaluations/<int:evaluation_id>/appeal", methods=["GET", "POST"])
@guard("evaluation.appeal")
def appeal(evaluation_id: int) -> Any:
    """Appeal one's own posted score (as a whole, or one claim of it)."""
    ev = load_or_404(Evaluation, evaluation_id, "evaluation.appeal")
    claims = [c for c in db.session.scalars(select(Claim).where(Claim.evaluation_id == ev.id).order_by(Claim.id))
              if c.status != ClaimStatus.DRAFT]
    form = AppealForm()
    form.claim_id.choices = [("", _("My score as a whole"))] + [
        (str(c.id), f"{c.standard.text[:60]} ({c.standard.code})") for c in claims]
    return _file(ev, form, AppealKind.APPEAL.value,
                 _("Your appeal has been sent to the branch discipline member. You will be told the decision and "
                   "its reason."), url_for("member.evaluation", evaluation_id=ev.id))


@bp.route("/evaluations/<int:evaluation_id>/concern", methods=["GET", "POST"])
@guard("evaluation.concern")
def concern(evaluation_id: int) -> Any:
    """Raise a concern about a posted score (any member, about anybody else's)."""
    ev = db.session.get(Evaluation, evaluation_id)
    if ev is None:
        abort(404)
    principal = current_principal()
    if ev.person_id == principal.person_id:
        return redirect(url_for("member.appeal", evaluation_id=ev.id))
    if not can(principal, "evaluation.concern", target(ev)):
        abort(403)
    return _file(ev, TextForm(), AppealKind.CONCERN.value,
                 _("Your concern has been sent to the branch discipline member. You will be told the decision "
                   "and its reason; the member concerned is not told who raised it."), url_for("member.index"))


@bp.route("/my/reports/<int:report_id>/appeal", methods=["GET", "POST"])
@guard("evaluation.appeal")
def report_appeal(report_id: int) -> Any:
    """Appeal the deduction a supervision report put in one's quarter."""
    report = load_or_404(SupervisionReport, report_id, "evaluation.appeal")
    claim = db.session.get(Claim, report.claim_id) if report.claim_id else None
    if claim is None:
        abort(404)
    from webapp.member.scores import open_report_appeals

    until = open_report_appeals(report.subject_person_id)
    is_open = report.id in until
    form = TextForm()
    status = 200
    if is_open and form.validate_on_submit():
        outcome = run_service(reports.appeal, current_principal(), report.id, form.text.data or "", form=form)
        if outcome.ok:
            flash(_("Your appeal against the deduction has been sent to the branch discipline member."), "success")
            return redirect(url_for("member.evaluation", evaluation_id=claim.evaluation_id) + f"#claim-{claim.id}")
        status = outcome.status
    elif form.is_submitted():
        status = 422
        if not is_open:
            form.form_errors.append(_("This deduction can no longer be appealed."))
    return page("member/report_appeal.html", status, report=report, claim=claim, form=form, is_open=is_open,
                until=until.get(report.id))
