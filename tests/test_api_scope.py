"""The API obeys the scope rules of the pages: for every user of the test bureau, each object endpoint
answers exactly as `models.permissions` and the inbox say (403 when refused, 404 when missing), and
members, reviewers, secretaries and discipline members of another branch get nothing of branch a1."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.evaluation import Claim
from models.permissions import Principal, can
from tests import quarter_helpers as qh
from tests.test_api_support import api_fixture, processes_fixture, quarter_fixture  # noqa: F401
from webapp.authz import target_of
from workflows.engine import access, tx
from workflows.quarter import evaluation, reports

OUTSIDERS = ("m1_a2", "rev_a2", "sec_a2", "disc_a2", "m1_b1", "rev_b1", "sec_b1", "disc_b1")


@pytest.fixture
def state(quarter, db_session, org):
    """Branch a1 mid-quarter: m1_a1 declaring (a draft claim), the reviews of m2_a1 and rev_a1 open,
    a supervision report about m3_a1 being verified; branches a2 and b1 waiting for approval."""
    q = quarter
    m1 = qh.who(db_session, "m1_a1")
    ev = qh.evaluation_of(db_session, q.id, org.people["m1_a1"].id)
    bonus = next(s for s in evaluation.rules(db_session, ev).standards.values() if s.kind == "bonus")
    claim = tx.run(db_session, evaluation.save_claim, m1, ev.id, {"standard_id": bonus.id})
    qh.declare_all(db_session, q.id, except_person_ids={org.people["m1_a1"].id})
    keep = {org.people["m2_a1"].id, org.people["rev_a1"].id}
    for task in qh.tasks(db_session, "branch_review", quarter_id=q.id):
        if task.subject_person_id not in keep:
            tx.run(db_session, evaluation.review, qh.reviewer_for(db_session, task), task.id, [])
    tx.run(db_session, reports.submit, qh.who(db_session, "m1_a2"), subject_person_id=org.people["m3_a1"].id,
           text="上班期间脱岗。")
    tasks = {
        "self": qh.tasks(db_session, "self_evaluation", person_id=org.people["m1_a1"].id)[0],
        "review": qh.tasks(db_session, "branch_review", person_id=org.people["m2_a1"].id)[0],
        "own_review": qh.tasks(db_session, "branch_review", person_id=org.people["rev_a1"].id)[0],
        "report": qh.tasks(db_session, "report_verification", person_id=org.people["m3_a1"].id)[0],
        "approval_b1": qh.tasks(db_session, "branch_approval", branch_id=org.branches["b1"].id)[0],
    }
    return {"quarter": q, "evaluation": ev, "claim": claim, "bonus": bonus, "tasks": tasks}


def _status(response) -> int:
    return response.status_code


def test_every_user_sees_an_evaluation_exactly_as_the_rules_say(api, state, org, db_session):
    ev = state["evaluation"]
    for username in org.users:
        principal = qh.who(db_session, username)
        expected = 200 if can(principal, "evaluation.view", target_of(ev)) else 403
        assert _status(api(username).get(f"/api/v1/evaluations/{ev.id}", expect=None)) == expected, username
    # The rules, spelled out: the member, their branch's points work, the bureau's supervisors.
    allowed = {u for u in org.users if can(qh.who(db_session, u), "evaluation.view", target_of(ev))}
    assert {"m1_a1", "rev_a1", "rev2_a1", "sec_a1", "disc_a1", "office", "leader"} <= allowed
    assert allowed.isdisjoint(OUTSIDERS + ("m2_a1", "designer", "admin"))


def test_every_user_sees_a_task_exactly_as_the_inbox_does(api, state, org, db_session):
    for username in org.users:
        principal = qh.who(db_session, username)
        listed = {t["id"] for t in api(username).tasks(quarter=state["quarter"].id)}
        for key, task in state["tasks"].items():
            expected = 200 if access.may_see(principal, task) else 403
            response = api(username).get(f"/api/v1/tasks/{task.id}", expect=None)
            assert _status(response) == expected, (key, username)
            assert (task.id in listed) == (expected == 200 and task.assignee_id in (None, principal.user_id)), (key, username)
    visible = {u for u in org.users if access.may_see(qh.who(db_session, u), state["tasks"]["review"])}
    assert visible == {"rev_a1", "rev2_a1"}  # never the subject (m2_a1), never another branch
    assert {u for u in org.users if access.may_see(qh.who(db_session, u), state["tasks"]["own_review"])} == {"rev2_a1"}


@pytest.mark.parametrize("username", OUTSIDERS)
def test_nobody_of_another_branch_acts_on_branch_a1(api, state, username):
    user = api(username)
    ev, claim, tasks = state["evaluation"], state["claim"], state["tasks"]
    forbidden = [
        ("GET", f"/api/v1/evaluations/{ev.id}", None),
        ("POST", f"/api/v1/evaluations/{ev.id}/claims", {"standard_id": state["bonus"].id}),
        ("PUT", f"/api/v1/evaluations/{ev.id}/claims/{claim.id}", {"standard_id": state["bonus"].id}),
        ("DELETE", f"/api/v1/evaluations/{ev.id}/claims/{claim.id}", None),
        ("POST", f"/api/v1/evaluations/{ev.id}/appeals", {"kind": "appeal", "text": "不服"}),
    ]
    for key in ("self", "review", "own_review", "report"):
        forbidden += [("GET", f"/api/v1/tasks/{tasks[key].id}", None),
                      ("POST", f"/api/v1/tasks/{tasks[key].id}/claim", None),
                      ("POST", f"/api/v1/tasks/{tasks[key].id}/release", None),
                      ("POST", f"/api/v1/tasks/{tasks[key].id}/complete", {})]
    for method, url, body in forbidden:
        response = user.call(method, url, json=body)
        assert response.status_code == 403, (method, url, response.get_json())
        assert response.get_json()["error"] == "forbidden"
    upload = user.call("POST", f"/api/v1/evaluations/{ev.id}/evidence", data={"claim_id": str(claim.id)},
                       content_type="multipart/form-data")
    assert upload.status_code == 403
    # Nothing of a1 is in their inbox; nothing changed.
    assert not [t for t in user.tasks() if (t["branch"] or {}).get("id") == ev.branch_id]


def test_the_branch_acts_and_a_subject_never_acts_on_their_own(api, state, org, db_session):
    tasks = state["tasks"]
    api("rev_a1").post(f"/api/v1/tasks/{tasks['own_review'].id}/claim", expect=403)
    api("m2_a1").post(f"/api/v1/tasks/{tasks['review'].id}/complete", {"decisions": []}, expect=403)
    api("sec_a1").post(f"/api/v1/tasks/{tasks['review'].id}/complete", {"decisions": []}, expect=403)
    api("sec_a1").post(f"/api/v1/tasks/{tasks['approval_b1'].id}/complete", {"decision": "approved"}, expect=403)
    api("rev_a1").post(f"/api/v1/tasks/{tasks['review'].id}/complete", {"decisions": []})
    api("rev2_a1").post(f"/api/v1/tasks/{tasks['own_review'].id}/complete", {"decisions": []})
    api("sec_b1").post(f"/api/v1/tasks/{tasks['approval_b1'].id}/complete", {"decision": "approved"})
    # A member's drafts are theirs: the branch records for an overdue member only once the deadline
    # has passed and the recording task is theirs.
    claim = state["claim"]
    refused = api("rev_a1").put(f"/api/v1/evaluations/{state['evaluation'].id}/claims/{claim.id}",
                                {"standard_id": state["bonus"].id}, expect=409)
    assert refused.get_json()["error"] == "window_closed"
    api("m1_a1").put(f"/api/v1/evaluations/{state['evaluation'].id}/claims/{claim.id}",
                     {"standard_id": state["bonus"].id, "description": "改过"})
    assert db_session.get(Claim, claim.id, populate_existing=True).description == "改过"


def test_the_reporter_is_shown_only_to_the_discipline_member_and_the_party_office(api, state, org, db_session):
    task = state["tasks"]["report"]
    reviewer = api("rev_a1")
    context = reviewer.get(f"/api/v1/tasks/{task.id}").get_json()["context"]
    assert context["report"]["reporter"] is None and context["report"]["subject"]["id"] == org.people["m3_a1"].id
    ev = qh.evaluation_of(db_session, state["quarter"].id, org.people["m3_a1"].id)
    deduction = next(s for s in evaluation.rules(db_session, ev).standards.values() if s.kind == "deduction")
    reviewer.post(f"/api/v1/tasks/{task.id}/complete", {"decision": "substantiated", "reason": "经考勤核实属实。",
                                                       "standard_id": deduction.id, "occurrences": 1})
    report_id = context["report"]["id"]
    api("m1_a1").post(f"/api/v1/supervision-reports/{report_id}/appeals", {"text": "不是我"}, expect=403)
    appeal = api("m3_a1").post(f"/api/v1/supervision-reports/{report_id}/appeals", {"text": "当日在外执行任务。"},
                               expect=201).get_json()
    assert appeal["kind"] == "appeal" and appeal["mine"]
    [decide] = api("disc_a1").tasks(step="report_appeal_decision")
    context = api("disc_a1").get(f"/api/v1/tasks/{decide['id']}").get_json()["context"]
    assert context["report"]["reporter"]["user"]["id"] == org.users["m1_a2"].id
    assert context["appeal"]["id"] == appeal["id"]
    api("disc_a2").get(f"/api/v1/tasks/{decide['id']}", expect=403)
    api("disc_a1").post(f"/api/v1/tasks/{decide['id']}/complete", {"decision": "upheld", "reason": "有派车记录。"})
    claims = api("m3_a1").get(f"/api/v1/evaluations/{ev.id}").get_json()["claims"]
    assert [c["status"] for c in claims if c["report_id"] == report_id] == ["revoked"]


def test_supervisors_and_branch_roles_see_the_monitor_of_their_scope(api, state, org):
    whole = api("office").get("/api/v1/monitor/instances", query_string={"per_page": 100}).get_json()
    assert whole["counts"]["total"] == whole["total"] > 0
    assert {(i["branch"] or {}).get("id") for i in whole["items"]} >= {b.id for b in org.branches.values()}
    a2 = api("sec_a2").get("/api/v1/monitor/instances", query_string={"per_page": 100}).get_json()
    assert {i["branch"]["id"] for i in a2["items"]} == {org.branches["a2"].id}
    assert a2["total"] == len(org.members("a2")) + 1  # person instances and the branch's own
    at_review = api("disc_a1").get("/api/v1/monitor/instances", query_string={"step": "branch_review"}).get_json()
    assert {i["subject"]["id"] for i in at_review["items"]} == {org.people["m2_a1"].id, org.people["rev_a1"].id}
    person = next(p for p in at_review["counts"]["processes"] if p["process"] == "person_quarter")
    assert {s["step"]: s["instances"] for s in person["steps"]}["branch_review"] == 2
    for username in ("m1_a1", "rev_a1", "designer", "admin"):
        api(username).get("/api/v1/monitor/instances", expect=403)


def test_only_the_party_office_opens_a_quarter(api, processes):
    body = {"year": 2027, "quarter": 1, "self_eval_deadline": "2027-01-20T17:00:00+08:00"}
    for username in ("m1_a1", "sec_a1", "leader", "admin", "designer"):
        assert api(username).post("/api/v1/quarters", body, expect=403).get_json()["error"] == "forbidden"


def test_catalogue_drafts_are_for_the_party_office(api, processes, db_session):
    from models.catalogue import CatalogueVersion
    from workflows.catalogue import versions as catalogue

    published = db_session.scalar(select(CatalogueVersion))
    draft = tx.run(db_session, catalogue.copy_version, Principal.system(), published.id, year=2027,
                   name="2027 草稿")
    listed = {v["id"] for v in api("m1_a1").get("/api/v1/catalogues").get_json()["items"]}
    assert listed == {published.id}
    api("m1_a1").get(f"/api/v1/catalogues/{draft.id}", expect=404)
    assert draft.id in {v["id"] for v in api("office").get("/api/v1/catalogues").get_json()["items"]}
    api("office").get(f"/api/v1/catalogues/{draft.id}")
