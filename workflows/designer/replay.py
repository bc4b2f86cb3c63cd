"""Replaying what happened to recent instances on another version of their process, in memory,
before that version is deployed: would each take the same path, a different one, or get stuck?

An instance's history is in the audit log: "task.completed" rows (the step and the data the
person sent), "process.message" rows (the message and its payload) and "process.timer" rows
(when timers fired). The replay starts a fresh workflow of the candidate spec with the instance's
start data (read from its stored state), then applies each recorded event at its recorded time:
a virtual clock makes timers see the moment the event happened, service tasks answer what they
answered the first time (read from the stored state) instead of calling the real operators, and
nothing is written anywhere.
"""

from __future__ import annotations

import contextvars
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.audit import AuditEvent
from models.process import ProcessInstance, ProcessVersion
from workflows.engine import deploy, instances, spiff

HISTORY_ACTIONS = ("task.completed", "process.message", "process.timer", "process.retried")
DEFAULT_LIMIT = 20

# --- A clock of the replay's own ---------------------------------------------------------------------

_virtual_now: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("pf_replay_now", default=None)


class _ReplayDatetime(spiff._ClockDatetime):
    """Spiff's timers ask `datetime.now()`: during a replay they get the replayed moment."""

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        moment = _virtual_now.get()
        if moment is None:
            return super().now(tz)
        return moment.astimezone(tz) if tz is not None else moment.astimezone().replace(tzinfo=None)


# spiff.py already points Spiff's timers at the process clock; chain the replay clock in front of
# it (a context variable, so a replay in one request never moves time for anybody else).
if spiff_timer.datetime is spiff._ClockDatetime:  # type: ignore[attr-defined]
    spiff_timer.datetime = _ReplayDatetime  # type: ignore[attr-defined,misc]


def _now_iso() -> str:
    moment = _virtual_now.get()
    return moment.isoformat() if moment is not None else spiff._now_iso()


class StubEngine(PythonScriptEngine):
    """Scripts and expressions run as usual; service tasks return what they returned the first
    time (or `{}` for a service task the instance never ran), and never touch the database."""

    def __init__(self, recorded: dict[str, list[Any]]) -> None:
        super().__init__(environment=TaskDataEnvironment(
            {"now": _now_iso, "add_working_days": spiff.add_working_days, "len": len}))
        self.recorded = {k: list(v) for k, v in recorded.items()}
        self.stubbed: list[str] = []

    def call_service(self, task: Any, **kwargs: Any) -> str:
        queue = self.recorded.get(task.task_spec.bpmn_id) or []
        if queue:
            return json.dumps(queue.pop(0), default=str)
        self.stubbed.append(task.task_spec.bpmn_id)
        return "{}"


# --- Results -----------------------------------------------------------------------------------------


SAME = "same"
DIFFERENT = "different"
STUCK = "stuck"


@dataclass
class ReplayResult:
    """What happened to one instance's history on the candidate version.

    `reason` says why, for the page to explain: "same"; "not_ready" (the recorded step is not
    where the new version is); "ended_early" (the new version finished before the step);
    "message_not_awaited"; "engine_error"; "cannot_move" (nothing ready, nothing to wait for);
    "path_differs" (all events applied, but through other steps); "ends_elsewhere" (it ends up
    waiting somewhere else).
    """

    instance_id: int
    process_key: str
    version: int | None
    outcome: str
    reason: str
    step: str | None = None  # the step (bpmn id) the outcome is about
    events: int = 0  # recorded events applied before the outcome
    total_events: int = 0
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def same(self) -> bool:
        return self.outcome == SAME


@dataclass
class _Event:
    action: str
    at: datetime
    data: dict[str, Any]


def _history(session: Session, instance_ids: list[int]) -> dict[int, list[_Event]]:
    rows = session.execute(select(AuditEvent.instance_id, AuditEvent.action, AuditEvent.at, AuditEvent.data).where(
        AuditEvent.instance_id.in_(instance_ids), AuditEvent.action.in_(HISTORY_ACTIONS)).order_by(AuditEvent.id))
    out: dict[int, list[_Event]] = {i: [] for i in instance_ids}
    for instance_id, action, at, data in rows:
        out[instance_id].append(_Event(action, at, json.loads(data or "{}")))
    return out


def _spec_of(parsed: spiff.ParsedProcess, name: str) -> Any:
    spec = parsed.spec.task_specs.get(name)
    if spec is None:
        for sub in parsed.subprocess_specs.values():
            spec = sub.task_specs.get(name)
            if spec is not None:
                break
    return spec


@dataclass
class _Recorded:
    start_data: dict[str, Any]
    service_results: dict[str, list[Any]]
    path: Counter[str]


def _recorded(state: bytes, parsed: spiff.ParsedProcess) -> _Recorded:
    """Start data, service-task results and the steps done, read from an instance's stored state
    (plain JSON: nothing is deserialised onto a spec)."""
    dct = spiff.state_dict(state)
    tasks = list(dct.get("tasks", {}).values())
    for sub in dct.get("subprocesses", {}).values():
        tasks += list(sub.get("tasks", {}).values())
    tasks.sort(key=lambda t: t.get("last_state_change") or 0)
    start_data: dict[str, Any] = {}
    results: dict[str, list[Any]] = {}
    path: Counter[str] = Counter()
    for task in tasks:
        name = task.get("task_spec")
        if name == "Start" and not start_data:
            start_data = dict(task.get("data") or {})
        if task.get("state") != TaskState.COMPLETED:
            continue
        spec = _spec_of(parsed, name)
        if spec is None or not _counts(spec):
            continue
        path[spec.bpmn_id] += 1
        variable = getattr(spec, "result_variable", None)
        if getattr(spec, "operation_name", None) and variable:
            results.setdefault(spec.bpmn_id, []).append((task.get("data") or {}).get(variable, {}))
    return _Recorded(start_data, results, path)


def current_steps(workflow: BpmnWorkflow) -> list[str]:
    """Where a workflow stands, the way `process_instance.current_steps` records it."""
    steps = [t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.READY, manual=True)]
    steps += [t.task_spec.bpmn_id for t in workflow.event_manager.tasks.values()
              if not isinstance(t.task_spec, BoundaryEvent)]
    return sorted({s for s in steps if s})


def _counts(spec: Any) -> bool:
    """Whether passing through this element is part of an instance's path: tasks and events are;
    gateways only route (an added gateway that sends everybody the old way changes nothing)."""
    return bool(getattr(spec, "bpmn_id", None)) and "Gateway" not in type(spec).__name__


def _path(workflow: BpmnWorkflow) -> Counter[str]:
    done: Counter[str] = Counter()
    for task in workflow.get_tasks(state=TaskState.COMPLETED):
        if _counts(task.task_spec):
            done[task.task_spec.bpmn_id] += 1
    return done


def _first_difference(old: Counter[str], new: Counter[str], order: list[str]) -> str | None:
    """The first step (in the new run's order, then the old's) done a different number of times."""
    for step in order + sorted(old):
        if old.get(step, 0) != new.get(step, 0):
            return step
    return None


def _completion_order(workflow: BpmnWorkflow) -> list[str]:
    tasks = sorted(workflow.get_tasks(state=TaskState.COMPLETED), key=lambda t: t.last_state_change or 0)
    return [t.task_spec.bpmn_id for t in tasks if _counts(t.task_spec)]


class _Stop(Exception):
    def __init__(self, outcome: str, reason: str, step: str | None, **detail: Any) -> None:
        super().__init__(reason)
        self.outcome, self.reason, self.step, self.detail = outcome, reason, step, detail


def replay_instance(instance: ProcessInstance, events: list[_Event], recorded: _Recorded,
                    candidate: spiff.ParsedProcess, version_number: int | None = None) -> ReplayResult:
    """Replay one instance's recorded history on `candidate`, in memory."""
    result = ReplayResult(instance.id, instance.process_key, version_number, SAME, "same",
                          total_events=len(events))
    engine = StubEngine(recorded.service_results)
    token = _virtual_now.set(instance.created_at)
    workflow = BpmnWorkflow(candidate.spec, candidate.subprocess_specs, script_engine=engine)

    def advance(step: str | None) -> None:
        try:
            workflow.do_engine_steps()
        except Exception as e:  # noqa: BLE001 - any engine failure is the answer
            raise _Stop(STUCK, "engine_error", _failed_step(e) or step, error=instances.engine_message(e)) from e
        workflow.get_events()  # thrown messages go nowhere in a replay

    try:
        workflow.get_next_task(spec_name="Start").data.update(recorded.start_data)
        advance(None)
        for event in events:
            _virtual_now.set(event.at)
            if event.action == "task.completed":
                step = str(event.data.get("step") or "")
                ready = [t for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                         if t.task_spec.bpmn_id == step]
                if not ready:
                    _not_there(workflow, step)
                task = ready[0]
                task.set_data(**(event.data.get("data") or {}))
                try:
                    task.run()
                except Exception as e:  # noqa: BLE001
                    raise _Stop(STUCK, "engine_error", step, error=instances.engine_message(e)) from e
                advance(step)
            elif event.action == "process.message":
                name = str(event.data.get("message") or "")
                try:
                    workflow.send_event(BpmnEvent(MessageEventDefinition(name), event.data.get("payload") or {}))
                except Exception as e:  # noqa: BLE001 - "not waiting for" is a WorkflowException
                    if "not waiting" not in str(e):
                        raise _Stop(STUCK, "engine_error", None, message=name, error=instances.engine_message(e)) from e
                    _not_there(workflow, None, "message_not_awaited", message=name)
                advance(None)
            else:  # process.timer, process.retried: time has come for whatever was due
                try:
                    workflow.refresh_timers()
                except Exception as e:  # noqa: BLE001
                    raise _Stop(STUCK, "engine_error", None, error=instances.engine_message(e)) from e
                advance(None)
            result.events += 1
        _compare_end(workflow, instance, recorded)
    except _Stop as stop:
        result.outcome, result.reason, result.step, result.detail = stop.outcome, stop.reason, stop.step, stop.detail
    finally:
        _virtual_now.reset(token)
    if engine.stubbed:
        result.detail["stubbed"] = sorted(set(engine.stubbed))
    return result


def _failed_step(error: Exception) -> str | None:
    task = getattr(error, "task", None)
    return getattr(getattr(task, "task_spec", None), "bpmn_id", None)


def _not_there(workflow: BpmnWorkflow, step: str | None, reason: str = "not_ready", **detail: Any) -> None:
    """The history goes on where the new version is not: it ended, cannot move, or is elsewhere."""
    found = current_steps(workflow)
    if workflow.is_completed():
        raise _Stop(DIFFERENT, "ended_early", step, **detail)
    if not found:
        raise _Stop(STUCK, "cannot_move", step, **detail)
    raise _Stop(DIFFERENT, reason, step or found[0], found=found, **detail)


def _compare_end(workflow: BpmnWorkflow, instance: ProcessInstance, recorded: _Recorded) -> None:
    new_path = _path(workflow)
    if new_path != recorded.path:
        step = _first_difference(recorded.path, new_path, _completion_order(workflow))
        raise _Stop(DIFFERENT, "path_differs", step, old=sorted(recorded.path - new_path),
                    new=sorted(new_path - recorded.path))
    found = current_steps(workflow)
    expected = sorted(set((instance.current_steps or "").split()))
    if instance.status == "completed" and not workflow.is_completed():
        raise _Stop(STUCK if not found else DIFFERENT, "ends_elsewhere", found[0] if found else None,
                    found=found, expected=[])
    if found != expected and instance.status != "completed":
        if not found and not workflow.is_completed():
            raise _Stop(STUCK, "cannot_move", expected[0] if expected else None, expected=expected)
        raise _Stop(DIFFERENT, "ends_elsewhere", (found or expected or [None])[0], found=found, expected=expected)


# --- Recent instances of a process on a candidate spec -------------------------------------------------


SAMPLE_FROM = 2000


def recent_instances(session: Session, process_key: str, limit: int = DEFAULT_LIMIT) -> list[ProcessInstance]:
    """Recent instances of a process (any version, running or finished), spread over where they
    stand: the newest of each current step first, so a change late in the process is tried on the
    instances that got that far, not only on the newest (which are usually at the first step)."""
    rows = session.execute(select(ProcessInstance.id, ProcessInstance.status, ProcessInstance.current_steps)
                           .where(ProcessInstance.process_key == process_key)
                           .order_by(ProcessInstance.id.desc()).limit(SAMPLE_FROM)).all()
    groups: dict[tuple[str, str], list[int]] = {}
    for instance_id, status, steps in rows:
        groups.setdefault((status, steps or ""), []).append(instance_id)
    chosen: list[int] = []
    queues = list(groups.values())
    while len(chosen) < limit and any(queues):
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop(0))
    if not chosen:
        return []
    found = {i.id: i for i in session.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(chosen)))}
    return [found[i] for i in sorted(chosen, reverse=True)]


def replay(session: Session, candidate: spiff.ParsedProcess, *, instances: list[ProcessInstance] | None = None,
           limit: int = DEFAULT_LIMIT) -> list[ReplayResult]:
    """Replay the recorded histories of recent instances of `candidate`'s process on it."""
    chosen = instances if instances is not None else recent_instances(session, candidate.process_key, limit)
    if not chosen:
        return []
    history = _history(session, [i.id for i in chosen])
    versions = {v.id: v for v in session.scalars(select(ProcessVersion).where(
        ProcessVersion.id.in_({i.process_version_id for i in chosen})))}
    results = []
    for instance in chosen:
        version = versions[instance.process_version_id]
        recorded = _recorded(instance.state, deploy.parsed(version))
        results.append(replay_instance(instance, history[instance.id], recorded, candidate, version.version))
    return results


def summary(results: list[ReplayResult]) -> dict[str, int]:
    counts = Counter(r.outcome for r in results)
    return {SAME: counts.get(SAME, 0), DIFFERENT: counts.get(DIFFERENT, 0), STUCK: counts.get(STUCK, 0)}
