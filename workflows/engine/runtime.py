"""Running process instances: start, complete a task, claim/release/reassign, fire timers,
deliver messages — each mutation under the instance's compare-and-set lock, with the human-task,
timer and message mirrors written in the same transaction as the state.

Services call these and add to the caller's session; the boundary (route, CLI, scheduler job)
commits. `workflows.tx` gives the boundary a retrying transaction and the post-commit dispatch
of messages.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition as BaseMessageDef
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState as SpiffState
from sqlalchemy import and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from models import audit
from models.clock import now
from models.evaluation import AnnualAssessment, BranchQuarter, Evaluation, FollowUp, SupervisionReport
from models.people import BUREAU_ROLES, Role, RoleAssignment, User
from models.permissions import Principal
from models.process import (
    HumanTask,
    InstanceStatus,
    ProcessInstance,
    ProcessVersion,
    TaskState,
    Timer,
)
from workflows.engine import deploy, spiff
from workflows.errors import (
    Conflict,
    EngineError,
    NotAllowed,
    NotFound,
    QuarterLocked,
    TaskNotReady,
    TaskTaken,
)

log = logging.getLogger(__name__)

# Business objects whose `status` follows the diagram's "status" property of the waiting step.
STATUS_TABLES = {
    "evaluation": Evaluation.__table__,
    "branch_quarter": BranchQuarter.__table__,
    "report": SupervisionReport.__table__,
    "follow_up": FollowUp.__table__,
    "annual": AnnualAssessment.__table__,
}
STATUS_MODELS: dict[str, Any] = {
    "evaluation": Evaluation, "branch_quarter": BranchQuarter, "report": SupervisionReport,
    "follow_up": FollowUp, "annual": AnnualAssessment,
}
ROUTING_KEYS = {"quarter_id": "quarter_id", "branch_id": "branch_id", "person_id": "subject_person_id"}
HT = HumanTask.__table__
PI = ProcessInstance.__table__
TT = Timer.__table__

# The statements every completion runs, built once with bound parameters: SQLAlchemy then neither
# rebuilds them nor recomputes their cache keys per call (a third of a completion's CPU otherwise).
_SAVED_COLUMNS = ("state", "serializer_version", "lock_version", "current_steps", "open_tasks", "timer_tasks",
                  "waiting_messages", "step_status", "updated_at", "status", "completed_at", "error", "error_at")
_SAVE_VALUES = {c: bindparam(f"v_{c}") for c in _SAVED_COLUMNS}
_SAVE_NEW = update(PI).where(PI.c.id == bindparam("pk")).values(_SAVE_VALUES)
_SAVE_CAS = update(PI).where(PI.c.id == bindparam("pk"), PI.c.lock_version == bindparam("expected")).values(_SAVE_VALUES)
_TAKE_TASK = (
    update(HT).where(HT.c.id == bindparam("task_id"), HT.c.state == TaskState.OPEN.value,
                     or_(HT.c.assignee_id.is_(None), HT.c.assignee_id == bindparam("actor")))
    .values(state=TaskState.COMPLETED.value, completed_at=bindparam("moment"), completed_by=bindparam("actor"),
            assignee_id=bindparam("actor"))
)
_INSERT_TASKS = insert(HT)
_WITHDRAW_TASKS = (
    update(HT).where(HT.c.instance_id == bindparam("pk"), HT.c.task_uuid.in_(bindparam("uuids", expanding=True)),
                     HT.c.state == TaskState.OPEN.value)
    .values(state=TaskState.CANCELLED.value, completed_at=bindparam("moment"))
)
_DROP_TIMERS = delete(TT).where(TT.c.instance_id == bindparam("pk"), TT.c.task_uuid.in_(bindparam("uuids", expanding=True)))
_INSERT_TIMERS = insert(TT)
_RA = RoleAssignment.__table__
_BRANCH_HOLDERS = select(_RA.c.user_id).where(
    _RA.c.role == bindparam("role"), or_(_RA.c.branch_id.is_(None), _RA.c.branch_id == bindparam("branch_id")))
_BUREAU_HOLDERS = select(_RA.c.user_id).where(_RA.c.role == bindparam("role"), _RA.c.branch_id.is_(None))
_SET_STATUS = {kind: update(table).where(table.c.id == bindparam("pk")).values(status=bindparam("v_status"))
               for kind, table in STATUS_TABLES.items()}


class StaleInstance(Conflict):
    """The instance changed while this step ran; the whole step is retried or refused."""

    code = "stale_instance"


@dataclass
class Completion:
    instance: ProcessInstance
    task: HumanTask
    workflow: BpmnWorkflow


# --- Loading and saving -------------------------------------------------------------------------


def _version_of(session: Session, instance: ProcessInstance) -> ProcessVersion:
    version = session.get(ProcessVersion, instance.process_version_id)
    assert version is not None
    return version


def get_instance(session: Session, instance_id: int) -> ProcessInstance:
    """The instance as the database has it now (never a stale copy from the identity map)."""
    instance = session.get(ProcessInstance, instance_id, populate_existing=True)
    if instance is None:
        raise NotFound()
    return instance


def load_workflow(session: Session, instance: ProcessInstance) -> BpmnWorkflow:
    """Deserialise an instance's state onto its version's cached spec."""
    parsed = deploy.parsed(_version_of(session, instance))
    return spiff.load_state(instance.state, parsed)


def _split(value: str | None) -> set[str]:
    return set(value.split()) if value else set()


def _parse_when(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, dict):  # cycle timers
        value = value.get("next")
    try:
        moment = TimerEventDefinition.get_datetime(str(value))
    except ValueError:
        return None
    return moment


def _props(task_spec: Any) -> dict[str, str]:
    return (getattr(task_spec, "extensions", None) or {}).get("properties", {}) or {}


def _status_of(task_spec: Any) -> str | None:
    """The diagram's "status" of a waiting step; an event-based gateway takes its events'."""
    status = _props(task_spec).get("status")
    if status:
        return status
    for output in getattr(task_spec, "outputs", ()) or ():
        status = _props(output).get("status")
        if status:
            return status
    return None


def _due_at(workflow_task: Any) -> datetime | None:
    expression = _props(workflow_task.task_spec).get("dueAt")
    if not expression:
        return None
    try:
        value = spiff.SCRIPT_ENGINE.evaluate(workflow_task, expression)
    except Exception:  # noqa: BLE001 - a bad due date must not stop the process
        log.warning("dueAt %r of %s could not be evaluated", expression, workflow_task.task_spec.bpmn_id)
        return None
    return _parse_when(value)


def _user_of_person(session: Session, person_id: int | None) -> int | None:
    if person_id is None:
        return None
    return session.scalar(select(User.id).where(User.person_id == person_id, User.active.is_(True)))


def _pool(session: Session, lane: str | None, instance: ProcessInstance) -> dict[str, Any]:
    """Who may do a task in `lane` of this instance: its role in the instance's branch (or the
    bureau), never the subject themself; with nobody else there, one level up (party office)."""
    role = deploy.lane_role(lane) or Role.PARTY_OFFICE.value
    subject_user = instance.subject_user_id if instance.subject_user_id is not None else _user_of_person(
        session, instance.subject_person_id)
    if role == Role.MEMBER.value:
        return {"role": role, "branch_id": instance.branch_id, "assignee_id": subject_user,
                "excluded_user_id": None, "escalated": False}
    branch_id = None if Role(role) in BUREAU_ROLES else instance.branch_id
    connection = session.connection()
    if branch_id is not None:
        holders = set(connection.execute(_BRANCH_HOLDERS, {"role": role, "branch_id": branch_id}).scalars())
    else:
        holders = set(connection.execute(_BUREAU_HOLDERS, {"role": role}).scalars())
    holders.discard(subject_user)  # type: ignore[arg-type]
    if not holders:
        return {"role": Role.PARTY_OFFICE.value, "branch_id": None, "assignee_id": None,
                "excluded_user_id": subject_user, "escalated": True}
    return {"role": role, "branch_id": branch_id, "assignee_id": None,
            "excluded_user_id": subject_user, "escalated": False}


def _save(session: Session, instance: ProcessInstance, workflow: BpmnWorkflow, *, actor_user_id: int | None,
          new: bool = False, done_uuid: str | None = None) -> None:
    """Write the state and every mirror in the caller's transaction; CAS on lock_version."""
    moment = now()
    ready = {str(t.id): t for t in workflow.get_tasks(state=SpiffState.READY, manual=True)}
    old_open = _split(instance.open_tasks)
    created = [ready[u] for u in ready if u not in old_open]
    withdrawn = old_open - set(ready) - ({done_uuid} if done_uuid else set())

    waiting = list(workflow.event_manager.tasks.values())
    timers: dict[str, tuple[str, datetime]] = {}
    message_names: set[str] = set()
    steps: list[str] = [t.task_spec.bpmn_id for t in ready.values()]
    statuses = [_status_of(t.task_spec) for t in ready.values()]
    for task in waiting:
        definition = task.task_spec.event_definition
        definitions = definition.event_definitions if isinstance(definition, MultipleEventDefinition) else [definition]
        for d in definitions:
            if isinstance(d, TimerEventDefinition):
                due = _parse_when(d.details(task).value)
                if due is not None:
                    timers[str(task.id)] = (task.task_spec.bpmn_id, due)
            elif isinstance(d, BaseMessageDef):
                message_names.add(d.name)
        if not isinstance(task.task_spec, BoundaryEvent):
            steps.append(task.task_spec.bpmn_id)
            statuses.append(_status_of(task.task_spec))
    old_timers = _split(instance.timer_tasks)
    step_status = next((s for s in statuses if s), "")
    completed = workflow.is_completed()

    # Thrown messages leave the state before it is written (they go to the outbox below).
    events = workflow.get_events()
    # The compare-and-set comes first: a concurrent loser stops here, before it writes any
    # mirror row (on PostgreSQL its UPDATE waits for the winner, then matches nothing).
    values = {
        "state": spiff.dump_state(workflow),
        "serializer_version": spiff.STATE_FORMAT,
        "lock_version": instance.lock_version + 1,
        "current_steps": " ".join(sorted(set(steps)))[:500],
        "open_tasks": " ".join(ready),
        "timer_tasks": " ".join(timers),
        "waiting_messages": " ".join(sorted(message_names))[:500],
        "step_status": step_status,
        "updated_at": moment,
        "status": InstanceStatus.COMPLETED.value if completed else InstanceStatus.RUNNING.value,
        "completed_at": moment if completed else None,
        "error": None,
        "error_at": None,
    }
    connection = session.connection()
    params = {f"v_{c}": v for c, v in values.items()}
    params["pk"] = instance.id
    if new:
        result = connection.execute(_SAVE_NEW, params)
    else:
        params["expected"] = instance.lock_version
        result = connection.execute(_SAVE_CAS, params)
    if result.rowcount != 1:
        raise StaleInstance()
    if created:
        rows = []
        for task in created:
            pool = _pool(session, task.task_spec.lane, instance)
            rows.append({
                "instance_id": instance.id, "task_uuid": str(task.id), "process_key": instance.process_key,
                "bpmn_id": task.task_spec.bpmn_id, "name": task.task_spec.bpmn_name or task.task_spec.bpmn_id,
                "form_key": _props(task.task_spec).get("formKey") or task.task_spec.bpmn_id,
                "quarter_id": instance.quarter_id, "subject_person_id": instance.subject_person_id,
                "state": TaskState.OPEN.value, "due_at": _due_at(task), "created_at": moment, **pool,
            })
        connection.execute(_INSERT_TASKS, rows[0] if len(rows) == 1 else rows)
    if withdrawn:
        connection.execute(_WITHDRAW_TASKS, {"pk": instance.id, "uuids": sorted(withdrawn), "moment": moment})
    new_timers = [u for u in timers if u not in old_timers]
    gone_timers = old_timers - set(timers)
    if gone_timers:
        connection.execute(_DROP_TIMERS, {"pk": instance.id, "uuids": sorted(gone_timers)})
    if new_timers:
        timer_rows = [{"instance_id": instance.id, "task_uuid": u, "bpmn_id": timers[u][0], "due_at": timers[u][1]}
                      for u in new_timers]
        connection.execute(_INSERT_TIMERS, timer_rows[0] if len(timer_rows) == 1 else timer_rows)

    if events:
        from workflows.engine import routing

        routing.enqueue(session, instance, events)

    status_changed = step_status and step_status != instance.step_status
    # Keep the identity-mapped object in step with what was written.
    for key, value in values.items():
        if key != "state":
            instance.__dict__[key] = value
    instance.__dict__["state"] = values["state"]
    if status_changed and instance.object_type in STATUS_TABLES and instance.object_id is not None:
        loaded = session.identity_map.get(identity_key(STATUS_MODELS[instance.object_type], instance.object_id))
        if loaded is not None:
            loaded.status = step_status  # flushed with the object's other changes: one UPDATE
        else:
            connection.execute(_SET_STATUS[instance.object_type], {"pk": instance.object_id, "v_status": step_status})
    if values["waiting_messages"]:
        # Messages may already be queued for what it now waits for: dispatch looks here after commit.
        session.info.setdefault("pf_dispatch", set()).add(instance.id)


def _run(session: Session, instance: ProcessInstance, actor_user_id: int | None, step: Any) -> None:
    """Run engine code with the instance as the operators' context; engine errors become EngineError."""
    with spiff.running(spiff.RunContext(session, instance, actor_user_id)):
        try:
            step()
        except (EngineError, Conflict, NotAllowed, QuarterLocked):
            raise
        except Exception as e:  # noqa: BLE001 - any engine failure is reported with its element
            raise EngineError(engine_message(e)) from e


def engine_message(error: Exception) -> str:
    task = getattr(error, "task", None)
    where = ""
    if task is not None:
        spec = task.task_spec
        where = f"{spec.bpmn_id}" + (f" ({spec.bpmn_name})" if getattr(spec, "bpmn_name", None) else "") + ": "
    text = str(error).splitlines()[0] if str(error) else error.__class__.__name__
    return (where + text)[:2000]


# --- Starting -------------------------------------------------------------------------------------


def start_process(
    session: Session,
    process_key: str,
    data: dict[str, Any],
    *,
    quarter_id: int | None = None,
    branch_id: int | None = None,
    subject_person_id: int | None = None,
    object_type: str = "",
    object_id: int | None = None,
    actor_user_id: int | None = None,
) -> ProcessInstance:
    """Start an instance of the newest version of a process and run it to its first wait."""
    version = deploy.latest_version(session, process_key)
    parsed = deploy.parsed(version)
    instance = ProcessInstance(
        process_version_id=version.id, process_key=process_key, quarter_id=quarter_id, branch_id=branch_id,
        subject_person_id=subject_person_id, subject_user_id=_user_of_person(session, subject_person_id),
        object_type=object_type, object_id=object_id,
        state=b"", serializer_version=spiff.STATE_FORMAT, lock_version=1, status=InstanceStatus.RUNNING.value,
        created_at=now(), updated_at=now(),
    )
    session.add(instance)
    session.flush()
    workflow = spiff.new_workflow(parsed)
    workflow.get_next_task(spec_name="Start").data.update(data)
    _run(session, instance, actor_user_id, workflow.do_engine_steps)
    _save(session, instance, workflow, actor_user_id=actor_user_id, new=True)
    audit.record(session, "process.started", actor_user_id=actor_user_id, object_type="process_instance",
                 object_id=instance.id, instance_id=instance.id, quarter_id=quarter_id, branch_id=branch_id,
                 data={"process": process_key, "version": version.version, "object": [object_type, object_id]})
    return instance


# --- Human tasks ------------------------------------------------------------------------------------


def may_act(actor: Principal, task: Any) -> bool:
    """Whether `actor` may act on the task: its assignee, or (unclaimed) a member of its pool.

    The pool is the holders of the task's role in its branch, or bureau-wide; the subject of the
    evaluation is never in it. A member's own task is assigned to them alone.
    """
    if task.excluded_user_id is not None and task.excluded_user_id == actor.user_id:
        return False
    if task.assignee_id is not None:
        return task.assignee_id == actor.user_id
    return in_pool(actor, task)


def in_pool(actor: Principal, task: Any) -> bool:
    """Whether `actor` belongs to the task's pool, whoever has claimed it."""
    if task.excluded_user_id is not None and task.excluded_user_id == actor.user_id:
        return False
    if task.role == Role.MEMBER.value:
        return False
    return actor.holds(task.role, task.branch_id)


def get_task(session: Session, task_id: int) -> HumanTask:
    task = session.get(HumanTask, task_id, populate_existing=True)
    if task is None:
        raise NotFound()
    return task


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
    NotAllowed (not in the pool), QuarterLocked (filed quarter). Everything happens in the caller's
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
    if not (may_act(actor, task) or in_pool(actor, task)):
        raise NotAllowed()
    if task.state != TaskState.OPEN:
        raise TaskNotReady()
    if task.assignee_id not in (None, actor.user_id):
        raise TaskTaken()
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
    workflow = load_workflow(session, instance)
    spiff_task = workflow.get_task_from_id(UUID(task.task_uuid))
    if spiff_task is None or spiff_task.state != SpiffState.READY:
        raise TaskNotReady()

    def step() -> None:
        spiff_task.set_data(**data)
        spiff_task.run()
        workflow.do_engine_steps()

    _run(session, instance, actor.user_id, step)
    _save(session, instance, workflow, actor_user_id=actor.user_id, done_uuid=task.task_uuid)
    audit.record(session, "task.completed", actor_user_id=actor.user_id, object_type="human_task", object_id=task.id,
                 instance_id=instance.id, quarter_id=instance.quarter_id, branch_id=instance.branch_id,
                 data={"step": task.bpmn_id, "name": task.name, "data": audit_data if audit_data is not None else data},
                 at=moment)
    return Completion(instance, task, workflow)


def claim(session: Session, task_id: int, actor: Principal) -> HumanTask:
    """Take an unclaimed task of one's pool; TaskTaken when somebody was quicker."""
    task = get_task(session, task_id)
    if not (in_pool(actor, task) or task.assignee_id == actor.user_id):
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
    audit.record(session, "task.claimed", actor_user_id=actor.user_id, object_type="human_task", object_id=task.id,
                 instance_id=task.instance_id, quarter_id=task.quarter_id, branch_id=task.branch_id)
    return task


def release(session: Session, task_id: int, actor: Principal) -> HumanTask:
    """Give a claimed task back to its pool (not a member's own task, which is theirs)."""
    task = get_task(session, task_id)
    if task.state != TaskState.OPEN:
        raise TaskNotReady()
    if task.assignee_id != actor.user_id:
        raise NotAllowed()
    if task.role == Role.MEMBER.value:
        raise NotAllowed()
    session.execute(update(HT).where(HT.c.id == task_id, HT.c.assignee_id == actor.user_id).values(assignee_id=None))
    task.__dict__["assignee_id"] = None
    audit.record(session, "task.released", actor_user_id=actor.user_id, object_type="human_task", object_id=task.id,
                 instance_id=task.instance_id, quarter_id=task.quarter_id, branch_id=task.branch_id)
    return task


def reassign(session: Session, task_id: int, actor: Principal, to_user_id: int, reason: str = "") -> HumanTask:
    """The party office gives a task to a named person who holds the task's role (or is the party office)."""
    if not actor.holds(Role.PARTY_OFFICE, None):
        raise NotAllowed()
    task = get_task(session, task_id)
    if task.state != TaskState.OPEN:
        raise TaskNotReady()
    if to_user_id == task.excluded_user_id:
        raise NotAllowed("Nobody acts on their own evaluation.")
    target = session.get(User, to_user_id)
    if target is None or not target.active:
        raise NotFound()
    roles = {(r.role, r.branch_id) for r in target.roles}
    if task.role != Role.MEMBER.value and not any(r == task.role for r, _ in roles) and not any(
            r == Role.PARTY_OFFICE.value for r, _ in roles):
        raise NotAllowed("The new assignee does not hold this task's role.")
    previous = task.assignee_id
    session.execute(update(HT).where(HT.c.id == task_id).values(assignee_id=to_user_id))
    task.__dict__["assignee_id"] = to_user_id
    audit.record(session, "task.reassigned", actor_user_id=actor.user_id, object_type="human_task", object_id=task.id,
                 instance_id=task.instance_id, quarter_id=task.quarter_id, branch_id=task.branch_id,
                 data={"from": previous, "to": to_user_id, "reason": reason})
    return task


# --- Events from outside: messages to one instance -----------------------------------------------


def send_message(session: Session, instance: ProcessInstance, name: str, payload: dict[str, Any],
                 *, actor_user_id: int | None) -> bool:
    """Deliver a message to one instance now; False when the instance is not waiting for it."""
    if name not in _split(instance.waiting_messages):
        return False
    workflow = load_workflow(session, instance)
    delivered = [False]

    def step() -> None:
        try:
            workflow.send_event(BpmnEvent(MessageEventDefinition(name), payload))
        except Exception as e:  # noqa: BLE001 - Spiff says "not waiting" with a WorkflowException
            if "not waiting" in str(e):
                return
            raise
        delivered[0] = True
        workflow.do_engine_steps()

    _run(session, instance, actor_user_id, step)
    if not delivered[0]:
        return False
    _save(session, instance, workflow, actor_user_id=actor_user_id)
    audit.record(session, "process.message", actor_user_id=actor_user_id, object_type="process_instance",
                 object_id=instance.id, instance_id=instance.id, quarter_id=instance.quarter_id,
                 branch_id=instance.branch_id, data={"message": name, "payload": payload})
    return True


def fire_timers(session: Session, instance: ProcessInstance) -> bool:
    """Let an instance's due timers fire; True when the state moved."""
    workflow = load_workflow(session, instance)
    before = instance.timer_tasks, instance.open_tasks, instance.current_steps

    def step() -> None:
        workflow.refresh_timers()
        workflow.do_engine_steps()

    _run(session, instance, None, step)
    _save(session, instance, workflow, actor_user_id=None)
    moved = (instance.timer_tasks, instance.open_tasks, instance.current_steps) != before
    if moved:
        audit.record(session, "process.timer", actor_user_id=None, object_type="process_instance",
                     object_id=instance.id, instance_id=instance.id, quarter_id=instance.quarter_id,
                     branch_id=instance.branch_id, data={"steps": instance.current_steps})
    return moved


def record_error(session: Session, instance_id: int, message: str) -> None:
    """Mark an instance failed (in a fresh transaction of the caller's); the monitor shows it."""
    session.execute(update(PI).where(PI.c.id == instance_id).values(
        status=InstanceStatus.ERROR.value, error=message[:4000], error_at=now()))
    audit.record(session, "process.error", actor_user_id=None, object_type="process_instance", object_id=instance_id,
                 instance_id=instance_id, data={"error": message[:1000]})


def instances_waiting_for(session: Session, names: Iterable[str]) -> list[int]:
    clauses = [PI.c.waiting_messages.contains(n) for n in names]
    return list(session.scalars(select(PI.c.id).where(and_(PI.c.status == InstanceStatus.RUNNING.value, or_(*clauses)))))


# --- Starting many alike instances at once ----------------------------------------------------------


def chunks(values: list[Any], size: int = 5000) -> Iterable[list[Any]]:
    """Slices small enough for an IN list on every database."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


@dataclass
class StartItem:
    """One instance of a batch: its own (integer) start data and what it is about."""

    data: dict[str, int]
    quarter_id: int | None = None
    branch_id: int | None = None
    subject_person_id: int | None = None
    object_type: str = ""
    object_id: int | None = None


class _NoInstance:
    def __getattr__(self, name: str) -> Any:
        raise _TemplateUnsafe(name)


class _TemplateUnsafe(Exception):
    """A service task ran while stamping a template: each instance must start on its own."""


_PLACEHOLDER_BASE = -(10**15)  # fixed-width negative integers no real id can equal


def start_many(session: Session, process_key: str, common: dict[str, Any], items: list[StartItem], *,
               actor_user_id: int | None) -> int:
    """Start one instance per item, running the engine once: the start of every item differs only
    in integer ids, so the first run's state is stamped for the others with fresh task ids.

    Falls back to starting each instance on its own when the start runs a service task.
    """
    import json
    import re
    import uuid as uuid_module
    import zlib

    if not items:
        return 0
    version = deploy.latest_version(session, process_key)
    parsed = deploy.parsed(version)
    keys = sorted(items[0].data)
    placeholders = {k: _PLACEHOLDER_BASE - i for i, k in enumerate(keys)}
    workflow = spiff.new_workflow(parsed)
    workflow.get_next_task(spec_name="Start").data.update({**common, **placeholders})
    try:
        with spiff.running(spiff.RunContext(session, _NoInstance(), actor_user_id)):
            workflow.do_engine_steps()
    except Exception:  # noqa: BLE001 - includes _TemplateUnsafe wrapped by Spiff
        for item in items:
            start_process(session, process_key, {**common, **item.data}, quarter_id=item.quarter_id,
                          branch_id=item.branch_id, subject_person_id=item.subject_person_id,
                          object_type=item.object_type, object_id=item.object_id, actor_user_id=actor_user_id)
        return len(items)
    if workflow.get_events():
        raise RuntimeError(f"{process_key} throws messages while starting; start_many cannot stamp it")

    spiff.REGISTRY._encoder_mode = True
    try:
        template = json.dumps(spiff.REGISTRY.convert(workflow), separators=(",", ":"), cls=spiff._ENCODER)
    finally:
        spiff.REGISTRY._encoder_mode = False
    task_ids = [str(t) for t in workflow.tasks]
    for sub in workflow.subprocesses.values():
        task_ids += [str(t) for t in sub.tasks]
    tokens = {t: None for t in task_ids}
    pattern = re.compile("|".join(re.escape(t) for t in task_ids) + "|" +
                         "|".join(re.escape(str(v)) + r"(?![0-9])" for v in placeholders.values()))
    by_placeholder = {str(v): k for k, v in placeholders.items()}

    ready = [t for t in workflow.get_tasks(state=SpiffState.READY, manual=True)]
    timers = []
    message_names: set[str] = set()
    steps = [t.task_spec.bpmn_id for t in ready]
    statuses = [_status_of(t.task_spec) for t in ready]
    for task in workflow.event_manager.tasks.values():
        definition = task.task_spec.event_definition
        if isinstance(definition, TimerEventDefinition):
            due = _parse_when(definition.details(task).value)
            if due is not None:
                timers.append((str(task.id), task.task_spec.bpmn_id, due))
        elif isinstance(definition, BaseMessageDef):
            message_names.add(definition.name)
        if not isinstance(task.task_spec, BoundaryEvent):
            steps.append(task.task_spec.bpmn_id)
            statuses.append(_status_of(task.task_spec))
    step_status = next((s for s in statuses if s), "")
    moment = now()

    states, maps = [], []
    for item in items:
        mapping = {t: str(uuid_module.uuid4()) for t in tokens}
        values = {str(placeholders[k]): str(item.data[k]) for k in keys}

        def swap(match: re.Match[str], mapping: dict[str, str] = mapping, values: dict[str, str] = values) -> str:
            text = match.group(0)
            return mapping.get(text) or values[text]

        states.append(zlib.compress(pattern.sub(swap, template).encode("utf-8"), 6))
        maps.append(mapping)
    del by_placeholder

    users: dict[int, int] = {}
    subjects = [i.subject_person_id for i in items if i.subject_person_id]
    for chunk in chunks(subjects):
        users.update(session.execute(select(User.person_id, User.id).where(
            User.person_id.in_(chunk), User.active.is_(True))).all())
    rows = [{
        "process_version_id": version.id, "process_key": process_key, "quarter_id": item.quarter_id,
        "branch_id": item.branch_id, "subject_person_id": item.subject_person_id,
        "subject_user_id": users.get(item.subject_person_id), "object_type": item.object_type,
        "object_id": item.object_id, "status": InstanceStatus.RUNNING.value, "state": state,
        "serializer_version": spiff.STATE_FORMAT, "lock_version": 1,
        "current_steps": " ".join(sorted(set(steps)))[:500],
        "open_tasks": " ".join(mapping[str(t.id)] for t in ready),
        "timer_tasks": " ".join(mapping[u] for u, _, _ in timers),
        "waiting_messages": " ".join(sorted(message_names))[:500], "step_status": step_status,
        "created_at": moment, "updated_at": moment,
    } for item, state, mapping in zip(items, states, maps, strict=True)]
    ids = list(session.scalars(insert(PI).returning(PI.c.id, sort_by_parameter_order=True), rows))
    task_rows, timer_rows = [], []
    pools: dict[tuple[str | None, int | None, int | None], dict[str, Any]] = {}
    for instance_id, item, mapping in zip(ids, items, maps, strict=True):
        for task in ready:
            role = deploy.lane_role(task.task_spec.lane)
            if role == Role.MEMBER.value:
                pool = {"role": role, "branch_id": item.branch_id, "assignee_id": users.get(item.subject_person_id),
                        "excluded_user_id": None, "escalated": False}
            else:
                key = (task.task_spec.lane, item.branch_id, item.subject_person_id)
                if key not in pools:
                    stub = ProcessInstance(branch_id=item.branch_id, subject_person_id=item.subject_person_id,
                                           subject_user_id=users.get(item.subject_person_id))
                    pools[key] = _pool(session, task.task_spec.lane, stub)
                pool = pools[key]
            task_rows.append({
                "instance_id": instance_id, "task_uuid": mapping[str(task.id)], "process_key": process_key,
                "bpmn_id": task.task_spec.bpmn_id, "name": task.task_spec.bpmn_name or task.task_spec.bpmn_id,
                "form_key": _props(task.task_spec).get("formKey") or task.task_spec.bpmn_id,
                "quarter_id": item.quarter_id, "subject_person_id": item.subject_person_id,
                "state": TaskState.OPEN.value, "due_at": _due_at(task), "created_at": moment, **pool})
        for task_uuid, bpmn_id, due in timers:
            timer_rows.append({"instance_id": instance_id, "task_uuid": mapping[task_uuid], "bpmn_id": bpmn_id,
                               "due_at": due})
    if task_rows:
        session.execute(insert(HT), task_rows)
    if timer_rows:
        session.execute(insert(Timer.__table__), timer_rows)
    if step_status:
        by_type: dict[str, list[int]] = {}
        for item in items:
            if item.object_type in STATUS_TABLES and item.object_id is not None:
                by_type.setdefault(item.object_type, []).append(item.object_id)
        for object_type, object_ids in by_type.items():
            table = STATUS_TABLES[object_type]
            for chunk in chunks(object_ids):
                session.execute(update(table).where(table.c.id.in_(chunk)).values(status=step_status))
    audit.record(session, "process.started_many", actor_user_id=actor_user_id, object_type="process_version",
                 object_id=version.id, quarter_id=items[0].quarter_id,
                 data={"process": process_key, "version": version.version, "count": len(items)})
    return len(items)
