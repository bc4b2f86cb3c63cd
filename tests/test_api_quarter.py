"""A whole quarter through the JSON API alone: open → declare (one member with a claim and evidence,
everybody else in one click) → review → approval → general meeting → publicity → an appeal upheld and
a concern dismissed → notice → filing → verification. Only the clock moves outside the API (the
timer worker ends publicity). Every answer is checked against the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta

from tests import quarter_helpers as qh
from tests.test_api_support import api_fixture, processes_fixture  # noqa: F401 - fixtures
from workflows.engine import jobs

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _standard(api_user, version_id: int, unit_kind: str, *, kind: str, evidence: bool) -> dict:
    tree = api_user.get(f"/api/v1/catalogues/{version_id}", query_string={"unit_kind": unit_kind}).get_json()
    for dimension in tree["dimensions"]:
        for item in dimension["items"]:
            assert item["unit_kind"] in (None, unit_kind)
            for content in item["contents"]:
                for standard in content["standards"]:
                    if (standard["kind"] == kind and standard["evidence_required"] == evidence
                            and standard["honour_category"] is None):
                        return standard
    raise AssertionError("no such standard")


def _only(items: list[dict], **match) -> dict:
    found = [i for i in items if all(i.get(k) == v or (isinstance(i.get(k), dict) and i[k].get("id") == v)
                                     for k, v in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]


def test_a_whole_quarter_through_the_api(api, processes, clock, db_session):
    org = processes
    office, leader = api("office"), api("leader")
    m1 = api("m1_a1")

    # The party office opens the quarter.
    deadline = (clock.now() + timedelta(days=10)).isoformat()
    opened = office.post("/api/v1/quarters", {"year": 2026, "quarter": 4, "self_eval_deadline": deadline,
                                              "publicity_days": 5}, expect=201).get_json()
    quarter_id = opened["quarter"]["id"]
    evaluated = [u for u, p in org.people.items() if p.evaluated]
    assert opened["evaluations"] == len(evaluated) and opened["branches"] == 3
    assert _only(office.get("/api/v1/quarters").get_json()["items"], id=quarter_id)["status"] == "open"

    # m1_a1 declares a bonus that needs evidence: draft claim, file, submit.
    [own] = m1.get("/api/v1/me/evaluations").get_json()["items"]
    evaluation_id = own["id"]
    [task] = m1.tasks(quarter=quarter_id)
    assert task["form"] == "self_evaluation" and task["assignee"]["name"] == org.people["m1_a1"].name
    detail = m1.get(f"/api/v1/tasks/{task['id']}").get_json()
    assert detail["may_act"] and detail["form"]["key"] == "self_evaluation"
    assert detail["context"]["evaluation"]["id"] == evaluation_id
    kinds = {k["id"]: k["code"] for k in m1.get("/api/v1/catalogues").get_json()["unit_kinds"]}
    version_id = detail["context"]["evaluation"]["catalogue_version_id"]
    unit_kind = kinds[detail["context"]["evaluation"]["unit_kind_id"]]
    bonus = _standard(m1, version_id, unit_kind, kind="bonus", evidence=True)
    claim = m1.post(f"/api/v1/evaluations/{evaluation_id}/claims",
                    {"standard_id": bonus["id"], "occurrences": 1, "occurred_on": "2026-10-08",
                     "description": "夜间执法"}, expect=201).get_json()
    assert claim["status"] == "draft" and claim["source"] == "self"
    extra = m1.post(f"/api/v1/evaluations/{evaluation_id}/claims", {"standard_id": bonus["id"]}, expect=201).get_json()
    m1.delete(f"/api/v1/evaluations/{evaluation_id}/claims/{extra['id']}", expect=204)
    refused = m1.post(f"/api/v1/tasks/{task['id']}/complete", {}, expect=422).get_json()
    assert f"claim-{claim['id']}" in refused["fields"]  # the standard needs evidence
    upload = m1.post(f"/api/v1/evaluations/{evaluation_id}/evidence", None, expect=201,
                     data={"file": (__import__("io").BytesIO(PDF), "出勤记录.pdf"), "claim_id": str(claim["id"])},
                     content_type="multipart/form-data").get_json()
    assert upload["content_type"] == "application/pdf" and upload["claim_id"] == claim["id"]
    claim = m1.put(f"/api/v1/evaluations/{evaluation_id}/claims/{claim['id']}",
                   {"standard_id": bonus["id"], "occurrences": 1, "occurred_on": "2026-10-08",
                    "description": "夜间执法（两次出勤）"}).get_json()
    assert claim["description"] == "夜间执法（两次出勤）" and [e["id"] for e in claim["evidence"]] == [upload["id"]]
    done = m1.post(f"/api/v1/tasks/{task['id']}/complete", {"one_click": False}).get_json()
    assert done["task"]["state"] == "completed" and done["next_tasks"] == []
    person = org.people["m1_a1"]
    assert done["task"]["subject"] == {"id": person.id, "name": person.name}
    assert done["task"]["assignee"]["name"] == done["task"]["completed_by"]["name"] == person.name
    assert done["task"]["branch"] == {"id": person.branch_id, "name": org.branches["a1"].name}
    assert done["instance"]["step_status"] == "review" and done["instance"]["steps"] == ["branch_review"]
    mine = m1.get(f"/api/v1/evaluations/{evaluation_id}").get_json()
    assert mine["status"] == "review" and mine["claims"][0]["status"] == "submitted"
    assert mine["explanation"]["provisional"] is True
    baseline = mine["explanation"]["totals"]["baseline_total"]

    # Everybody else declares nothing, in one click.
    for username in evaluated:
        if username == "m1_a1":
            continue
        user = api(username)
        [own_task] = user.tasks(quarter=quarter_id, role="member")
        user.post(f"/api/v1/tasks/{own_task['id']}/complete", {"one_click": True})
    again = api("m2_a1").tasks(quarter=quarter_id, state="completed")
    assert [t["form"] for t in again] == ["self_evaluation"]
    api("m2_a1").post(f"/api/v1/tasks/{again[0]['id']}/complete", {"one_click": True}, expect=409)

    # Reviews: each branch's reviewer claims and completes; nobody reviews their own.
    for branch in ("a1", "a2", "b1"):
        for reviewer in (f"rev_{branch}", f"rev2_{branch}"):
            user = api(reviewer)
            for review in user.tasks(quarter=quarter_id, step="branch_review"):
                assert review["subject"]["id"] != org.people[reviewer].id
                user.post(f"/api/v1/tasks/{review['id']}/claim")
                context = user.get(f"/api/v1/tasks/{review['id']}").get_json()["context"]
                decisions = [{"claim_id": c["id"], "decision": "adjust", "occurrences": 1,
                              "points": str(c["standard"]["points"]), "reason": "核实一次"}
                             for c in context["evaluation"]["claims"] if c["status"] == "submitted"]
                answer = user.post(f"/api/v1/tasks/{review['id']}/complete", {"decisions": decisions}).get_json()
                # The step threw a message and waits for the branch's: the answer is read after delivery.
                assert answer["task"]["id"] == review["id"] and answer["task"]["state"] == "completed"
                assert answer["task"]["completed_by"]["name"] == org.people[reviewer].name
                assert answer["instance"]["status"] == "running" and answer["next_tasks"] == []
        assert not api(f"rev2_{branch}").tasks(quarter=quarter_id, step="branch_review")
    scored = m1.get(f"/api/v1/evaluations/{evaluation_id}").get_json()
    assert scored["claims"][0]["status"] == "adjusted" and scored["claims"][0]["decision_reason"] == "核实一次"
    assert float(scored["score"]) == float(baseline) + float(bonus["points"])

    # The secretary approves, then records the general meeting; scores are posted.
    for branch in ("a1", "a2", "b1"):
        secretary = api(f"sec_{branch}")
        [approval] = secretary.tasks(quarter=quarter_id, step="branch_approval")
        context = secretary.get(f"/api/v1/tasks/{approval['id']}").get_json()["context"]
        assert len(context["branch_quarter"]["members"]) == len(org.members(branch))
        answer = secretary.post(f"/api/v1/tasks/{approval['id']}/complete",
                                {"decision": "approved", "comment": "同意"}).get_json()
        [meeting] = secretary.tasks(quarter=quarter_id, step="branch_meeting")
        assert [t["id"] for t in answer["next_tasks"]] == [meeting["id"]]
        assert answer["next_tasks"][0]["branch"]["id"] == org.branches[branch].id
        assert "branch_meeting" in answer["instance"]["steps"]
        secretary.post(f"/api/v1/tasks/{meeting['id']}/complete", {
            "meeting_date": clock.now().date().isoformat(), "meeting_expected": 10, "meeting_present": 9,
            "meeting_resolution": "全体党员逐一评议，同意审核结果。"})
    board = api("m3_b1").get(f"/api/v1/quarters/{quarter_id}/ranking").get_json()
    assert board["total"] == len(evaluated) and len(board["posted_branches"]) == 3
    assert all(b["window_open"] for b in board["posted_branches"]) and len(board["collective"]) == 3
    top = board["items"][0]
    assert top["evaluation_id"] == evaluation_id and top["rank"] == 1
    branch_board = m1.get(f"/api/v1/quarters/{quarter_id}/ranking",
                          query_string={"branch": org.branches["a2"].id}).get_json()
    assert {r["branch"]["id"] for r in branch_board["items"]} == {org.branches["a2"].id}

    # m1_a1 appeals their own score (upheld: reviewed again, with an addition) and raises a concern
    # about a member of another branch (dismissed, with the reason they read).
    posted = m1.get(f"/api/v1/evaluations/{evaluation_id}").get_json()
    assert posted["status"] == "posted" and posted["appeal_window_until"]
    appeal = m1.post(f"/api/v1/evaluations/{evaluation_id}/appeals",
                     {"kind": "appeal", "text": "两次出勤均有记录。", "claim_id": claim["id"]}, expect=201).get_json()
    assert appeal["status"] == "open" and appeal["mine"]
    other = _only(board["items"], person=org.people["m1_a2"].id)
    concern = m1.post(f"/api/v1/evaluations/{other['evaluation_id']}/appeals",
                      {"kind": "concern", "text": "该同志本季度有迟到情况。"}, expect=201).get_json()

    discipline = api("disc_a1")
    [decide] = discipline.tasks(quarter=quarter_id, step="appeal_decision")
    context = discipline.get(f"/api/v1/tasks/{decide['id']}").get_json()["context"]
    assert context["appeal"]["id"] == appeal["id"] and context["appeal"]["submitted_by"]["id"] == org.users["m1_a1"].id
    discipline.post(f"/api/v1/tasks/{decide['id']}/complete", {"decision": "upheld", "reason": "经核实，应予全额计分。"})
    reviewer = api("rev_a1")
    [again] = reviewer.tasks(quarter=quarter_id, step="re_review")
    assert again["subject"]["id"] == org.people["m1_a1"].id
    deduction_free_bonus = _standard(reviewer, version_id, unit_kind, kind="bonus", evidence=False)
    reviewer.post(f"/api/v1/tasks/{again['id']}/complete", {
        "decisions": [{"claim_id": claim["id"], "decision": "accept"}],
        "additions": [{"standard_id": deduction_free_bonus["id"], "occurrences": 1, "occurred_on": "2026-10-05",
                       "reason": "支部活动记录"}]})
    reposted = m1.get(f"/api/v1/evaluations/{evaluation_id}").get_json()
    assert reposted["status"] == "posted"
    assert float(reposted["score"]) == float(baseline) + float(bonus["points"]) + float(deduction_free_bonus["points"])
    decided = _only(reposted["explanation"]["appeals"], id=appeal["id"])
    assert decided["status"] == "upheld" and decided["reason"] == "经核实，应予全额计分。"

    discipline2 = api("disc_a2")
    [decide] = discipline2.tasks(quarter=quarter_id, step="appeal_decision")
    assert discipline2.get(f"/api/v1/tasks/{decide['id']}").get_json()["context"]["appeal"]["id"] == concern["id"]
    discipline2.post(f"/api/v1/tasks/{decide['id']}/complete", {"decision": "dismissed", "reason": "经查考勤记录，无迟到。"})

    # Publicity ends (the clock moves; the timer worker runs).
    clock.advance(days=9)
    jobs.run_until_idle(db_session)
    assert m1.get(f"/api/v1/evaluations/{evaluation_id}").get_json()["status"] == "confirmed"
    m1.post(f"/api/v1/evaluations/{evaluation_id}/appeals", {"kind": "appeal", "text": "太晚了"}, expect=409)

    # The party office issues the notice; the leading group accepts the filing.
    [notice] = office.tasks(quarter=quarter_id, step="quarter_notice")
    lists = office.get(f"/api/v1/tasks/{notice['id']}").get_json()["context"]["notice_lists"]
    office.post(f"/api/v1/tasks/{notice['id']}/complete", {
        "title": "第四季度党员积分通报", "body": "总体情况良好。",
        "commended_person_ids": [c["person_id"] for c in lists["commendations"]],
        "person_follow_ups": {str(u["person_id"]): ["reminder_talk"] for u in lists["under_pass"]},
        "branch_follow_ups": {str(org.branches["a2"].id): "secretary_interview"}})
    [filing] = leader.tasks(quarter=quarter_id, step="filing_acceptance")
    leader.post(f"/api/v1/tasks/{filing['id']}/complete", {"decision": "accepted", "comment": ""})
    filed = leader.get(f"/api/v1/quarters/{quarter_id}").get_json()
    assert filed["status"] == "filed" and filed["locked"] and filed["counts"] == {"filed": len(evaluated)}

    # The follow-up the notice decided (an interview of a2's secretary) is the leading group's.
    [follow_up] = leader.tasks(step="secretary_interview")
    context = leader.get(f"/api/v1/tasks/{follow_up['id']}").get_json()["context"]
    assert context["follow_up"]["branch"]["id"] == org.branches["a2"].id and context["follow_up"]["status"] == "open"
    leader.post(f"/api/v1/tasks/{follow_up['id']}/complete", {"record": "已约谈支部书记。", "done_on": "2026-10-20"},
                expect=422)  # not in the future
    leader.post(f"/api/v1/tasks/{follow_up['id']}/complete",
                {"record": "已约谈支部书记。", "done_on": clock.now().date().isoformat()})

    # Locked: nothing of the quarter changes any more.
    locked = m1.post(f"/api/v1/evaluations/{evaluation_id}/claims", {"standard_id": bonus["id"]}, expect=409).get_json()
    assert locked["error"] == "quarter_locked"

    # The quarterly verification samples filed evaluations.
    [verify] = leader.tasks(quarter=quarter_id, step="quarter_verification")
    sample = leader.get(f"/api/v1/tasks/{verify['id']}").get_json()["context"]["sample"]
    done = leader.post(f"/api/v1/tasks/{verify['id']}/complete", {"findings": [
        {"evaluation_id": e["id"], "result": "consistent", "finding": ""} for e in sample]}).get_json()
    assert done["instance"]["status"] == "completed"
    assert qh.tasks(db_session, quarter_id=quarter_id) == []  # nothing left open in the quarter


def test_the_branch_records_for_an_overdue_member_through_the_api(api, processes, clock, db_session):
    org = processes
    q = qh.open_quarter(db_session, clock)
    clock.advance(days=11)  # past the deadline: the member's task is withdrawn, the branch's opens
    jobs.run_until_idle(db_session)
    m1 = api("m1_a1")
    assert not m1.tasks(quarter=q.id)
    proxies = api("rev_a1").tasks(quarter=q.id, step="proxy_self_evaluation", branch=org.branches["a1"].id)
    [task] = [t for t in proxies if t["subject"]["id"] == org.people["m1_a1"].id]
    assert task["role"] == "reviewer"
    evaluation_id = api("rev_a1").get(f"/api/v1/tasks/{task['id']}").get_json()["context"]["evaluation"]["id"]
    ev = qh.evaluation_of(db_session, q.id, org.people["m1_a1"].id)
    from workflows.quarter import evaluation

    deduction = next(s for s in evaluation.rules(db_session, ev).standards.values() if s.kind == "deduction")
    claim = api("rev_a1").post(f"/api/v1/evaluations/{evaluation_id}/claims",
                               {"standard_id": deduction.id, "description": "缺席组织生活一次"}, expect=201).get_json()
    assert claim["source"] == "branch"
    m1.post(f"/api/v1/evaluations/{evaluation_id}/claims", {"standard_id": deduction.id}, expect=409)  # too late
    api("rev_a1").post(f"/api/v1/tasks/{task['id']}/complete", {"one_click": False})
    recorded = api("sec_a1").get(f"/api/v1/evaluations/{evaluation_id}").get_json()
    assert recorded["recorded_by_branch"] and recorded["status"] == "review"


def test_the_annual_assessment_through_the_api(api, processes, clock, db_session):
    from workflows.engine import tx
    from workflows.quarter import annual

    q = qh.open_quarter(db_session, clock)
    qh.declare_all(db_session, q.id)
    qh.review_all(db_session, q.id)
    qh.approve_and_meet(db_session, q.id, clock)
    qh.end_publicity(db_session, clock)
    qh.notice_and_file(db_session, q.id)
    tx.run(db_session, annual.start, qh.who(db_session, "office"), 2026)
    office, leader = api("office"), api("leader")
    [review] = office.tasks(step="annual_review")
    assert office.get(f"/api/v1/tasks/{review['id']}").get_json()["context"]["annual"]["year"] == 2026
    office.post(f"/api/v1/tasks/{review['id']}/complete", {"comment": "已审核"})
    [approval] = leader.tasks(step="annual_approval")
    leader.post(f"/api/v1/tasks/{approval['id']}/complete", {"decision": "returned"}, expect=422)  # say why
    leader.post(f"/api/v1/tasks/{approval['id']}/complete", {"decision": "approved", "comment": ""})
    assert not leader.tasks(step="annual_approval")
