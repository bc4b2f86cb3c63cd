"""Supervision reports (监督举报): any member (or anyone, through the party office) reports a
member's conduct; the branch's points group verifies it; a substantiated report becomes a deduction
in that member's open quarter, which they see and may appeal. The reporter's identity is visible
only to the branch's discipline member and the party office."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import audit
from models.catalogue import StandardKind
from models.clock import now
from models.db import get_by_id
from models.evaluation import (
    Appeal,
    AppealKind,
    AppealStatus,
    Claim,
    ClaimSource,
    ClaimStatus,
    Evaluation,
    ReportStatus,
    SupervisionReport,
)
from models.people import EVALUATED_STATUSES, Person
from models.permissions import Principal, Target, can
from workflows.engine import instances, spiff, user_tasks
from workflows.errors import NotAllowed, NotFound, ValidationFailed, WindowClosed
from workflows.i18n import N_
from workflows.quarter import evaluation as evaluations
from workflows.quarter import fields, locking, notify
from workflows.quarter import opening as quarter

APPEAL_WORKING_DAYS = 5


def submit(session: Session, actor: Principal, *, subject_person_id: int, text: str, occurred_on: date | None = None,
           suggested_standard_id: int | None = None, via_party_office: bool = False, reporter_name: str = "",
           reporter_contact: str = "") -> SupervisionReport:
    """Take in a report and start its verification."""
    if not can(actor, "report.submit"):
        raise NotAllowed()
    errors: dict[str, list[str]] = {}
    person = session.get(Person, subject_person_id)
    if person is None or not person.active or person.status not in EVALUATED_STATUSES or person.branch_id is None:
        errors["subject_person_id"] = [N_("Choose the member the report is about.")]
    elif person.id == actor.person_id:
        errors["subject_person_id"] = [N_("You cannot report yourself.")]
    text = fields.text(errors, "text", text, limit=fields.MEDIUM, missing=N_("Describe what happened."))
    fields.not_in_future(errors, "occurred_on", occurred_on, N_("The date cannot be in the future."))
    if suggested_standard_id is not None:
        from models.catalogue import Standard

        suggested = get_by_id(session, Standard, suggested_standard_id)
        if suggested is None or suggested.kind != StandardKind.DEDUCTION:
            errors["suggested_standard_id"] = [N_("Choose a deduction standard of the catalogue, or none.")]
        else:
            suggested_standard_id = suggested.id
    if via_party_office:
        if not actor.holds("party_office", None):
            raise NotAllowed()
        if not (reporter_name or "").strip():
            errors["reporter_name"] = [N_("Record who made the report.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    assert person is not None
    open_evaluation = quarter.open_quarter_for_person(session, person.id)
    report = SupervisionReport(
        subject_person_id=person.id, branch_id=person.branch_id,
        reporter_user_id=None if via_party_office else actor.user_id,
        reporter_name=(reporter_name or "").strip()[:100], reporter_contact=(reporter_contact or "").strip()[:200],
        via_party_office=via_party_office, text=text, occurred_on=occurred_on,
        suggested_standard_id=suggested_standard_id, status=ReportStatus.VERIFYING.value,
        evaluation_id=open_evaluation.id if open_evaluation else None, created_at=now())
    if via_party_office:
        report.reporter_user_id = None
    session.add(report)
    session.flush()
    instance = instances.start_process(
        session, "supervision_report",
        {"report_id": report.id, "person_id": person.id, "branch_id": person.branch_id,
         "quarter_id": open_evaluation.quarter_id if open_evaluation else None},
        quarter_id=open_evaluation.quarter_id if open_evaluation else None, branch_id=person.branch_id,
        subject_person_id=person.id, object_type="report", object_id=report.id, actor_user_id=actor.user_id)
    report.instance_id = instance.id
    # The log keeps who reported, as every action does; the pages show it only to those allowed.
    audit.record(session, "report.submitted", actor_user_id=actor.user_id, object_type="report", object_id=report.id,
                 branch_id=person.branch_id, data={"subject_person_id": person.id, "via_party_office": via_party_office})
    return report


def may_see_reporter(actor: Principal, report: SupervisionReport) -> bool:
    return can(actor, "report.reporter_identity", Target(report.branch_id, report.subject_person_id))


def _task_report(session: Session, actor: Principal, task_id: int, form_key: str) -> tuple[Any, SupervisionReport]:
    task = user_tasks.task_of_form(session, actor, task_id, form_key)
    if task.process_key != "supervision_report":
        raise NotFound()
    instance = instances.get_instance(session, task.instance_id)
    report = session.get(SupervisionReport, instance.object_id)
    if report is None:
        raise NotFound()
    return task, report


def verify(session: Session, actor: Principal, task_id: int, *, decision: str, reason: str,
           standard_id: int | None = None, occurrences: int | None = 1) -> user_tasks.Completion:
    """The points group decides: substantiated (with the deduction standard) or not, with a reason."""
    task, report = _task_report(session, actor, task_id, "report_verification")
    errors: dict[str, list[str]] = {}
    fields.decision(errors, "decision", decision, (ReportStatus.SUBSTANTIATED, ReportStatus.UNSUBSTANTIATED),
                    N_("Substantiated or not."))
    reason = fields.text(errors, "reason", reason, limit=fields.MEDIUM,
                         missing=N_("Give the reason: the member and the reporter read it."))
    if decision == ReportStatus.SUBSTANTIATED:
        target_evaluation = quarter.open_quarter_for_person(session, report.subject_person_id)
        if target_evaluation is None:
            errors["decision"] = [N_("The member has no open quarter to record the deduction in.")]
        else:
            rules = evaluations.rules(session, target_evaluation)
            standard = rules.standards.get(int(standard_id)) if standard_id else None
            if standard is None or standard.kind != StandardKind.DEDUCTION:
                errors["standard_id"] = [N_("Choose the deduction standard of the member's catalogue.")]
            high = (standard.max_occurrences or 99) if standard else 99
            if occurrences is None or not 1 <= int(occurrences) <= high:
                errors["occurrences"] = [N_("Out of range.")]
            report.evaluation_id = target_evaluation.id
    if errors:
        raise ValidationFailed(field_errors=errors)
    report.decision_reason, report.verified_by, report.verified_at = reason, actor.user_id, now()
    if decision == ReportStatus.SUBSTANTIATED:
        report.suggested_standard_id, report.occurrences = int(standard_id), int(occurrences)  # type: ignore[arg-type]
    audit.record(session, "report.verified", actor_user_id=actor.user_id, object_type="report", object_id=report.id,
                 branch_id=report.branch_id, data={"decision": str(decision), "reason": reason,
                                                   "standard_id": standard_id, "occurrences": occurrences})
    return user_tasks.complete_task(session, task_id, actor, {"verification": str(decision)})


def record_report_deduction(ctx: spiff.RunContext, data: dict[str, Any]) -> dict[str, Any]:
    """The substantiated report becomes an accepted deduction in the member's open quarter; the
    member is told and may appeal within five working days."""
    session = ctx.session
    report = session.get(SupervisionReport, ctx.instance.object_id)
    evaluation = session.get(Evaluation, report.evaluation_id)
    locking.ensure_unlocked(session, evaluation.quarter_id)
    claim = Claim(evaluation_id=evaluation.id, standard_id=report.suggested_standard_id, source=ClaimSource.REPORT.value,
                  status=ClaimStatus.ACCEPTED.value, occurrences=report.occurrences, occurred_on=report.occurred_on,
                  description=report.text[:2000], decision_reason=report.decision_reason, report_id=report.id,
                  reviewed_by=report.verified_by, reviewed_at=report.verified_at, created_by=report.verified_by)
    session.add(claim)
    session.flush()
    report.claim_id, report.status = claim.id, ReportStatus.SUBSTANTIATED.value
    if evaluation.score is not None:
        evaluations.rescore(session, evaluation)
    until = spiff.add_working_days(now(), APPEAL_WORKING_DAYS)
    notify.notify(session, [notify.user_of_person(session, report.subject_person_id)], "report_deduction",
                  data={"report_id": report.id, "appeal_until": until}, body=report.decision_reason,
                  link=f"/my/evaluations/{evaluation.id}")
    audit.record(session, "report.deduction", actor_user_id=ctx.actor_user_id, object_type="claim", object_id=claim.id,
                 quarter_id=evaluation.quarter_id, branch_id=evaluation.branch_id,
                 data={"report_id": report.id, "evaluation_id": evaluation.id})
    return {"appeal_until": until, "claim_id": claim.id}


def revoke_report_deduction(ctx: spiff.RunContext, data: dict[str, Any]) -> dict[str, Any]:
    """An upheld appeal withdraws the report's deduction."""
    session = ctx.session
    report = session.get(SupervisionReport, ctx.instance.object_id)
    claim = session.get(Claim, report.claim_id)
    evaluation = session.get(Evaluation, claim.evaluation_id)
    locking.ensure_unlocked(session, evaluation.quarter_id)
    claim.status = ClaimStatus.REVOKED.value
    report.status = ReportStatus.REVOKED.value
    session.flush()
    if evaluation.score is not None:
        evaluations.rescore(session, evaluation)
    notify.notify(session, [notify.user_of_person(session, report.subject_person_id)], "report_revoked",
                  data={"report_id": report.id}, link=f"/my/evaluations/{evaluation.id}")
    return {"revoked": claim.id}


def close_report(ctx: spiff.RunContext, data: dict[str, Any]) -> dict[str, Any]:
    """Unsubstantiated: closed with its reason, which the reporter is told."""
    session = ctx.session
    report = session.get(SupervisionReport, ctx.instance.object_id)
    report.status = ReportStatus.UNSUBSTANTIATED.value
    notify.notify(session, [report.reporter_user_id], "report_closed", data={"report_id": report.id},
                  body=report.decision_reason)
    return {"closed": report.id}


def own_report(session: Session, actor: Principal, report_id: int) -> SupervisionReport:
    """A report about the actor themself (the only reports one may appeal); refused before any input is read."""
    report = get_by_id(session, SupervisionReport, report_id)
    if report is None:
        raise NotFound()
    if report.subject_person_id != actor.person_id:
        raise NotAllowed()
    return report


def appeal(session: Session, actor: Principal, report_id: int, text: str) -> Appeal:
    """The member appeals a report's deduction (within the window the report process keeps open)."""
    report = own_report(session, actor, report_id)
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(field_errors={"text": [N_("Say what is wrong and why.")]})
    if len(text) > 2000:
        raise ValidationFailed(field_errors={"text": [N_("At most 2000 characters.")]})
    instance = instances.get_instance(session, report.instance_id)
    if "report_appeal" not in (instance.waiting_messages or "").split() or report.claim_id is None:
        raise WindowClosed(N_("This deduction can no longer be appealed."))
    evaluation = session.get(Evaluation, report.evaluation_id)
    locking.ensure_unlocked(session, evaluation.quarter_id)
    item = Appeal(evaluation_id=evaluation.id, kind=AppealKind.APPEAL.value, claim_id=report.claim_id,
                  submitted_by=actor.user_id, submitted_at=now(), text=text, status=AppealStatus.OPEN.value)
    session.add(item)
    session.flush()
    report.status = ReportStatus.APPEALED.value
    audit.record(session, "report.appealed", actor_user_id=actor.user_id, object_type="appeal", object_id=item.id,
                 branch_id=report.branch_id, data={"report_id": report.id, "text": text})
    if not instances.send_message(session, instance, "report_appeal", {"appeal_id": item.id}, actor_user_id=actor.user_id):
        raise WindowClosed(N_("This deduction can no longer be appealed."))
    return item


def appeal_window_end(session: Session, report: SupervisionReport) -> datetime | None:
    from models.process import Timer

    # The appeal window is the timer the report's process waits on while it can be appealed
    # (mirrored under the waiting element — the event-based gateway — whatever its id).
    return session.scalar(select(Timer.due_at).where(Timer.instance_id == report.instance_id)
                          .order_by(Timer.due_at).limit(1))
