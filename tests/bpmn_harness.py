"""Run the shipped BPMN files in pure SpiffWorkflow 3.2: no database, no Flask.

    run = Run("person_quarter", quarter_id=1, person_id=7, branch_id=3, deadline=future(10), ...)
    run.complete("self_evaluation", claims=[])
    run.send("branch_posted", {"publicity_end": future(5)})
    run.expire("window_closed")          # a waiting timer's date is moved into the past
    assert run.thrown("member_window_closed") == [{"quarter_id": 1, ...}]

Service tasks call a fake environment that records each call and answers JSON (ISO dates in the
future for `start_publicity` and `record_report_deduction`, so the timers after them wait).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent, EventBasedGateway
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState

BPMN_DIR = Path(__file__).resolve().parent.parent / "bpmn"
ROLES = {"member", "reviewer", "secretary", "discipline", "party_office", "leading_group"}
LONG_AGO = "2000-01-01T00:00:00+00:00"


def future(days: float = 30) -> str:
    """An ISO datetime `days` from now, in the bureau's offset (+08:00)."""
    return (datetime.now(timezone(timedelta(hours=8))) + timedelta(days=days)).replace(microsecond=0).isoformat()


def past(days: float = 1) -> str:
    return future(-days)


def parser_for(path: Path) -> SpiffBpmnParser:
    """A Spiff parser holding one file, checked against the BPMN and spiffworkflow schemas."""
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_file(str(path))
    return parser


_specs: dict[str, Any] = {}


def load_spec(process_id: str) -> Any:
    if process_id not in _specs:
        _specs[process_id] = parser_for(BPMN_DIR / f"{process_id}.bpmn").get_spec(process_id)
    return _specs[process_id]


def properties(task_spec: Any) -> dict[str, str]:
    return (getattr(task_spec, "extensions", None) or {}).get("properties", {}) or {}


DEFAULT_RESULTS: dict[str, Any] = {
    "start_publicity": lambda data, params: {"publicity_end": future(7)},
    "record_report_deduction": lambda data, params: {"deduction_id": 1, "appeal_until": future(7)},
}


class FakeServices(TaskDataEnvironment):
    """Service-task operators answered from a table; every call is recorded as (operator, params)."""

    def __init__(self, results: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.results = {**DEFAULT_RESULTS, **(results or {})}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call_service(self, context: dict[str, Any], operation_name: str = "", operation_params: Any = None,
                     **kwargs: Any) -> str:
        params = {k: v["value"] for k, v in (operation_params or {}).items()}
        self.calls.append((operation_name, params))
        result = self.results.get(operation_name, {"ok": True})
        if callable(result):
            result = result(context, params)
        return json.dumps(result)

    def called(self, operation_name: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation_name]


class Run:
    """One running instance of a shipped process."""

    def __init__(self, process_id: str, results: dict[str, Any] | None = None, **data: Any) -> None:
        self.services = FakeServices(results)
        self.workflow = BpmnWorkflow(load_spec(process_id), script_engine=PythonScriptEngine(environment=self.services))
        self.workflow.get_next_task(spec_name="Start").data.update(data)
        self.messages: list[tuple[str, Any]] = []
        self.step()

    # -- moving it ---------------------------------------------------------------------------

    def step(self) -> None:
        """Engine steps until only human tasks and waiting events are left; collect thrown messages."""
        while True:
            self.workflow.do_engine_steps()
            if not self.workflow.get_tasks(state=TaskState.READY, manual=False):
                break
        self.messages += [(e.event_definition.name, e.payload) for e in self.workflow.get_events()]

    def complete(self, name: str, **data: Any) -> None:
        task = self.task(name)
        task.set_data(**data)
        task.run()
        self.step()

    def send(self, message: str, payload: Any = None) -> None:
        """Deliver a message as the engine does; raises WorkflowException when nobody waits for it."""
        self.workflow.send_event(BpmnEvent(MessageEventDefinition(message), payload if payload is not None else {}))
        self.step()

    def expire(self, timer_id: str) -> None:
        """Move a waiting timer's date into the past and let it fire."""
        tasks = [t for t in self.workflow.event_manager.tasks.values() if timer_id in _timer_ids(t.task_spec)]
        assert tasks, f"no timer {timer_id} is waiting (waiting: {self.waiting()})"
        for task in tasks:
            task._set_internal_data(event_value=LONG_AGO)
        self.workflow.refresh_timers()
        self.step()

    # -- looking at it -----------------------------------------------------------------------

    def ready(self) -> list[Any]:
        return self.workflow.get_tasks(state=TaskState.READY, manual=True)

    def ready_names(self) -> list[str]:
        return sorted(t.task_spec.name for t in self.ready())

    def task(self, name: str) -> Any:
        found = [t for t in self.ready() if t.task_spec.name == name]
        assert len(found) == 1, f"{name} is not ready (ready: {self.ready_names()}, waiting: {self.waiting()})"
        return found[0]

    def waiting(self) -> list[str]:
        """Waiting steps (not boundary events): catch events and event-based gateways."""
        return sorted(t.task_spec.name for t in self.workflow.event_manager.tasks.values()
                      if not isinstance(t.task_spec, BoundaryEvent))

    def waiting_messages(self) -> set[str]:
        names = set()
        for task in self.workflow.event_manager.tasks.values():
            for d in _definitions(task.task_spec.event_definition):
                if isinstance(d, MessageEventDefinition):
                    names.add(d.name)
        return names

    def waiting_timers(self) -> set[str]:
        return {i for t in self.workflow.event_manager.tasks.values() for i in _timer_ids(t.task_spec)}

    def status(self) -> str | None:
        """The business status where the instance waits: the `status` property of a ready user task,
        else of a waiting catch event; an event-based gateway takes it from its outgoing events
        (Spiff does not parse extensions on gateways)."""
        for task in self.ready():
            if properties(task.task_spec).get("status"):
                return properties(task.task_spec)["status"]
        for task in self.workflow.event_manager.tasks.values():
            spec = task.task_spec
            if isinstance(spec, BoundaryEvent):
                continue
            specs = spec.outputs if isinstance(spec, EventBasedGateway) else [spec]
            for s in specs:
                if properties(s).get("status"):
                    return properties(s)["status"]
        return None

    def thrown(self, message: str) -> list[Any]:
        return [payload for name, payload in self.messages if name == message]

    @property
    def data(self) -> dict[str, Any]:
        """Task data where the instance stands now (the workflow's data once it is completed)."""
        if self.workflow.is_completed():
            return self.workflow.data
        current = self.ready() or list(self.workflow.event_manager.tasks.values())
        return current[0].data

    @property
    def completed(self) -> bool:
        return self.workflow.is_completed()


def _definitions(definition: Any) -> list[Any]:
    if isinstance(definition, MultipleEventDefinition):
        return list(definition.event_definitions)
    return [definition]


def _timer_ids(spec: Any) -> set[str]:
    """Ids of the timer events a waiting task stands for (an event-based gateway waits for its outputs)."""
    if isinstance(spec, EventBasedGateway):
        return {o.name for o, d in zip(spec.outputs, spec.event_definition.event_definitions, strict=True)
                if isinstance(d, TimerEventDefinition)}
    if isinstance(getattr(spec, "event_definition", None), TimerEventDefinition):
        return {spec.name}
    return set()

