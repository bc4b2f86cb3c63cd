"""Process instances: start one, load its workflow, run engine code for it and save it — the state
and every mirror (human tasks, timers, waiting messages, current steps, the business object's
status) in the caller's transaction, under the instance's compare-and-set lock (`lock_version`).
Messages from outside and due timers move an instance the same way.

Services call these and add to the caller's session; the boundary (`tx.run`, the CLI, the
scheduler) commits.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from sqlalchemy import Update, bindparam, delete, insert, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from models import audit
from models.clock import now
from models.process import HumanTask, InstanceStatus, ProcessInstance, ProcessVersion, TaskState, Timer
from workflows.engine import access, deploy, mirrors, registry, routing, spiff
from workflows.errors import Conflict, EngineError, NotAllowed, NotFound, QuarterLocked

HT = HumanTask.__table__
PI = ProcessInstance.__table__
TT = Timer.__table__

# The statements every save runs, built once with bound parameters: SQLAlchemy then neither
# rebuilds them nor recomputes their cache keys per call (a third of a completion's CPU otherwise).
_SAVED_COLUMNS = ("state", "serializer_version", "lock_version", "current_steps", "open_tasks", "timer_tasks",
                  "waiting_messages", "step_status", "updated_at", "status", "completed_at", "error", "error_at")
_SAVE_VALUES = {c: bindparam(f"v_{c}") for c in _SAVED_COLUMNS}
_SAVE_NEW = update(PI).where(PI.c.id == bindparam("pk")).values(_SAVE_VALUES)
_SAVE_CAS = update(PI).where(PI.c.id == bindparam("pk"), PI.c.lock_version == bindparam("expected")).values(_SAVE_VALUES)
_INSERT_TASKS = insert(HT)
_WITHDRAW_TASKS = (
    update(HT).where(HT.c.instance_id == bindparam("pk"), HT.c.task_uuid.in_(bindparam("uuids", expanding=True)),
                     HT.c.state == TaskState.OPEN.value)
    .values(state=TaskState.CANCELLED.value, completed_at=bindparam("moment"))
)
_DROP_TIMERS = delete(TT).where(TT.c.instance_id == bindparam("pk"), TT.c.task_uuid.in_(bindparam("uuids", expanding=True)))
_INSERT_TIMERS = insert(TT)


@lru_cache(maxsize=32)
def _set_status(table: Any) -> Update:
    return update(table).where(table.c.id == bindparam("pk")).values(status=bindparam("v_status"))


class StaleInstance(Conflict):
    """The instance changed while this step ran; the whole step is retried or refused."""

    code = "stale_instance"


# --- Loading and saving -------------------------------------------------------------------------


def version_of(session: Session, instance: ProcessInstance) -> ProcessVersion:
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
    return spiff.load_state(instance.state, deploy.parsed(version_of(session, instance)))


def save(session: Session, instance: ProcessInstance, workflow: BpmnWorkflow, *, new: bool = False,
         done_uuid: str | None = None) -> None:
    """Write the state and every mirror in the caller's transaction; CAS on lock_version.

    `done_uuid`: the task this step completed (its row is already written as done)."""
    moment = now()
    seen = mirrors.compute(workflow)
    old_open = mirrors.split(instance.open_tasks)
    created = [seen.ready[u] for u in seen.ready if u not in old_open]
    withdrawn = old_open - set(seen.ready) - ({done_uuid} if done_uuid else set())
    old_timers = mirrors.split(instance.timer_tasks)

    # Thrown messages leave the state before it is written (they go to the outbox below).
    events = workflow.get_events()
    # The compare-and-set comes first: a concurrent loser stops here, before it writes any
    # mirror row (on PostgreSQL its UPDATE waits for the winner, then matches nothing).
    values = {
        "state": spiff.dump_state(workflow),
        "serializer_version": spiff.STATE_FORMAT,
        "lock_version": instance.lock_version + 1,
        "current_steps": seen.current_steps,
        "open_tasks": " ".join(seen.ready),
        "timer_tasks": " ".join(seen.timers),
        "waiting_messages": seen.waiting_messages,
        "step_status": seen.step_status,
        "updated_at": moment,
        "status": InstanceStatus.COMPLETED.value if seen.completed else InstanceStatus.RUNNING.value,
        "completed_at": moment if seen.completed else None,
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
        rows = [_task_row(session, instance, task, moment) for task in created]
        connection.execute(_INSERT_TASKS, rows[0] if len(rows) == 1 else rows)
    if withdrawn:
        connection.execute(_WITHDRAW_TASKS, {"pk": instance.id, "uuids": sorted(withdrawn), "moment": moment})
    new_timers = [u for u in seen.timers if u not in old_timers]
    gone_timers = old_timers - set(seen.timers)
    if gone_timers:
        connection.execute(_DROP_TIMERS, {"pk": instance.id, "uuids": sorted(gone_timers)})
    if new_timers:
        timer_rows = [{"instance_id": instance.id, "task_uuid": u, "bpmn_id": seen.timers[u][0],
                       "due_at": seen.timers[u][1]} for u in new_timers]
        connection.execute(_INSERT_TIMERS, timer_rows[0] if len(timer_rows) == 1 else timer_rows)

    if events:
        routing.enqueue(session, instance, events)

    status_changed = seen.step_status and seen.step_status != instance.step_status
    # Keep the identity-mapped object in step with what was written.
    for key, value in values.items():
        instance.__dict__[key] = value
    if status_changed:
        _mirror_status(session, instance, seen.step_status)
    if values["waiting_messages"]:
        # Messages may already be queued for what it now waits for: dispatch looks here after commit.
        session.info.setdefault("pf_dispatch", set()).add(instance.id)


def _task_row(session: Session, instance: ProcessInstance, task: Any, moment: Any) -> dict[str, Any]:
    """A new task's row: what it decides on and who may do it (nobody it decides on)."""
    item = mirrors.item_of(task)
    hook = registry.subjects_of(mirrors.form_key(task.task_spec))
    subjects = hook(session, instance, item) if hook is not None else None
    return mirrors.task_row(task, task_uuid=str(task.id), instance_id=instance.id, process_key=instance.process_key,
                            quarter_id=instance.quarter_id, subject_person_id=instance.subject_person_id,
                            moment=moment, item_id=item,
                            pool=access.pool_for(session, task.task_spec.lane, instance, subjects=subjects))


def _mirror_status(session: Session, instance: ProcessInstance, status: str) -> None:
    """The business object's `status` follows the step (flushed with the object's other changes
    when it is loaded: one UPDATE)."""
    model = registry.status_model(instance.object_type)
    if model is None or instance.object_id is None:
        return
    loaded = session.identity_map.get(identity_key(model, instance.object_id))
    if loaded is not None:
        loaded.status = status
    else:
        session.connection().execute(_set_status(model.__table__), {"pk": instance.object_id, "v_status": status})


def run(session: Session, instance: Any, actor_user_id: int | None, step: Callable[[], Any]) -> None:
    """Run engine code with the instance as the operators' context; engine errors become EngineError."""
    with spiff.running(spiff.RunContext(session, instance, actor_user_id)):
        try:
            step()
        except (EngineError, Conflict, NotAllowed, QuarterLocked):
            raise
        except Exception as e:  # noqa: BLE001 - any engine failure is reported with its element
            raise EngineError(engine_message(e)) from e


def engine_message(error: Exception) -> str:
    """An engine error as one line naming the step it happened at."""
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
        subject_person_id=subject_person_id, subject_user_id=None,
        object_type=object_type, object_id=object_id,
        state=b"", serializer_version=spiff.STATE_FORMAT, lock_version=1, status=InstanceStatus.RUNNING.value,
        created_at=now(), updated_at=now(),
    )
    instance.subject_user_id = access.subject_user(session, instance)
    session.add(instance)
    session.flush()
    workflow = spiff.new_workflow(parsed)
    workflow.get_next_task(spec_name="Start").data.update(data)
    run(session, instance, actor_user_id, workflow.do_engine_steps)
    save(session, instance, workflow, new=True)
    audit.record(session, "process.started", actor_user_id=actor_user_id, object_type="process_instance",
                 object_id=instance.id, instance_id=instance.id, quarter_id=quarter_id, branch_id=branch_id,
                 data={"process": process_key, "version": version.version, "object": [object_type, object_id]})
    return instance


# --- Events from outside: messages and timers ------------------------------------------------------


def send_message(session: Session, instance: ProcessInstance, name: str, payload: dict[str, Any],
                 *, actor_user_id: int | None) -> bool:
    """Deliver a message to one instance now; False when the instance is not waiting for it."""
    if name not in mirrors.split(instance.waiting_messages):
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

    run(session, instance, actor_user_id, step)
    if not delivered[0]:
        return False
    save(session, instance, workflow)
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

    run(session, instance, None, step)
    save(session, instance, workflow)
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
