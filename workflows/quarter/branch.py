"""The branch's quarter: the secretary approves the reviewed scores (or returns some for review),
the branch general meeting confirms them (date, attendance, resolution), publicity starts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import audit
from models.clock import now
from models.evaluation import BranchQuarter, Evaluation, Quarter
from models.permissions import Principal
from workflows.engine import spiff, user_tasks
from workflows.errors import NotFound, ValidationFailed
from workflows.i18n import N_
from workflows.quarter import fields, locking


def branch_quarter_of_task(session: Session, actor: Principal, task_id: int, form_key: str) -> tuple[Any, BranchQuarter]:
    task = user_tasks.task_of_form(session, actor, task_id, form_key)
    bq = session.scalar(select(BranchQuarter).where(BranchQuarter.instance_id == task.instance_id))
    if bq is None:
        raise NotFound()
    locking.ensure_unlocked(session, bq.quarter_id)
    return task, bq


def approve(session: Session, actor: Principal, task_id: int, *, decision: str, comment: str = "",
            returned_person_ids: list[int] | None = None) -> user_tasks.Completion:
    """The secretary approves the branch's reviewed scores, or returns named members for review."""
    task, bq = branch_quarter_of_task(session, actor, task_id, "branch_approval")
    errors: dict[str, list[str]] = {}
    returned: list[int] = []
    fields.decision(errors, "decision", decision, ("approved", "returned"), N_("Approve, or return members for review."))
    comment = fields.text(errors, "comment", comment, limit=fields.SHORT)
    if decision == "returned":
        members = set(session.scalars(select(Evaluation.person_id).where(
            Evaluation.quarter_id == bq.quarter_id, Evaluation.branch_id == bq.branch_id)))
        try:
            returned = sorted({int(p) for p in (returned_person_ids or [])})
        except (TypeError, ValueError):
            returned = []
        if not returned:
            errors["returned_person_ids"] = [N_("Choose the members whose review goes back.")]
        elif not set(returned) <= members:
            errors["returned_person_ids"] = [N_("Only members of this branch can be returned.")]
        if not comment:
            errors["comment"] = [N_("Say why the review goes back.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    if decision == "approved":
        bq.approved_by, bq.approved_at, bq.approval_comment = actor.user_id, now(), comment
    audit.record(session, "branch.approval", actor_user_id=actor.user_id, object_type="branch_quarter",
                 object_id=bq.id, quarter_id=bq.quarter_id, branch_id=bq.branch_id,
                 data={"decision": decision, "comment": comment, "returned": returned})
    return user_tasks.complete_task(session, task_id, actor, {"approval": decision, "returned_persons": returned})


def confirm_meeting(session: Session, actor: Principal, task_id: int, *, meeting_date: date | None,
                    expected: int | None, present: int | None, resolution: str) -> user_tasks.Completion:
    """Record the branch general meeting (支部党员大会) that confirmed every member's score."""
    task, bq = branch_quarter_of_task(session, actor, task_id, "branch_meeting")
    errors: dict[str, list[str]] = {}
    quarter = session.get(Quarter, bq.quarter_id)
    assert quarter is not None
    today = now().date()
    if meeting_date is None:
        errors["meeting_date"] = [N_("Enter the date of the meeting.")]
    elif meeting_date > today:
        errors["meeting_date"] = [N_("The meeting cannot be in the future.")]
    elif meeting_date < quarter.opened_at.date():
        errors["meeting_date"] = [N_("The meeting must be after the quarter was opened.")]
    if expected is None or not 1 <= expected <= 10000:
        errors["meeting_expected"] = [N_("Enter how many members should attend.")]
    if present is None or present < 0 or (expected is not None and present > expected):
        errors["meeting_present"] = [N_("Attendance is between 0 and the number expected.")]
    elif expected is not None and present * 2 <= expected:
        errors["meeting_present"] = [N_("A general meeting needs more than half of its members present.")]
    resolution = fields.text(errors, "meeting_resolution", resolution, limit=fields.MEDIUM,
                             missing=N_("Record the meeting's resolution."))
    if errors:
        raise ValidationFailed(field_errors=errors)
    bq.meeting_date, bq.meeting_expected, bq.meeting_present = meeting_date, expected, present
    bq.meeting_resolution = resolution
    audit.record(session, "branch.meeting", actor_user_id=actor.user_id, object_type="branch_quarter",
                 object_id=bq.id, quarter_id=bq.quarter_id, branch_id=bq.branch_id,
                 data={"date": str(meeting_date), "expected": expected, "present": present, "resolution": resolution})
    return user_tasks.complete_task(session, task_id, actor, {"meeting_date": str(meeting_date)})


def start_publicity(ctx: spiff.RunContext, data: dict[str, Any]) -> dict[str, Any]:
    """Post the branch's scores: publicity runs for the quarter's number of working days."""
    session = ctx.session
    bq = session.scalar(select(BranchQuarter).where(BranchQuarter.id == ctx.instance.object_id))
    quarter = session.get(Quarter, bq.quarter_id)
    moment = now()
    end = spiff.add_working_days(moment, quarter.publicity_days)
    bq.publicity_start = moment
    bq.publicity_end = datetime.fromisoformat(end)
    bq.mean_score = session.scalar(select(func.avg(Evaluation.score)).where(
        Evaluation.quarter_id == bq.quarter_id, Evaluation.branch_id == bq.branch_id))
    audit.record(session, "branch.posted", actor_user_id=ctx.actor_user_id, object_type="branch_quarter",
                 object_id=bq.id, quarter_id=bq.quarter_id, branch_id=bq.branch_id, data={"publicity_end": end})
    return {"publicity_end": end}
