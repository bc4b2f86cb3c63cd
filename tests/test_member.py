"""The member's pages: the self-evaluation (declaring with claims, one click, the branch recording
for an overdue member), my scores with the why of every point, appeals and concerns, the
probationary record and notifications — each for the right people only."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from models import audit
from models.catalogue import Standard
from models.evaluation import (
    AnnualAssessment,
    AnnualResult,
    Appeal,
    Claim,
    Notification,
)
from models.people import Person
from tests import quarter_helpers as qh
from tests import test_member_states as states
from workflows.engine import jobs, tx
from workflows.quarter import appeals, evaluation, notify, reports
from workflows.reading import explain


def text_of(response) -> str:
    return response.get_data(as_text=True)


def errors_of(response) -> list[str]:
    return [m.strip() for m in re.findall(r'class="(?:error|flash flash-error)"[^>]*>([^<]+)<', text_of(response))]


@pytest.fixture
def quarter(app, db_session, org, clock):
    qh.deploy_shipped(db_session)
    qh.load_catalogue(db_session)
    return qh.open_quarter(db_session, clock)


def own_task(db_session, org, username: str = "m1_a1", form: str = "self_evaluation"):
    [task] = qh.tasks(db_session, form, person_id=org.people[username].id)
    return task


# --- The self-evaluation page --------------------------------------------------------------------------

def test_the_page_shows_the_quarter_deadline_catalogue_and_one_click(client, login, db_session, org, quarter):
    task = own_task(db_session, org)
    login("m1_a1")
    response = client.get(f"/self-evaluation/{task.id}")
    page = text_of(response)
    assert response.status_code == 200
    assert "2026年第4季度党员积分考评" in page
    assert "2026-10-19 09:00" in page  # deadline in Asia/Shanghai (opened 10-09 09:00 + 10 days)
    assert "共 202 条评分标准" in page and page.count('<li class="cat-std') == 202
    assert "一键申报（无加扣分事项）" in page and 'name="one_click" value="1"' in page
    assert "按申报认定的积分" in page and ">100<" in page
    assert "script-src 'self'" in response.headers["Content-Security-Policy"] and "<script>" not in page


def test_the_catalogue_is_searchable_without_javascript(client, login, db_session, org, quarter):
    task = own_task(db_session, org)
    login("m1_a1")
    page = text_of(client.get(f"/self-evaluation/{task.id}?q=表彰"))
    shown = page.count('<li class="cat-std')
    assert 0 < shown < 202 and f"{shown} 条与“表彰”匹配" in page
    assert all("表彰" in s for s in re.findall(r'data-search="([^"]*)"', page))
    assert "没有匹配的标准" in text_of(client.get(f"/self-evaluation/{task.id}?q=zzzz不存在"))
    bonus = text_of(client.get(f"/self-evaluation/{task.id}?q=加分 荣誉"))
    assert re.findall(r'data-search="([^"]*)"', bonus) and all(
        "加分" in s for s in re.findall(r'data-search="([^"]*)"', bonus))


def test_picking_a_standard_opens_the_claim_form(client, login, db_session, org, quarter):
    task = own_task(db_session, org)
    ev = qh.evaluation_of(db_session, quarter.id, org.people["m1_a1"].id)
    picks = states.standards(db_session, ev)
    login("m1_a1")
    honour = text_of(client.get(f"/self-evaluation/{task.id}?std={picks['high'].id}"))
    assert 'id="claim-form"' in honour and picks["high"].text in honour
    assert picks["high"].honour_category in honour and "只计最高级别" in honour
    assert 'min="2026-10-01"' in honour and 'max="2026-12-31"' in honour
    deduction = text_of(client.get(f"/self-evaluation/{task.id}?std={picks['deduction'].id}"))
    assert "诚信申报" in deduction and "如实申报" in deduction
    assert 'id="claim-form"' not in text_of(client.get(f"/self-evaluation/{task.id}?std=999999"))


def test_only_the_member_opens_their_self_evaluation(client, login, db_session, org, quarter):
    task = own_task(db_session, org)
    # The member last: their one-click submission completes the task.
    for username, status in (("m2_a1", 403), ("rev_a1", 403), ("sec_a1", 403), ("m1_a2", 403), ("office", 403),
                             ("m1_a1", 200)):
        login(username)
        assert client.get(f"/self-evaluation/{task.id}").status_code == status, username
        assert client.post(f"/self-evaluation/{task.id}/submit", data={"one_click": "1"}).status_code in (
            (302,) if status == 200 else (403,)), username


def test_other_tasks_and_missing_ones_are_not_found(client, login, db_session, org, quarter):
    qh.declare_all(db_session, quarter.id)
    review = own_task(db_session, org, "m1_a1", "branch_review")
    login("rev_a1")
    assert client.get(f"/self-evaluation/{review.id}").status_code == 404
    assert client.get("/self-evaluation/999999").status_code == 404


def test_one_click_declaration(client, login, db_session, org, quarter):
    task = own_task(db_session, org)
    login("m1_a1")
    response = client.post(f"/self-evaluation/{task.id}/submit", data={"one_click": "1"})
    ev = qh.evaluation_of(db_session, quarter.id, org.people["m1_a1"].id)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/my/evaluations/{ev.id}")
    assert ev.one_click and ev.status == "review" and ev.self_score == 100
    assert ev.declared_by == org.users["m1_a1"].id
    page = text_of(client.get(f"/my/evaluations/{ev.id}"))
    assert "已一键申报" in page and "一键申报，无加扣分事项" in page
    # The task is done: its page now says so and shows the evaluation.
    again = client.get(f"/self-evaluation/{task.id}")
    assert again.status_code == 302 and again.headers["Location"].endswith(f"/my/evaluations/{ev.id}")
    twice = client.post(f"/self-evaluation/{task.id}/submit", data={"one_click": "1"})
    assert twice.status_code == 302 and "本次自评已提交" in text_of(client.get(twice.headers["Location"]))


def test_one_click_from_my_scores(client, login, db_session, org, quarter):
    login("m1_a1")
    index = text_of(client.get("/my/"))
    task = own_task(db_session, org)
    assert f'action="/self-evaluation/{task.id}/submit"' in index and "一键申报" in index
    assert client.get("/my/self-evaluation").headers["Location"].endswith(f"/self-evaluation/{task.id}")
    assert client.post(f"/self-evaluation/{task.id}/submit", data={"one_click": "1"}).status_code == 302
    assert "目前没有待您完成的自评" in text_of(client.get("/my/self-evaluation", follow_redirects=True))


def test_declaring_with_claims(client, login, db_session, org, quarter):
    task = own_task(db_session, org)
    ev = qh.evaluation_of(db_session, quarter.id, org.people["m1_a1"].id)
    picks = states.standards(db_session, ev)
    rules = evaluation.rules(db_session, ev)
    login("m1_a1")
    url = f"/self-evaluation/{task.id}"
    response = client.post(f"{url}/claims", data={"standard_id": picks["plain"].id, "occurrences": "2",
                                                  "occurred_on": "2026-10-08", "description": "夜间执法两次"})
    [claim] = db_session.scalars(select(Claim)).all()
    assert response.status_code == 302 and response.headers["Location"].endswith(f"#claim-{claim.id}")
    assert (claim.status, claim.source, claim.occurrences, claim.created_by) == ("draft", "self", 2, org.users["m1_a1"].id)
    page = text_of(client.get(url))
    preview = rules.baseline_total + 2 * picks["plain"].points
    assert f">{states_points(preview)}<" in page and "提交 1 条申报" in page
    assert "一键申报（无加扣分事项）" not in page and "已申报 2 次" in page
    # One click is refused while there are drafts.
    refused = client.post(f"{url}/submit", data={"one_click": "1"})
    assert refused.status_code == 422 and "您还有申报草稿" in text_of(refused)
    # Changed, then an honest deduction added; the preview follows every change.
    assert client.post(f"{url}/claims/{claim.id}", data={"standard_id": picks["plain"].id, "occurrences": "1",
                                                         "occurred_on": "", "description": "一次"}).status_code == 302
    client.post(f"{url}/claims", data={"standard_id": picks["deduction"].id, "occurrences": "1",
                                       "occurred_on": "2026-11-03", "description": "无故缺席集中学习"})
    expected = rules.baseline_total + picks["plain"].points - picks["deduction"].points
    assert f">{states_points(expected)}<" in text_of(client.get(url))
    edit = text_of(client.get(f"{url}?edit={claim.id}"))
    assert "修改申报" in edit and "一次</textarea>" in edit
    response = client.post(f"{url}/submit", data={})
    ev = qh.evaluation_of(db_session, quarter.id, org.people["m1_a1"].id)
    assert response.status_code == 302 and ev.status == "review" and not ev.one_click and ev.self_score == expected
    assert {c.status for c in db_session.scalars(select(Claim).execution_options(populate_existing=True))} == {"submitted"}


def states_points(value) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text


@pytest.mark.parametrize(("values", "message"), [
    ({"occurrences": "0"}, "Out of range."),
    ({"occurrences": "abc"}, "Enter a whole number."),
    ({"occurrences": "3"}, None),  # accepted below the standard's limit
    ({"occurred_on": "2026-09-30"}, "The date must fall within the quarter."),
    ({"occurred_on": "2026-13-45"}, "Enter a date as YYYY-MM-DD."),
    ({"standard_id": "999999"}, "This standard is not in your catalogue."),
    ({"description": "很长" * 1001}, "At most 2000 characters."),
])
def test_bad_claims_get_a_message_and_keep_what_was_typed(app, client, login, db_session, org, quarter, values,
                                                          message):
    task = own_task(db_session, org)
    ev = qh.evaluation_of(db_session, quarter.id, org.people["m1_a1"].id)
    picks = states.standards(db_session, ev)
    form = {"standard_id": str(picks["deduction"].id), "occurrences": "1", "occurred_on": "2026-10-20",
            "description": "会议记录可查，已当面说明"} | values
    login("m1_a1")
    response = client.post(f"/self-evaluation/{task.id}/claims", data=form)
    if message is None:
        assert response.status_code == 302
        return
    assert response.status_code == 422
    assert states.says(app, message) in errors_of(response), errors_of(response)
    page = text_of(response)
    assert form["description"][:20] in page and f'value="{form["occurrences"]}"' in page
    assert db_session.scalar(select(func.count()).select_from(Claim)) == 0


def test_submitting_needs_the_evidence_a_standard_asks_for(client, login, db_session, org, quarter):
    task = own_task(db_session, org)
    ev = qh.evaluation_of(db_session, quarter.id, org.people["m1_a1"].id)
    picks = states.standards(db_session, ev)
    needy = next(s for s in db_session.scalars(select(Standard).where(Standard.evidence_required.is_(True))) if s.id in evaluation.rules(db_session, ev).standards)
    login("m1_a1")
    client.post(f"/self-evaluation/{task.id}/claims", data={"standard_id": needy.id, "occurrences": "1"})
    response = client.post(f"/self-evaluation/{task.id}/submit", data={})
    assert response.status_code == 422
    assert "提交前请先处理以下申报的问题" in text_of(response) and "该评分标准需要佐证材料：请上传文件" in text_of(response)
    assert qh.evaluation_of(db_session, quarter.id, ev.person_id).status == "self_evaluation"
    assert picks  # the catalogue has both kinds


def test_the_branch_records_for_an_overdue_member(client, login, db_session, org, quarter, clock):
    clock.advance(days=11)
    jobs.run_until_idle(db_session)
    proxy = own_task(db_session, org, "m1_a1", "proxy_self_evaluation")
    ev = qh.evaluation_of(db_session, quarter.id, org.people["m1_a1"].id)
    picks = states.standards(db_session, ev)
    login("m1_a1")
    assert client.get(f"/self-evaluation/{proxy.id}").status_code == 403
    late = client.get("/my/self-evaluation", follow_redirects=True)
    assert "目前没有待您完成的自评" in text_of(late)
    for username in ("rev_a2", "m2_a1", "sec_b1"):
        login(username)
        assert client.get(f"/self-evaluation/{proxy.id}").status_code == 403
    login("rev_a1")
    page = text_of(client.get(f"/self-evaluation/{proxy.id}"))
    assert "为 " in page and "代为登记" in page and "代为登记：无加扣分事项" in page
    client.post(f"/self-evaluation/{proxy.id}/claims", data={"standard_id": picks["plain"].id, "occurrences": "1",
                                                             "description": "值班记录显示执法一次"})
    [claim] = db_session.scalars(select(Claim)).all()
    assert claim.source == "branch" and claim.created_by == org.users["rev_a1"].id
    assert client.post(f"/self-evaluation/{proxy.id}/submit", data={}).status_code == 302
    ev = qh.evaluation_of(db_session, quarter.id, ev.person_id)
    assert ev.recorded_by_branch and ev.status == "review" and ev.declared_by == org.users["rev_a1"].id
    login("m1_a1")
    assert "逾期未报，由支部代为登记" in text_of(client.get(f"/my/evaluations/{ev.id}"))


# --- My scores and the why of every point -----------------------------------------------------------

@pytest.fixture
def posted(app, db_session, org, quarter, clock):
    """m1_a1 declared four claims with files; they were accepted, adjusted, rejected; posted."""
    ev, claims = states.posted_with_claims(db_session, clock, "m1_a1", app.config["UPLOAD_DIR"])
    return qh.evaluation_of(db_session, quarter.id, ev.person_id), claims


def test_the_explanation_traces_every_point(app, db_session, org, posted, clock):
    ev, claims = posted
    appeal = tx.run(db_session, appeals.file_appeal, qh.who(db_session, "m1_a1"), ev.id, kind="appeal",
                    text="表彰文件为局级，应按局级计分。", claim_id=claims["high"].id)
    [decide] = qh.tasks(db_session, "appeal_decision", person_id=ev.person_id)
    tx.run(db_session, appeals.decide, qh.who(db_session, "disc_a1"), decide.id, decision="dismissed",
           reason="文件落款为处级单位，维持调整。")
    ev = qh.evaluation_of(db_session, ev.quarter_id, ev.person_id)
    data = explain.build(db_session, ev, viewer=qh.who(db_session, "m1_a1"))
    json.dumps(data)  # plain data, ready for the API
    assert not data["provisional"] and data["totals"]["total"] == str(ev.score)
    entries = {e["claim_id"]: e for d in data["dimensions"] for i in d["items"] for e in i["entries"]}
    high = entries[claims["high"].id]
    assert high["standard"]["honour_category"] and high["standard"]["honour_level_name"]
    assert high["declared_by"]["name"] == org.people["m1_a1"].name and high["declared_at"].startswith("2026-10-09T01:00")
    assert [f["filename"] for f in high["evidence"]] == ["表彰文件.pdf"]
    assert high["review"]["decision"] == "adjust" and high["review"]["reason"] == "表彰文件为处级，按处级计分"
    assert high["review"]["by"]["name"] in (org.people["rev_a1"].name, org.people["rev2_a1"].name)
    assert high["review"]["points_per_occurrence"] == "1.50" and high["points"] == "1.50" and high["adjusted"]
    [decided] = high["appeals"]
    assert decided["id"] == appeal.id and decided["status"] == "dismissed"
    assert decided["decided_by"]["name"] == org.people["disc_a1"].name and decided["reason"] == "文件落款为处级单位，维持调整。"
    low = entries[claims["low"].id]
    assert not low["counted"] and low["not_counted"] == "rejected" and low["review"]["decision"] == "reject"
    deduction = entries[claims["deduction"].id]
    assert deduction["counted"] and deduction["standard"]["kind"] == "deduction"
    assert [h["action"] for h in entries[claims["plain"].id]["history"]] == ["claim.added", "claim.reviewed"]
    assert [s["step"] for s in data["steps"]][:2] == ["self_evaluation", "branch_review"]
    assert data["branch_quarter"]["meeting_present"] == 9 and data["branch_quarter"]["approved_by"]


def test_the_evaluation_page_shows_the_why(client, login, db_session, org, posted):
    ev, claims = posted
    login("m1_a1")
    page = text_of(client.get(f"/my/evaluations/{ev.id}"))
    for text in ("积分明细：逐项说明", "表彰文件为处级，按处级计分", "同类荣誉只计最高级别", "值班记录.png",
                 "不予认定", "调整", "支部党员大会确认", "应到 10 人，实到 9 人", "对该积分申诉"):
        assert text in page, text
    evidence_id = claims["plain"].evidence[0].id if claims["plain"].evidence else None
    assert evidence_id is None or f"/evidence/{evidence_id}" in page


def test_who_may_see_an_evaluation(client, login, posted):
    ev, _ = posted
    for username, status in (
        ("m1_a1", 200), ("rev_a1", 200), ("sec_a1", 200), ("disc_a1", 200), ("office", 200), ("leader", 200),
        ("m2_a1", 403), ("m1_a2", 403), ("rev_a2", 403), ("disc_b1", 403), ("designer", 403),
    ):
        login(username)
        assert client.get(f"/my/evaluations/{ev.id}").status_code == status, username


def test_missing_evaluations_and_anonymous_visitors(client, login, posted):
    ev, _ = posted
    assert client.get(f"/my/evaluations/{ev.id}").status_code == 302
    login("m1_a1")
    assert client.get("/my/evaluations/999999").status_code == 404


def test_my_scores_and_my_year(client, login, db_session, org, posted):
    ev, _ = posted
    login("m1_a1")
    index = text_of(client.get("/my/"))
    assert "2026Q4" in index and "公示中" in index and f"/my/evaluations/{ev.id}/appeal" in index
    assessment = AnnualAssessment(year=2026, status="approved")
    db_session.add(assessment)
    db_session.flush()
    db_session.add(AnnualResult(assessment_id=assessment.id, person_id=ev.person_id, branch_id=ev.branch_id,
                                quarter_scores={"4": str(ev.score)}, quarters_counted=1, score=ev.score,
                                grade=ev.grade, rank=3))
    db_session.commit()
    year = text_of(client.get("/my/years/2026"))
    assert "第 4 季度" in year and "全局第 3 名" in year and "未参加考评" in year
    assert client.get("/my/years/1800").status_code == 404
    client.post("/logout")
    assert client.get("/my/").status_code == 302


def test_the_probationary_record(client, login, db_session, org, posted):
    person = db_session.get(Person, org.people["m2_a1"].id)
    person.joined_party_on = date(2026, 5, 4)
    db_session.commit()
    login("m2_a1")
    assert "我的转正积分记录" in text_of(client.get("/my/"))
    record = client.get("/my/probation-record")
    page = text_of(record)
    assert record.status_code == 200 and "预备党员转正积分记录" in page and "2026-05-04" in page
    assert "2027-05-04" in page and "2026年第4季度党员积分考评" in page and "支部书记（签字）" in page
    login("m1_a1")
    assert client.get("/my/probation-record").status_code == 302
    for username, status in (("sec_a1", 200), ("office", 200), ("m1_a1", 403), ("sec_a2", 403)):
        login(username)
        assert client.get(f"/people/{person.id}/probation-record").status_code == status, username


# --- Appeals and concerns ------------------------------------------------------------------------

def test_an_appeal_inside_the_window(client, login, db_session, org, posted):
    ev, claims = posted
    login("m1_a1")
    form = text_of(client.get(f"/my/evaluations/{ev.id}/appeal"))
    assert "我的总分" in form and "公示" in form
    empty = client.post(f"/my/evaluations/{ev.id}/appeal", data={"claim_id": "", "text": "  "})
    assert empty.status_code == 422 and "请写明问题和理由" in text_of(empty)
    response = client.post(f"/my/evaluations/{ev.id}/appeal", data={"claim_id": str(claims["low"].id),
                                                                   "text": "同类荣誉应取最高级别，请复核。"})
    assert response.status_code == 302
    appeal = db_session.scalar(select(Appeal))
    assert (appeal.kind, appeal.claim_id, appeal.submitted_by) == ("appeal", claims["low"].id, org.users["m1_a1"].id)
    assert qh.tasks(db_session, "appeal_decision", person_id=ev.person_id)
    page = text_of(client.get(f"/my/evaluations/{ev.id}"))
    assert "同类荣誉应取最高级别，请复核。" in page and "支部纪检委员正在处理" in page
    for username in ("m2_a1", "m1_a2", "rev_a1"):
        login(username)
        assert client.get(f"/my/evaluations/{ev.id}/appeal").status_code == 403, username


def test_no_appeal_outside_the_window(client, login, db_session, org, quarter, clock):
    ev = qh.evaluation_of(db_session, quarter.id, org.people["m1_a1"].id)
    login("m1_a1")
    before = client.get(f"/my/evaluations/{ev.id}/appeal")
    assert "积分张榜公示后，方可申诉或反映" in text_of(before) and "<textarea" not in text_of(before)
    refused = client.post(f"/my/evaluations/{ev.id}/appeal", data={"text": "太早了"})
    assert refused.status_code == 422 and "只在积分公示期内受理申诉和反映" in text_of(refused)
    qh.declare_all(db_session, quarter.id)
    qh.review_all(db_session, quarter.id)
    qh.approve_and_meet(db_session, quarter.id, clock)
    qh.end_publicity(db_session, clock)
    after = text_of(client.get(f"/my/evaluations/{ev.id}/appeal"))
    assert "公示期已于" in after and "不再受理申诉和反映" in after
    assert client.post(f"/my/evaluations/{ev.id}/appeal", data={"text": "太晚了"}).status_code == 422
    assert db_session.scalar(select(func.count()).select_from(Appeal)) == 0


def test_a_concern_about_somebody_elses_posted_score(client, login, db_session, org, posted):
    ev, _ = posted
    login("m1_b1")  # any member of the bureau
    page = text_of(client.get(f"/evaluations/{ev.id}/concern"))
    assert org.people["m1_a1"].name in page and "反映问题" in page
    response = client.post(f"/evaluations/{ev.id}/concern", data={"text": "该同志本季度有迟到情况。"})
    assert response.status_code == 302
    concern = db_session.scalar(select(Appeal))
    assert concern.kind == "concern" and concern.submitted_by == org.users["m1_b1"].id
    # The member it is about sees the concern and its decision, not who raised it.
    [decide] = qh.tasks(db_session, "appeal_decision", person_id=ev.person_id)
    tx.run(db_session, appeals.decide, qh.who(db_session, "disc_a1"), decide.id, decision="dismissed",
           reason="经查考勤记录，无迟到。")
    login("m1_a1")
    own = text_of(client.get(f"/my/evaluations/{ev.id}"))
    assert "该同志本季度有迟到情况。" in own and "经查考勤记录，无迟到。" in own
    assert org.people["m1_b1"].name not in own and "一名党员" in own
    login("disc_a1")
    assert org.people["m1_b1"].name in text_of(client.get(f"/my/evaluations/{ev.id}"))
    # The one who raised it is told the decision and its reason, and sees it in My scores.
    login("m1_b1")
    assert "经查考勤记录，无迟到。" in text_of(client.get("/my/"))
    notes = text_of(client.get("/notifications"))
    assert "您的申诉（反映）未被采纳" in notes and "经查考勤记录，无迟到。" in notes
    # Their own score: the concern page sends them to the appeal page.
    login("m1_a1")
    assert client.get(f"/evaluations/{ev.id}/concern").headers["Location"].endswith(f"/my/evaluations/{ev.id}/appeal")


def test_no_concern_outside_the_window_and_nothing_shown(client, login, db_session, org, quarter):
    ev = qh.evaluation_of(db_session, quarter.id, org.people["m1_a1"].id)
    login("m1_b1")
    response = client.get(f"/evaluations/{ev.id}/concern")
    assert response.status_code == 200 and "积分张榜公示后" in text_of(response)
    assert org.people["m1_a1"].name not in text_of(response)
    assert client.post(f"/evaluations/{ev.id}/concern", data={"text": "x"}).status_code == 422
    assert client.get("/evaluations/999999/concern").status_code == 404


def test_appealing_a_report_deduction(client, login, db_session, org, quarter):
    subject = org.people["m1_a1"]
    report = tx.run(db_session, reports.submit, qh.who(db_session, "m1_a2"), subject_person_id=subject.id,
                    text="上班期间多次脱岗。")
    [verify] = qh.tasks(db_session, "report_verification", person_id=subject.id)
    ev = qh.evaluation_of(db_session, quarter.id, subject.id)
    deduction = states.standards(db_session, ev)["deduction"]
    tx.run(db_session, reports.verify, qh.who(db_session, "rev_a1"), verify.id, decision="substantiated",
           reason="经考勤核实属实。", standard_id=deduction.id, occurrences=1)
    login("m1_a1")
    page = text_of(client.get(f"/my/evaluations/{ev.id}"))
    assert "经考勤核实属实。" in page and f"/my/reports/{report.id}/appeal" in page
    assert org.people["m1_a2"].name not in page  # the reporter stays hidden from the member
    assert "可申诉的监督举报扣分" in text_of(client.get("/my/"))
    assert "已在您本季度积分中扣分" in text_of(client.get("/notifications"))
    response = client.post(f"/my/reports/{report.id}/appeal", data={"text": "当日在外执行任务，有派车记录。"})
    assert response.status_code == 302
    assert db_session.scalar(select(Appeal)).claim_id is not None
    again = client.post(f"/my/reports/{report.id}/appeal", data={"text": "再次申诉"})
    assert again.status_code == 422 and "不能再申诉" in text_of(again)
    login("disc_a1")
    assert org.people["m1_a2"].name in text_of(client.get(f"/my/evaluations/{ev.id}"))
    for username in ("m1_a2", "rev_a1"):
        login(username)
        assert client.get(f"/my/reports/{report.id}/appeal").status_code == 403


# --- Notifications -----------------------------------------------------------------------------------

def test_notifications_are_worded_per_kind_and_marked_read(client, login, db_session, org, app):
    user = org.users["m1_a1"]
    data = {"self_evaluation_reminder": {"deadline": "2026-10-19T01:00:00+00:00"}, "appeal_decided": {"decision": "upheld"},
            "report_deduction": {"appeal_until": "2026-10-16T15:59:59+00:00"}, "follow_up_overdue": {"kind": "reminder_talk"},
            "notice_published": {"title": "第四季度通报", "quarter": "2026Q4"}, "annual_published": {"year": 2026}}
    for kind in notify.KINDS:
        notify.notify(db_session, [user.id], kind, data=data.get(kind, {}), body="理由正文" if kind == "report_closed" else "",
                      link="/my/" if kind != "report_closed" else "//evil.example/")
    notify.notify(db_session, [org.users["m1_a2"].id], "appeal_decided", data={"decision": "dismissed"})
    db_session.commit()
    login("m1_a1")
    home = text_of(client.get("/notifications"))
    assert '<span class="badge" title="' in home and f">{len(notify.KINDS)}</span>" in home
    for text in ("请于 2026-10-19 09:00 前完成党员自评", "已被采纳：积分将重新审核", "2026-10-16 23:59 前申诉",
                 "整改跟进已逾期：约谈提醒", "2026Q4 通报已发布：第四季度通报", "2026 年度评估结果已发布",
                 "理由正文", "支部书记退回了审核"):
        assert text in home, text
    assert "您有一条新消息" not in home
    notes = db_session.scalars(select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)).all()
    opened = client.get(f"/notifications/{notes[0].id}/open")
    assert opened.status_code == 302 and opened.headers["Location"] == "/my/"
    evil = next(n for n in notes if n.kind == "report_closed")
    assert client.get(f"/notifications/{evil.id}/open").headers["Location"].endswith("/notifications")
    assert client.post(f"/notifications/{notes[1].id}/read").status_code == 302
    unread = db_session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)))
    assert unread == len(notify.KINDS) - 3
    others = db_session.scalar(select(Notification.id).where(Notification.user_id == org.users["m1_a2"].id))
    assert client.get(f"/notifications/{others}/open").status_code == 404
    assert client.post(f"/notifications/{others}/read").status_code == 404
    assert "标为已读" in text_of(client.get("/notifications?unread=1"))
    assert client.post("/notifications/read-all").status_code == 302
    assert "没有未读消息" in text_of(client.get("/notifications?unread=1"))
    assert db_session.scalar(select(Notification.read_at).where(Notification.id == others)) is None
    assert '<span class="badge"' not in text_of(client.get("/notifications"))


def test_english_is_one_click_away(client, login, db_session, org, quarter):
    login("m1_a1")
    client.post("/lang/en", data={"next": "/my/"})
    page = text_of(client.get(f"/self-evaluation/{own_task(db_session, org).id}"))
    assert "One-click declaration: nothing to declare" in page and "My catalogue" in page


def test_a_deleted_claims_id_is_never_handed_out_again(app, db_session, org, quarter):
    """SQLite reuses the id of a deleted last row unless its table says AUTOINCREMENT (migration
    0005): a claim id in history, audit or a URL names one claim for ever."""
    other = qh.evaluation_of(db_session, quarter.id, org.people["m2_a1"].id)
    actor = qh.who(db_session, "m2_a1")
    standard = db_session.scalars(select(Standard).order_by(Standard.id)).first()
    values = {"standard_id": standard.id, "occurrences": 1, "description": "草稿"}
    first = tx.run(db_session, evaluation.save_claim, actor, other.id, values)
    tx.run(db_session, evaluation.delete_claim, actor, first.id)
    second = tx.run(db_session, evaluation.save_claim, actor, other.id, values)
    assert second.id > first.id


def test_a_claims_history_is_its_own_evaluations_only(app, db_session, org, posted, quarter):
    """An event about another evaluation's claim that carried the same id (as reused ids on SQLite
    once did) is not this claim's history: the explanation shows only its own evaluation's trail."""
    ev, claims = posted
    other = qh.evaluation_of(db_session, quarter.id, org.people["m2_a1"].id)
    claim = claims["plain"]
    audit.record(db_session, "claim.changed", actor_user_id=org.users["m2_a1"].id, object_type="claim",
                 object_id=claim.id, quarter_id=quarter.id, branch_id=other.branch_id,
                 data={"evaluation_id": other.id, "description": "别人的草稿"})
    db_session.flush()
    data = explain.build(db_session, ev, viewer=qh.who(db_session, "m1_a1"))
    entries = {e["claim_id"]: e for d in data["dimensions"] for i in d["items"] for e in i["entries"]}
    history = entries[claim.id]["history"]
    assert history, "the claim's own declaration is in its history"
    assert all(h["data"].get("description") != "别人的草稿" for h in history)
    assert all((h["by"] or {}).get("name") != org.people["m2_a1"].name for h in history)
