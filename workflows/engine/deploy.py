"""Validating and deploying BPMN files as immutable, hashed process versions.

A deployment parses with the spiff parser, checks that every user task sits in a lane of a known
role and names a known form, that every service task names a known operator, that timer and
condition expressions are Python the engine can evaluate, and that every message a process waits
for is thrown somewhere (or is one of the events services send). Then each process in the file is
stored once per content hash as a new version; running instances stay on theirs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import audit
from models.people import Role
from models.process import ProcessVersion
from workflows.engine import registry, spiff
from workflows.i18n import N_

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
    "camunda": "http://camunda.org/schema/1.0/bpmn",
}

# Lane names a designer may use for each role: the code, or its Chinese name.
LANE_ALIASES: dict[str, str] = {r.value: r.value for r in Role}
LANE_ALIASES.update({
    "党员": "member", "积分审核员": "reviewer", "审核员": "reviewer", "支部书记": "secretary",
    "纪检委员": "discipline", "支部纪检委员": "discipline", "党群部门": "party_office",
    "领导小组": "leading_group", "积分量化管理领导小组": "leading_group",
})
PROCESS_ROLES = {"member", "reviewer", "secretary", "discipline", "party_office", "leading_group"}

# Parsed specs by (content hash, process id): versions never change, so neither do these.
_cache: dict[tuple[str, str], spiff.ParsedProcess] = {}


@dataclass
class Problem:
    element: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)
    warning: bool = False  # shown, but does not stop a deployment

    def __str__(self) -> str:
        text = self.message % self.params if self.params else self.message
        return f"{self.element}: {text}" if self.element else text


@dataclass
class Validation:
    problems: list[Problem]
    processes: dict[str, dict[str, Any]]  # process id -> meta
    parsed: dict[str, spiff.ParsedProcess]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.warning]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.warning]


def lane_role(lane: str | None) -> str | None:
    if lane is None:
        return None
    return LANE_ALIASES.get(lane.strip())


class _Sample(str):
    """Stands in for any task-data value when checking an expression: indexable, a datetime."""

    def __new__(cls) -> _Sample:
        return str.__new__(cls, "2026-12-31T23:59:59+08:00")

    def __getitem__(self, key: object) -> _Sample:  # type: ignore[override]
        return _Sample()

    def __getattr__(self, name: str) -> _Sample:
        return _Sample()


class _AnyName(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> Any:
        return _Sample()


def _check_expression(expr: str, kind: str) -> str | None:
    """None when `expr` is a Python expression the engine can evaluate; else what is wrong."""
    if not expr or not expr.strip():
        return N_("the expression is empty")
    try:
        code = compile(expr.strip(), "<bpmn>", "eval")
    except SyntaxError as e:
        return N_("not a Python expression: %(error)s") % {"error": e.msg}
    if kind == "timer":
        try:
            value = eval(code, {"__builtins__": {"len": len, "str": str}}, _AnyName(now=lambda: _Sample()))  # noqa: S307
        except Exception as e:  # noqa: BLE001 - any error is a validation message
            return N_("cannot be evaluated: %(error)s") % {"error": e}
        if not isinstance(value, str):
            return N_("must give an ISO 8601 date, time or duration as text")
        from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

        try:
            if value.upper().startswith("R"):
                TimerEventDefinition.parse_iso_recurring_interval(value)
            else:
                TimerEventDefinition.parse_time_or_duration(value)
        except Exception:  # noqa: BLE001
            return N_("%(value)s is not an ISO 8601 date, time or duration") % {"value": value}
    return None


def _element_label(node: Any) -> str:
    name = node.get("name")
    return f"{node.get('id')} ({name})" if name else str(node.get("id"))


def validate(xml: bytes | str, filename: str = "process.bpmn", *, known_messages: Iterable[str] = (),
             known_forms: Iterable[str] | None = None) -> Validation:
    """Check a BPMN document; every problem names the element it is about."""
    problems: list[Problem] = []
    try:
        root = spiff.safe_xml(xml)
    except spiff.BpmnSyntaxError as e:
        return Validation([Problem("", str(e))], {}, {})
    if etree.QName(root).localname != "definitions" or etree.QName(root).namespace != NS["bpmn"]:
        return Validation([Problem("", N_("this is not a BPMN 2.0 document (bpmn:definitions expected)"))], {}, {})
    try:
        parsed = spiff.parse(etree.tostring(root), filename)
    except spiff.BpmnSyntaxError as e:
        return Validation([Problem("", str(e))], {}, {})
    except Exception as e:  # noqa: BLE001 - the parser's ValidationException and friends
        element = getattr(e, "id", None) or getattr(e, "name", None) or ""
        text = getattr(e, "msg", None) or str(e).splitlines()[0]
        return Validation([Problem(str(element), N_("the engine cannot parse this: %(error)s"), {"error": text})], {}, {})
    if not parsed:
        return Validation([Problem("", N_("no executable process (isExecutable=\"true\") in this file"))], {}, {})

    forms = set(registry.known_forms() if known_forms is None else known_forms)
    lanes_by_node: dict[str, str] = {}
    for ref in root.iterfind(".//bpmn:flowNodeRef", NS):
        lane = ref.getparent()
        if ref.text:
            lanes_by_node[ref.text.strip()] = lane.get("name") or ""
    messages_by_id = {m.get("id"): m.get("name") or m.get("id") for m in root.iterfind(".//bpmn:message", NS)}

    metas: dict[str, dict[str, Any]] = {}
    thrown_here: set[str] = set()
    for process in root.iterfind(".//bpmn:process", NS):
        pid = process.get("id")
        if pid not in parsed:
            continue
        meta: dict[str, Any] = {"name": process.get("name") or pid, "user_tasks": {}, "service_tasks": {},
                                "timers": {}, "throws": {}, "catches": {}, "start_messages": [],
                                "names": {}, "statuses": {}, "lanes": sorted({lanes_by_node[n] for n in lanes_by_node})}
        for node in process.iter():
            if not isinstance(node.tag, str):
                continue
            local = etree.QName(node).localname
            if local == "conditionExpression":  # has no id of its own: named by its flow
                err = _check_expression(node.text or "", "condition")
                if err:
                    problems.append(Problem(_element_label(node.getparent()), N_("bad condition: %(error)s"),
                                            {"error": err}))
                continue
            if node.get("id") is None:
                continue
            nid = node.get("id")
            if node.get("name"):
                meta["names"][nid] = node.get("name")
            props = {p.get("name"): p.get("value") for p in node.iterfind(
                "./bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)}
            if props.get("status"):
                meta["statuses"][nid] = props["status"]
            if local == "userTask":
                lane = lanes_by_node.get(nid)
                role = lane_role(lane)
                if lane is None:
                    problems.append(Problem(_element_label(node), N_("this user task is not in a lane; put it in the lane of the role that does it")))
                elif role is None or role not in PROCESS_ROLES:
                    problems.append(Problem(_element_label(node), N_("lane %(lane)s is not a known role (member, reviewer, secretary, discipline, party_office, leading_group)"), {"lane": lane}))
                form_key = props.get("formKey") or node.get(f"{{{NS['camunda']}}}formKey") or nid
                if form_key not in forms:
                    problems.append(Problem(_element_label(node), N_("unknown form %(form)s"), {"form": form_key}))
                due = props.get("dueAt")
                if due:
                    err = _check_expression(due, "timer")
                    if err:
                        problems.append(Problem(_element_label(node), N_("due date (dueAt): %(error)s"), {"error": err}))
                meta["user_tasks"][nid] = {"name": node.get("name") or nid, "lane": lane, "role": role,
                                           "form_key": form_key, "due_at": due, "status": props.get("status")}
            elif local == "serviceTask":
                op = node.find("./bpmn:extensionElements/spiffworkflow:serviceTaskOperator", NS)
                name = op.get("id") if op is not None else None
                if not name:
                    problems.append(Problem(_element_label(node), N_("a service task needs a spiffworkflow:serviceTaskOperator")))
                elif registry.operator(name) is None:
                    problems.append(Problem(_element_label(node), N_("unknown service operator %(name)s"), {"name": name}))
                meta["service_tasks"][nid] = name
            elif local == "timerEventDefinition":
                event = node.getparent()
                for kind in ("timeDate", "timeDuration", "timeCycle"):
                    expr_node = node.find(f"./bpmn:{kind}", NS)
                    if expr_node is not None:
                        err = _check_expression(expr_node.text or "", "timer")
                        if err:
                            problems.append(Problem(_element_label(event), N_("bad timer expression: %(error)s"), {"error": err}))
                        meta["timers"][event.get("id")] = expr_node.text
                        break
                else:
                    problems.append(Problem(_element_label(event), N_("a timer needs a timeDate, timeDuration or timeCycle")))
            elif local == "messageEventDefinition":
                event = node.getparent()
                message = messages_by_id.get(node.get("messageRef"))
                if message is None:
                    problems.append(Problem(_element_label(event), N_("this message event refers to no bpmn:message")))
                    continue
                ev_local = etree.QName(event).localname
                if ev_local in ("intermediateThrowEvent", "endEvent"):
                    meta["throws"][event.get("id")] = message
                    thrown_here.add(message)
                elif ev_local == "startEvent":
                    meta["start_messages"].append(message)
                else:
                    meta["catches"][event.get("id")] = message
        metas[pid] = meta

    known = set(known_messages) | thrown_here | registry.external_messages()
    for meta in metas.values():
        for event_id, message in meta["catches"].items():
            if message not in known:
                problems.append(Problem(f"{event_id} ({meta['names'].get(event_id, '')})".replace(" ()", ""),
                                        N_("waits for message %(message)s, which no deployed process sends"),
                                        {"message": message}))
    if not root.findall(".//bpmndi:BPMNDiagram", NS):
        problems.append(Problem("", N_("the file has no diagram (BPMNDI); draw it in a modeller so it can be shown"),
                                warning=True))
    return Validation(problems, metas, parsed)


def content_hash(xml: bytes | str) -> str:
    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    return hashlib.sha256(raw).hexdigest()


def thrown_messages(session: Session) -> set[str]:
    """Messages thrown by the latest version of every deployed process."""
    names: set[str] = set()
    for version in latest_versions(session).values():
        names |= set((version.meta or {}).get("throws", {}).values())
    return names


def deploy(session: Session, xml: bytes | str, filename: str, *, actor_user_id: int | None,
           comment: str = "", also_thrown: Iterable[str] = ()) -> tuple[list[ProcessVersion], Validation]:
    """Validate and store each process of the file as a new version (or return the existing one
    when the same content is already deployed). Nothing is stored when validation fails.

    `also_thrown`: messages thrown by files deployed together with this one (the shipped set).
    """
    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    result = validate(raw, filename, known_messages=thrown_messages(session) | set(also_thrown))
    if not result.ok:
        return [], result
    digest = content_hash(raw)
    text = raw.decode("utf-8")
    versions = []
    for pid, meta in result.processes.items():
        existing = session.scalar(
            select(ProcessVersion).where(ProcessVersion.process_key == pid, ProcessVersion.content_hash == digest)
        )
        if existing is not None:
            versions.append(existing)
            continue
        number = (session.scalar(select(func.max(ProcessVersion.version)).where(ProcessVersion.process_key == pid)) or 0) + 1
        version = ProcessVersion(process_key=pid, name=meta["name"], version=number, content_hash=digest,
                                 filename=Path(filename).name, bpmn_xml=text, meta=meta,
                                 deployed_by=actor_user_id, comment=comment)
        session.add(version)
        session.flush()
        _cache[(digest, pid)] = result.parsed[pid]
        audit.record(session, "process.deployed", actor_user_id=actor_user_id, object_type="process_version",
                     object_id=version.id, data={"process": pid, "version": number, "hash": digest, "file": filename})
        versions.append(version)
    return versions, result


def deploy_shipped(session: Session, directory: str, actor_user_id: int | None) -> list[ProcessVersion]:
    """Deploy every bpmn/*.bpmn file whose content is not deployed yet (at start-up, `bpmn deploy`).

    The shipped files are one set: they wait for each other's messages, so each is validated
    knowing what the others throw. Any file that does not validate stops the whole deployment.
    """
    files = sorted(Path(directory).glob("*.bpmn"))
    contents = {path.name: path.read_bytes() for path in files}
    thrown: set[str] = set()
    for name, raw in contents.items():
        for meta in validate(raw, name, known_messages=registry.external_messages()).processes.values():
            thrown |= set(meta["throws"].values())
    deployed: list[ProcessVersion] = []
    failures = []
    for name, raw in contents.items():
        versions, result = deploy(session, raw, name, actor_user_id=actor_user_id, comment="shipped",
                                  also_thrown=thrown)
        if not versions:
            failures.append(f"{name}: " + ", ".join(str(x) for x in result.errors))
        deployed.extend(versions)
    if failures:
        raise ValueError("shipped BPMN files do not validate: " + "; ".join(failures))
    return deployed


def latest_versions(session: Session) -> dict[str, ProcessVersion]:
    newest = select(ProcessVersion.process_key, func.max(ProcessVersion.version).label("v")).group_by(
        ProcessVersion.process_key).subquery()
    rows = session.scalars(select(ProcessVersion).join(
        newest, (ProcessVersion.process_key == newest.c.process_key) & (ProcessVersion.version == newest.c.v)))
    return {v.process_key: v for v in rows}


def latest_version(session: Session, process_key: str) -> ProcessVersion:
    version = session.scalar(select(ProcessVersion).where(ProcessVersion.process_key == process_key)
                             .order_by(ProcessVersion.version.desc()).limit(1))
    if version is None:
        raise LookupError(f"process {process_key!r} is not deployed (run `flask --app webapp bpmn deploy`)")
    return version


def parsed(version: ProcessVersion) -> spiff.ParsedProcess:
    """The parsed spec of a version, parsed once per process and kept (versions never change)."""
    key = (version.content_hash, version.process_key)
    found = _cache.get(key)
    if found is None:
        for pid, parsed_process in spiff.parse(version.bpmn_xml, version.filename or "process.bpmn").items():
            _cache[(version.content_hash, pid)] = parsed_process
        found = _cache[key]
    return found


def clear_cache() -> None:
    _cache.clear()
