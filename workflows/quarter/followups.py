"""Follow-up of a quarter's results (约谈提醒, 批评教育, 取消评优评先资格, 约谈支部书记/通报批评):
each one a process of its own, assigned, done with a record, flagged when overdue."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import audit
from models.clock import now
from models.evaluation import Evaluation, FollowUp, FollowUpKind, FollowUpStatus, Notice
from models.people import Role, RoleAssignment, User
from models.permissions import Principal
from models.process import ProcessInstance
from workflows.engine import instances, spiff, user_tasks
from workflows.errors import NotFound, ValidationFailed
from workflows.i18n import N_
from workflows.quarter import fields, notify

DUE_DAYS = 30


def start_for_notice(session: Session, notice: Notice, *, actor_user_id: int | None) -> int:
    """Create and start the follow-ups the notice decided; nothing twice if run again."""
    if notice is None:
        return 0
    existing = {(f.kind, f.person_id, f.branch_id) for f in session.scalars(
        select(FollowUp).where(FollowUp.quarter_id == notice.quarter_id))}
    due = now() + timedelta(days=DUE_DAYS)
    branches = dict(session.execute(select(Evaluation.person_id, Evaluation.branch_id)
                                    .where(Evaluation.quarter_id == notice.quarter_id)).all())
    started = 0
    for item in (notice.data or {}).get("follow_ups", []):
        person_id = item.get("person_id")
        branch_id = item.get("branch_id") or branches.get(person_id)
        key = (item["kind"], person_id, branch_id)
        if key in existing:
            continue
        existing.add(key)
        follow_up = FollowUp(quarter_id=notice.quarter_id, kind=item["kind"], person_id=person_id, branch_id=branch_id,
                             reason=notice.title, due_at=due, status=FollowUpStatus.OPEN.value, created_at=now())
        session.add(follow_up)
        session.flush()
        instance = instances.start_process(
            session, "follow_up", {"follow_up_id": follow_up.id, "kind": follow_up.kind, "person_id": person_id,
                                   "branch_id": branch_id, "quarter_id": notice.quarter_id, "due_at": due.isoformat()},
            quarter_id=notice.quarter_id, branch_id=branch_id, subject_person_id=person_id, object_type="follow_up",
            object_id=follow_up.id, actor_user_id=actor_user_id)
        follow_up.instance_id = instance.id
        started += 1
    return started


def subjects(session: Session, instance: ProcessInstance, item: int | None) -> set[int] | None:
    """Who a follow-up is about, and so may never hold it: its member; for an interview of a
    branch secretary (约谈支部书记) or a criticism of a branch, every secretary of that branch, even
    one who also sits on the leading group."""
    follow_up = session.get(FollowUp, instance.object_id)
    if follow_up is None:
        return None
    people = {follow_up.person_id} if follow_up.person_id is not None else set()
    if follow_up.kind in (FollowUpKind.SECRETARY_INTERVIEW, FollowUpKind.CRITICISM_NOTICE) and follow_up.branch_id:
        people |= set(session.scalars(select(User.person_id).join(RoleAssignment, RoleAssignment.user_id == User.id).where(
            RoleAssignment.role == Role.SECRETARY.value, RoleAssignment.branch_id == follow_up.branch_id,
            User.person_id.is_not(None))))
    return people


def complete(session: Session, actor: Principal, task_id: int, *, record: str, done_on: date | None = None) -> user_tasks.Completion:
    """Record what was done (the talk, the education, the decision) and close the follow-up."""
    task = user_tasks.task_of_form(session, actor, task_id, "follow_up")
    instance = instances.get_instance(session, task.instance_id)
    follow_up = session.get(FollowUp, instance.object_id)
    if follow_up is None:
        raise NotFound()
    errors: dict[str, list[str]] = {}
    record = fields.text(errors, "record", record, limit=fields.MEDIUM, missing=N_("Record what was done."))
    fields.not_in_future(errors, "done_on", done_on, N_("The date cannot be in the future."))
    if errors:
        raise ValidationFailed(field_errors=errors)
    follow_up.record, follow_up.done_by, follow_up.done_at = record, actor.user_id, now()
    follow_up.status = FollowUpStatus.DONE.value
    audit.record(session, "follow_up.done", actor_user_id=actor.user_id, object_type="follow_up",
                 object_id=follow_up.id, quarter_id=follow_up.quarter_id, branch_id=follow_up.branch_id,
                 data={"kind": follow_up.kind, "record": record, "done_on": str(done_on or "")})
    return user_tasks.complete_task(session, task_id, actor, {"done": True})


def flag_overdue(ctx: spiff.RunContext, data: dict[str, Any]) -> dict[str, Any]:
    """A follow-up passed its due date: the party office is told."""
    session = ctx.session
    follow_up = session.get(FollowUp, ctx.instance.object_id)
    notify.notify(session, notify.holders(session, Role.PARTY_OFFICE), "follow_up_overdue",
                  data={"follow_up_id": follow_up.id, "kind": follow_up.kind}, link="/office/follow-ups")
    audit.record(session, "follow_up.overdue", actor_user_id=None, object_type="follow_up", object_id=follow_up.id,
                 quarter_id=follow_up.quarter_id, branch_id=follow_up.branch_id)
    return {"flagged": follow_up.id}


def notify_member(ctx: spiff.RunContext, data: dict[str, Any], kind: str = "self_evaluation_reminder") -> dict[str, Any]:
    """Remind the member of this instance (e.g. the self-evaluation is due soon)."""
    session = ctx.session
    user_id = notify.user_of_person(session, ctx.instance.subject_person_id)
    evaluation_id = ctx.instance.object_id if ctx.instance.object_type == "evaluation" else None
    notify.notify(session, [user_id], kind, data={"deadline": data.get("deadline")},
                  link=f"/my/evaluations/{evaluation_id}" if evaluation_id else "")
    return {"notified": user_id}
