"""The notices (通报点评) for every party member: list, notice page with its lists, print view;
unpublished or missing notices are not there; a later notice of a quarter supersedes an earlier one."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.evaluation import Notice
from tests import bureau_pages_setup as S
from tests import quarter_helpers as qh


@pytest.fixture
def published(app, db_session, org, clock):
    qh.deploy_shipped(db_session)
    qh.load_catalogue(db_session)
    q = S.notified(db_session, clock, excellent=(org.people["m1_a2"].id,), weak=(org.people["m2_a1"].id,),
                   branch_follow_ups={org.branches["a1"].id: "secretary_interview"})
    return q, db_session.scalar(select(Notice))


def test_every_member_reads_the_notice(client, login, org, published):
    q, notice = published
    for user in ("m3_b1", "m1_a1", "sec_a2", "office", "leader", "designer"):
        _reads_the_notice(client, login, org, notice, user)


def _reads_the_notice(client, login, org, notice, user):
    login(user)
    listing = client.get("/notices/")
    assert listing.status_code == 200 and f"/notices/{notice.id}" in listing.get_data(as_text=True)
    page = client.get(f"/notices/{notice.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "2026年第4季度党员积分通报" in html and "总体情况良好，个别党员需加强学习。" in html
    # Commendations, members under the pass line with their follow-ups, weak branches, every branch.
    assert org.people["m1_a2"].name in html and "表扬" in html
    assert org.people["m2_a1"].name in html and "约谈提醒" in html and "取消评优评先资格" in html
    assert "约谈支部书记" in html
    for branch in ("机关第一党支部", "机关第二党支部", "海事处党支部"):
        assert branch in html


def test_print_view(client, login, published):
    q, notice = published
    login("m1_b1")
    page = client.get(f"/notices/{notice.id}/print")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'class="topbar' not in html and "data-print" in html
    assert "2026年第4季度党员积分通报" in html and "打印时间" in html and "测试海事局" in html


def test_missing_and_unpublished_notices_are_not_found(client, login, db_session, published):
    q, notice = published
    draft = Notice(quarter_id=q.id, title="草稿", body="", data={})
    db_session.add(draft)
    db_session.commit()
    login("office")
    assert client.get(f"/notices/{draft.id}").status_code == 404
    assert client.get(f"/notices/{draft.id}/print").status_code == 404
    assert client.get("/notices/99999").status_code == 404
    assert "草稿" not in client.get("/notices/").get_data(as_text=True)
    assert client.get("/notices/?page=abc").status_code == 200


def test_signed_out_visitors_are_sent_to_sign_in(client, published):
    q, notice = published
    response = client.get(f"/notices/{notice.id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_later_notice_supersedes(client, login, db_session, clock, published):
    q, notice = published
    # The Leading Group returns the filing; the party office publishes a corrected notice.
    from workflows.engine import tx
    from workflows.quarter import notices

    [filing] = qh.tasks(db_session, "filing_acceptance", quarter_id=q.id)
    tx.run(db_session, notices.accept_filing, qh.who(db_session, "leader"), filing.id, decision="returned",
           comment="请补充点评")
    [again] = qh.tasks(db_session, "quarter_notice", quarter_id=q.id)
    lists = notices.compose(db_session, q.id)
    clock.advance(hours=2)
    tx.run(db_session, notices.save_notice, qh.who(db_session, "office"), again.id, title="更正后的通报", body="补充点评。",
           commended_person_ids=[], person_follow_ups={u["person_id"]: ["criticism"] for u in lists["under_pass"]},
           branch_follow_ups={})
    later = db_session.scalar(select(Notice).where(Notice.title == "更正后的通报"))
    login("m1_b1")
    old = client.get(f"/notices/{notice.id}").get_data(as_text=True)
    assert f'href="/notices/{later.id}"' in old and "以其为准" in old
    assert "以其为准" not in client.get(f"/notices/{later.id}").get_data(as_text=True)
    listing = client.get("/notices/").get_data(as_text=True)
    assert listing.index("更正后的通报") < listing.index("2026年第4季度党员积分通报")


def test_english_is_one_click_away(client, login, db_session, org, published):
    q, notice = published
    login("m1_b1")
    client.post("/lang/en", data={"next": f"/notices/{notice.id}"})
    html = client.get(f"/notices/{notice.id}").get_data(as_text=True)
    assert "Members under the pass line" in html and "Commendation" in html and "Reminder talk" in html
    board = client.get(f"/publicity/{q.id}/bureau").get_data(as_text=True)
    assert "Bureau ranking" in board and "Find me" in board
    client.post("/lang/zh", data={"next": "/"})
    assert "全局排名" in client.get(f"/publicity/{q.id}/bureau").get_data(as_text=True)
