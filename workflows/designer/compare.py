"""Comparing two versions of a process (or a file with the deployed version): its tasks and
events, flows and lanes added, removed or changed, field by field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from sqlalchemy.orm import Session

from models.process import ProcessVersion
from workflows.engine import checks, spiff
from workflows.errors import NotFound, ValidationFailed
from workflows.i18n import N_

NS = checks.NS
BPMN = checks.BPMN
SPIFF = checks.SPIFF
CAMUNDA = checks.CAMUNDA
FLOW_NODES = checks.FLOW_NODES


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
