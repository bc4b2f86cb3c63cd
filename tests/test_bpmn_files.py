"""The shipped processes in bpmn/: what each file promises (lanes, forms, operators, messages, data
names, a clean diagram), and that every path of every process runs in pure SpiffWorkflow 3.2.

No database and no Flask here: tests/bpmn_harness.py runs the files with a fake service layer,
delivers messages the way the engine does and fires timers by moving their dates into the past.
"""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.exceptions import WorkflowException

from tests.bpmn_harness import BPMN_DIR, ROLES, Run, future, load_spec, parser_for, past, properties

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
PROCESSES = ["person_quarter", "branch_quarter", "bureau_quarter", "supervision_report", "follow_up",
             "annual_assessment"]
FLOW_NODES = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
              "userTask", "serviceTask", "scriptTask", "exclusiveGateway", "eventBasedGateway"}
CHINESE = re.compile(r"[\u4e00-\u9fff]")
# Sent by services straight to one instance (an appeal filed on a posted score or on a deduction).
EXTERNAL_MESSAGES = {"appeal_filed", "report_appeal"}

# The contract with the engine and the services: (lane, formKey, dueAt, status) of every user task.
USER_TASKS = {
    "person_quarter": {
        "self_evaluation": ("member", "self_evaluation", "deadline", "self_evaluation"),
        "proxy_self_evaluation": ("reviewer", "proxy_self_evaluation", "review_due", "self_evaluation"),
        "branch_review": ("reviewer", "branch_review", "review_due", "review"),
        "appeal_decision": ("discipline", "appeal_decision", None, "appeal"),
        "re_review": ("reviewer", "branch_review", None, "appeal"),
    },
    "branch_quarter": {
        "branch_approval": ("secretary", "branch_approval", None, "approval"),
        "branch_meeting": ("secretary", "branch_meeting", None, "meeting"),
    },
    "bureau_quarter": {
        "quarter_notice": ("party_office", "quarter_notice", None, None),
        "filing_acceptance": ("leading_group", "filing_acceptance", None, None),
        "quarter_verification": ("leading_group", "quarter_verification", None, None),
    },
    "supervision_report": {
        "report_verification": ("reviewer", "report_verification", None, "verifying"),
        "report_appeal_decision": ("discipline", "appeal_decision", None, "appealed"),
    },
    "follow_up": {
        "reminder_talk": ("secretary", "follow_up", "due_at", "open"),
        "criticism": ("secretary", "follow_up", "due_at", "open"),
        "award_disqualification": ("party_office", "follow_up", "due_at", "open"),
        "secretary_interview": ("leading_group", "follow_up", "due_at", "open"),
    },
    "annual_assessment": {
        "annual_review": ("party_office", "annual_review", None, None),
        "annual_approval": ("leading_group", "annual_approval", None, None),
    },
}
# (operator, resultVariable) of every service task. A task's id never equals its operator's:
# Spiff 3.2 indexes every element with an id, so <serviceTaskOperator id="x"> would hide task "x".
SERVICE_TASKS = {
    "person_quarter": {"send_self_eval_reminder": ("notify_member", None), "notify_dismissal": ("notify_appellant", None)},
    "branch_quarter": {"start_publicity_task": ("start_publicity", "publicity")},
    "bureau_quarter": {"publish_notice_task": ("publish_notice", None), "start_follow_ups_task": ("start_follow_ups", None),
                       "lock_quarter_task": ("lock_quarter", None)},
    "supervision_report": {"record_report_deduction_task": ("record_report_deduction", "deduction"),
                           "revoke_report_deduction_task": ("revoke_report_deduction", None),
                           "close_report_task": ("close_report", None),
                           "notify_report_appeal_dismissed": ("notify_appellant", None)},
    "follow_up": {f"flag_overdue_{t}": ("flag_overdue", None) for t in USER_TASKS["follow_up"]},
    "annual_assessment": {"compute_annual_task": ("compute_annual", None), "publish_annual_task": ("publish_annual", None)},
}
PQ = ["quarter_id", "branch_id", "person_id"]
# Thrown messages: event id -> (message, payload keys).
THROWS = {
    "person_quarter": {"member_reviewed": ("member_reviewed", PQ), "member_window_closed": ("member_window_closed", PQ)},
    "branch_quarter": {"review_returned": ("review_returned", ["quarter_id", "branch_id", "person_ids"]),
                       "branch_posted": ("branch_posted", ["quarter_id", "branch_id", "publicity_end"]),
                       "branch_reported": ("branch_reported", ["quarter_id", "branch_id"])},
    "bureau_quarter": {"quarter_notified": ("quarter_notified", ["quarter_id"]),
                       "quarter_filed": ("quarter_filed", ["quarter_id"])},
}
# Caught messages: event id -> (message, messageVariable, status).
CATCHES = {
    "person_quarter": {"branch_posted": ("branch_posted", "posting", "reviewed"),
                       "review_returned": ("review_returned", "returned", None),
                       "appeal_filed": ("appeal_filed", "appeal", "posted"),
                       "quarter_notified": ("quarter_notified", None, "confirmed"),
                       "quarter_filed": ("quarter_filed", None, "confirmed")},
    "branch_quarter": {"member_reviewed": ("member_reviewed", None, "reviewing"),
                       "member_window_closed": ("member_window_closed", None, "appeals"),
                       "quarter_filed": ("quarter_filed", None, "reported")},
    "bureau_quarter": {"branch_reported": ("branch_reported", None, "open")},
    "supervision_report": {"report_appeal": ("report_appeal", "appeal", "substantiated")},
}
TIMERS = {
    "person_quarter": {"self_eval_reminder": "reminder_at", "self_eval_deadline": "deadline",
                       "window_closed": 'posting["publicity_end"]'},
    "branch_quarter": {"publicity_over": 'publicity["publicity_end"]'},
    "supervision_report": {"report_appeal_deadline": 'deduction["appeal_until"]'},
    "follow_up": {f"{t}_overdue": "due_at" for t in USER_TASKS["follow_up"]},
}


def xml(process_id: str) -> etree._ElementTree:
    return etree.parse(str(BPMN_DIR / f"{process_id}.bpmn"))


def local(node: etree._Element) -> str:
    return etree.QName(node).localname


def flow_nodes(tree: etree._ElementTree) -> list[etree._Element]:
    return [n for n in tree.find(".//bpmn:process", NS) if isinstance(n.tag, str) and local(n) in FLOW_NODES]


def test_the_shipped_files_are_exactly_these():
    assert sorted(p.stem for p in BPMN_DIR.glob("*.bpmn")) == sorted(PROCESSES)


# --- Structure -------------------------------------------------------------------------------


@pytest.mark.parametrize("process_id", PROCESSES)
def test_one_executable_process_in_a_pool_with_role_lanes(process_id):
    parser = parser_for(BPMN_DIR / f"{process_id}.bpmn")  # validates against BPMN 2.0 + spiffworkflow XSDs
    assert parser.get_process_ids() == [process_id]
    tree = xml(process_id)
    [process] = tree.findall(".//bpmn:process", NS)
    assert process.get("isExecutable") == "true" and CHINESE.search(process.get("name"))
    [participant] = tree.findall(".//bpmn:collaboration/bpmn:participant", NS)
    assert participant.get("processRef") == process_id and participant.get("name") == process.get("name")
    lanes = {lane.get("name"): [r.text for r in lane.findall("bpmn:flowNodeRef", NS)]
             for lane in process.findall("bpmn:laneSet/bpmn:lane", NS)}
    assert set(lanes) <= ROLES
    placed = [ref for refs in lanes.values() for ref in refs]
    assert sorted(placed) == sorted(n.get("id") for n in flow_nodes(tree)), "every node in exactly one lane"
    assert all(refs for refs in lanes.values()), "no empty lane"
    # spiffworkflow:serviceTaskOperator's "id" is an operator name, repeated freely; BPMN ids are unique
    ids = [n.get("id") for n in tree.iter() if isinstance(n.tag, str) and n.get("id")
           and etree.QName(n).namespace != NS["spiffworkflow"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("process_id", PROCESSES)
def test_every_user_task_has_its_lane_form_due_date_and_status(process_id):
    spec = load_spec(process_id)
    found = {}
    for name, task_spec in spec.task_specs.items():
        if isinstance(task_spec, UserTask):
            props = properties(task_spec)
            assert task_spec.lane in ROLES and props.get("formKey"), name
            found[name] = (task_spec.lane, props["formKey"], props.get("dueAt"), props.get("status"))
    assert found == USER_TASKS[process_id]


@pytest.mark.parametrize("process_id", PROCESSES)
def test_every_service_task_names_an_operator(process_id):
    spec = load_spec(process_id)
    found = {}
    for name, task_spec in spec.task_specs.items():
        if isinstance(task_spec, ServiceTask):
            assert task_spec.operation_name and task_spec.operation_name != name
            result = None if task_spec.result_variable.startswith("spiff__") else task_spec.result_variable
            found[name] = (task_spec.operation_name, result)
    assert found == SERVICE_TASKS[process_id]


def test_the_reminder_says_which_reminder():
    operator = load_spec("person_quarter").task_specs["send_self_eval_reminder"]
    assert operator.operation_params == {"kind": {"value": "'self_evaluation_reminder'", "type": "str"}}


@pytest.mark.parametrize("process_id", PROCESSES)
def test_messages_carry_the_agreed_names_payloads_and_variables(process_id):
    tree = xml(process_id)
    messages = {m.get("id"): m.get("name") for m in tree.findall("bpmn:message", NS)}
    throws, catches = {}, {}
    for definition in tree.iterfind(".//bpmn:messageEventDefinition", NS):
        event = definition.getparent()
        message = messages[definition.get("messageRef")]
        payload = definition.findtext(".//spiffworkflow:messagePayload", namespaces=NS)
        variable = definition.findtext(".//spiffworkflow:messageVariable", namespaces=NS)
        if local(event) == "intermediateThrowEvent":
            keys = sorted(re.findall(r'"(\w+)":', payload or ""))
            throws[event.get("id")] = (message, keys)
        else:
            status = {p.get("name"): p.get("value") for p in event.iterfind(
                "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)}.get("status")
            catches[event.get("id")] = (message, variable, status)
    assert throws == {k: (m, sorted(keys)) for k, (m, keys) in THROWS.get(process_id, {}).items()}
    assert catches == CATCHES.get(process_id, {})


def test_every_message_thrown_is_caught_somewhere_and_every_wait_can_end():
    thrown = {m for p in THROWS.values() for m, _ in p.values()}
    caught = {m for p in CATCHES.values() for m, _, _ in p.values()}
    assert thrown <= caught
    assert caught <= thrown | EXTERNAL_MESSAGES


@pytest.mark.parametrize("process_id", PROCESSES)
def test_timers_are_dates_from_task_data(process_id):
    tree = xml(process_id)
    timers = {}
    for definition in tree.iterfind(".//bpmn:timerEventDefinition", NS):
        [expression] = definition.findall("bpmn:timeDate", NS)
        compile(expression.text, "<timer>", "eval")
        timers[definition.getparent().get("id")] = expression.text
    assert timers == TIMERS.get(process_id, {})


@pytest.mark.parametrize("process_id", PROCESSES)
def test_gateways_have_defaults_and_conditions_are_python(process_id):
    tree = xml(process_id)
    flows = {f.get("id"): f for f in tree.iterfind(".//bpmn:sequenceFlow", NS)}
    for gateway in tree.iterfind(".//bpmn:exclusiveGateway", NS):
        outgoing = [f for f in flows.values() if f.get("sourceRef") == gateway.get("id")]
        if len(outgoing) > 1:
            default = gateway.get("default")
            assert default in {f.get("id") for f in outgoing}, gateway.get("id")
            assert flows[default].find("bpmn:conditionExpression", NS) is None
            for flow in outgoing:
                if flow.get("id") != default:
                    compile(flow.findtext("bpmn:conditionExpression", namespaces=NS), "<condition>", "eval")
            assert all(CHINESE.search(f.get("name") or "") for f in outgoing), "a reader sees why each way is taken"


@pytest.mark.parametrize("process_id", PROCESSES)
def test_every_element_is_named_in_chinese(process_id):
    for node in flow_nodes(xml(process_id)):
        assert CHINESE.search(node.get("name") or ""), node.get("id")


# --- Diagram ---------------------------------------------------------------------------------


def bounds(shape: etree._Element) -> tuple[float, float, float, float]:
    b = shape.find("dc:Bounds", NS)
    x, y = float(b.get("x")), float(b.get("y"))
    return x, y, x + float(b.get("width")), y + float(b.get("height"))


def inside(inner, outer, slack=0.0) -> bool:
    return inner[0] >= outer[0] - slack and inner[1] >= outer[1] - slack and inner[2] <= outer[2] + slack \
        and inner[3] <= outer[3] + slack


def segment_hits_box(p, q, box, margin=2.0) -> bool:
    """Liang–Barsky: does segment p–q pass through the box shrunk by `margin`?"""
    x1, y1, x2, y2 = box[0] + margin, box[1] + margin, box[2] - margin, box[3] - margin
    t0, t1 = 0.0, 1.0
    dx, dy = q[0] - p[0], q[1] - p[1]
    for edge_p, edge_q in ((-dx, p[0] - x1), (dx, x2 - p[0]), (-dy, p[1] - y1), (dy, y2 - p[1])):
        if edge_p == 0:
            if edge_q < 0:
                return False
            continue
        t = edge_q / edge_p
        if edge_p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return True


@pytest.mark.parametrize(("p", "q", "hits"), [
    ((0, 50), (200, 50), True),     # straight through
    ((0, 0), (200, 0), False),      # along the top edge
    ((50, -10), (50, 1), False),    # stops at the edge
    ((0, 0), (200, 100), True),     # diagonal through
    ((150, 0), (150, 100), False),  # beside it
])
def test_the_crossing_check(p, q, hits):
    assert segment_hits_box(p, q, (20, 0, 120, 100)) is hits


@pytest.mark.parametrize("process_id", PROCESSES)
def test_the_diagram_draws_every_element_cleanly(process_id):
    tree = xml(process_id)
    shapes = {s.get("bpmnElement"): s for s in tree.iterfind(".//bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement"): e for e in tree.iterfind(".//bpmndi:BPMNEdge", NS)}
    [plane] = tree.findall(".//bpmndi:BPMNPlane", NS)
    assert plane.get("bpmnElement") == tree.find(".//bpmn:collaboration", NS).get("id")
    pool = shapes[tree.find(".//bpmn:participant", NS).get("id")]
    assert pool.get("isHorizontal") == "true"
    lane_of, lane_box = {}, {}
    for lane in tree.iterfind(".//bpmn:lane", NS):
        shape = shapes[lane.get("id")]
        assert shape.get("isHorizontal") == "true" and inside(bounds(shape), bounds(pool))
        lane_box[lane.get("id")] = bounds(shape)
        for ref in lane.findall("bpmn:flowNodeRef", NS):
            lane_of[ref.text] = lane.get("id")
    nodes = {n.get("id"): n for n in flow_nodes(tree)}
    boxes = {nid: bounds(shapes[nid]) for nid in nodes}
    hosts = {nid: n.get("attachedToRef") for nid, n in nodes.items() if local(n) == "boundaryEvent"}
    for nid, box in boxes.items():
        if nid not in hosts:
            assert inside(box, lane_box[lane_of[nid]]), f"{nid} leaves its lane"
    ids = sorted(boxes)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            if hosts.get(a) == b or hosts.get(b) == a:
                continue
            A, B = boxes[a], boxes[b]
            assert not (A[0] < B[2] and B[0] < A[2] and A[1] < B[3] and B[1] < A[3]), f"{a} overlaps {b}"
    for flow in tree.iterfind(".//bpmn:sequenceFlow", NS):
        fid, src, tgt = flow.get("id"), flow.get("sourceRef"), flow.get("targetRef")
        points = [(float(w.get("x")), float(w.get("y"))) for w in edges[fid].findall("di:waypoint", NS)]
        assert len(points) >= 2
        assert inside((*points[0], *points[0]), boxes[src], slack=1), f"{fid} does not leave {src}"
        assert inside((*points[-1], *points[-1]), boxes[tgt], slack=1), f"{fid} does not reach {tgt}"
        for nid, box in boxes.items():
            if nid in (src, tgt) or hosts.get(src) == nid or hosts.get(nid) == src:
                continue
            for p, q in pairwise(points):
                assert not segment_hits_box(p, q, box), f"{fid} crosses {nid}"


# --- person_quarter ----------------------------------------------------------------------------

IDS = {"quarter_id": 4, "branch_id": 3, "person_id": 7}


def person_quarter(**dates) -> Run:
    data = {**IDS, "deadline": future(10), "reminder_at": future(7), "review_due": future(20), **dates}
    return Run("person_quarter", **data)


def until_posted(run: Run) -> Run:
    run.complete("self_evaluation", claims=[])
    run.complete("branch_review", reviewed=True)
    run.send("branch_posted", {"quarter_id": 4, "branch_id": 3, "publicity_end": future(5)})
    return run


def test_person_quarter_happy_path():
    run = person_quarter()
    assert run.ready_names() == ["self_evaluation"]
    assert (run.task("self_evaluation").task_spec.lane, run.status()) == ("member", "self_evaluation")
    assert run.waiting_timers() == {"self_eval_reminder", "self_eval_deadline"}

    run.complete("self_evaluation", claims=[])
    assert run.ready_names() == ["branch_review"] and run.status() == "review"
    assert run.waiting_timers() == set(), "both timers go with the self-evaluation"

    run.complete("branch_review", reviewed=True)
    assert run.thrown("member_reviewed") == [IDS]
    assert run.waiting_messages() == {"branch_posted", "review_returned"} and run.status() == "reviewed"

    run.send("branch_posted", {"quarter_id": 4, "branch_id": 3, "publicity_end": future(5)})
    assert run.data["posting"]["publicity_end"]
    assert run.waiting_messages() == {"appeal_filed"} and run.waiting_timers() == {"window_closed"}
    assert run.status() == "posted"

    run.expire("window_closed")
    assert run.thrown("member_window_closed") == [IDS]
    assert run.waiting() == ["quarter_notified"] and run.status() == "confirmed"
    run.send("quarter_notified", {"quarter_id": 4})
    assert run.waiting() == ["quarter_filed"] and run.status() == "confirmed"
    run.send("quarter_filed", {"quarter_id": 4})
    assert run.completed
    assert run.services.calls == []


def test_person_quarter_reminds_once_and_the_member_can_still_declare():
    run = person_quarter()
    run.expire("self_eval_reminder")
    assert run.services.calls == [("notify_member", {"kind": "self_evaluation_reminder"})]
    assert run.ready_names() == ["self_evaluation"] and run.waiting_timers() == {"self_eval_deadline"}
    run.complete("self_evaluation", claims=[])
    assert run.ready_names() == ["branch_review"]


def test_a_reminder_date_already_past_reminds_at_once():
    run = person_quarter(reminder_at=past(1))
    assert run.services.called("notify_member") == [{"kind": "self_evaluation_reminder"}]
    assert run.ready_names() == ["self_evaluation"]


def test_person_quarter_deadline_hands_the_evaluation_to_the_branch():
    run = person_quarter()
    run.expire("self_eval_deadline")
    assert run.ready_names() == ["proxy_self_evaluation"]
    proxy = run.task("proxy_self_evaluation")
    assert (proxy.task_spec.lane, run.status()) == ("reviewer", "self_evaluation")
    assert run.waiting_timers() == set(), "no reminder after the deadline"
    run.complete("proxy_self_evaluation", claims=[])
    assert run.ready_names() == ["branch_review"]
    run.complete("branch_review")
    assert run.thrown("member_reviewed") == [IDS]


def test_person_quarter_secretary_sends_the_review_back():
    run = person_quarter()
    run.complete("self_evaluation", claims=[])
    run.complete("branch_review", score=98)
    run.send("review_returned", {"quarter_id": 4, "branch_id": 3, "person_ids": [7]})
    assert run.ready_names() == ["branch_review"] and run.data["returned"]["person_ids"] == [7]
    run.complete("branch_review", score=100)
    assert run.thrown("member_reviewed") == [IDS, IDS]
    assert run.waiting_messages() == {"branch_posted", "review_returned"}


def test_person_quarter_upheld_appeal_goes_back_to_review_then_the_window_closes():
    run = until_posted(person_quarter())
    run.send("appeal_filed", {"appeal_id": 11})
    assert run.ready_names() == ["appeal_decision"] and run.data["appeal"] == {"appeal_id": 11}
    assert (run.task("appeal_decision").task_spec.lane, run.status()) == ("discipline", "appeal")
    run.complete("appeal_decision", decision="upheld", reason="漏记一项表彰")
    assert run.ready_names() == ["re_review"]
    re_review = run.task("re_review")
    assert (re_review.task_spec.lane, properties(re_review.task_spec)["formKey"]) == ("reviewer", "branch_review")
    run.complete("re_review", score=102)
    assert run.waiting_messages() == {"appeal_filed"} and run.status() == "posted"
    run.expire("window_closed")
    assert run.thrown("member_window_closed") == [IDS]
    assert run.services.called("notify_appellant") == []


def test_person_quarter_dismissed_appeal_is_answered_and_the_window_stays_open():
    run = until_posted(person_quarter())
    run.send("appeal_filed", {"appeal_id": 12})
    run.complete("appeal_decision", decision="dismissed", reason="有会议记录为证")
    assert run.services.called("notify_appellant") == [{}]
    assert run.waiting_messages() == {"appeal_filed"} and run.waiting_timers() == {"window_closed"}
    run.send("appeal_filed", {"appeal_id": 13})  # another member raises a concern
    assert run.ready_names() == ["appeal_decision"]


def test_no_appeal_after_the_window_closes():
    run = until_posted(person_quarter())
    run.expire("window_closed")
    with pytest.raises(WorkflowException, match="not waiting"):
        run.send("appeal_filed", {"appeal_id": 14})


def test_an_open_appeal_holds_the_member_until_it_is_decided():
    run = until_posted(person_quarter())
    run.send("appeal_filed", {"appeal_id": 15})
    run.data["posting"]["publicity_end"] = past(1)
    run.workflow.refresh_timers()
    run.step()
    assert run.thrown("member_window_closed") == []
    run.complete("appeal_decision", decision="dismissed")
    assert run.thrown("member_window_closed") == [IDS], "the window was over: it closes once the appeal is done"


# --- branch_quarter ----------------------------------------------------------------------------

BRANCH = {"quarter_id": 4, "branch_id": 3}


def branch_quarter(member_count: int = 3) -> Run:
    return Run("branch_quarter", **BRANCH, member_count=member_count, reviewed=0, closed=0)


def test_branch_quarter_counts_reviews_then_approves_posts_and_reports():
    run = branch_quarter()
    assert run.waiting_messages() == {"member_reviewed"} and run.status() == "reviewing"
    for n in range(3):
        assert run.ready_names() == []
        run.send("member_reviewed", {**BRANCH, "person_id": n})
    assert run.data["reviewed"] == 3
    assert run.ready_names() == ["branch_approval"] and run.status() == "approval"
    assert run.task("branch_approval").task_spec.lane == "secretary"
    run.complete("branch_approval", approval="approved")
    assert run.ready_names() == ["branch_meeting"] and run.status() == "meeting"
    run.complete("branch_meeting", meeting_date="2026-10-20", attendance=25)
    assert [name for name, _ in run.services.calls] == ["start_publicity"]
    [posted] = run.thrown("branch_posted")
    assert posted == {**BRANCH, "publicity_end": run.data["publicity"]["publicity_end"]}
    assert run.waiting_timers() == {"publicity_over"} and run.status() == "publicity"

    run.expire("publicity_over")
    assert run.waiting_messages() == {"member_window_closed"} and run.status() == "appeals"
    for n in range(3):
        assert run.thrown("branch_reported") == []
        run.send("member_window_closed", {**BRANCH, "person_id": n})
    assert run.thrown("branch_reported") == [BRANCH]
    assert run.waiting_messages() == {"quarter_filed"} and run.status() == "reported"
    run.send("quarter_filed", {"quarter_id": 4})
    assert run.completed


def test_branch_quarter_secretary_returns_some_reviews():
    run = branch_quarter()
    for n in range(3):
        run.send("member_reviewed", {**BRANCH, "person_id": n})
    run.complete("branch_approval", approval="returned", returned_persons=[1, 2])
    assert run.thrown("review_returned") == [{**BRANCH, "person_ids": [1, 2]}]
    assert run.data["reviewed"] == 1 and run.waiting_messages() == {"member_reviewed"}
    run.send("member_reviewed", {**BRANCH, "person_id": 1})
    assert run.ready_names() == []
    run.send("member_reviewed", {**BRANCH, "person_id": 2})
    assert run.ready_names() == ["branch_approval"]
    run.complete("branch_approval", approval="approved")
    assert run.ready_names() == ["branch_meeting"]


def test_branch_quarter_waits_for_its_publicity_period():
    run = branch_quarter(member_count=1)
    run.send("member_reviewed", {**BRANCH, "person_id": 1})
    run.complete("branch_approval", approval="approved")
    run.complete("branch_meeting")
    run.step()  # the publicity end is a week away: nothing moves
    assert run.waiting_timers() == {"publicity_over"}
    with pytest.raises(WorkflowException, match="not waiting"):
        run.send("member_window_closed", {**BRANCH, "person_id": 1})
    run.expire("publicity_over")
    run.send("member_window_closed", {**BRANCH, "person_id": 1})
    assert run.thrown("branch_reported") == [BRANCH]


def test_a_branch_with_no_members_goes_straight_to_approval():
    run = branch_quarter(member_count=0)
    assert run.ready_names() == ["branch_approval"]


# --- bureau_quarter ----------------------------------------------------------------------------


def test_bureau_quarter_notifies_follows_up_files_and_verifies():
    run = Run("bureau_quarter", quarter_id=4, branch_count=2, reported=0)
    assert run.waiting_messages() == {"branch_reported"} and run.status() == "open"
    run.send("branch_reported", {"quarter_id": 4, "branch_id": 1})
    assert run.ready_names() == []
    run.send("branch_reported", {"quarter_id": 4, "branch_id": 2})
    assert run.ready_names() == ["quarter_notice"] and run.task("quarter_notice").task_spec.lane == "party_office"
    run.complete("quarter_notice", commended=[7], follow_ups=[])
    assert [name for name, _ in run.services.calls] == ["publish_notice", "start_follow_ups"]
    assert run.thrown("quarter_notified") == [{"quarter_id": 4}]
    assert run.ready_names() == ["filing_acceptance"]
    assert run.task("filing_acceptance").task_spec.lane == "leading_group"

    run.complete("filing_acceptance", filing="returned", reason="通报漏了一个支部")
    assert run.ready_names() == ["quarter_notice"] and run.thrown("quarter_filed") == []
    run.complete("quarter_notice")
    assert run.thrown("quarter_notified") == [{"quarter_id": 4}, {"quarter_id": 4}]
    run.complete("filing_acceptance", filing="accepted")
    assert run.services.called("lock_quarter") == [{}]
    assert run.thrown("quarter_filed") == [{"quarter_id": 4}]
    assert run.ready_names() == ["quarter_verification"]
    run.complete("quarter_verification", findings=[])
    assert run.completed


# --- supervision_report ------------------------------------------------------------------------

REPORT = {"report_id": 9, "person_id": 7, "branch_id": 3, "quarter_id": 4}


def verified_report() -> Run:
    run = Run("supervision_report", **REPORT)
    assert run.ready_names() == ["report_verification"] and run.status() == "verifying"
    assert run.task("report_verification").task_spec.lane == "reviewer"
    run.complete("report_verification", verification="substantiated")
    assert run.services.called("record_report_deduction") == [{}]
    assert run.data["deduction"]["appeal_until"]
    assert run.waiting_messages() == {"report_appeal"} and run.waiting_timers() == {"report_appeal_deadline"}
    assert run.status() == "substantiated"
    return run


def test_unsubstantiated_report_is_closed_with_a_reason():
    run = Run("supervision_report", **REPORT)
    run.complete("report_verification", verification="unsubstantiated", reason="查无实据")
    assert [name for name, _ in run.services.calls] == ["close_report"]
    assert run.completed


def test_substantiated_report_stands_when_nobody_appeals():
    run = verified_report()
    run.expire("report_appeal_deadline")
    assert run.completed and [n for n, _ in run.services.calls] == ["record_report_deduction"]


@pytest.mark.parametrize(("decision", "operator"), [("upheld", "revoke_report_deduction"),
                                                     ("dismissed", "notify_appellant")])
def test_report_appeal_is_decided_by_the_discipline_member(decision, operator):
    run = verified_report()
    run.send("report_appeal", {"appeal_id": 3, "reason": "当天在执勤"})
    assert run.ready_names() == ["report_appeal_decision"] and run.status() == "appealed"
    decide = run.task("report_appeal_decision")
    assert (decide.task_spec.lane, properties(decide.task_spec)["formKey"]) == ("discipline", "appeal_decision")
    assert run.data["appeal"]["appeal_id"] == 3
    run.complete("report_appeal_decision", decision=decision)
    assert [n for n, _ in run.services.calls] == ["record_report_deduction", operator]
    assert run.completed


# --- follow_up ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "task", "lane"), [
    ("reminder_talk", "reminder_talk", "secretary"),
    ("criticism", "criticism", "secretary"),
    ("award_disqualification", "award_disqualification", "party_office"),
    ("secretary_interview", "secretary_interview", "leading_group"),
    ("branch_criticism", "secretary_interview", "leading_group"),  # anything else: the branch level
])
def test_follow_up_goes_to_the_right_desk_and_is_flagged_when_late(kind, task, lane):
    run = Run("follow_up", follow_up_id=5, kind=kind, person_id=7, branch_id=3, quarter_id=4, due_at=future(14))
    assert run.ready_names() == [task] and run.task(task).task_spec.lane == lane and run.status() == "open"
    run.expire(f"{task}_overdue")
    assert run.services.calls == [("flag_overdue", {})]
    assert run.ready_names() == [task], "an overdue follow-up stays open until it is done"
    run.complete(task, outcome="已约谈，本人表示整改")
    assert run.completed


# --- annual_assessment -------------------------------------------------------------------------


def test_annual_assessment_review_approval_and_publication():
    run = Run("annual_assessment", year=2026, assessment_id=1)
    assert run.services.called("compute_annual") == [{}]
    assert run.ready_names() == ["annual_review"] and run.task("annual_review").task_spec.lane == "party_office"
    run.complete("annual_review")
    assert run.ready_names() == ["annual_approval"] and run.task("annual_approval").task_spec.lane == "leading_group"
    run.complete("annual_approval", annual_decision="returned", reason="等次比例需复核")
    assert run.ready_names() == ["annual_review"]
    run.complete("annual_review")
    run.complete("annual_approval", annual_decision="approved")
    assert [n for n, _ in run.services.calls] == ["compute_annual", "publish_annual"]
    assert run.completed


def test_the_harness_fires_only_waiting_timers():
    run = Run("annual_assessment", year=2026, assessment_id=1)
    with pytest.raises(AssertionError, match="no timer"):
        run.expire("window_closed")
