"""Supervision report pages (监督举报): a member finds the member by name or employee number and
reports; the party office records an outside reporter; bad input is refused and kept; the lists are
scoped to the viewer's branches; who reported is shown only where the rules allow it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.evaluation import SupervisionReport
from tests import quarter_helpers as qh
from workflows.engine import tx
from workflows.quarter import reports


@pytest.fixture
def ready(app, db_session, org, clock):
    qh.deploy_shipped(db_session)
    qh.load_catalogue(db_session)
    qh.open_quarter(db_session, clock)
    return org


def _report(db_session, reporter: str, subject, text="上班期间多次脱岗。", **kwargs):
    return tx.run(db_session, reports.submit, qh.who(db_session, reporter), subject_person_id=subject.id, text=text,
                  **kwargs)


def test_a_member_finds_the_member_and_reports(client, login, db_session, ready):
    org = ready
    subject = org.people["m1_a1"]
    login("m1_a2")
    assert client.get("/reports/new").status_code == 200
    # Search by part of the name: the reporter never finds themself; typed text is kept.
    found = client.post("/reports/new", data={"q": subject.name[0], "text": "保留的内容", "search": "查找"})
    html = found.get_data(as_text=True)
    assert found.status_code == 200 and f'value="{subject.id}"' in html and "保留的内容" in html
    assert f'value="{org.people["m1_a2"].id}"' not in html
    # By employee number (any case).
    by_number = client.post("/reports/new", data={"q": subject.employee_no.lower(), "search": "查找"})
    assert f'value="{subject.id}"' in by_number.get_data(as_text=True)
    nobody = client.post("/reports/new", data={"q": "不存在的人", "search": "查找"})
    assert "未找到" in nobody.get_data(as_text=True)
    # Chosen: the deduction standards of the member's catalogue are offered.
    chosen = client.get(f"/reports/new?person={subject.id}").get_data(as_text=True)
    assert 'name="suggested_standard_id"' in chosen and "<optgroup" in chosen
    response = client.post("/reports/new", data={"subject_person_id": str(subject.id), "text": "上班期间多次脱岗。",
                                                 "occurred_on": "2026-10-08", "suggested_standard_id": ""})
    assert response.status_code == 302
    report = db_session.scalar(select(SupervisionReport))
    assert response.headers["Location"].endswith(f"/reports/{report.id}")
    assert report.subject_person_id == subject.id and report.reporter_user_id == org.users["m1_a2"].id
    assert str(report.occurred_on) == "2026-10-08" and not report.via_party_office
    assert qh.tasks(db_session, "report_verification", person_id=subject.id)
    mine = client.get("/reports/").get_data(as_text=True)
    assert subject.name in mine and "核实中" in mine or "Being verified" in mine


@pytest.mark.parametrize(("data", "message"), [
    ({"text": "有问题"}, "请选择被举报的党员"),
    ({"subject": True, "text": ""}, "请描述发生了什么"),
    ({"subject": True, "text": "有问题", "occurred_on": "2030-01-01"}, "日期不能晚于今天"),
    ({"subject": True, "text": "有问题", "occurred_on": "yesterday"}, None),
    ({"subject": True, "text": "有问题", "suggested_standard_id": "999999"}, None),
    ({"subject": True, "text": "字" * 4001}, None),
    ({"subject_person_id": "abc", "text": "有问题"}, "请选择被举报的党员"),
])
def test_bad_reports_are_refused_and_kept(client, login, db_session, ready, data, message):
    org = ready
    login("m1_a2")
    form = dict(data)
    if form.pop("subject", False):
        form["subject_person_id"] = str(org.people["m1_a1"].id)
    form.setdefault("suggested_standard_id", "")
    response = client.post("/reports/new", data=form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'role="alert"' in html
    if message:
        assert message in html
    if form.get("text") and len(form["text"]) < 100:
        assert form["text"] in html
    assert db_session.scalar(select(SupervisionReport)) is None


def test_reporting_oneself_is_refused(client, login, db_session, ready):
    org = ready
    login("m1_a2")
    response = client.post("/reports/new", data={"subject_person_id": str(org.people["m1_a2"].id), "text": "自己",
                                                 "suggested_standard_id": ""})
    assert response.status_code == 422 and db_session.scalar(select(SupervisionReport)) is None


def test_the_party_office_records_an_outside_reporter(client, login, db_session, ready):
    org = ready
    login("office")
    page = client.get(f"/reports/new?person={org.people['m1_b1'].id}").get_data(as_text=True)
    assert 'name="reporter_name"' in page
    missing = client.post("/reports/new", data={"subject_person_id": str(org.people["m1_b1"].id), "text": "群众来信反映",
                                                "via_party_office": "y", "reporter_name": "", "suggested_standard_id": ""})
    assert missing.status_code == 422 and "请登记举报人" in missing.get_data(as_text=True)
    done = client.post("/reports/new", data={"subject_person_id": str(org.people["m1_b1"].id), "text": "群众来信反映",
                                             "via_party_office": "y", "reporter_name": "王先生",
                                             "reporter_contact": "13800000000", "suggested_standard_id": ""})
    assert done.status_code == 302
    report = db_session.scalar(select(SupervisionReport))
    assert report.via_party_office and report.reporter_user_id is None and report.reporter_name == "王先生"
    listing = client.get("/reports/branches").get_data(as_text=True)
    assert "王先生" in listing and "13800000000" in listing
    # A member cannot record a report on someone else's behalf: the box is not offered, and ignored.
    login("m1_a2")
    assert 'name="reporter_name"' not in client.get("/reports/new").get_data(as_text=True)
    client.post("/reports/new", data={"subject_person_id": str(org.people["m1_b1"].id), "text": "反映",
                                      "via_party_office": "y", "reporter_name": "冒名", "suggested_standard_id": ""})
    mine = db_session.scalar(select(SupervisionReport).where(SupervisionReport.reporter_user_id == org.users["m1_a2"].id))
    assert mine is not None and not mine.via_party_office and mine.reporter_name == ""


def test_lists_are_scoped_and_the_reporter_shown_only_where_allowed(client, login, db_session, ready):
    org = ready
    report = _report(db_session, "m1_a2", org.people["m1_a1"])
    reporter_name = org.people["m1_a2"].name
    # The branch's discipline member and the party office see who reported.
    for user in ("disc_a1", "office"):
        login(user)
        listing = client.get("/reports/branches")
        assert listing.status_code == 200
        body = listing.get_data(as_text=True).split("<tbody>")[1]
        assert "上班期间多次脱岗" in body and reporter_name in body
        assert reporter_name in client.get(f"/reports/{report.id}").get_data(as_text=True).split("<main")[1]
    # The branch's reviewers see the report, not who made it.
    login("rev_a1")
    body = client.get("/reports/branches").get_data(as_text=True).split("<tbody>")[1]
    assert "上班期间多次脱岗" in body and reporter_name not in body and "不显示" in body
    assert "/reports/" in body
    shown = client.get(f"/reports/{report.id}").get_data(as_text=True).split("<main")[1]
    assert reporter_name not in shown and "<dt>举报人</dt>" not in shown
    # Another branch's people see nothing of it.
    for user in ("rev_a2", "disc_b1", "sec_a2"):
        login(user)
        listing = client.get("/reports/branches")
        assert listing.status_code in (200, 403)
        if listing.status_code == 200:
            assert "上班期间多次脱岗" not in listing.get_data(as_text=True)
        assert client.get(f"/reports/{report.id}").status_code == 403
    # The member reported about never sees the report nor the reporter.
    login("m1_a1")
    assert client.get(f"/reports/{report.id}").status_code == 403
    assert client.get("/reports/branches").status_code == 403
    assert "上班期间多次脱岗" not in client.get("/reports/").get_data(as_text=True)
    # A plain member has no branch list.
    login("m3_b1")
    assert client.get("/reports/branches").status_code == 403
    assert client.get("/reports/99999").status_code == 404


def test_a_reviewer_does_not_see_reports_about_themself(client, login, db_session, ready):
    org = ready
    _report(db_session, "m1_a2", org.people["rev_a1"], text="审核员本人的问题")
    login("rev_a1")
    assert "审核员本人的问题" not in client.get("/reports/branches").get_data(as_text=True)
    login("rev2_a1")
    assert "审核员本人的问题" in client.get("/reports/branches").get_data(as_text=True)


def test_the_reporter_sees_the_outcome(client, login, db_session, ready):
    org = ready
    report = _report(db_session, "m1_a2", org.people["m1_a1"])
    [verify] = qh.tasks(db_session, "report_verification")
    tx.run(db_session, reports.verify, qh.who(db_session, "rev_a1"), verify.id, decision="unsubstantiated",
           reason="查无实据。")
    login("m1_a2")
    mine = client.get("/reports/").get_data(as_text=True)
    assert "查无实据。" in mine
    page = client.get(f"/reports/{report.id}").get_data(as_text=True)
    assert "查无实据。" in page and org.people["m1_a1"].name in page
    login("rev_a1")
    assert "上班期间多次脱岗" in client.get("/reports/branches?status=unsubstantiated").get_data(as_text=True)
    assert "上班期间多次脱岗" not in client.get("/reports/branches?status=verifying").get_data(as_text=True)
    assert client.get("/reports/branches?status=nonsense&page=x").status_code == 200
