"""The party office's quarter pages: opening a quarter (good and bad input), the quarters list and a
quarter's page (who may see what), and the follow-ups overview."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from models.evaluation import Evaluation, FollowUp, Quarter
from tests import bureau_pages_setup as S
from tests import quarter_helpers as qh


@pytest.fixture
def engine_ready(app, db_session, org):
    qh.deploy_shipped(db_session)
    qh.load_catalogue(db_session)
    return org


def _form(**overrides):
    data = {"unit_id": "", "year": "2026", "quarter": "4", "self_eval_deadline": "2026-10-20T18:00",
            "publicity_days": "5", "catalogue_version_id": "", "title": ""}
    data.update(overrides)
    return data


def test_open_quarter_form_opens_the_quarter_with_a_shanghai_deadline(client, login, db_session, engine_ready):
    login("office")
    page = client.get("/office/quarters/new")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "开启季度考评" in html or "Open a quarter" in html
    assert 'name="self_eval_deadline"' in html and 'value="2026-10-19T17:30"' in html  # 10 days on, 17:30
    response = client.post("/office/quarters/new", data=_form())
    assert response.status_code == 302
    quarter = db_session.scalar(select(Quarter))
    assert response.headers["Location"].endswith(f"/office/quarters/{quarter.id}")
    # 18:00 in Shanghai is 10:00 UTC, stored aware.
    assert quarter.self_eval_deadline == datetime(2026, 10, 20, 10, 0, tzinfo=UTC)
    assert quarter.publicity_days == 5 and quarter.scope_key == "bureau"
    people = db_session.scalar(select(func.count()).select_from(Evaluation).where(Evaluation.quarter_id == quarter.id))
    assert people == sum(1 for p in engine_ready.people.values() if p.evaluated)
    shown = client.get(response.headers["Location"], follow_redirects=True).get_data(as_text=True)
    assert "2026Q4" in shown and "2026-10-20 18:00" in shown


def test_open_quarter_for_one_unit_with_a_chosen_catalogue(client, login, db_session, engine_ready):
    from models.catalogue import CatalogueVersion

    login("office")
    version = db_session.scalar(select(CatalogueVersion).where(CatalogueVersion.status == "published"))
    unit = engine_ready.units["office"]
    response = client.post("/office/quarters/new", data=_form(unit_id=str(unit.id), catalogue_version_id=str(version.id),
                                                              publicity_days="3", title="海事处试点"))
    assert response.status_code == 302
    quarter = db_session.scalar(select(Quarter))
    assert quarter.unit_id == unit.id and quarter.title == "海事处试点" and quarter.publicity_days == 3
    assert {e.branch_id for e in db_session.scalars(select(Evaluation))} == {engine_ready.branches["b1"].id}


@pytest.mark.parametrize(("overrides", "message"), [
    ({"year": "abc"}, None),
    ({"year": ""}, "请输入年份"),
    ({"year": "1999"}, "2000"),
    ({"quarter": "5"}, None),
    ({"self_eval_deadline": ""}, "截止"),
    ({"self_eval_deadline": "tomorrow"}, None),
    ({"self_eval_deadline": "2026-10-01T09:00"}, "截止时间必须"),
    ({"publicity_days": "0"}, "1 至 30"),
    ({"publicity_days": "31"}, "1 至 30"),
    ({"publicity_days": "x"}, None),
    ({"unit_id": "999"}, None),
    ({"catalogue_version_id": "999"}, None),
    ({"year": "2031"}, "没有已发布的"),
])
def test_open_quarter_bad_input_is_refused_and_kept(client, login, db_session, engine_ready, overrides, message):
    login("office")
    response = client.post("/office/quarters/new", data=_form(title="保留的标题", **overrides))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'role="alert"' in html
    if message:
        assert message in html
    assert 'value="保留的标题"' in html  # nothing typed is lost
    assert db_session.scalar(select(func.count()).select_from(Quarter)) == 0


def test_opening_the_same_quarter_twice_is_refused(client, login, db_session, engine_ready):
    login("office")
    assert client.post("/office/quarters/new", data=_form()).status_code == 302
    again = client.post("/office/quarters/new", data=_form(unit_id=str(engine_ready.units["dept"].id)))
    assert again.status_code == 422
    assert "已经开启" in again.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(Quarter)) == 1


def test_only_the_party_office_opens_a_quarter(client, login, engine_ready):
    for user in ("leader", "sec_a1", "rev_a1", "m1_a1", "admin"):
        login(user)
        assert client.get("/office/quarters/new").status_code == 403, user
        assert client.post("/office/quarters/new", data=_form()).status_code == 403, user


def test_quarter_pages_show_progress_to_supervisors_and_own_branch_to_branch_roles(client, login, db_session, org, clock):
    qh.deploy_shipped(db_session)
    qh.load_catalogue(db_session)
    q = qh.open_quarter(db_session, clock)
    qh.declare_all(db_session, q.id, except_person_ids={org.people["m1_b1"].id})
    for user in ("office", "leader"):
        login(user)
        listing = client.get("/office/quarters")
        assert listing.status_code == 200 and f"/office/quarters/{q.id}" in listing.get_data(as_text=True)
        page = client.get(f"/office/quarters/{q.id}")
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert "机关第一党支部" in html and "海事处党支部" in html
        assert "审核中" in html  # evaluations by step: under review
    login("sec_a1")
    html = client.get(f"/office/quarters/{q.id}").get_data(as_text=True)
    assert "机关第一党支部" in html and "海事处党支部" not in html and "机关第二党支部" not in html
    assert "/office/quarters/new" not in html
    for user in ("m1_a1", "admin", "designer"):
        login(user)
        assert client.get(f"/office/quarters/{q.id}").status_code == 403
        assert client.get("/office/quarters").status_code == 403
    login("office")
    assert client.get("/office/quarters/99999").status_code == 404


def test_follow_ups_overview_lists_kind_assignee_due_and_overdue(client, login, db_session, org, clock):
    qh.deploy_shipped(db_session)
    qh.load_catalogue(db_session)
    weak = org.people["m2_a1"].id
    q = S.notified(db_session, clock, weak=(weak,), branch_follow_ups={org.branches["a2"].id: "criticism_notice"})
    kinds = {f.kind for f in db_session.scalars(select(FollowUp).where(FollowUp.quarter_id == q.id))}
    assert kinds == {"reminder_talk", "award_disqualification", "criticism_notice"}
    login("office")
    html = client.get(f"/office/follow-ups?quarter={q.id}").get_data(as_text=True)
    assert "约谈提醒" in html and "取消评优评先资格" in html and "通报批评" in html
    assert org.people["m2_a1"].name in html and "机关第二党支部" in html
    assert "已超期" not in html.split("<tbody>")[1]
    clock.advance(days=31)
    html = client.get(f"/office/follow-ups?quarter={q.id}&status=overdue").get_data(as_text=True)
    assert html.split("<tbody>")[1].count("已超期") == 3
    # Done: the secretary's record shows.
    from workflows.engine import tx
    from workflows.quarter import followups

    [talk] = qh.tasks(db_session, "follow_up", person_id=weak, branch_id=org.branches["a1"].id)
    tx.run(db_session, followups.complete, qh.who(db_session, "sec_a1"), talk.id, record="已约谈，本人表示整改。")
    html = client.get(f"/office/follow-ups?quarter={q.id}&status=done").get_data(as_text=True)
    assert "已约谈，本人表示整改。" in html and html.split("<tbody>")[1].count("<tr") == 1
    assert client.get("/office/follow-ups?status=nonsense&page=abc&quarter=x").status_code == 200
    for user in ("leader", "sec_a1", "m1_a1"):
        login(user)
        assert client.get("/office/follow-ups").status_code == 403


HUGE = "99999999999999999999"


@pytest.mark.parametrize(("user", "url", "status"), [
    ("office", f"/office/quarters/{HUGE}", 404),
    ("office", f"/office/tasks/{HUGE}/notice", 404),
    ("leader", f"/office/tasks/{HUGE}/filing", 404),
    ("leader", f"/office/tasks/{HUGE}/verification", 404),
    ("office", f"/office/tasks/{HUGE}/annual-review", 404),
    ("office", f"/annual/{HUGE}", 404),
    ("office", f"/annual/{HUGE}/export.xlsx", 404),
    ("m1_a1", f"/publicity/{HUGE}/bureau", 404),
    ("m1_a1", f"/notices/{HUGE}", 404),
    ("m1_a1", f"/reports/{HUGE}", 404),
    ("office", f"/office/follow-ups?quarter={HUGE}&page={HUGE}", 200),
    ("m1_a1", f"/reports/new?person={HUGE}", 200),
    ("m1_a1", f"/reports/?page={HUGE}", 200),
])
def test_numbers_no_row_can_have_are_not_found(client, login, org, user, url, status):
    login(user)
    assert client.get(url).status_code == status


def test_a_huge_person_id_in_a_report_is_refused(client, login, org):
    login("m1_a1")
    response = client.post("/reports/new", data={"subject_person_id": HUGE, "text": "有问题", "suggested_standard_id": ""})
    assert response.status_code == 422
