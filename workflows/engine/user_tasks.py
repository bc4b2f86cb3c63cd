"""Human tasks: take one (claim), give it back (release), hand it to someone (reassign), and
complete it — the only way a person moves a process forward. Who may do each is the rule of
`workflows.engine.access`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState as SpiffState
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from models import audit
from models.clock import now
from models.people import Role, User
from models.permissions import Principal
from models.process import HumanTask, ProcessInstance, TaskState
from workflows.engine import access, instances
from workflows.errors import NotAllowed, NotFound, TaskNotReady, TaskTaken

HT = HumanTask.__table__
_TAKE_TASK = (
    update(HT).where(HT.c.id == bindparam("task_id"), HT.c.state == TaskState.OPEN.value,
                     or_(HT.c.assignee_id.is_(None), HT.c.assignee_id == bindparam("actor")))
    .values(state=TaskState.COMPLETED.value, completed_at=bindparam("moment"), completed_by=bindparam("actor"),
            assignee_id=bindparam("actor"))
)


@dataclass
class Completion:
    instance: ProcessInstance
    task: HumanTask
    workflow: BpmnWorkflow


def get_task(session: Session, task_id: int) -> HumanTask:
    """The task as the database has it now."""
    task = session.get(HumanTask, task_id, populate_existing=True)
    if task is None:
        raise NotFound()
    return task


def task_of_form(session: Session, actor: Principal, task_id: int, *form_keys: str) -> HumanTask:
    """The task a form's service is asked to do: NotFound when it is missing or of another form,
    NotAllowed when it is not the actor's to see (`access.may_see`)."""
    task = get_task(session, task_id)
    if form_keys and task.form_key not in form_keys:
        raise NotFound()
    if not access.may_see(actor, task):
        raise NotAllowed()
    return task


def ensure_actionable(actor: Principal, task: Any) -> None:
    """Refuse in the order a client can act on: not theirs (NotAllowed), done or withdrawn
    (TaskNotReady), taken by somebody else (TaskTaken)."""
    if not access.may_see(actor, task):
        raise NotAllowed()
    if task.state != TaskState.OPEN:
        raise TaskNotReady()
    if task.assignee_id not in (None, actor.user_id):
        raise TaskTaken()


def _audit(session: Session, action: str, actor: Principal, task: HumanTask, **data: Any) -> None:
    audit.record(session, action, actor_user_id=actor.user_id, object_type="human_task", object_id=task.id,
                 instance_id=task.instance_id, quarter_id=task.quarter_id, branch_id=task.branch_id,
                 data=data or None)


def complete_task(
    session: Session,
    task_id: int,
    actor: Principal,
    data: dict[str, Any],
    *,
    expected_form: str | None = None,
    audit_data: dict[str, Any] | None = None,
    preloaded: tuple[HumanTask, ProcessInstance] | None = None,
) -> Completion:
    """Complete a human task with `data`: the only way a person moves a process forward.

    Refuses with TaskNotReady (done or withdrawn), TaskTaken (claimed by somebody else),
    NotAllowed (not theirs to see), QuarterLocked (filed quarter). Everything happens in the caller's
    transaction: the task row, the engine run, the new state, the new task rows, the history.
    """
    row = preloaded or session.execute(
        select(HumanTask, ProcessInstance).join(ProcessInstance, HumanTask.instance_id == ProcessInstance.id)
        .where(HumanTask.id == task_id).execution_options(populate_existing=True)).first()
    if row is None:
        raise NotFound()
    task, instance = row
    if expected_form is not None and task.form_key != expected_form:
        raise NotFound()
    ensure_actionable(actor, task)
    # The lock of a filed quarter is enforced where its data is written (services and the
    # before-flush guard): follow-ups and verification still run after filing.
    moment = now()
    claimed = session.connection().execute(_TAKE_TASK, {"task_id": task_id, "actor": actor.user_id, "moment": moment})
    if claimed.rowcount != 1:
        current = session.execute(select(HT.c.state, HT.c.assignee_id).where(HT.c.id == task_id)).first()
        if current is not None and current.state == TaskState.OPEN.value:
            raise TaskTaken()
        raise TaskNotReady()
    task.__dict__.update(state=TaskState.COMPLETED.value, completed_at=moment, completed_by=actor.user_id,
                         assignee_id=actor.user_id)
    workflow = instances.load_workflow(session, instance)
    spiff_task = workflow.get_task_from_id(UUID(task.task_uuid))
    if spiff_task is None or spiff_task.state != SpiffState.READY:
        raise TaskNotReady()

    def step() -> None:
        spiff_task.set_data(**data)
        spiff_task.run()
        workflow.do_engine_steps()

    instances.run(session, instance, actor.user_id, step)
    instances.save(session, instance, workflow, done_uuid=task.task_uuid)
    audit.record(session, "task.completed", actor_user_id=actor.user_id, object_type="human_task", object_id=task.id,
                 instance_id=instance.id, quarter_id=instance.quarter_id, branch_id=instance.branch_id,
                 data={"step": task.bpmn_id, "name": task.name, "data": audit_data if audit_data is not None else data},
                 at=moment)
    return Completion(instance, task, workflow)


def claim(session: Session, task_id: int, actor: Principal) -> HumanTask:
    """Take an unclaimed task of one's pool; TaskTaken when somebody was quicker."""
    task = get_task(session, task_id)
    if not (access.in_pool(actor, task) or task.assignee_id == actor.user_id):
        raise NotAllowed()
    if task.state != TaskState.OPEN:
        raise TaskNotReady()
    if task.assignee_id == actor.user_id:
        return task
    result = session.execute(update(HT).where(HT.c.id == task_id, HT.c.state == TaskState.OPEN.value,
                                              HT.c.assignee_id.is_(None)).values(assignee_id=actor.user_id))
    if result.rowcount != 1:
        raise TaskTaken()
    task.__dict__["assignee_id"] = actor.user_id
    _audit(session, "task.claimed", actor, task)
    return task


def release(session: Session, task_id: int, actor: Principal) -> HumanTask:
    """Give a claimed task back to its pool (not a member's own task, which is theirs)."""
    task = get_task(session, task_id)
    if task.state != TaskState.OPEN:
        raise TaskNotReady()
    if task.assignee_id != actor.user_id or task.role == Role.MEMBER.value:
        raise NotAllowed()
    session.execute(update(HT).where(HT.c.id == task_id, HT.c.assignee_id == actor.user_id).values(assignee_id=None))
    task.__dict__["assignee_id"] = None
    _audit(session, "task.released", actor, task)
    return task


def reassign(session: Session, task_id: int, actor: Principal, to_user_id: int, reason: str = "") -> HumanTask:
    """The party office gives a task to a named person who holds the task's role (or is the party office)."""
    if not actor.holds(Role.PARTY_OFFICE, None):
        raise NotAllowed()
    task = get_task(session, task_id)
    if task.state != TaskState.OPEN:
        raise TaskNotReady()
    if to_user_id in access.excluded_ids(task.excluded_users):
        raise NotAllowed("Nobody acts on their own evaluation.")
    target = session.get(User, to_user_id)
    if target is None or not target.active:
        raise NotFound()
    roles = {r.role for r in target.roles}
    if task.role != Role.MEMBER.value and task.role not in roles and Role.PARTY_OFFICE.value not in roles:
        raise NotAllowed("The new assignee does not hold this task's role.")
    previous = task.assignee_id
    session.execute(update(HT).where(HT.c.id == task_id).values(assignee_id=to_user_id))
    task.__dict__["assignee_id"] = to_user_id
    _audit(session, "task.reassigned", actor, task, **{"from": previous, "to": to_user_id, "reason": reason})
    return task
