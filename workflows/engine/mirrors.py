"""What the tables mirror of an instance's engine state: its ready human tasks, waiting timers and
messages, current steps and the diagram's "status" of where it waits.

Saving an instance (`instances.save`) and stamping a batch of new ones (`batch.start_many`) both
read the state through `compute`, and build their `human_task` rows with `task_row`, so the two
paths cannot drift apart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState as SpiffState

from models.process import TaskState
from workflows.engine import spiff

log = logging.getLogger(__name__)


def split(value: str | None) -> set[str]:
    """A space-separated mirror column as a set."""
    return set(value.split()) if value else set()


def parse_when(value: Any) -> datetime | None:
    """A timer's or due date's value (ISO text, or a cycle's {"next": ...}) as a datetime."""
    if value is None:
        return None
    if isinstance(value, dict):  # cycle timers
        value = value.get("next")
    try:
        return TimerEventDefinition.get_datetime(str(value))
    except ValueError:
        return None


def properties(task_spec: Any) -> dict[str, str]:
    """The spiffworkflow:properties of a step (formKey, dueAt, status...)."""
    return (getattr(task_spec, "extensions", None) or {}).get("properties", {}) or {}


def status_of(task_spec: Any) -> str | None:
    """The diagram's "status" of a waiting step; an event-based gateway takes its events'."""
    status = properties(task_spec).get("status")
    if status:
        return status
    for output in getattr(task_spec, "outputs", ()) or ():
        status = properties(output).get("status")
        if status:
            return status
    return None


def due_at(workflow_task: Any) -> datetime | None:
    """A user task's due date from its dueAt expression (None when it has none or it fails)."""
    expression = properties(workflow_task.task_spec).get("dueAt")
    if not expression:
        return None
    try:
        value = spiff.SCRIPT_ENGINE.evaluate(workflow_task, expression)
    except Exception:  # noqa: BLE001 - a bad due date must not stop the process
        log.warning("dueAt %r of %s could not be evaluated", expression, workflow_task.task_spec.bpmn_id)
        return None
    return parse_when(value)


@dataclass
class Mirrors:
    """An instance's state as the tables show it."""

    ready: dict[str, Any]  # task uuid -> ready human task (SpiffWorkflow task)
    timers: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # task uuid -> (bpmn id, due)
    message_names: set[str] = field(default_factory=set)
    steps: list[str] = field(default_factory=list)
    step_status: str = ""
    completed: bool = False

    @property
    def current_steps(self) -> str:
        return " ".join(sorted(set(self.steps)))[:500]

    @property
    def waiting_messages(self) -> str:
        return " ".join(sorted(self.message_names))[:500]


def compute(workflow: BpmnWorkflow) -> Mirrors:
    """Read the mirrors off a workflow: ready human tasks, the timers and messages its waiting
    events wait for (each of a multiple event's definitions too), where it stands and its status."""
    ready = {str(t.id): t for t in workflow.get_tasks(state=SpiffState.READY, manual=True)}
    found = Mirrors(ready, steps=[t.task_spec.bpmn_id for t in ready.values()])
    statuses = [status_of(t.task_spec) for t in ready.values()]
    for task in workflow.event_manager.tasks.values():
        definition = task.task_spec.event_definition
        definitions = definition.event_definitions if isinstance(definition, MultipleEventDefinition) else [definition]
        for d in definitions:
            if isinstance(d, TimerEventDefinition):
                due = parse_when(d.details(task).value)
                if due is not None:
                    found.timers[str(task.id)] = (task.task_spec.bpmn_id, due)
            elif isinstance(d, MessageEventDefinition):
                found.message_names.add(d.name)
        if not isinstance(task.task_spec, BoundaryEvent):
            found.steps.append(task.task_spec.bpmn_id)
            statuses.append(status_of(task.task_spec))
    found.step_status = next((s for s in statuses if s), "")
    found.completed = workflow.is_completed()
    return found


def form_key(task_spec: Any) -> str:
    return properties(task_spec).get("formKey") or task_spec.bpmn_id


def item_of(workflow_task: Any) -> int | None:
    """What a task decides on when that is one thing among several: its `item` property, a Python
    expression over the task's data (an appeal's id, the person of an own part)."""
    expression = properties(workflow_task.task_spec).get("item")
    if not expression:
        return None
    try:
        return int(spiff.SCRIPT_ENGINE.evaluate(workflow_task, expression))
    except Exception:  # noqa: BLE001 - a task without its item is still a task; the service refuses it
        log.warning("item %r of %s could not be evaluated", expression, workflow_task.task_spec.bpmn_id)
        return None


def task_row(task: Any, *, task_uuid: str, instance_id: int, process_key: str, quarter_id: int | None,
             subject_person_id: int | None, pool: dict[str, Any], moment: datetime,
             item_id: int | None = None) -> dict[str, Any]:
    """The `human_task` row of a ready user task; `pool` says who may do it (`access.pool_for`)."""
    spec = task.task_spec
    return {
        "instance_id": instance_id, "task_uuid": task_uuid, "process_key": process_key,
        "bpmn_id": spec.bpmn_id, "name": spec.bpmn_name or spec.bpmn_id, "item_id": item_id,
        "form_key": form_key(spec),
        "quarter_id": quarter_id, "subject_person_id": subject_person_id,
        "state": TaskState.OPEN.value, "due_at": due_at(task), "created_at": moment, **pool,
    }
