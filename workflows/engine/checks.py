"""Checking a BPMN file before the engine may run it — the same checks whichever door the file
comes in by: the designer's upload and modeller, `flask bpmn validate` and `flask bpmn deploy`,
and the shipped files at start-up (`check` is the one function; `deploy.deploy` refuses what it
refuses).

Every problem names the element it is about: the bytes are not a BPMN file (empty, a ZIP or
Office file, a program, HTML, not XML, too large, a DOCTYPE or entities); the engine cannot parse
it; a reference points to nothing (flows, messages, lanes, boundary events, default flows) or an
id is used twice; a user task is outside a lane of a known role or names an unknown form; a
service task names an unknown operator; a timer, due date or condition is not Python the engine
can evaluate (ISO text without quotes, Camunda's `${...}`); a message is waited for that nothing
sends. Unreachable elements and a missing diagram are warnings. Files from Camunda Modeler get
their `camunda:formKey` carried over into the spiffworkflow property the engine reads (`normalize`).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from models.people import Role
from workflows.engine import registry, spiff
from workflows.i18n import N_

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
    "camunda": "http://camunda.org/schema/1.0/bpmn",
}
BPMN, SPIFF, CAMUNDA = NS["bpmn"], NS["spiffworkflow"], NS["camunda"]

# Lane names a designer may use for each role: the code, or its Chinese name.
LANE_ALIASES: dict[str, str] = {r.value: r.value for r in Role}
LANE_ALIASES.update({
    "党员": "member", "积分审核员": "reviewer", "审核员": "reviewer", "支部书记": "secretary",
    "纪检委员": "discipline", "支部纪检委员": "discipline", "党群部门": "party_office",
    "领导小组": "leading_group", "积分量化管理领导小组": "leading_group",
})
PROCESS_ROLES = {"member", "reviewer", "secretary", "discipline", "party_office", "leading_group"}

FLOW_NODES = {
    "task", "userTask", "serviceTask", "scriptTask", "manualTask", "sendTask", "receiveTask", "businessRuleTask",
    "callActivity", "subProcess", "transaction", "startEvent", "endEvent", "intermediateCatchEvent",
    "intermediateThrowEvent", "boundaryEvent", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
    "eventBasedGateway", "complexGateway",
}


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
    """What a check found, what each process of the file holds (its meta) and its parsed specs."""

    problems: list[Problem]
    processes: dict[str, dict[str, Any]]  # process id -> meta
    parsed: dict[str, spiff.ParsedProcess]
    raw: bytes = b""  # the file as checked (after `normalize`)

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


def label(node: Any) -> str:
    """How a problem names an element: its id, and its name when it has one."""
    name = node.get("name")
    return f"{node.get('id')} ({name})" if name else str(node.get("id"))


# --- The one check -------------------------------------------------------------------------------------


def check(raw: bytes | str, filename: str = "process.bpmn", *, known_messages: Iterable[str] = (),
          known_forms: Iterable[str] | None = None) -> Validation:
    """Everything this module checks, in order; `known_messages` are thrown by other deployed files."""
    raw = raw.encode("utf-8") if isinstance(raw, str) else raw
    reason = sniff(raw)
    if reason is not None:
        return Validation([Problem("", SNIFF_MESSAGES[reason])], {}, {}, raw)
    fixed = normalize(raw)
    result = validate(fixed, filename, known_messages=known_messages, known_forms=known_forms)
    problems = list(result.problems)
    broken = reference_problems(fixed)
    if broken:  # the engine's parse error is only their consequence: name the causes instead
        problems = broken + [p for p in problems if not p.message.startswith("the engine cannot parse")]
    if result.processes:
        problems += expression_problems(fixed) + unreachable(fixed)
    return Validation(problems, result.processes, result.parsed, fixed)


# --- What the bytes are ---------------------------------------------------------------------------------

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


def sniff(raw: bytes) -> str | None:
    """Why these bytes cannot be a BPMN file, as a code (None: worth parsing).

    "empty", "too_large", "zip" (a zip archive, .docx or .bpmn renamed), "binary" (not text),
    "not_xml" (text that does not start like XML), "html".
    """
    if not raw or not raw.strip():
        return "empty"
    if len(raw) > spiff.MAX_BPMN_BYTES:
        return "too_large"
    if raw.startswith(ZIP_MAGIC):
        return "zip"
    head = raw[:4096]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None  # UTF-16 with a byte order mark: lxml reads it
    if b"\x00" in head:
        return "binary"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text.startswith(b"<"):
        return "not_xml"
    if text[:15].lower().startswith((b"<!doctype html", b"<html")):
        return "html"
    return None


SNIFF_MESSAGES = {
    "empty": N_("The file is empty."),
    "too_large": N_("The file is larger than 2 MB; a BPMN diagram is much smaller."),
    "zip": N_("This is a ZIP archive (perhaps a zipped folder or an Office document renamed to .bpmn), not a BPMN "
              "file. Unzip it and upload the .bpmn file inside."),
    "binary": N_("This is not a text file. Export the diagram from your modeller as BPMN 2.0 XML (.bpmn)."),
    "not_xml": N_("This is not an XML file. Export the diagram from your modeller as BPMN 2.0 XML (.bpmn)."),
    "html": N_("This is a web page (HTML), not a BPMN file. Export the diagram from your modeller as BPMN 2.0 XML "
               "(.bpmn)."),
}


def normalize(raw: bytes) -> bytes:
    """Files from Camunda Modeler name a task's form as `camunda:formKey`; copy it into the
    spiffworkflow `formKey` property the engine reads. Other files are returned unchanged."""
    if CAMUNDA.encode() not in raw or b"formKey" not in raw:
        return raw
    try:
        root = spiff.safe_xml(raw)
    except spiff.BpmnSyntaxError:
        return raw
    changed = False
    for task in root.iterfind(".//bpmn:userTask", NS):
        form = task.get(f"{{{CAMUNDA}}}formKey")
        if not form:
            continue
        props = task.find("./bpmn:extensionElements/spiffworkflow:properties", NS)
        if props is not None and props.find("./spiffworkflow:property[@name='formKey']", NS) is not None:
            continue
        ext = task.find("./bpmn:extensionElements", NS)
        if ext is None:
            ext = etree.Element(f"{{{BPMN}}}extensionElements")
            task.insert(1 if len(task) and etree.QName(task[0]).localname == "documentation" else 0, ext)
        if props is None:
            props = etree.SubElement(ext, f"{{{SPIFF}}}properties", nsmap={"spiffworkflow": SPIFF})
        prop = etree.SubElement(props, f"{{{SPIFF}}}property")
        prop.set("name", "formKey")
        prop.set("value", form)
        changed = True
    if not changed:
        return raw
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# --- Expressions ------------------------------------------------------------------------------------------


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


def expression_error(expr: str, kind: str) -> str | None:
    """None when `expr` is a Python expression the engine can evaluate (for a "timer": to an ISO
    8601 date, time or duration); else what is wrong."""
    if not expr or not expr.strip():
        return N_("the expression is empty")
    try:
        code = compile(expr.strip(), "<bpmn>", "eval")
    except SyntaxError as e:
        return N_("not a Python expression: %(error)s") % {"error": e.msg}
    if kind != "timer":
        return None
    try:
        value = eval(code, {"__builtins__": {"len": len, "str": str}}, _AnyName(now=lambda: _Sample()))  # noqa: S307
    except Exception as e:  # noqa: BLE001 - any error is a validation message
        return N_("cannot be evaluated: %(error)s") % {"error": e}
    if not isinstance(value, str):
        return N_("must give an ISO 8601 date, time or duration as text")
    try:
        if value.upper().startswith("R"):
            TimerEventDefinition.parse_iso_recurring_interval(value)
        else:
            TimerEventDefinition.parse_time_or_duration(value)
    except Exception:  # noqa: BLE001
        return N_("%(value)s is not an ISO 8601 date, time or duration") % {"value": value}
    return None


_BARE_ISO = re.compile(r"^(R\d*/)?(P(\d|T\d)|\d{4}-\d{2}-\d{2})")


def expression_problems(raw: bytes) -> list[Problem]:
    """What the engine would stumble on although it parses: ISO text written without quotes as a
    timer (a Python name), and Camunda's ${...} expressions."""
    try:
        root = spiff.safe_xml(raw)
    except spiff.BpmnSyntaxError:
        return []
    problems = []
    for definition in root.iterfind(".//bpmn:timerEventDefinition", NS):
        event = definition.getparent()
        for kind in ("timeDate", "timeDuration", "timeCycle"):
            node = definition.find(f"./bpmn:{kind}", NS)
            text = (node.text or "").strip() if node is not None else ""
            if text and _BARE_ISO.match(text):
                problems.append(Problem(
                    label(event), N_("timer %(expression)s is Python here: put ISO text in quotes, e.g. '%(expression)s'"),
                    {"expression": text}))
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        local = etree.QName(node).localname
        if local not in ("conditionExpression", "timeDate", "timeDuration", "timeCycle"):
            continue
        owner = node.getparent() if local == "conditionExpression" else node.getparent().getparent()
        if "${" in (node.text or ""):
            problems.append(Problem(label(owner), N_(
                "Camunda expressions like ${...} are not supported: write the expression in Python "
                "(for example approved == True)")))
    return problems


# --- References and reachability --------------------------------------------------------------------------


def reference_problems(raw: bytes) -> list[Problem]:
    """Broken references, named by the element that holds them (the engine's own parser reports
    these confusingly or not at all): duplicate ids, flows from or to nothing, messages, lanes,
    boundary events and default flows that point nowhere."""
    try:
        root = spiff.safe_xml(raw)
    except spiff.BpmnSyntaxError:
        return []
    problems = []
    # Ids of the diagram's own elements; an extension element's "id" (a service task's operator
    # name, say) is not one.
    ids: Counter[str] = Counter(n.get("id") for n in root.iter() if isinstance(n.tag, str) and n.get("id")
                                and etree.QName(n).namespace not in (SPIFF, CAMUNDA))
    for nid, n in sorted(ids.items()):
        if n > 1:
            problems.append(Problem(nid, N_("this id is used by %(count)s elements; ids must be unique"), {"count": n}))
    messages = {m.get("id") for m in root.iterfind(".//bpmn:message", NS)}
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        local = etree.QName(node).localname
        where = label(node) if node.get("id") else ""
        if local == "sequenceFlow":
            for attr, message in (("sourceRef", N_("this flow starts at %(ref)s, which is not in the file")),
                                  ("targetRef", N_("this flow goes to %(ref)s, which is not in the file"))):
                ref = node.get(attr)
                if not ref or ref not in ids:
                    problems.append(Problem(where, message, {"ref": ref or "?"}))
        elif local == "messageEventDefinition" and node.get("messageRef") and node.get("messageRef") not in messages:
            problems.append(Problem(label(node.getparent()),
                                    N_("this event refers to message %(ref)s, which is not in the file"),
                                    {"ref": node.get("messageRef")}))
        elif local == "boundaryEvent" and node.get("attachedToRef") not in ids:
            problems.append(Problem(where, N_("this boundary event is attached to %(ref)s, which is not in the file"),
                                    {"ref": node.get("attachedToRef") or "?"}))
        elif local == "flowNodeRef" and (node.text or "").strip() not in ids:
            problems.append(Problem(label(node.getparent()), N_("this lane lists %(ref)s, which is not in the file"),
                                    {"ref": (node.text or "").strip()}))
        elif node.get("default") and local.endswith("Gateway") and node.get("default") not in ids:
            problems.append(Problem(where, N_("the default flow %(ref)s is not in the file"), {"ref": node.get("default")}))
    return problems


def unreachable(raw: bytes) -> list[Problem]:
    """Warnings for flow nodes no path from a start event reaches (they would never run)."""
    root = spiff.safe_xml(raw)
    nodes = {n.get("id"): n for n in root.iter() if isinstance(n.tag, str) and n.get("id")
             and etree.QName(n).localname in FLOW_NODES}
    following: dict[str, list[str]] = defaultdict(list)
    for flow in root.iterfind(".//bpmn:sequenceFlow", NS):
        following[flow.get("sourceRef") or ""].append(flow.get("targetRef") or "")
    for nid, node in nodes.items():
        if etree.QName(node).localname == "boundaryEvent":
            following[node.get("attachedToRef") or ""].append(nid)
        if etree.QName(node).localname in ("subProcess", "transaction"):
            following[nid] += [c.get("id") for c in node if isinstance(c.tag, str)
                               and etree.QName(c).localname == "startEvent"]
    todo = [nid for nid, n in nodes.items() if etree.QName(n).localname == "startEvent"
            and etree.QName(n.getparent()).localname == "process"]
    seen = set(todo)
    while todo:
        for nxt in following.get(todo.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return [Problem(label(n), N_("no path from a start event reaches this element"), warning=True)
            for nid, n in nodes.items() if nid not in seen]


# --- What the engine's parse says, element by element ----------------------------------------------------


def _parse(raw: bytes, filename: str) -> tuple[Any, dict[str, spiff.ParsedProcess]] | Validation:
    """The XML root and the parsed processes, or a Validation naming why there are none."""
    try:
        root = spiff.safe_xml(raw)
    except spiff.BpmnSyntaxError as e:
        return Validation([Problem("", str(e))], {}, {}, raw)
    if etree.QName(root).localname != "definitions" or etree.QName(root).namespace != BPMN:
        return Validation([Problem("", N_("this is not a BPMN 2.0 document (bpmn:definitions expected)"))], {}, {}, raw)
    try:
        parsed = spiff.parse(etree.tostring(root), filename)
    except spiff.BpmnSyntaxError as e:
        return Validation([Problem("", str(e))], {}, {}, raw)
    except Exception as e:  # noqa: BLE001 - the parser's ValidationException and friends
        element = getattr(e, "id", None) or getattr(e, "name", None) or ""
        text = getattr(e, "msg", None) or str(e).splitlines()[0]
        return Validation([Problem(str(element), N_("the engine cannot parse this: %(error)s"), {"error": text})],
                          {}, {}, raw)
    if not parsed:
        return Validation([Problem("", N_("no executable process (isExecutable=\"true\") in this file"))], {}, {}, raw)
    return root, parsed


@dataclass
class _Reading:
    """What reading a file's processes needs and collects."""

    forms: set[str]
    lanes_by_node: dict[str, str]
    messages_by_id: dict[str, str]
    problems: list[Problem] = field(default_factory=list)
    thrown: set[str] = field(default_factory=set)


def _user_task(r: _Reading, node: Any, nid: str, props: dict[str, str], meta: dict[str, Any]) -> None:
    lane = r.lanes_by_node.get(nid)
    role = lane_role(lane)
    if lane is None:
        r.problems.append(Problem(label(node), N_("this user task is not in a lane; put it in the lane of the role that does it")))
    elif role is None or role not in PROCESS_ROLES:
        r.problems.append(Problem(label(node), N_("lane %(lane)s is not a known role (member, reviewer, secretary, discipline, party_office, leading_group)"), {"lane": lane}))
    form_key = props.get("formKey") or node.get(f"{{{CAMUNDA}}}formKey") or nid
    if form_key not in r.forms:
        r.problems.append(Problem(label(node), N_("unknown form %(form)s"), {"form": form_key}))
    due = props.get("dueAt")
    if due:
        err = expression_error(due, "timer")
        if err:
            r.problems.append(Problem(label(node), N_("due date (dueAt): %(error)s"), {"error": err}))
    meta["user_tasks"][nid] = {"name": node.get("name") or nid, "lane": lane, "role": role,
                               "form_key": form_key, "due_at": due, "status": props.get("status")}


def _service_task(r: _Reading, node: Any, nid: str, meta: dict[str, Any]) -> None:
    op = node.find("./bpmn:extensionElements/spiffworkflow:serviceTaskOperator", NS)
    name = op.get("id") if op is not None else None
    if not name:
        r.problems.append(Problem(label(node), N_("a service task needs a spiffworkflow:serviceTaskOperator")))
    elif registry.operator(name) is None:
        r.problems.append(Problem(label(node), N_("unknown service operator %(name)s"), {"name": name}))
    meta["service_tasks"][nid] = name


def _timer(r: _Reading, node: Any, meta: dict[str, Any]) -> None:
    event = node.getparent()
    for kind in ("timeDate", "timeDuration", "timeCycle"):
        expr_node = node.find(f"./bpmn:{kind}", NS)
        if expr_node is not None:
            err = expression_error(expr_node.text or "", "timer")
            if err:
                r.problems.append(Problem(label(event), N_("bad timer expression: %(error)s"), {"error": err}))
            meta["timers"][event.get("id")] = expr_node.text
            return
    r.problems.append(Problem(label(event), N_("a timer needs a timeDate, timeDuration or timeCycle")))


def _message(r: _Reading, node: Any, meta: dict[str, Any]) -> None:
    event = node.getparent()
    message = r.messages_by_id.get(node.get("messageRef"))
    if message is None:
        r.problems.append(Problem(label(event), N_("this message event refers to no bpmn:message")))
        return
    kind = etree.QName(event).localname
    if kind in ("intermediateThrowEvent", "endEvent"):
        meta["throws"][event.get("id")] = message
        r.thrown.add(message)
    elif kind == "startEvent":
        meta["start_messages"].append(message)
    else:
        meta["catches"][event.get("id")] = message


def _read_process(r: _Reading, process: Any) -> dict[str, Any]:
    """One process's meta (its tasks, timers, messages, names and statuses), its problems into `r`."""
    pid = process.get("id")
    meta: dict[str, Any] = {"name": process.get("name") or pid, "user_tasks": {}, "service_tasks": {},
                            "timers": {}, "throws": {}, "catches": {}, "start_messages": [],
                            "names": {}, "statuses": {}, "lanes": sorted(set(r.lanes_by_node.values()))}
    for node in process.iter():
        if not isinstance(node.tag, str):
            continue
        local = etree.QName(node).localname
        if local == "conditionExpression":  # has no id of its own: named by its flow
            err = expression_error(node.text or "", "condition")
            if err:
                r.problems.append(Problem(label(node.getparent()), N_("bad condition: %(error)s"), {"error": err}))
            continue
        nid = node.get("id")
        if nid is None:
            continue
        if node.get("name"):
            meta["names"][nid] = node.get("name")
        props = {p.get("name"): p.get("value") for p in node.iterfind(
            "./bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)}
        if props.get("status"):
            meta["statuses"][nid] = props["status"]
        if local == "userTask":
            _user_task(r, node, nid, props, meta)
        elif local == "serviceTask":
            _service_task(r, node, nid, meta)
        elif local == "timerEventDefinition":
            _timer(r, node, meta)
        elif local == "messageEventDefinition":
            _message(r, node, meta)
    return meta


def validate(xml: bytes | str, filename: str = "process.bpmn", *, known_messages: Iterable[str] = (),
             known_forms: Iterable[str] | None = None) -> Validation:
    """The engine's parse and what it holds, element by element (part of `check`)."""
    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    found = _parse(raw, filename)
    if isinstance(found, Validation):
        return found
    root, parsed = found
    lanes_by_node = {ref.text.strip(): ref.getparent().get("name") or ""
                     for ref in root.iterfind(".//bpmn:flowNodeRef", NS) if ref.text}
    r = _Reading(set(registry.known_forms() if known_forms is None else known_forms), lanes_by_node,
                 {m.get("id"): m.get("name") or m.get("id") for m in root.iterfind(".//bpmn:message", NS)})
    metas = {process.get("id"): _read_process(r, process) for process in root.iterfind(".//bpmn:process", NS)
             if process.get("id") in parsed}
    known = set(known_messages) | r.thrown | registry.external_messages()
    for meta in metas.values():
        for event_id, message in meta["catches"].items():
            if message not in known:
                r.problems.append(Problem(f"{event_id} ({meta['names'].get(event_id, '')})".replace(" ()", ""),
                                          N_("waits for message %(message)s, which no deployed process sends"),
                                          {"message": message}))
    if not root.findall(".//bpmndi:BPMNDiagram", NS):
        r.problems.append(Problem("", N_("the file has no diagram (BPMNDI); draw it in a modeller so it can be shown"),
                                  warning=True))
    return Validation(r.problems, metas, parsed, raw)
