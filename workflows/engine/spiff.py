"""The SpiffWorkflow 3.2 integration: safe parsing, the per-version spec cache, compact state
without the spec, the script environment (helper functions and service-task operators), and the
clock that timers read.

State is what `BpmnWorkflowSerializer` writes, minus the spec and subprocess specs (stored once
per deployed version), as compact JSON compressed with zlib: ~1–3 KB per person-quarter instead
of ~13 KB, and no spec to rebuild on every load.
"""

from __future__ import annotations

import contextvars
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_VERSION
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from models import clock
from workflows.engine import registry

MAX_BPMN_BYTES = 2 * 1024 * 1024


# --- Time: Spiff's timers ask datetime.now(); make them ask our clock ------------------------


class _ClockDatetime(datetime):
    """`datetime` whose now() is the process clock, so tests move time for timers too."""

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        current = clock.now()
        return current.astimezone(tz) if tz is not None else current.astimezone().replace(tzinfo=None)


spiff_timer.datetime = _ClockDatetime  # type: ignore[attr-defined,misc]


# --- Parsing -----------------------------------------------------------------------------------


class BpmnSyntaxError(ValueError):
    """The file is not a BPMN document we can read safely."""


_SAFE_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
    remove_comments=False,
)


def safe_xml(data: bytes | str) -> etree._Element:
    """Parse XML without DTDs, entities or network access (no XXE, no entity bombs)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_BPMN_BYTES:
        raise BpmnSyntaxError(f"the file is larger than {MAX_BPMN_BYTES // 1024 // 1024} MB")
    if b"<!DOCTYPE" in raw[:4096].upper() or b"<!ENTITY" in raw.upper():
        raise BpmnSyntaxError("DOCTYPE and ENTITY declarations are not allowed in BPMN files")
    try:
        root = etree.fromstring(raw, _SAFE_PARSER)
    except etree.XMLSyntaxError as e:
        raise BpmnSyntaxError(f"not well-formed XML: {e}") from None
    if root.getroottree().docinfo.doctype:
        raise BpmnSyntaxError("DOCTYPE declarations are not allowed in BPMN files")
    return root


@dataclass
class ParsedProcess:
    """A parsed deployment: the spec and its subprocess specs, shared by every instance."""

    process_key: str
    spec: Any
    subprocess_specs: dict[str, Any]
    root: Any = field(repr=False, default=None)


def parse(xml: bytes | str, filename: str = "process.bpmn") -> dict[str, ParsedProcess]:
    """Parse a BPMN document; returns every executable process in it by id."""
    root = safe_xml(xml)
    parser = SpiffBpmnParser()
    parser.add_bpmn_xml(root, filename)
    camunda_forms = {node.get("id"): node.get(CAMUNDA_FORM_KEY) for node in root.iter()
                     if isinstance(node.tag, str) and node.get(CAMUNDA_FORM_KEY)}
    out = {}
    for process_id in parser.get_process_ids():
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
        for process_spec in [spec, *subprocess_specs.values()]:
            _adopt_camunda_forms(process_spec, camunda_forms)
        out[process_id] = ParsedProcess(process_id, spec, subprocess_specs, root)
    return out


CAMUNDA_FORM_KEY = "{http://camunda.org/schema/1.0/bpmn}formKey"


def _adopt_camunda_forms(process_spec: Any, camunda_forms: dict[str, str]) -> None:
    """A file from Camunda Modeler names a task's form in camunda:formKey; the engine reads it
    from the spiffworkflow formKey property, so carry it over where that property is missing."""
    if not camunda_forms:
        return
    for task_spec in process_spec.task_specs.values():
        form = camunda_forms.get(getattr(task_spec, "bpmn_id", None))
        if form is None:
            continue
        extensions = getattr(task_spec, "extensions", None)
        if extensions is None:
            task_spec.extensions = extensions = {}
        properties = extensions.setdefault("properties", {})
        properties.setdefault("formKey", form)


# --- Script environment and service-task operators ----------------------------------------------


@dataclass
class RunContext:
    """What operators may use while the engine runs one instance."""

    session: Any
    instance: Any  # models.process.ProcessInstance (its row, already loaded)
    actor_user_id: int | None
    after_commit: list[Callable[[], None]] = field(default_factory=list)


_run_context: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar("pf_run_context", default=None)


def current_context() -> RunContext:
    ctx = _run_context.get()
    if ctx is None:
        raise RuntimeError("no process instance is being run")
    return ctx


class running:
    """Context manager that makes a RunContext current while the engine runs."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.token: contextvars.Token[RunContext | None] | None = None

    def __enter__(self) -> RunContext:
        self.token = _run_context.set(self.ctx)
        return self.ctx

    def __exit__(self, *exc: object) -> None:
        assert self.token is not None
        _run_context.reset(self.token)


class OperatorError(Exception):
    """A service task failed; the message names the operator."""


def _now_iso() -> str:
    return clock.now().isoformat()


def add_working_days(start: str | datetime, days: int, end_of_day: bool = True) -> str:
    """ISO datetime `days` working days (Mon–Fri) after `start`, at 23:59:59 in start's zone."""
    moment = datetime.fromisoformat(start) if isinstance(start, str) else start
    from zoneinfo import ZoneInfo

    from flask import current_app, has_app_context

    zone = ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai")) if has_app_context() else ZoneInfo("Asia/Shanghai")
    local = moment.astimezone(zone)
    remaining, day = int(days), local
    while remaining > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            remaining -= 1
    if end_of_day:
        day = day.replace(hour=23, minute=59, second=59, microsecond=0)
    return day.isoformat()


class PointsflowEnvironment(TaskDataEnvironment):
    """Expressions and scripts see task data plus a few helpers; service tasks call the registry's operators."""

    def __init__(self) -> None:
        super().__init__({"now": _now_iso, "add_working_days": add_working_days, "len": len})

    def call_service(self, context: dict[str, Any], operation_name: str = "", operation_params: Any = None,
                     **kwargs: Any) -> str:
        fn = registry.operator(operation_name)
        if fn is None:
            raise OperatorError(f"unknown service operator {operation_name!r}")
        params = {k: v["value"] for k, v in (operation_params or {}).items()}
        result = fn(current_context(), context, **params)
        return json.dumps(result if result is not None else {}, default=str)


class PointsflowScriptEngine(PythonScriptEngine):
    def __init__(self) -> None:
        super().__init__(environment=PointsflowEnvironment())

    def call_service(self, task: Any, **kwargs: Any) -> str:
        # Spiff 3.2's own version refers to an undefined name when the service fails.
        try:
            return self.environment.call_service(task.data, **kwargs)
        except OperatorError:
            raise
        except Exception as err:
            name = kwargs.get("operation_name", "?")
            raise OperatorError(f"service task {task.task_spec.bpmn_id or task.task_spec.name} "
                                f"({name}) failed: {err}") from err


SCRIPT_ENGINE = PointsflowScriptEngine()


# --- State without the spec ----------------------------------------------------------------------


class SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Serialises a workflow without its spec; restores it onto the cached spec of its version."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], spec: Any = None, subprocess_specs: Any = None) -> BpmnWorkflow:
        from uuid import UUID

        workflow = self.target_class(spec, subprocess_specs or {}, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_CONFIG = dict(SPIFF_CONFIG)
_CONFIG[BpmnWorkflow] = SpeclessWorkflowConverter
REGISTRY = BpmnWorkflowSerializer.configure(_CONFIG)
# The stock serializer (with spec) is what the benchmark's "engine floor" measures.
FULL_SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
STATE_FORMAT = f"{SERIALIZER_VERSION}+nospec+zlib"
_ENCODER = create_encoder(REGISTRY, None)


def state_json(workflow: BpmnWorkflow) -> str:
    """A workflow's state without its spec, as compact JSON text (what `dump_state` compresses)."""
    # The serializer's registry converts for the JSON encoder only in encoder mode (what
    # BpmnWorkflowSerializer.to_dict sets around its own call).
    REGISTRY._encoder_mode = True
    try:
        dct = REGISTRY.convert(workflow)
    finally:
        REGISTRY._encoder_mode = False
    return json.dumps(dct, separators=(",", ":"), cls=_ENCODER)


def compress_state(text: str) -> bytes:
    return zlib.compress(text.encode("utf-8"), 6)


def dump_state(workflow: BpmnWorkflow) -> bytes:
    """Compact, compressed state of a workflow, without its spec."""
    return compress_state(state_json(workflow))


def state_dict(state: bytes) -> dict[str, Any]:
    """The stored state as a plain dict (the monitor shows task data from it)."""
    return json.loads(zlib.decompress(state))


def load_state(state: bytes, parsed: ParsedProcess) -> BpmnWorkflow:
    """Rebuild a workflow from its stored state and its version's parsed spec."""
    dct = state_dict(state)
    workflow = REGISTRY.restore(dct, spec=parsed.spec, subprocess_specs=parsed.subprocess_specs)
    workflow.script_engine = SCRIPT_ENGINE
    return workflow


def new_workflow(parsed: ParsedProcess) -> BpmnWorkflow:
    return BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=SCRIPT_ENGINE)
