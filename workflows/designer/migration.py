"""Process versions for the designer: check a file before it becomes a version, deploy it, compare
two versions, and move running instances onto a newer version when it is safe.

Migration follows SpiffWorkflow's diff (`SpiffWorkflow.bpmn.util.diff`): the instance's state is
loaded on its own version, diffed against the new spec, and moved with the library's
`migrate_workflow` when nothing it has already done (or is doing) was removed or structurally
changed. Steps where it waits are reset and predicted again from the new spec, keeping their task
ids, so the inbox rows stay theirs. Each move runs under the instance's compare-and-set lock and is
recorded in the audit log; a dry run says, per instance, what would move and why not.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from lxml import etree
from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, diff_dependencies, migrate_workflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from models import audit
from models.people import Person, Role, User
from models.permissions import Principal
from models.process import HumanTask, InstanceStatus, ProcessInstance, ProcessVersion, Timer
from models.process import TaskState as RowState
from workflows.designer import replay
from workflows.engine import access, deploy, instances, mirrors, spiff
from workflows.errors import NotAllowed, NotFound, ValidationFailed
from workflows.i18n import N_

NS = deploy.NS
BPMN = NS["bpmn"]
SPIFF = NS["spiffworkflow"]
CAMUNDA = NS["camunda"]


def _designer(actor: Principal) -> None:
    if not actor.holds(Role.PROCESS_DESIGNER, None):
        raise NotAllowed()


# --- Checking an upload -------------------------------------------------------------------------------

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


def sniff(raw: bytes) -> str | None:
    """Why these bytes cannot be a BPMN file, as a code (None: worth parsing).

    "empty", "too_large", "zip" (a zip archive, .docx or .bpmn renamed), "binary" (not text),
    "not_xml" (text that does not start like XML).
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


_BARE_ISO = re.compile(r"^(R\d*/)?(P(\d|T\d)|\d{4}-\d{2}-\d{2})")


def extra_problems(raw: bytes) -> list[deploy.Problem]:
    """What `deploy.validate` lets through but the engine would stumble on: ISO text written
    without quotes as a timer (a Python name), and Camunda's ${...} expressions."""
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
                problems.append(deploy.Problem(
                    deploy._element_label(event),
                    N_("timer %(expression)s is Python here: put ISO text in quotes, e.g. '%(expression)s'"),
                    {"expression": text}))
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        local = etree.QName(node).localname
        if local not in ("conditionExpression", "timeDate", "timeDuration", "timeCycle"):
            continue
        owner = node.getparent() if local == "conditionExpression" else node.getparent().getparent()
        if "${" in (node.text or ""):
            problems.append(deploy.Problem(
                deploy._element_label(owner),
                N_("Camunda expressions like ${...} are not supported: write the expression in Python "
                   "(for example approved == True)")))
        elif local == "conditionExpression":
            error = deploy._check_expression(node.text or "", "condition")
            if error:
                problems.append(deploy.Problem(deploy._element_label(owner), N_("bad condition: %(error)s"),
                                               {"error": error}))
    return problems


def reference_problems(raw: bytes) -> list[deploy.Problem]:
    """Broken references, named by the element that holds them (the engine's own parser reports
    these confusingly or not at all): duplicate ids, flows from or to nothing, messages, lanes,
    boundary events and default flows that point nowhere."""
    try:
        root = spiff.safe_xml(raw)
    except spiff.BpmnSyntaxError:
        return []
    problems = []
    ids: Counter[str] = Counter(n.get("id") for n in root.iter() if isinstance(n.tag, str) and n.get("id"))
    for nid, n in sorted(ids.items()):
        if n > 1:
            problems.append(deploy.Problem(nid, N_("this id is used by %(count)s elements; ids must be unique"),
                                           {"count": n}))
    messages = {m.get("id") for m in root.iterfind(".//bpmn:message", NS)}
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        local = etree.QName(node).localname
        label = deploy._element_label(node) if node.get("id") else ""
        if local == "sequenceFlow":
            for attr, message in (("sourceRef", N_("this flow starts at %(ref)s, which is not in the file")),
                                  ("targetRef", N_("this flow goes to %(ref)s, which is not in the file"))):
                ref = node.get(attr)
                if not ref or ref not in ids:
                    problems.append(deploy.Problem(label, message, {"ref": ref or "?"}))
        elif local == "messageEventDefinition" and node.get("messageRef") and node.get("messageRef") not in messages:
            problems.append(deploy.Problem(deploy._element_label(node.getparent()),
                                           N_("this event refers to message %(ref)s, which is not in the file"),
                                           {"ref": node.get("messageRef")}))
        elif local == "boundaryEvent" and node.get("attachedToRef") not in ids:
            problems.append(deploy.Problem(label, N_("this boundary event is attached to %(ref)s, which is not in the file"),
                                           {"ref": node.get("attachedToRef") or "?"}))
        elif local == "flowNodeRef" and (node.text or "").strip() not in ids:
            problems.append(deploy.Problem(deploy._element_label(node.getparent()),
                                           N_("this lane lists %(ref)s, which is not in the file"),
                                           {"ref": (node.text or "").strip()}))
        elif node.get("default") and local.endswith("Gateway") and node.get("default") not in ids:
            problems.append(deploy.Problem(label, N_("the default flow %(ref)s is not in the file"),
                                           {"ref": node.get("default")}))
    return problems


def unreachable(raw: bytes) -> list[deploy.Problem]:
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
    return [deploy.Problem(deploy._element_label(n), N_("no path from a start event reaches this element"),
                           warning=True) for nid, n in nodes.items() if nid not in seen]


@dataclass
class ProcessCheck:
    """One process of an uploaded file, next to what is deployed."""

    process_key: str
    name: str
    latest: ProcessVersion | None
    same_as: ProcessVersion | None  # this exact content is already deployed as that version
    comparison: Comparison | None
    parsed: spiff.ParsedProcess | None
    names: dict[str, str] = field(default_factory=dict)  # element id -> name, in this file


@dataclass
class UploadCheck:
    digest: str
    filename: str
    raw: bytes
    problems: list[deploy.Problem]
    processes: list[ProcessCheck]
    normalized: bool = False

    @property
    def errors(self) -> list[deploy.Problem]:
        return [p for p in self.problems if not p.warning]

    @property
    def warnings(self) -> list[deploy.Problem]:
        return [p for p in self.problems if p.warning]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def deployable(self) -> bool:
        return self.ok and any(p.same_as is None for p in self.processes)


def check_upload(session: Session, raw: bytes, filename: str = "process.bpmn") -> UploadCheck:
    """Everything the designer needs to decide before a deployment: the file's problems (each
    naming its element), and per process the version it would follow and what changes."""
    reason = sniff(raw)
    if reason is not None:
        return UploadCheck(deploy.content_hash(raw), filename, raw, [deploy.Problem("", SNIFF_MESSAGES[reason])], [])
    fixed = normalize(raw)
    result = deploy.validate(fixed, filename, known_messages=deploy.thrown_messages(session))
    problems = list(result.problems)
    broken = reference_problems(fixed)
    if broken:  # the engine's parse error is only their consequence: name the causes instead
        problems = broken + [p for p in problems if not p.message.startswith("the engine cannot parse")]
    if result.processes:
        problems += extra_problems(fixed) + unreachable(fixed)
    digest = deploy.content_hash(fixed)
    checks = []
    for pid, meta in result.processes.items():
        latest = session.scalar(select(ProcessVersion).where(ProcessVersion.process_key == pid)
                                .order_by(ProcessVersion.version.desc()).limit(1))
        same = session.scalar(select(ProcessVersion).where(ProcessVersion.process_key == pid,
                                                           ProcessVersion.content_hash == digest))
        comparison = compare(latest.bpmn_xml, fixed, pid) if latest is not None else None
        checks.append(ProcessCheck(pid, meta["name"], latest, same, comparison, result.parsed.get(pid),
                                   dict(meta.get("names", {}))))
    return UploadCheck(digest, filename, fixed, problems, checks, normalized=fixed != raw)


def deploy_upload(session: Session, actor: Principal, raw: bytes, filename: str, comment: str = "") -> list[ProcessVersion]:
    """Deploy a checked file as new versions (the designer's "Deploy"). Refuses with the file's
    problems when it does not validate."""
    _designer(actor)
    checked = check_upload(session, raw, filename)
    if not checked.ok:
        raise ValidationFailed(N_("The file has problems; nothing was deployed."),
                               field_errors={"file": [str(p) for p in checked.errors]})
    versions, result = deploy.deploy(session, checked.raw, filename, actor_user_id=actor.user_id,
                                     comment=comment.strip()[:500])
    if not versions:
        raise ValidationFailed(N_("The file has problems; nothing was deployed."),
                               field_errors={"file": [str(p) for p in result.errors]})
    return versions


# --- Comparing two versions -----------------------------------------------------------------------------

FLOW_NODES = {
    "task", "userTask", "serviceTask", "scriptTask", "manualTask", "sendTask", "receiveTask", "businessRuleTask",
    "callActivity", "subProcess", "transaction", "startEvent", "endEvent", "intermediateCatchEvent",
    "intermediateThrowEvent", "boundaryEvent", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
    "eventBasedGateway", "complexGateway",
}


@dataclass
class Change:
    key: str  # element id, or lane name
    label: str
    fields: list[tuple[str, Any, Any]] = field(default_factory=list)  # (what, old, new)


@dataclass
class ChangeSet:
    added: list[Change] = field(default_factory=list)
    removed: list[Change] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


@dataclass
class Comparison:
    process_key: str
    tasks: ChangeSet
    flows: ChangeSet
    lanes: ChangeSet

    @property
    def empty(self) -> bool:
        return self.tasks.empty and self.flows.empty and self.lanes.empty


def _text(node: Any, path: str) -> str | None:
    found = node.find(path, NS)
    return (found.text or "").strip() if found is not None else None


def _describe(xml: str | bytes, process_key: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]],
                                                           dict[str, set[str]]]:
    """Nodes, flows and lanes of one process of a file, as comparable dicts."""
    root = spiff.safe_xml(xml)
    process = next((p for p in root.iterfind(".//bpmn:process", NS) if p.get("id") == process_key), None)
    if process is None:
        return {}, {}, {}
    lanes: dict[str, set[str]] = {}
    lane_of: dict[str, str] = {}
    for lane in process.iterfind(".//bpmn:lane", NS):
        refs = {(r.text or "").strip() for r in lane.iterfind("./bpmn:flowNodeRef", NS)}
        name = lane.get("name") or lane.get("id")
        lanes.setdefault(name, set()).update(refs)
        for ref in refs:
            lane_of[ref] = name
    messages = {m.get("id"): m.get("name") or m.get("id") for m in root.iterfind(".//bpmn:message", NS)}
    nodes: dict[str, dict[str, Any]] = {}
    flows: dict[str, dict[str, Any]] = {}
    for node in process.iter():
        if not isinstance(node.tag, str) or node.get("id") is None:
            continue
        local = etree.QName(node).localname
        nid = node.get("id")
        if local == "sequenceFlow":
            flows[nid] = {"name": node.get("name") or "", "from": node.get("sourceRef"), "to": node.get("targetRef"),
                          "condition": _text(node, "./bpmn:conditionExpression") or ""}
            continue
        if local not in FLOW_NODES:
            continue
        props = {p.get("name"): p.get("value") for p in node.iterfind(
            "./bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)}
        timer = next((_text(node, f"./bpmn:timerEventDefinition/bpmn:{k}") for k in ("timeDate", "timeDuration", "timeCycle")
                      if node.find(f"./bpmn:timerEventDefinition/bpmn:{k}", NS) is not None), None)
        message = node.find("./bpmn:messageEventDefinition", NS)
        operator = node.find("./bpmn:extensionElements/spiffworkflow:serviceTaskOperator", NS)
        nodes[nid] = {
            "type": local, "name": node.get("name") or "", "lane": lane_of.get(nid, ""),
            "form": props.get("formKey") or node.get(f"{{{CAMUNDA}}}formKey") or "",
            "due": props.get("dueAt") or "", "status": props.get("status") or "", "timer": timer or "",
            "message": messages.get(message.get("messageRef"), "") if message is not None else "",
            "operator": operator.get("id") if operator is not None else "",
            "attached_to": node.get("attachedToRef") or "", "default": node.get("default") or "",
            "script": _text(node, "./bpmn:script") or "",
        }
    return nodes, flows, lanes


def _label(key: str, desc: dict[str, Any]) -> str:
    name = desc.get("name")
    return f"{name} ({key})" if name else key


def _diff_dicts(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> ChangeSet:
    out = ChangeSet()
    for key in sorted(new.keys() - old.keys()):
        out.added.append(Change(key, _label(key, new[key])))
    for key in sorted(old.keys() - new.keys()):
        out.removed.append(Change(key, _label(key, old[key])))
    for key in sorted(old.keys() & new.keys()):
        fields = [(k, old[key].get(k), new[key].get(k)) for k in old[key] if old[key].get(k) != new[key].get(k)]
        if fields:
            out.changed.append(Change(key, _label(key, new[key]), fields))
    return out


def compare(old_xml: str | bytes, new_xml: str | bytes, process_key: str) -> Comparison:
    """Tasks (every flow node), flows and lanes added, removed and changed between two files."""
    old_nodes, old_flows, old_lanes = _describe(old_xml, process_key)
    new_nodes, new_flows, new_lanes = _describe(new_xml, process_key)
    lanes = ChangeSet()
    for name in sorted(new_lanes.keys() - old_lanes.keys()):
        lanes.added.append(Change(name, name))
    for name in sorted(old_lanes.keys() - new_lanes.keys()):
        lanes.removed.append(Change(name, name))
    for name in sorted(old_lanes.keys() & new_lanes.keys()):
        moved_in, moved_out = sorted(new_lanes[name] - old_lanes[name]), sorted(old_lanes[name] - new_lanes[name])
        if moved_in or moved_out:
            lanes.changed.append(Change(name, name, [("in", moved_out, moved_in)]))
    return Comparison(process_key, _diff_dicts(old_nodes, new_nodes), _diff_dicts(old_flows, new_flows), lanes)


def compare_versions(session: Session, old_id: int, new_id: int) -> Comparison:
    old, new = session.get(ProcessVersion, old_id), session.get(ProcessVersion, new_id)
    if old is None or new is None:
        raise NotFound()
    if old.process_key != new.process_key:
        raise ValidationFailed(N_("Both versions must be of the same process."))
    return compare(old.bpmn_xml, new.bpmn_xml, old.process_key)


# --- Versions and their instances -------------------------------------------------------------------------


@dataclass
class VersionInfo:
    version: ProcessVersion
    deployed_by: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def live(self) -> int:
        return self.counts.get(InstanceStatus.RUNNING, 0) + self.counts.get(InstanceStatus.ERROR, 0)


@dataclass
class ProcessInfo:
    process_key: str
    name: str
    versions: list[VersionInfo]

    @property
    def latest(self) -> VersionInfo:
        return self.versions[0]


def user_names(session: Session, user_ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.username, User.display_name, Person.name)
                           .outerjoin(Person, Person.id == User.person_id).where(User.id.in_(ids)))
    return {uid: name or display or username for uid, username, display, name in rows}


def versions_overview(session: Session) -> list[ProcessInfo]:
    """Every deployed process with its versions, newest first, and how many instances each runs."""
    versions = list(session.scalars(select(ProcessVersion).order_by(ProcessVersion.process_key,
                                                                    ProcessVersion.version.desc())))
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for version_id, status, n in session.execute(select(ProcessInstance.process_version_id, ProcessInstance.status,
                                                        func.count()).group_by(ProcessInstance.process_version_id,
                                                                               ProcessInstance.status)):
        counts[version_id][status] = n
    names = user_names(session, {v.deployed_by for v in versions})
    out: dict[str, ProcessInfo] = {}
    for v in versions:
        info = out.setdefault(v.process_key, ProcessInfo(v.process_key, v.name, []))
        info.versions.append(VersionInfo(v, names.get(v.deployed_by or 0, ""), counts.get(v.id, {})))
    return sorted(out.values(), key=lambda p: p.process_key)


# --- Migrating instances -----------------------------------------------------------------------------------

# Attributes of a finished step that say nothing about where an instance goes next.
DESCRIPTIVE = {"bpmn_name", "description", "documentation", "extensions", "lane"}
DONE = TaskState.COMPLETED | TaskState.STARTED
CURRENT = TaskState.READY | TaskState.WAITING
DEFINITE = DONE | CURRENT | TaskState.ERROR


@dataclass
class Reason:
    """Why an instance cannot move (a code the page explains) and about which step."""

    code: str
    step: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class MigrationCheck:
    instance_id: int
    from_version: int
    to_version: int
    reasons: list[Reason] = field(default_factory=list)
    steps_before: list[str] = field(default_factory=list)
    steps_after: list[str] = field(default_factory=list)

    @property
    def movable(self) -> bool:
        return not self.reasons


def _step_name(spec: Any) -> str:
    return getattr(spec, "bpmn_id", None) or spec.name


class _Planner:
    """Diffs of the specs are computed once per pair of versions; instances are checked one by one."""

    def __init__(self, session: Session, target: ProcessVersion) -> None:
        self.session = session
        self.target = target
        self.new = deploy.parsed(target)
        self._diffs: dict[int, tuple[SpecDiff, dict[str, SpecDiff | None]]] = {}

    def spec_diffs(self, old: spiff.ParsedProcess, version_id: int) -> tuple[SpecDiff, dict[str, SpecDiff | None]]:
        if version_id not in self._diffs:
            top = SpecDiff(spiff.REGISTRY, old.spec, self.new.spec)
            deps, _added = diff_dependencies(spiff.REGISTRY, old.subprocess_specs, self.new.subprocess_specs)
            self._diffs[version_id] = (top, deps)
        return self._diffs[version_id]

    def prepare(self, instance: ProcessInstance) -> tuple[MigrationCheck, Any]:
        """Check one instance and, when it can move, return its workflow already moved (in memory)."""
        version = self.session.get(ProcessVersion, instance.process_version_id)
        assert version is not None
        check = MigrationCheck(instance.id, version.version, self.target.version,
                               steps_before=(instance.current_steps or "").split())
        if instance.process_key != self.target.process_key:
            check.reasons.append(Reason("other_process"))
        elif version.id == self.target.id:
            check.reasons.append(Reason("same_version"))
        elif version.version > self.target.version:
            check.reasons.append(Reason("older_target"))
        if instance.status not in (InstanceStatus.RUNNING, InstanceStatus.ERROR):
            check.reasons.append(Reason("not_running", params={"status": instance.status}))
        if check.reasons:
            return check, None
        old = deploy.parsed(version)
        workflow = spiff.load_state(instance.state, old)
        top, deps = self.spec_diffs(old, version.id)
        top_diff = WorkflowDiff(workflow, top)
        sub_diffs: dict[Any, WorkflowDiff | None] = {}
        for sp_id, sub in workflow.subprocesses.items():
            dep = deps.get(sub.spec.name)
            sub_diffs[sp_id] = WorkflowDiff(sub, dep) if dep is not None else None
            if dep is None:
                check.reasons.append(Reason("subprocess_removed", sub.spec.name))
        for diff, spec_diff in [(top_diff, top)] + [(d, deps.get(workflow.subprocesses[i].spec.name))
                                                   for i, d in sub_diffs.items() if d is not None]:
            check.reasons += _blockers(diff, spec_diff)
        if check.reasons:
            return check, None
        migrate_workflow(top_diff, workflow, self.new.spec)
        for sp_id, sub in workflow.subprocesses.items():
            migrate_workflow(sub_diffs[sp_id], sub, self.new.subprocess_specs[sub.spec.name])
        workflow.subprocess_specs = self.new.subprocess_specs
        specs = {id(s) for s in self.new.spec.task_specs.values()}
        for sub in self.new.subprocess_specs.values():
            specs |= {id(s) for s in sub.task_specs.values()}
        for task in workflow.get_tasks():
            if id(task.task_spec) not in specs:
                check.reasons.append(Reason("unaligned", _step_name(task.task_spec)))
                return check, None
        try:
            spiff.load_state(spiff.dump_state(workflow), self.new)
        except Exception as e:  # noqa: BLE001 - a state the new spec cannot read must never be saved
            check.reasons.append(Reason("would_fail", params={"error": instances.engine_message(e)}))
            return check, None
        return check, workflow


def _blockers(diff: WorkflowDiff, spec_diff: SpecDiff) -> list[Reason]:
    """SpiffWorkflow's rule of thumb, slightly relaxed: a step the instance has done, is doing or
    waits at must still exist; a step it has done may change only in what it is called, its
    lane and its properties; a step where it waits may change anything but its kind."""
    reasons = []
    for task in diff.removed:
        if task.state & DEFINITE:
            reasons.append(Reason("removed_step", _step_name(task.task_spec),
                                  {"state": TaskState.get_name(task.state)}))
    changed = spec_diff.changed
    for task in diff.changed:
        fields = set(changed.get(task.task_spec, ()))
        if task.state & DONE and fields - DESCRIPTIVE:
            reasons.append(Reason("changed_done_step", _step_name(task.task_spec),
                                  {"fields": ", ".join(sorted(fields - DESCRIPTIVE))}))
        elif task.state & CURRENT and "typename" in fields:
            reasons.append(Reason("changed_kind", _step_name(task.task_spec)))
    seen: set[tuple[str, str | None]] = set()
    unique = []
    for r in reasons:
        if (r.code, r.step) not in seen:
            seen.add((r.code, r.step))
            unique.append(r)
    return unique


def _target(session: Session, version_id: int) -> ProcessVersion:
    target = session.get(ProcessVersion, version_id)
    if target is None:
        raise NotFound()
    return target


def candidates(session: Session, process_key: str, target: ProcessVersion, *, from_version_id: int | None = None,
               quarter_id: int | None = None, limit: int = 1000) -> list[ProcessInstance]:
    """Running (or failed) instances of a process on versions older than `target`."""
    query = (select(ProcessInstance).join(ProcessVersion, ProcessVersion.id == ProcessInstance.process_version_id)
             .where(ProcessInstance.process_key == process_key, ProcessVersion.version < target.version,
                    ProcessInstance.status.in_((InstanceStatus.RUNNING.value, InstanceStatus.ERROR.value))))
    if from_version_id is not None:
        query = query.where(ProcessInstance.process_version_id == from_version_id)
    if quarter_id is not None:
        query = query.where(ProcessInstance.quarter_id == quarter_id)
    return list(session.scalars(query.order_by(ProcessInstance.id).limit(limit)))


def dry_run(session: Session, actor: Principal, instance_ids: list[int], to_version_id: int) -> list[MigrationCheck]:
    """What would move and what cannot (with the reason), without changing anything. A movable
    instance is also run one step on the new version with stubbed service tasks, to say where it
    would then stand."""
    _designer(actor)
    planner = _Planner(session, _target(session, to_version_id))
    checks = []
    by_id = {i.id: i for i in session.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(instance_ids)))}
    for instance_id in instance_ids:
        instance = by_id.get(instance_id)
        if instance is None:
            continue
        check, workflow = planner.prepare(instance)
        if workflow is not None:
            workflow.script_engine = replay.StubEngine({})
            try:
                workflow.do_engine_steps()
            except Exception as e:  # noqa: BLE001
                check.reasons.append(Reason("would_fail", params={"error": instances.engine_message(e)}))
            else:
                check.steps_after = replay.current_steps(workflow)
                if not check.steps_after and not workflow.is_completed():
                    check.reasons.append(Reason("would_stick"))
        checks.append(check)
    return checks


class MigrationRefused(ValidationFailed):
    """This instance cannot move to that version."""

    def __init__(self, check: MigrationCheck) -> None:
        super().__init__(N_("This instance cannot move to that version."))
        self.check = check


def migrate_instance(session: Session, actor: Principal, instance_id: int, to_version_id: int) -> MigrationCheck:
    """Move one instance onto a newer version of its process, under its lock; audited."""
    _designer(actor)
    target = _target(session, to_version_id)
    instance = instances.get_instance(session, instance_id)
    from_version_id = instance.process_version_id
    check, workflow = _Planner(session, target).prepare(instance)
    if workflow is None:
        raise MigrationRefused(check)
    workflow.script_engine = spiff.SCRIPT_ENGINE
    instances.run(session, instance, actor.user_id, workflow.do_engine_steps)
    # Timers are re-predicted from the new spec: write their rows afresh.
    session.execute(delete(Timer.__table__).where(Timer.__table__.c.instance_id == instance.id))
    instance.__dict__["timer_tasks"] = ""
    instances.save(session, instance, workflow)
    moved = session.execute(update(instances.PI).where(instances.PI.c.id == instance.id,
                                                     instances.PI.c.lock_version == instance.lock_version)
                            .values(process_version_id=target.id))
    if moved.rowcount != 1:
        raise instances.StaleInstance()
    instance.__dict__["process_version_id"] = target.id
    session.expire(instance, ["version"])
    _refresh_open_tasks(session, instance, workflow)
    check.steps_after = (instance.current_steps or "").split()
    old = session.get(ProcessVersion, from_version_id)
    audit.record(session, "process.migrated", actor_user_id=actor.user_id, object_type="process_instance",
                 object_id=instance.id, instance_id=instance.id, quarter_id=instance.quarter_id,
                 branch_id=instance.branch_id,
                 data={"process": instance.process_key, "from": old.version if old else None, "to": target.version,
                       "from_id": from_version_id, "to_id": target.id, "steps": instance.current_steps})
    return check


def _refresh_open_tasks(session: Session, instance: ProcessInstance, workflow: Any) -> None:
    """Open inbox rows take the new version's name, form, due date and (if the lane moved) pool."""
    for row in session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                       HumanTask.state == RowState.OPEN.value)):
        spiff_task = workflow.get_task_from_id(UUID(row.task_uuid))
        if spiff_task is None:
            continue
        spec = spiff_task.task_spec
        values: dict[str, Any] = {
            "name": spec.bpmn_name or spec.bpmn_id, "bpmn_id": spec.bpmn_id,
            "form_key": mirrors.properties(spec).get("formKey") or spec.bpmn_id, "due_at": mirrors.due_at(spiff_task),
        }
        pool = access.pool_for(session, spec.lane, instance)
        if pool["role"] != row.role:  # the step moved to another lane: its pool changes with it
            values.update(pool)
        for key, value in values.items():
            setattr(row, key, value)
