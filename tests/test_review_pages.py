"""The task pages of the branch's work, over HTTP: each renders its context, refuses bad input on
its fields (keeping what was typed), completes its task and moves the process; nobody outside the
task's pool gets in."""

from __future__ import annotations

import html
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from markupsafe import escape
from sqlalchemy import select

from models.audit import AuditEvent
from models.evaluation import (
    Appeal,
    BranchQuarter,
    Claim,
    Evaluation,
    FollowUp,
    Notification,
    SupervisionReport,
)
from models.process import HumanTask, TaskState
from tests import quarter_helpers as qh
from tests import test_review_pages_states as st
from workflows.engine import tx
from workflows.quarter import appeals, branch, evaluation, reports

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def shipped(app, db_session, org, clock):
    qh.deploy_shipped(db_session)
    qh.load_catalogue(db_session)
    return org


def as_user(client, login, username: str, *, lang: str = "en") -> None:
    """Sign in; the tests read the English pages unless they say otherwise."""
    login(username)
    client.post(f"/lang/{lang}")


def text(response) -> str:
    return response.get_data(as_text=True)


def shows(response, message: str) -> bool:
    """The message is on the page, as HTML-escaped text."""
    return str(escape(message)) in text(response)


def fresh(db_session, model, ident):
    return db_session.get(model, ident, populate_existing=True)


# --- Review -------------------------------------------------------------------------------------------------


@pytest.fixture
def review(shipped, db_session):
    """m1_a1 declared a bonus (with evidence) and a deduction; a report added a deduction."""
    q = st.current_quarter(db_session)
    ev = st.declare_with_claims(db_session, q, "m1_a1")
    st.report_deduction(db_session, q, st.TEST_CAST)
    task = st.review_task(db_session, q, "m1_a1")
    claims = [c for c in evaluation.claims_of(db_session, ev.id) if c.status != "draft"]
    return SimpleNamespace(q=q, ev=ev, task=task, claims=claims, url=f"/review/{task.id}/review",
                           rules=evaluation.rules(db_session, ev))


def review_data(claims, overrides=None, additions=None, action="submit") -> dict[str, str]:
    """The review form as the page posts it; `overrides` by claim index, `additions` rows."""
    data = {"action": action}
    for i, claim in enumerate(claims):
        row = {"claim_id": claim.id, "decision": "accept", "occurrences": "", "points": "", "reason": ""}
        row.update((overrides or {}).get(i, {}))
        data.update({f"decisions-{i}-{k}": str(v) for k, v in row.items()})
    for j, addition in enumerate(additions or [{}]):
        row = {"standard_id": "", "occurrences": "1", "occurred_on": "", "description": "", "reason": ""}
        row.update(addition)
        data.update({f"additions-{j}-{k}": str(v) for k, v in row.items()})
    return data


def test_review_page_shows_what_the_reviewer_needs(client, login, db_session, shipped, review):
    as_user(client, login, "rev2_a1")
    page = text(client.get(review.url))
    member = shipped.people["m1_a1"]
    for expected in (member.name, "机关第一党支部", review.q.title or review.q.label, "夜间执法记录.pdf", "夜间执法检查两次",
                     "Supervision report", "经调取考勤记录核实属实。", "Self score", "Reviewed score (preview)"):
        assert expected in page, expected
    for claim in review.claims:
        assert html.escape(claim.standard.text) in page
        assert claim.standard.code in page
    [evidence] = review.claims[0].evidence
    assert f'href="/evidence/{evidence.id}"' in page  # served by the member area
    # The due date in the bureau's time, and who did what so far.
    due = review.task.due_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    assert due in page
    assert "Self-evaluation" in page and "History" in page
    # Self score and the preview of the reviewed score (every claim accepted) side by side.
    assert f'<span class="big">{_points(review.ev.self_score)}</span>' in page
    expected = evaluation.compute(db_session, fresh(db_session, Evaluation, review.ev.id), counting_only=False).total
    assert f'<span class="big">{_points(expected)}</span>' in page


def _points(value) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


BAD_REVIEWS = [
    pytest.param({0: {"decision": "adjust", "occurrences": "1"}}, None, "Give the reason for this decision.", id="adjust-no-reason"),
    pytest.param({1: {"decision": "reject"}}, None, "Give the reason for this decision.", id="reject-no-reason"),
    pytest.param({0: {"decision": "adjust", "reason": "少一次"}}, None, "An adjustment changes the occurrences or the points.",
                 id="adjust-nothing"),
    pytest.param({0: {"decision": "adjust", "occurrences": "4", "reason": "x"}}, None, "Out of range.", id="occurrences-over-max"),
    pytest.param({0: {"decision": "adjust", "occurrences": "-1", "reason": "x"}}, None, "Out of range.", id="occurrences-negative"),
    pytest.param({0: {"decision": "adjust", "occurrences": "99999999999999999999999", "reason": "x"}}, None, "Out of range.",
                 id="occurrences-huge"),
    pytest.param({0: {"decision": "adjust", "occurrences": "两次", "reason": "x"}}, None, "Enter a whole number.", id="occurrences-words"),
    pytest.param({0: {"decision": "adjust", "points": "-2", "reason": "x"}}, None,
                 "Points are between 0 and 1000, with at most two decimals.", id="points-negative"),
    pytest.param({0: {"decision": "adjust", "points": "1e400", "reason": "x"}}, None,
                 "Points are between 0 and 1000, with at most two decimals.", id="points-huge"),
    pytest.param({0: {"decision": "adjust", "points": "1.234", "reason": "x"}}, None,
                 "Points are between 0 and 1000, with at most two decimals.", id="points-three-decimals"),
    pytest.param({0: {"decision": "adjust", "points": "NaN", "reason": "x"}}, None,
                 "Points are between 0 and 1000, with at most two decimals.", id="points-nan"),
    pytest.param({0: {"decision": "maybe"}}, None, "Choose accept, adjust or reject.", id="unknown-decision"),
    pytest.param(None, [{"standard_id": "BONUS", "occurred_on": "2026-10-02"}], "Give the record this is based on.",
                 id="addition-no-record"),
    pytest.param(None, [{"standard_id": "999999", "reason": "记录"}], "This standard is not in your catalogue.",
                 id="addition-unknown-standard"),
    pytest.param(None, [{"standard_id": "BONUS", "occurrences": "0", "reason": "记录"}], "Out of range.",
                 id="addition-zero-occurrences"),
    pytest.param(None, [{"standard_id": "BONUS", "occurred_on": "2025-12-31", "reason": "记录"}],
                 "The date must fall within the quarter.", id="addition-date-outside"),
    pytest.param(None, [{"standard_id": "BONUS", "occurred_on": "2026-13-45", "reason": "记录"}],
                 "Enter a date as YYYY-MM-DD.", id="addition-date-invalid"),
    pytest.param(None, [{"standard_id": "BONUS", "reason": "记" * 2001}], "At most 2000 characters.", id="addition-record-too-long"),
]


def test_review_refuses_bad_input_and_keeps_it(client, login, db_session, review):
    bonus = next(s for s in review.rules.standards.values() if s.kind == "bonus" and s.honour_category is None)
    as_user(client, login, "rev_a1")
    for case in BAD_REVIEWS:  # one review, every kind of bad input in turn (each refused as a whole)
        overrides, additions, message = case.values
        additions = [{k: (str(bonus.id) if v == "BONUS" else v) for k, v in a.items()} for a in additions or []]
        data = review_data(review.claims, overrides, additions)
        response = client.post(review.url, data=data)
        page = text(response)
        assert response.status_code == 422, case.id
        assert str(escape(message)) in page, case.id
        assert "Please correct what is marked below" in page, case.id
        for key, value in data.items():  # everything typed comes back
            if key != "action" and value and not key.endswith(("claim_id", "decision")) and value != "999999":
                assert str(escape(value)) in page, (case.id, key)
        assert fresh(db_session, HumanTask, review.task.id).state == TaskState.OPEN, case.id
        assert {fresh(db_session, Claim, c.id).status for c in review.claims[:2]} == {"submitted"}, case.id


def test_html_and_unicode_come_back_escaped(client, login, review):
    as_user(client, login, "rev_a1")
    nasty = "<script>alert('审')</script> ✓ \u202e"
    response = client.post(review.url, data=review_data(review.claims, {
        1: {"decision": "reject", "reason": nasty}, 0: {"decision": "adjust", "reason": "漏"}}))
    page = text(response)
    assert response.status_code == 422
    assert "<script>alert(" not in page
    assert str(escape(nasty)) in page


def test_preview_scores_the_form_and_saves_nothing(client, login, db_session, review):
    as_user(client, login, "rev_a1")
    bonus, deduction, report = review.claims
    response = client.post(review.url, data=review_data(review.claims, {
        0: {"decision": "adjust", "occurrences": "1", "reason": "仅一次有记录"}, 1: {"decision": "reject", "reason": "请假"}},
        action="preview"))
    assert response.status_code == 200
    baseline = review.rules.baseline_total
    expected = baseline + bonus.standard.points - report.standard.points
    assert f'<span class="big">{_points(expected)}</span>' in text(response)
    assert "仅一次有记录" in text(response)
    assert fresh(db_session, Claim, bonus.id).status == "submitted"
    assert fresh(db_session, HumanTask, review.task.id).state == TaskState.OPEN


def test_preview_flags_what_it_cannot_read(client, login, review):
    as_user(client, login, "rev_a1")
    response = client.post(review.url, data=review_data(review.claims, {
        0: {"decision": "adjust", "occurrences": "abc", "reason": "x"}}, action="preview"))
    assert response.status_code == 200
    assert "Enter a whole number." in text(response)


def test_another_row_keeps_what_was_typed(client, login, review):
    as_user(client, login, "rev_a1")
    response = client.post(review.url, data=review_data(review.claims, {1: {"decision": "reject", "reason": "当天请假"}},
                                                        [{"description": "三会一课缺席", "reason": "签到表"}],
                                                        action="add_row"))
    page = text(response)
    assert response.status_code == 200
    assert "当天请假" in page and "三会一课缺席" in page and "签到表" in page
    assert 'name="additions-1-standard_id"' in page


def test_review_completes_and_moves_the_process(client, login, db_session, review):
    bonus_standard = next(s for s in review.rules.standards.values()
                          if s.kind == "bonus" and s.honour_category is None and s.id != review.claims[0].standard_id)
    as_user(client, login, "rev_a1")
    response = client.post(review.url, data=review_data(review.claims, {
        0: {"decision": "adjust", "occurrences": "1", "reason": "仅一次有执法记录"},
        1: {"decision": "reject", "reason": "当天经批准请假"},
    }, [{"standard_id": str(bonus_standard.id), "occurrences": "1", "occurred_on": "2026-10-03",
         "description": "志愿服务", "reason": "志愿服务登记表"}]))
    assert response.status_code == 302 and response.headers["Location"].endswith("/inbox/")
    bonus, deduction, report = (fresh(db_session, Claim, c.id) for c in review.claims)
    assert (bonus.status, bonus.reviewed_occurrences, bonus.decision_reason) == ("adjusted", 1, "仅一次有执法记录")
    assert (deduction.status, deduction.decision_reason) == ("rejected", "当天经批准请假")
    assert report.status == "accepted" and report.decision_reason == "经调取考勤记录核实属实。"  # untouched
    added = db_session.scalar(select(Claim).where(Claim.evaluation_id == review.ev.id, Claim.source == "review"))
    assert added.standard_id == bonus_standard.id and added.decision_reason == "志愿服务登记表"
    ev = fresh(db_session, Evaluation, review.ev.id)
    assert ev.score == (review.rules.baseline_total + bonus.standard.points - report.standard.points
                        + bonus_standard.points)
    assert ev.status == "reviewed"
    task = fresh(db_session, HumanTask, review.task.id)
    assert task.state == TaskState.COMPLETED and task.completed_by == shipped_user(db_session, "rev_a1")
    # Done twice (another tab): told so, with the way back.
    again = client.post(review.url, data=review_data(review.claims))
    assert again.status_code == 409
    assert "This task has already been done." in text(again) and 'href="/inbox/"' in text(again)


def shipped_user(db_session, username):
    return qh.who(db_session, username).user_id


def test_taken_by_somebody_else(client, login, db_session, review):
    as_user(client, login, "rev2_a1")
    claimed = client.post(f"/inbox/tasks/{review.task.id}/claim", data={"next": review.url})
    assert claimed.status_code == 302
    as_user(client, login, "rev_a1")
    page = text(client.get(review.url))
    assert "has taken this task" in page and 'name="action"' not in page
    response = client.post(review.url, data=review_data(review.claims))
    assert response.status_code == 409
    assert "Somebody else has taken this task." in text(response)
    assert fresh(db_session, HumanTask, review.task.id).state == TaskState.OPEN


def test_the_subject_cannot_review_themself(client, login, db_session, shipped):
    q = st.current_quarter(db_session)
    qh.declare_all(db_session, q.id)
    [task] = qh.tasks(db_session, "branch_review", person_id=shipped.people["rev_a1"].id)
    as_user(client, login, "rev_a1")
    assert client.get(f"/review/{task.id}/review").status_code == 403
    assert client.post(f"/review/{task.id}/review", data={"action": "submit"}).status_code == 403


def test_chinese_by_default(client, login, review):
    login("rev_a1")
    page = text(client.get(review.url))
    assert "支部审核（算绩）" in page and "自评得分" in page and "提交审核" in page


# --- Every page is closed to the other branches ------------------------------------------------------------------


def test_other_branches_get_403_on_every_page(client, login, db_session, shipped, clock):
    """a1 posted (an appeal waits), b1 waits for approval, a2 for review and a report's verification."""
    q = st.current_quarter(db_session)
    qh.declare_all(db_session, q.id)
    a2 = shipped.branches["a2"].id
    for task in qh.tasks(db_session, "branch_review", quarter_id=q.id):
        if task.branch_id != a2:
            ev = db_session.scalar(select(Evaluation).where(Evaluation.instance_id == task.instance_id))
            tx.run(db_session, evaluation.review, qh.reviewer_for(db_session, task), task.id,
                   [{"claim_id": c.id, "decision": "accept"} for c in evaluation.claims_of(db_session, ev.id)])
    a1_approval = [t for t in qh.tasks(db_session, "branch_approval") if t.branch_id == shipped.branches["a1"].id]
    for task in a1_approval:
        tx.run(db_session, branch.approve, qh.who(db_session, "sec_a1"), task.id, decision="approved")
    st.meet_all(db_session, q)
    ev = qh.evaluation_of(db_session, q.id, shipped.people["m1_a1"].id)
    tx.run(db_session, appeals.file_appeal, qh.who(db_session, "m1_a1"), ev.id, kind="appeal", text="请复核")
    st.submit_report(db_session, st.TEST_CAST, "m2_a2")
    pages = {
        "review": (qh.tasks(db_session, "branch_review", branch_id=a2)[0], ("rev_a1", "sec_b1", "disc_a1", "m1_a2")),
        "report": (qh.tasks(db_session, "report_verification")[0], ("rev_a1", "rev_b1", "disc_a1")),
        "approval": (qh.tasks(db_session, "branch_approval")[0], ("sec_a1", "sec_a2", "rev_b1", "m1_b1")),
        "appeal": (qh.tasks(db_session, "appeal_decision")[0], ("disc_a2", "disc_b1", "sec_a1", "rev_a1", "m1_a1")),
    }
    for endpoint, (task, outsiders) in pages.items():
        url = f"/review/{task.id}/{endpoint}"
        for username in outsiders:
            login(username)
            assert client.get(url).status_code == 403, (url, username)
            assert client.post(url, data={"action": "submit", "decision": "approved"}).status_code == 403, (url, username)
            assert client.get(f"/inbox/tasks/{task.id}").status_code == 403, (url, username)
            assert client.post(f"/inbox/tasks/{task.id}/claim").status_code == 403, (url, username)
    # Missing tasks and a task on another form's page: 404.
    login("rev_a2")
    review_task = pages["review"][0]
    assert client.get(f"/review/{review_task.id}/approval").status_code == 404
    assert client.get(f"/review/{review_task.id}/review").status_code == 200
    for endpoint in ("review", "approval", "meeting", "appeal", "report", "follow-up"):
        assert client.get(f"/review/99999999/{endpoint}").status_code == 404
    assert client.get("/review/99999999999999999999/review").status_code == 404
    # Nothing of this is in the history of anybody's step as a refused attempt: nothing moved.
    assert all(t.state == TaskState.OPEN for t, _ in pages.values())


# --- The secretary: approval and the general meeting -------------------------------------------------------


@pytest.fixture
def approval(shipped, db_session):
    """Branch a1 fully reviewed: its approval waits."""
    q = st.current_quarter(db_session)
    qh.declare_all(db_session, q.id)
    a1 = shipped.branches["a1"].id
    for task in qh.tasks(db_session, "branch_review", quarter_id=q.id, branch_id=a1):
        tx.run(db_session, evaluation.review, qh.reviewer_for(db_session, task), task.id, [])
    [task] = qh.tasks(db_session, "branch_approval", branch_id=a1)
    return SimpleNamespace(q=q, task=task, url=f"/review/{task.id}/approval")


def test_approval_page_lists_the_branch(client, login, db_session, shipped, approval):
    as_user(client, login, "sec_a1")
    page = text(client.get(approval.url))
    members = [p for p in shipped.members("a1")]
    for person in members:
        assert person.name in page
    assert shipped.people["rev_a1"].name in page or shipped.people["rev2_a1"].name in page  # who reviewed
    assert "Approve the reviewed scores" in page and 'name="returned_person_ids"' in page


def test_approval_refuses_bad_input(client, login, db_session, shipped, approval):
    as_user(client, login, "sec_a1")
    m1 = shipped.people["m1_a1"].id
    outsider = shipped.people["m1_b1"].id
    cases = [
        ({"decision": "returned", "comment": "请复核"}, "Choose the members whose review goes back."),
        ({"decision": "returned", "returned_person_ids": str(m1)}, "Say why the review goes back."),
        ({"decision": "returned", "returned_person_ids": str(outsider), "comment": "x"}, "Only members of this branch can be returned."),
        ({"decision": "returned", "returned_person_ids": "abc", "comment": "x"}, "Choose the members whose review goes back."),
        ({"decision": "returned", "returned_person_ids": "9" * 30, "comment": "x"}, "Only members of this branch can be returned."),
        ({"decision": "perhaps"}, "Approve, or return members for review."),
        ({"decision": "approved", "comment": "意" * 2001}, "At most 2000 characters."),
    ]
    for data, message in cases:
        response = client.post(approval.url, data=data)
        assert response.status_code == 422, data
        assert shows(response, message), data
        if data.get("comment"):
            assert data["comment"][:50] in text(response)
    assert fresh(db_session, HumanTask, approval.task.id).state == TaskState.OPEN


def test_returning_a_member_sends_the_review_back(client, login, db_session, shipped, approval):
    as_user(client, login, "sec_a1")
    m1 = shipped.people["m1_a1"].id
    response = client.post(approval.url, data={"decision": "returned", "returned_person_ids": str(m1),
                                               "comment": "加分佐证不足，请重新审核。"})
    assert response.status_code == 302
    assert qh.tasks(db_session, "branch_review", person_id=m1)


def test_approval_then_meeting(client, login, db_session, shipped, approval, clock):
    as_user(client, login, "sec_a1")
    assert client.post(approval.url, data={"decision": "approved", "comment": "同意"}).status_code == 302
    [meeting] = qh.tasks(db_session, "branch_meeting", branch_id=shipped.branches["a1"].id)
    url = f"/review/{meeting.id}/meeting"
    page = text(client.get(url))
    assert 'value="2026-10-09"' in page  # today, in the bureau's time
    assert "More than half of the members expected must be present." in page
    login("sec_a2")
    assert client.get(url).status_code == 403
    as_user(client, login, "sec_a1")
    good = {"meeting_date": "2026-10-09", "meeting_expected": "11", "meeting_present": "10",
            "meeting_resolution": "全体党员逐一评议，同意审核结果。"}
    cases = [
        ({"meeting_date": ""}, "Enter the date of the meeting."),
        ({"meeting_date": "2026-10-10"}, "The meeting cannot be in the future."),
        ({"meeting_date": "2026-02-30"}, "Enter a date as YYYY-MM-DD."),
        ({"meeting_date": "2025-10-09"}, "The meeting must be after the quarter was opened."),
        ({"meeting_expected": "0"}, "Enter how many members should attend."),
        ({"meeting_expected": "十一"}, "Enter a whole number."),
        ({"meeting_expected": "9" * 40}, "Out of range."),
        ({"meeting_present": "-1"}, "Attendance is between 0 and the number expected."),
        ({"meeting_present": "12"}, "Attendance is between 0 and the number expected."),
        ({"meeting_expected": "10", "meeting_present": "5"}, "A general meeting needs more than half of its members present."),
        ({"meeting_resolution": "   "}, "Record the meeting's resolution."),
        ({"meeting_resolution": "议" * 4001}, "At most 4000 characters."),
    ]
    for change, message in cases:
        response = client.post(url, data={**good, **change})
        assert response.status_code == 422, change
        assert shows(response, message), change
        kept = change.get("meeting_resolution", good["meeting_resolution"]).strip()[:40]
        assert kept in text(response), change
    response = client.post(url, data=good)
    assert response.status_code == 302
    bq = db_session.scalar(select(BranchQuarter).where(BranchQuarter.quarter_id == approval.q.id,
                                                       BranchQuarter.branch_id == shipped.branches["a1"].id)
                           .execution_options(populate_existing=True))
    assert (bq.meeting_expected, bq.meeting_present, bq.status) == (11, 10, "publicity")
    steps = db_session.scalars(select(AuditEvent.data).where(AuditEvent.instance_id == bq.instance_id,
                                                             AuditEvent.action == "task.completed")).all()
    assert any('"branch_meeting"' in s for s in steps)


# --- The discipline member: appeals and concerns; review again ---------------------------------------------------


@pytest.fixture
def appealed(shipped, db_session):
    q, appeal, concern = st.to_appeal(db_session, st.TEST_CAST)
    return SimpleNamespace(q=q, appeal=appeal, concern=concern,
                           appeal_task=st.appeal_task(db_session, q, "m1_a1"),
                           concern_task=st.appeal_task(db_session, q, "m2_a1"))


def test_concern_page_and_decision(client, login, db_session, shipped, appealed):
    as_user(client, login, "disc_a1")
    url = f"/review/{appealed.concern_task.id}/appeal"
    page = text(client.get(url))
    assert "A concern raised by another member" in page
    assert appealed.concern.text in page and shipped.people["m1_a2"].name in page  # who raised it
    assert "三会一课缺席" in page  # the evaluation's claims and their decisions
    for data, message in (({"decision": "dismissed", "reason": " "}, "The appellant will read the reason: write it."),
                          ({"reason": "无误"}, "Uphold or dismiss."),
                          ({"decision": "dismissed", "reason": "理" * 2001}, "At most 2000 characters.")):
        response = client.post(url, data=data)
        assert response.status_code == 422 and shows(response, message), data
    response = client.post(url, data={"decision": "dismissed", "reason": "经查签到表，扣分均已计入。"})
    assert response.status_code == 302
    assert fresh(db_session, Appeal, appealed.concern.id).status == "dismissed"
    note = db_session.scalar(select(Notification).where(Notification.user_id == qh.who(db_session, "m1_a2").user_id,
                                                        Notification.kind == "appeal_decided"))
    assert note is not None and note.body == "经查签到表，扣分均已计入。"


def test_upheld_appeal_is_reviewed_again_with_the_appeal_shown(client, login, db_session, shipped, appealed):
    as_user(client, login, "disc_a1")
    url = f"/review/{appealed.appeal_task.id}/appeal"
    assert "An appeal by the member" in text(client.get(url))
    response = client.post(url, data={"decision": "upheld", "reason": "搜救记录属实，应予加分。"})
    assert response.status_code == 302
    [again] = qh.tasks(db_session, "branch_review", person_id=shipped.people["m1_a1"].id)
    assert again.bpmn_id == "re_review"
    as_user(client, login, "rev2_a1")
    page = text(client.get(f"/review/{again.id}/review"))
    assert "Review again after an upheld appeal" in page
    assert appealed.appeal.text in page and "搜救记录属实，应予加分。" in page
    claims = [c for c in evaluation.claims_of(db_session, appealed.appeal.evaluation_id) if c.status not in ("draft", "revoked")]
    ev = fresh(db_session, Evaluation, appealed.appeal.evaluation_id)
    rules = evaluation.rules(db_session, ev)
    rescue = next(s for s in rules.standards.values() if s.kind == "bonus" and s.honour_category is None
                  and s.id not in {c.standard_id for c in claims})
    before = ev.score
    response = client.post(f"/review/{again.id}/review", data=review_data(claims, additions=[{
        "standard_id": str(rescue.id), "occurrences": "1", "occurred_on": "2026-10-12", "description": "夜间海上搜救",
        "reason": "搜救中心任务记录"}]))
    assert response.status_code == 302
    ev = fresh(db_session, Evaluation, ev.id)
    assert ev.score == before + rescue.points and ev.status == "posted"
    # Unchanged decisions were not sent again: only the addition was recorded by the second review.
    assert all(fresh(db_session, Claim, c.id).reviewed_by == c.reviewed_by for c in claims)


# --- The points group: a supervision report --------------------------------------------------------------------


@pytest.fixture
def reported(shipped, db_session):
    q = st.current_quarter(db_session)
    report = st.submit_report(db_session, st.TEST_CAST, "m1_a1")
    [task] = qh.tasks(db_session, "report_verification")
    return SimpleNamespace(q=q, report=report, task=task, url=f"/review/{task.id}/report")


def test_the_reviewer_never_learns_who_reported(client, login, db_session, shipped, reported):
    reporter = shipped.people["m1_a2"].name
    as_user(client, login, "rev_a1")
    page = text(client.get(reported.url))
    assert reported.report.text in page and shipped.people["m1_a1"].name in page
    assert reporter not in page and "Not shown" in page
    login("office")
    office = text(client.get(reported.url))
    assert reporter in office
    assert 'name="decision"' not in office  # the party office looks, it does not verify
    login("disc_a1")  # the discipline member may know who reported, but verifying is not theirs
    assert client.get(reported.url).status_code == 403


def test_report_verification_refuses_bad_input_then_records_the_deduction(client, login, db_session, shipped, reported):
    ev = qh.evaluation_of(db_session, reported.q.id, shipped.people["m1_a1"].id)
    rules = evaluation.rules(db_session, ev)
    deduction = next(s for s in rules.standards.values() if s.kind == "deduction" and (s.max_occurrences or 99) >= 2)
    bonus = next(s for s in rules.standards.values() if s.kind == "bonus")
    as_user(client, login, "rev_a1")
    good = {"decision": "substantiated", "standard_id": str(deduction.id), "occurrences": "1", "reason": "经核实属实。"}
    cases = [
        ({"decision": ""}, "Substantiated or not."),
        ({"standard_id": ""}, "Choose the deduction standard of the member's catalogue."),
        ({"standard_id": str(bonus.id)}, "Choose the deduction standard of the member's catalogue."),
        ({"standard_id": "abc"}, "Enter a whole number."),
        ({"occurrences": "0"}, "Out of range."),
        ({"occurrences": "1.5"}, "Enter a whole number."),
        ({"occurrences": str(2**40)}, "Out of range."),
        ({"reason": ""}, "Give the reason: the member and the reporter read it."),
    ]
    for change, message in cases:
        response = client.post(reported.url, data={**good, **change})
        assert response.status_code == 422, change
        assert shows(response, message), change
    response = client.post(reported.url, data=good)
    assert response.status_code == 302
    claim = db_session.scalar(select(Claim).where(Claim.report_id == reported.report.id))
    assert claim.source == "report" and claim.standard_id == deduction.id and claim.evaluation_id == ev.id


def test_unsubstantiated_report_needs_no_standard(client, login, db_session, reported):
    as_user(client, login, "rev2_a1")
    response = client.post(reported.url, data={"decision": "unsubstantiated", "standard_id": "zzz", "occurrences": "x",
                                               "reason": "查无实据。"})
    assert response.status_code == 302
    assert fresh(db_session, SupervisionReport, reported.report.id).status == "unsubstantiated"


# --- Follow-ups ---------------------------------------------------------------------------------------------


def test_follow_up_pages(client, login, db_session, shipped, clock):
    q = st.to_follow_up(db_session, st.TEST_CAST, clock.advance)
    tasks = {t.bpmn_id: t for t in st.follow_up_tasks(db_session, q, "m2_a1")}
    talk, award = tasks["reminder_talk"], tasks["award_disqualification"]
    assert (talk.role, award.role) == ("secretary", "party_office")
    url = f"/review/{talk.id}/follow-up"
    login("sec_a2")
    assert client.get(url).status_code == 403
    as_user(client, login, "sec_a1")
    page = text(client.get(url))
    weak = fresh(db_session, Evaluation, qh.evaluation_of(db_session, q.id, shipped.people["m2_a1"].id).id)
    assert "Reminder talk" in page and shipped.people["m2_a1"].name in page
    assert _points(weak.score) in page and "Below the pass line" in page and "第四季度党员积分通报" in page
    for data, message in (({"record": " ", "done_on": "2026-10-18"}, "Record what was done."),
                          ({"record": "已约谈", "done_on": "2026-12-31"}, "The date cannot be in the future."),
                          ({"record": "已约谈", "done_on": "18/10/2026"}, "Enter a date as YYYY-MM-DD."),
                          ({"record": "谈" * 4001}, "At most 4000 characters.")):
        response = client.post(url, data=data)
        assert response.status_code == 422 and shows(response, message), data
    response = client.post(url, data={"record": "10月18日由支部书记约谈，本人表示整改。", "done_on": "2026-10-18"})
    assert response.status_code == 302
    done = db_session.scalar(select(FollowUp).where(FollowUp.person_id == shipped.people["m2_a1"].id,
                                                    FollowUp.kind == "reminder_talk")
                             .execution_options(populate_existing=True))
    assert done.status == "done" and done.record.startswith("10月18日")
    as_user(client, login, "office")
    assert "Loss of award eligibility" in text(client.get(f"/review/{award.id}/follow-up"))


def test_a_concerns_author_stays_unnamed_for_the_reviewers(client, login, db_session, shipped, appealed):
    author = shipped.people["m1_a2"].name
    tx.run(db_session, appeals.decide, qh.who(db_session, "disc_a1"), appealed.concern_task.id, decision="upheld",
           reason="需重新核对缺席次数。")
    [again] = qh.tasks(db_session, "branch_review", person_id=shipped.people["m2_a1"].id)
    as_user(client, login, "rev_a1")
    for url in (f"/review/{again.id}/review", f"/inbox/tasks/{again.id}"):
        page = text(client.get(url))
        assert appealed.concern.text in page or url.startswith("/inbox"), url
        assert author not in page and "(not shown)" in page, url
    as_user(client, login, "office")  # the party office may know who raised it
    assert author in text(client.get(f"/inbox/tasks/{again.id}"))


def test_appeal_against_a_reports_deduction(client, login, db_session, shipped):
    q = st.current_quarter(db_session)
    report = st.report_deduction(db_session, q, st.TEST_CAST)
    tx.run(db_session, reports.appeal, qh.who(db_session, "m1_a1"), report.id, "当天在外执行海巡任务，有派车记录。")
    [task] = qh.tasks(db_session, "appeal_decision", person_id=shipped.people["m1_a1"].id)
    assert task.process_key == "supervision_report"
    url = f"/review/{task.id}/appeal"
    login("disc_a2")
    assert client.get(url).status_code == 403
    as_user(client, login, "disc_a1")
    page = text(client.get(url))
    assert "An appeal against a report" in page and "当天在外执行海巡任务" in page
    assert report.text in page and "经调取考勤记录核实属实。" in page
    assert 'class="highlight"' in page  # the deduction appealed against, among the evaluation's claims
    response = client.post(url, data={"decision": "upheld", "reason": "派车记录属实，撤销扣分。"})
    assert response.status_code == 302
    claim = db_session.scalar(select(Claim).where(Claim.report_id == report.id).execution_options(populate_existing=True))
    assert claim.status == "revoked"
