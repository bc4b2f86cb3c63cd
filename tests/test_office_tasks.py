"""The bureau's task pages of a quarter: notice and comment (composition, follow-ups, errors that
keep what was chosen), filing acceptance (return needs a reason; accepting locks the quarter) and
the quarterly verification (reproducible sample, findings, evidence)."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import func, insert, select

from models.evaluation import (
    Claim,
    Evaluation,
    Evidence,
    FollowUp,
    Notice,
    Quarter,
    VerificationFinding,
)
from tests import bureau_pages_setup as S
from tests import quarter_helpers as qh
from workflows.quarter import evaluation, notices


@pytest.fixture
def ready(app, db_session, org):
    qh.deploy_shipped(db_session)
    qh.load_catalogue(db_session)
    return org


def _url(task, suffix):
    return f"/office/tasks/{task.id}/{suffix}"


def test_notice_page_lists_commendations_under_pass_and_every_branch(client, login, db_session, ready, clock):
    org = ready
    star, weak = org.people["m1_a2"], org.people["m2_a1"]
    q = S.at_notice(db_session, clock, excellent=(star.id,), weak=(weak.id,))
    [task] = qh.tasks(db_session, "quarter_notice", quarter_id=q.id)
    login("office")
    page = client.get(_url(task, "notice"))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # Commendation: the excellent member, checked; under the pass line: the weak one, a talk pre-chosen.
    assert star.name in html and f'name="commend" value="{star.id}" checked' in html
    assert weak.name in html and f'name="fu-{weak.id}" value="reminder_talk" checked' in html
    assert f'name="fu-{weak.id}" value="criticism"' in html and f'name="fu-{weak.id}" value="award_disqualification"' in html
    # Every branch's collective score, and the title proposed.
    for branch in ("机关第一党支部", "机关第二党支部", "海事处党支部"):
        assert branch in html
    assert "2026年第4季度党员积分情况通报" in html
    # The task page is registered for the inbox.
    from webapp.tasks import registered

    assert registered()["quarter_notice"] == "office.notice_task"


def test_notice_errors_keep_every_choice(client, login, db_session, ready, clock):
    org = ready
    star, weak = org.people["m1_a2"], org.people["m2_a1"]
    q = S.at_notice(db_session, clock, excellent=(star.id,), weak=(weak.id,))
    [task] = qh.tasks(db_session, "quarter_notice", quarter_id=q.id)
    login("office")
    # No title, no follow-up for the weak member, the star unticked, a branch follow-up chosen.
    a2 = org.branches["a2"].id
    response = client.post(_url(task, "notice"), data={"title": "", "body": "保留的点评", f"bfu-{a2}": "criticism_notice"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "通报需要标题" in html
    assert "每名未达到合格标准的党员都需要" in html
    assert "保留的点评" in html
    assert f'name="commend" value="{star.id}" checked' not in html
    assert '<option value="criticism_notice" selected' in html
    assert db_session.scalar(select(func.count()).select_from(Notice)) == 0
    # A commended member under the pass line, and garbage ids: refused, never a 500.
    bad = client.post(_url(task, "notice"), data={"title": "通报", "commend": [str(weak.id)], f"fu-{weak.id}": "criticism"})
    assert bad.status_code == 422 and "未达到合格标准的党员不能受到表扬" in bad.get_data(as_text=True)
    garbage = client.post(_url(task, "notice"), data={"title": "通报", "commend": ["abc"], f"fu-{weak.id}": "nonsense"})
    assert garbage.status_code == 422


def test_notice_publishes_to_all_and_starts_follow_ups(client, login, db_session, ready, clock):
    org = ready
    star, weak = org.people["m1_a2"], org.people["m2_a1"]
    q = S.at_notice(db_session, clock, excellent=(star.id,), weak=(weak.id,))
    [task] = qh.tasks(db_session, "quarter_notice", quarter_id=q.id)
    a1 = org.branches["a1"].id
    login("office")
    response = client.post(_url(task, "notice"), data={
        "title": "2026年第四季度党员积分通报", "body": "总体良好。\n个别党员需加强。", "commend": [str(star.id)],
        f"fu-{weak.id}": ["reminder_talk", "criticism"], f"bfu-{a1}": "secretary_interview"})
    assert response.status_code == 302
    notice = db_session.scalar(select(Notice))
    assert response.headers["Location"].endswith(f"/notices/{notice.id}")
    assert notice.published_at is not None and notice.title == "2026年第四季度党员积分通报"
    assert [c["person_id"] for c in notice.data["commendations"]] == [star.id]
    kinds = {(f.kind, f.person_id, f.branch_id) for f in db_session.scalars(select(FollowUp))}
    assert kinds == {("reminder_talk", weak.id, a1), ("criticism", weak.id, a1), ("secretary_interview", None, a1)}
    assert db_session.get(Quarter, q.id, populate_existing=True).status == "notified"
    # Every member can read it; the task page now says it is done.
    login("m3_b1")
    html = client.get(f"/notices/{notice.id}").get_data(as_text=True)
    assert "2026年第四季度党员积分通报" in html and star.name in html and "约谈支部书记" in html
    login("office")
    done = client.get(_url(task, "notice"))
    assert done.status_code == 200 and "已发布" in done.get_data(as_text=True)
    assert client.post(_url(task, "notice"), data={"title": "again"}).status_code == 200


def test_notice_page_refuses_others(client, login, db_session, ready, clock):
    q = S.at_notice(db_session, clock)
    [task] = qh.tasks(db_session, "quarter_notice", quarter_id=q.id)
    for user in ("leader", "sec_a1", "m1_a1"):
        login(user)
        assert client.get(_url(task, "notice")).status_code == 403, user
        assert client.post(_url(task, "notice"), data={"title": "x"}).status_code == 403, user


def test_task_pages_check_the_form_of_the_task(client, login, db_session, ready, clock):
    q = S.at_notice(db_session, clock)
    [task] = qh.tasks(db_session, "quarter_notice", quarter_id=q.id)
    login("leader")
    assert client.get(_url(task, "filing")).status_code == 404  # a notice task is not a filing task
    assert client.get("/office/tasks/999999/filing").status_code == 404


def test_filing_summary_return_needs_a_reason_and_accept_locks(client, login, db_session, ready, clock):
    from models.evaluation import Appeal
    from workflows.engine import tx
    from workflows.quarter import appeals, notices

    org = ready
    weak = org.people["m2_a1"]
    q = S.posted(db_session, clock, weak=(weak.id,))
    ev = qh.evaluation_of(db_session, q.id, org.people["m1_b1"].id)
    tx.run(db_session, appeals.file_appeal, qh.who(db_session, "m1_b1"), ev.id, kind="appeal", text="请复核加分。")
    [decide] = qh.tasks(db_session, "appeal_decision", person_id=org.people["m1_b1"].id)
    tx.run(db_session, appeals.decide, qh.who(db_session, "disc_b1"), decide.id, decision="dismissed",
           reason="经核实，积分无误。")
    qh.end_publicity(db_session, clock)
    [notice_task] = qh.tasks(db_session, "quarter_notice", quarter_id=q.id)
    tx.run(db_session, notices.save_notice, qh.who(db_session, "office"), notice_task.id, title="通报", body="",
           commended_person_ids=[], person_follow_ups={weak.id: ["reminder_talk"]}, branch_follow_ups={})
    [task] = qh.tasks(db_session, "filing_acceptance", quarter_id=q.id)
    login("leader")
    page = client.get(_url(task, "filing"))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "经核实，积分无误。" in html and "驳回" in html, html[html.find("h-appeals"):html.find("h-appeals") + 1500]  # the appeal and its outcome
    assert "约谈提醒" in html and weak.name in html  # open follow-ups
    assert "不合格" in html or "未达到合格标准" in html  # the grade distribution
    assert "海事处党支部" in html
    # Returning without a reason is refused, with the choice kept.
    refused = client.post(_url(task, "filing"), data={"decision": "returned", "comment": ""})
    assert refused.status_code == 422
    assert re.search(r'<input checked[^>]*value="returned"', refused.get_data(as_text=True))
    assert client.post(_url(task, "filing"), data={"decision": "maybe"}).status_code == 422
    accepted = client.post(_url(task, "filing"), data={"decision": "accepted", "comment": "同意备案"})
    assert accepted.status_code == 302
    quarter = db_session.get(Quarter, q.id, populate_existing=True)
    assert quarter.locked and quarter.status == "filed"
    assert db_session.scalar(select(func.count()).select_from(Appeal)) == 1
    shown = client.get(f"/office/quarters/{q.id}").get_data(as_text=True)
    assert "已锁定" in shown or "locked" in shown
    for user in ("office", "sec_a1"):
        login(user)
        assert client.get(_url(task, "filing")).status_code == 403


def test_filing_returned_goes_back_to_the_party_office(client, login, db_session, ready, clock):
    q = S.notified(db_session, clock)
    [task] = qh.tasks(db_session, "filing_acceptance", quarter_id=q.id)
    login("leader")
    response = client.post(_url(task, "filing"), data={"decision": "returned", "comment": "请补充支部书记约谈安排"})
    assert response.status_code == 302
    assert not db_session.get(Quarter, q.id, populate_existing=True).locked
    assert qh.tasks(db_session, "quarter_notice", quarter_id=q.id)


def test_verification_sample_findings_and_evidence(client, login, db_session, ready, clock):
    q = S.filed(db_session, clock)
    [task] = qh.tasks(db_session, "quarter_verification", quarter_id=q.id)
    sample = notices.sample(db_session, q.id, 10)
    target = sample[0]
    # A claim with its evidence on one sampled evaluation (written straight to the tables: the quarter
    # is locked for the application).
    content = "夜间执法记录".encode()
    standard = next(iter(evaluation.rules(db_session, target).standards.values()))
    claim_id = db_session.execute(insert(Claim.__table__).returning(Claim.__table__.c.id).values(
        evaluation_id=target.id, standard_id=standard.id, source="self", status="accepted", occurrences=1,
        description="夜间执法", decision_reason="", created_at=clock.now(), updated_at=clock.now())).scalar_one()
    evidence_id = db_session.execute(insert(Evidence.__table__).returning(Evidence.__table__.c.id).values(
        evaluation_id=target.id, claim_id=claim_id, filename="执法记录.pdf", content_type="application/pdf",
        size=len(content), sha256=hashlib.sha256(content).hexdigest(), storage_key="ab" * 20,
        uploaded_at=clock.now())).scalar_one()
    db_session.commit()
    login("leader")
    page = client.get(_url(task, "verification"))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert all(f'name="result-{e.id}"' in html for e in sample) and len(sample) == 10
    assert client.get(_url(task, "verification")).get_data(as_text=True) == html  # the same sample
    assert f'href="/evidence/{evidence_id}"' in html and "执法记录.pdf" in html and "夜间执法" in html
    assert standard.code in html
    # An issue without text, and a missing result: refused with the choices kept.
    data = {"size": "10", **{f"result-{e.id}": "consistent" for e in sample[1:]}, f"result-{sample[1].id}": "issue"}
    refused = client.post(_url(task, "verification"), data=data)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "请描述问题" in html and re.search(rf'<input checked[^>]*name="result-{sample[2].id}"|name="result-{sample[2].id}" value="consistent" checked', html)
    data[f"result-{target.id}"] = "consistent"
    data[f"finding-{sample[1].id}"] = "佐证材料与申报次数不符"
    done = client.post(_url(task, "verification"), data=data)
    assert done.status_code == 302
    findings = {f.evaluation_id: (f.result, f.finding) for f in db_session.scalars(select(VerificationFinding))}
    assert len(findings) == 10 and findings[sample[1].id] == ("issue", "佐证材料与申报次数不符")
    quarter_page = client.get(f"/office/quarters/{q.id}").get_data(as_text=True)
    assert "9 项一致，1 项有问题" in quarter_page
    assert "已记录" in client.get(_url(task, "verification")).get_data(as_text=True)  # done: read-only
    for user in ("office", "m1_a1"):
        login(user)
        assert client.get(_url(task, "verification")).status_code == 403


def test_verification_sample_size(client, login, db_session, ready, clock):
    q = S.filed(db_session, clock)
    [task] = qh.tasks(db_session, "quarter_verification", quarter_id=q.id)
    total = db_session.scalar(select(func.count()).select_from(Evaluation).where(Evaluation.quarter_id == q.id))
    login("leader")
    for size, shown in (("3", 3), ("abc", 10), ("0", 1), ("500", 50)):
        html = client.get(_url(task, "verification") + f"?size={size}").get_data(as_text=True)
        assert html.count('value="issue"') == min(shown, total), size
