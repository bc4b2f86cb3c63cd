"""Appeals (申诉, about one's own score) and concerns (反映, about anybody's posted score) during
publicity, decided by the branch's discipline member; and appeals against a report's deduction.

An appeal is accepted only while its branch's publicity window is open; an open appeal holds the
branch back from reporting until it is decided (the person's process only closes its window after
the decision).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from models import audit
from models.clock import now
from models.evaluation import (
    Appeal,
    AppealKind,
    AppealStatus,
    BranchQuarter,
    Claim,
    Evaluation,
    SupervisionReport,
)
from models.people import User
from models.permissions import Principal, Target, can
from models.process import Message, ProcessInstance
from workflows.engine import instances, spiff, user_tasks
from workflows.errors import NotAllowed, NotFound, ValidationFailed, WindowClosed
from workflows.i18n import N_
from workflows.quarter import fields, locking, notify

MAX_TEXT = 2000


def window(session: Session, evaluation: Evaluation) -> BranchQuarter | None:
    """The branch quarter when the evaluation's publicity window is open now, else None."""
    bq = session.scalar(select(BranchQuarter).where(BranchQuarter.quarter_id == evaluation.quarter_id,
                                                    BranchQuarter.branch_id == evaluation.branch_id))
    if bq is None or bq.publicity_start is None or bq.publicity_end is None:
        return None
    return bq if bq.publicity_start <= now() < bq.publicity_end else None


def _deliver_or_queue(session: Session, instance: ProcessInstance, name: str, payload: dict[str, Any],
                      actor_user_id: int) -> None:
    """Send the event now when the instance waits for it, else queue it for when it does."""
    if not instances.send_message(session, instance, name, payload, actor_user_id=actor_user_id):
        session.execute(insert(Message.__table__), [{
            "name": name, "target_instance_id": instance.id, "source_instance_id": None, "payload": payload,
            "created_at": now(), "attempts": 0}])
        session.info.setdefault("pf_dispatch", set()).add(instance.id)


def file_appeal(session: Session, actor: Principal, evaluation_id: int, *, kind: str, text: str,
                claim_id: int | None = None) -> Appeal:
    """File an appeal about one's own posted score, or raise a concern about a posted score."""
    evaluation = session.get(Evaluation, evaluation_id)
    if evaluation is None:
        raise NotFound()
    own = evaluation.person_id == actor.person_id
    if kind == AppealKind.APPEAL:
        if not can(actor, "evaluation.appeal", Target(evaluation.branch_id, evaluation.person_id)):
            raise NotAllowed()
    elif kind == AppealKind.CONCERN:
        if own or not can(actor, "evaluation.concern", Target(evaluation.branch_id, evaluation.person_id)):
            raise NotAllowed()
    else:
        raise ValidationFailed(field_errors={"kind": [N_("Choose appeal or concern.")]})
    locking.ensure_unlocked(session, evaluation.quarter_id)
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(field_errors={"text": [N_("Say what is wrong and why.")]})
    if len(text) > MAX_TEXT:
        raise ValidationFailed(field_errors={"text": [N_("At most 2000 characters.")]})
    if claim_id is not None:
        claim = session.get(Claim, claim_id)
        if claim is None or claim.evaluation_id != evaluation.id:
            raise ValidationFailed(field_errors={"claim_id": [N_("This claim is not part of the evaluation.")]})
    if window(session, evaluation) is None:
        raise WindowClosed(N_("Appeals are accepted only while the scores are under publicity."))
    instance = instances.get_instance(session, evaluation.instance_id)
    appeal = Appeal(evaluation_id=evaluation.id, kind=kind, claim_id=claim_id, submitted_by=actor.user_id,
                    submitted_at=now(), text=text, status=AppealStatus.OPEN.value)
    session.add(appeal)
    session.flush()
    audit.record(session, "appeal.filed", actor_user_id=actor.user_id, object_type="appeal", object_id=appeal.id,
                 quarter_id=evaluation.quarter_id, branch_id=evaluation.branch_id,
                 data={"evaluation_id": evaluation.id, "kind": kind, "claim_id": claim_id, "text": text})
    _deliver_or_queue(session, instance, "appeal_filed", {"appeal_id": appeal.id}, actor.user_id)
    return appeal


def open_appeal_for(session: Session, instance: ProcessInstance) -> Appeal | None:
    """The appeal an instance's decision task is about: the oldest one still open."""
    if instance.process_key == "supervision_report":
        report = session.get(SupervisionReport, instance.object_id)
        if report is None or report.claim_id is None:
            return None
        query = select(Appeal).where(Appeal.claim_id == report.claim_id)
    else:
        query = select(Appeal).join(Evaluation, Appeal.evaluation_id == Evaluation.id).where(
            Evaluation.instance_id == instance.id)
    return session.scalar(query.where(Appeal.status == AppealStatus.OPEN).order_by(Appeal.id).limit(1))


def decision_subjects(session: Session, instance: ProcessInstance, item: int | None) -> set[int] | None:
    """Who an appeal decision decides on, and so may never take it: the member whose score it is
    and whoever raised it (a discipline member's own concern goes to another holder, or up)."""
    appeal = session.get(Appeal, item) if item is not None else open_appeal_for(session, instance)
    if appeal is None:
        return None
    evaluation = session.get(Evaluation, appeal.evaluation_id)
    raiser = session.scalar(select(User.person_id).where(User.id == appeal.submitted_by))
    return {p for p in (evaluation.person_id if evaluation else None, raiser, instance.subject_person_id) if p is not None}


def decide(session: Session, actor: Principal, task_id: int, *, decision: str, reason: str) -> user_tasks.Completion:
    """The discipline member upholds or dismisses the appeal, always with a written reason."""
    task = user_tasks.task_of_form(session, actor, task_id, "appeal_decision")
    instance = instances.get_instance(session, task.instance_id)
    appeal = open_appeal_for(session, instance)
    if appeal is None:
        raise NotFound()
    evaluation = session.get(Evaluation, appeal.evaluation_id)
    locking.ensure_unlocked(session, evaluation.quarter_id if evaluation else None)
    errors: dict[str, list[str]] = {}
    fields.decision(errors, "decision", decision, (AppealStatus.UPHELD, AppealStatus.DISMISSED), N_("Uphold or dismiss."))
    reason = fields.text(errors, "reason", reason, limit=fields.SHORT,
                         missing=N_("The appellant will read the reason: write it."))
    if errors:
        raise ValidationFailed(field_errors=errors)
    appeal.status, appeal.decided_by, appeal.decided_at, appeal.decision_reason = decision, actor.user_id, now(), reason
    audit.record(session, "appeal.decided", actor_user_id=actor.user_id, object_type="appeal", object_id=appeal.id,
                 quarter_id=evaluation.quarter_id if evaluation else None,
                 branch_id=evaluation.branch_id if evaluation else None,
                 data={"decision": decision, "reason": reason})
    if decision == AppealStatus.UPHELD:
        notify.notify(session, [appeal.submitted_by], "appeal_decided", data={"decision": decision},
                      body=reason, link=f"/my/evaluations/{appeal.evaluation_id}")
    return user_tasks.complete_task(session, task_id, actor, {"decision": str(decision)},
                                 audit_data={"decision": str(decision), "appeal_id": appeal.id, "reason": reason})


def notify_appellant(ctx: spiff.RunContext, data: dict[str, Any]) -> dict[str, Any]:
    """Tell the appellant their appeal was dismissed, and why."""
    session = ctx.session
    appeal = session.scalar(select(Appeal).where(Appeal.status == AppealStatus.DISMISSED, Appeal.decided_at.is_not(None))
                            .join(Evaluation, Appeal.evaluation_id == Evaluation.id)
                            .where((Evaluation.instance_id == ctx.instance.id) | (Appeal.claim_id == _report_claim(ctx)))
                            .order_by(Appeal.decided_at.desc(), Appeal.id.desc()).limit(1))
    if appeal is not None:
        notify.notify(session, [appeal.submitted_by], "appeal_decided", data={"decision": "dismissed"},
                      body=appeal.decision_reason, link=f"/my/evaluations/{appeal.evaluation_id}")
        return {"notified": appeal.submitted_by}
    return {"notified": None}


def _report_claim(ctx: spiff.RunContext) -> int:
    if ctx.instance.process_key != "supervision_report":
        return -1
    report = ctx.session.get(SupervisionReport, ctx.instance.object_id)
    return report.claim_id if report is not None and report.claim_id is not None else -1
