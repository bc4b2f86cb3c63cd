"""Errors of the API have one JSON shape and the right status: 400 for a body that is not a JSON
object, 422 with a message per field, 404 for what does not exist, 409 for a task done meanwhile or
taken by somebody else, 413 for too large an upload; never a 500."""

from __future__ import annotations

import io

import pytest

from tests import quarter_helpers as qh
from tests.test_api_support import api_fixture, check_response, processes_fixture, quarter_fixture  # noqa: F401

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _own_task(api, username, quarter):
    [task] = api(username).tasks(quarter=quarter.id, role="member")
    return task


def _evaluation(db_session, org, quarter, username):
    return qh.evaluation_of(db_session, quarter.id, org.people[username].id)


@pytest.mark.parametrize("raw", [b"{", b"[1, 2]", b'"text"', b"\xff\xfe{", b"[" * 100000, b"NaN", b'{"one_click": Infinity}'])
def test_a_body_that_is_not_a_json_object_is_400(api, quarter, raw):
    task = _own_task(api, "m1_a1", quarter)
    response = api("m1_a1").post(f"/api/v1/tasks/{task['id']}/complete", data=raw, content_type="application/json",
                                 expect=400)
    assert response.get_json()["error"] == "bad_request"


@pytest.mark.parametrize("form, body, fields", [
    ("self_evaluation", {"one_click": "yes"}, {"one_click"}),
    ("self_evaluation", {"one_click": True, "comment": "hi"}, {"comment"}),
    ("self_evaluation", {"one_click": 1}, {"one_click"}),
    ("branch_approval", {}, {"decision"}),
    ("branch_approval", {"decision": "maybe"}, {"decision"}),
    ("branch_approval", {"decision": "returned", "returned_person_ids": "all"}, {"returned_person_ids"}),
    ("branch_approval", {"decision": "returned", "returned_person_ids": [1, "two", -3]},
     {"returned_person_ids-1", "returned_person_ids-2"}),
    ("branch_meeting", {"meeting_date": "09/10/2026", "meeting_expected": "10", "meeting_present": 9.5,
                        "meeting_resolution": None}, {"meeting_date", "meeting_expected", "meeting_present",
                                                      "meeting_resolution"}),
    ("branch_review", {"decisions": [{"claim_id": "x", "decision": "accept"}, 5, {"decision": "accept", "why": 1}]},
     {"decisions-0-claim_id", "decisions-1", "decisions-2-claim_id", "decisions-2-why"}),
    ("quarter_notice", {"title": "T", "person_follow_ups": {"abc": ["reminder_talk"], "5": "reminder_talk"}},
     {"person_follow_ups", "person_follow_ups-5"}),
])
def test_wrong_types_are_422_with_a_message_per_field(form, body, fields):
    from workflows.errors import ValidationFailed
    from workflows.quarter import task_actions

    with pytest.raises(ValidationFailed) as caught:
        task_actions.check(form, body)
    assert set(caught.value.field_errors) == fields


@pytest.mark.parametrize("body, fields", [
    ({"one_click": "yes"}, {"one_click"}),
    ({"one_click": True, "extra": 1}, {"extra"}),
    ({"one_click": "nul\x00"}, {"one_click"}),
])
def test_completing_with_wrong_data_is_422_and_changes_nothing(api, quarter, db_session, org, body, fields):
    task = _own_task(api, "m1_a1", quarter)
    response = api("m1_a1").post(f"/api/v1/tasks/{task['id']}/complete", body, expect=422)
    assert set(response.get_json()["fields"]) == fields and response.get_json()["error"] == "invalid"
    assert _evaluation(db_session, org, quarter, "m1_a1").status == "self_evaluation"


def test_a_claim_with_bad_values_names_its_fields(api, quarter, db_session, org):
    ev = _evaluation(db_session, org, quarter, "m1_a1")
    response = api("m1_a1").post(f"/api/v1/evaluations/{ev.id}/claims", {
        "standard_id": 999999, "occurrences": 0, "occurred_on": "2026-01-01", "description": "x"}, expect=422)
    assert set(response.get_json()["fields"]) == {"standard_id", "occurrences", "occurred_on"}
    response = api("m1_a1").post(f"/api/v1/evaluations/{ev.id}/claims", {"standard_id": "1"}, expect=422)
    assert set(response.get_json()["fields"]) == {"standard_id"}


def test_opening_a_quarter_validates_its_fields(api, processes):
    office = api("office")
    body = office.post("/api/v1/quarters", {"year": 2026, "quarter": 4, "self_eval_deadline": "2026-10-19"},
                       expect=422).get_json()
    assert set(body["fields"]) == {"self_eval_deadline"}
    body = office.post("/api/v1/quarters", {"year": 2026, "quarter": 7,
                                            "self_eval_deadline": "2026-10-19T17:00:00+08:00"}, expect=422).get_json()
    assert set(body["fields"]) == {"quarter"}
    body = office.post("/api/v1/quarters", {"year": 2026, "quarter": 4,
                                            "self_eval_deadline": "2026-10-01T17:00:00+08:00"}, expect=422).get_json()
    assert set(body["fields"]) == {"self_eval_deadline"}  # in the past
    api("m1_a1").post("/api/v1/quarters", {"year": 2026, "quarter": 4,
                                           "self_eval_deadline": "2026-10-19T17:00:00+08:00"}, expect=403)


def test_a_second_completion_is_409_and_so_is_a_task_taken_by_somebody_else(api, quarter, db_session, org):
    m1 = api("m1_a1")
    task = _own_task(api, "m1_a1", quarter)
    m1.post(f"/api/v1/tasks/{task['id']}/complete", {"one_click": True})
    again = m1.post(f"/api/v1/tasks/{task['id']}/complete", {"one_click": True}, expect=409).get_json()
    assert again["error"] == "task_not_ready"
    m1.post(f"/api/v1/tasks/{task['id']}/claim", expect=409)

    [review] = qh.tasks(db_session, "branch_review", person_id=org.people["m1_a1"].id)
    first, second = api("rev_a1"), api("rev2_a1")
    claimed = first.post(f"/api/v1/tasks/{review.id}/claim").get_json()
    assert claimed["assignee"]["id"] == org.users["rev_a1"].id
    assert second.post(f"/api/v1/tasks/{review.id}/claim", expect=409).get_json()["error"] == "task_taken"
    taken = second.post(f"/api/v1/tasks/{review.id}/complete", {"decisions": []}, expect=409).get_json()
    assert taken["error"] == "task_taken"
    second.post(f"/api/v1/tasks/{review.id}/release", expect=403)  # not theirs to give back
    released = first.post(f"/api/v1/tasks/{review.id}/release").get_json()
    assert released["assignee"] is None
    second.post(f"/api/v1/tasks/{review.id}/complete", {"decisions": []})
    assert first.post(f"/api/v1/tasks/{review.id}/complete", {"decisions": []}, expect=409).get_json()["error"] == \
        "task_not_ready"


@pytest.fixture
def draft_claim(api, quarter, db_session, org):
    from workflows.quarter import evaluation

    ev = _evaluation(db_session, org, quarter, "m1_a1")
    bonus = next(s for s in evaluation.rules(db_session, ev).standards.values() if s.kind == "bonus")
    claim = api("m1_a1").post(f"/api/v1/evaluations/{ev.id}/claims", {"standard_id": bonus.id}, expect=201)
    return ev, claim.get_json()


def test_too_large_an_upload_is_413(api, draft_claim, app):
    ev, claim = draft_claim
    app.config["UPLOAD_MAX_BYTES"] = 1024
    response = api("m1_a1").post(f"/api/v1/evaluations/{ev.id}/evidence", None, expect=413,
                                 data={"file": (io.BytesIO(PNG + b"\x00" * 2048), "big.png"), "claim_id": str(claim["id"])},
                                 content_type="multipart/form-data")
    assert response.get_json()["error"] == "too_large"
    app.config["MAX_CONTENT_LENGTH"] = 4096  # the whole request: refused before it is read
    response = api("m1_a1").post(f"/api/v1/evaluations/{ev.id}/evidence", None, expect=413,
                                 data={"file": (io.BytesIO(b"x" * 10000), "big.png"), "claim_id": str(claim["id"])},
                                 content_type="multipart/form-data")
    assert response.get_json()["error"] == "too_large"


@pytest.mark.parametrize("data, fields", [
    ({}, {"file", "claim_id"}),
    ({"claim_id": "abc"}, {"file", "claim_id"}),
    ({"file": (b"MZ\x90\x00" + b"\x00" * 100, "evil.pdf")}, {"claim_id"}),
])
def test_an_upload_without_its_parts_is_422(api, draft_claim, data, fields):
    ev, _claim = draft_claim
    data = {k: (io.BytesIO(v[0]), v[1]) if isinstance(v, tuple) else v for k, v in data.items()}
    response = api("m1_a1").post(f"/api/v1/evaluations/{ev.id}/evidence", None, expect=422, data=data,
                                 content_type="multipart/form-data")
    assert set(response.get_json()["fields"]) == fields


def test_a_file_that_is_not_evidence_is_refused_for_what_it_is(api, draft_claim):
    ev, claim = draft_claim
    response = api("m1_a1").post(f"/api/v1/evaluations/{ev.id}/evidence", None, expect=422,
                                 data={"file": (io.BytesIO(b"<html><script>alert(1)</script></html>"), "x.pdf"),
                                       "claim_id": str(claim["id"])}, content_type="multipart/form-data")
    assert set(response.get_json()["fields"]) == {"file"}
    ok = api("m1_a1").post(f"/api/v1/evaluations/{ev.id}/evidence", None, expect=201,
                           data={"file": (io.BytesIO(PNG), "photo.pdf"), "claim_id": str(claim["id"])},
                           content_type="multipart/form-data").get_json()
    assert ok["filename"] == "photo.png" and ok["content_type"] == "image/png"
    api("m1_a1").delete(f"/api/v1/evaluations/{ev.id}/evidence/{ok['id']}", expect=204)
    api("m1_a1").delete(f"/api/v1/evaluations/{ev.id}/evidence/{ok['id']}", expect=404)


@pytest.mark.parametrize("url", [
    "/api/v1/tasks/999999", "/api/v1/tasks/2147483648", "/api/v1/tasks/99999999999999999999999",
    "/api/v1/evaluations/999999", "/api/v1/evaluations/2147483648", "/api/v1/quarters/999999",
    "/api/v1/quarters/999999/ranking", "/api/v1/catalogues/999999",
])
def test_what_does_not_exist_is_404(api, quarter, url):
    assert api("office").get(url, expect=404).get_json()["error"] == "not_found"


@pytest.mark.parametrize("query, field", [
    ({"page": "0"}, "page"), ({"page": "abc"}, "page"), ({"per_page": "1000"}, "per_page"),
    ({"state": "done"}, "state"), ({"role": "king"}, "role"), ({"overdue": "maybe"}, "overdue"),
    ({"quarter": "-1"}, "quarter"), ({"step": "x" * 101}, "step"), ({"step": "a\x00b"}, "step"),
])
def test_bad_filters_are_422(api, quarter, query, field):
    assert set(api("m1_a1").get("/api/v1/tasks", query_string=query, expect=422).get_json()["fields"]) == {field}


def test_a_locked_quarter_refuses_and_the_refusal_is_recorded(api, quarter, db_session, org, clock):
    from sqlalchemy import select

    from models.audit import AuditEvent

    qh.declare_all(db_session, quarter.id)
    qh.review_all(db_session, quarter.id)
    qh.approve_and_meet(db_session, quarter.id, clock)
    qh.end_publicity(db_session, clock)
    qh.notice_and_file(db_session, quarter.id)
    ev = _evaluation(db_session, org, quarter, "m1_a1")
    response = api("m1_a1").post(f"/api/v1/evaluations/{ev.id}/appeals", {"kind": "appeal", "text": "再议"}, expect=409)
    assert response.get_json()["error"] == "quarter_locked"
    refused = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "locked.refused"))
    assert refused is not None and refused.actor_user_id == org.users["m1_a1"].id


def test_a_report_names_an_existing_standard_or_none(api, quarter, org):
    body = {"subject_person_id": org.people["m1_a1"].id, "text": "上班期间脱岗。", "suggested_standard_id": 379515}
    response = api("m1_a2").post("/api/v1/supervision-reports", body, expect=422)
    assert set(response.get_json()["fields"]) == {"suggested_standard_id"}
    del body["suggested_standard_id"]
    report = api("m1_a2").post("/api/v1/supervision-reports", body, expect=201).get_json()
    assert report["status"] == "verifying" and report["reporter"] is None  # a member does not see reporters
    own = api("m1_a1").post("/api/v1/supervision-reports", body, expect=422).get_json()
    assert set(own["fields"]) == {"subject_person_id"}  # nobody reports themselves
