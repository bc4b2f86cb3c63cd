"""The annual assessment pages: start, review and approval task pages, results per person and per
branch (scoped for secretaries), and the workbook for the uses of the results."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from models.evaluation import AnnualAssessment, AnnualResult
from tests import bureau_pages_setup as S
from tests import quarter_helpers as qh


@pytest.fixture
def year_done(app, db_session, org, clock):
    """2026 with its fourth quarter filed: a star and a weak member (who lost award eligibility)."""
    qh.deploy_shipped(db_session)
    qh.load_catalogue(db_session)
    S.filed(db_session, clock, excellent=(org.people["m1_a2"].id,), weak=(org.people["m2_a1"].id,))
    return org


def _approve(client, login, db_session):
    login("office")
    assert client.post("/annual/start", data={"year": "2026"}).status_code == 302
    [review] = qh.tasks(db_session, "annual_review")
    assert client.post(f"/office/tasks/{review.id}/annual-review", data={"comment": "已核对"}).status_code == 302
    [approval] = qh.tasks(db_session, "annual_approval")
    login("leader")
    assert client.post(f"/office/tasks/{approval.id}/annual-approval",
                       data={"decision": "approved", "comment": "同意"}).status_code == 302


def test_start_review_approve_then_results(client, login, db_session, year_done):
    org = year_done
    login("office")
    index = client.get("/annual/")
    assert index.status_code == 200 and 'action="/annual/start"' in index.get_data(as_text=True)
    started = client.post("/annual/start", data={"year": "2026"})
    assert started.status_code == 302 and started.headers["Location"].endswith("/annual/2026")
    assessment = db_session.scalar(select(AnnualAssessment))
    assert assessment.status == "computed"
    # Starting the same year again is refused on the page.
    again = client.post("/annual/start", data={"year": "2026"})
    assert again.status_code == 409 and "本年度评估已经启动" in again.get_data(as_text=True)
    [review] = qh.tasks(db_session, "annual_review")
    page = client.get(f"/office/tasks/{review.id}/annual-review")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and org.people["m1_a2"].name in html and "海事处党支部" in html
    assert client.post(f"/office/tasks/{review.id}/annual-review", data={"comment": "已核对"}).status_code == 302
    [approval] = qh.tasks(db_session, "annual_approval")
    login("office")
    assert client.get(f"/office/tasks/{approval.id}/annual-approval").status_code == 403
    login("leader")
    refused = client.post(f"/office/tasks/{approval.id}/annual-approval", data={"decision": "returned", "comment": ""})
    assert refused.status_code == 422 and "请写明需要修改的内容" in refused.get_data(as_text=True)
    assert client.post(f"/office/tasks/{approval.id}/annual-approval",
                       data={"decision": "approved", "comment": "同意"}).status_code == 302
    assert db_session.get(AnnualAssessment, assessment.id, populate_existing=True).status == "approved"
    results = client.get("/annual/2026").get_data(as_text=True)
    assert "已批准" in results or "approved" in results or "审批" in results
    top = db_session.scalar(select(AnnualResult).order_by(AnnualResult.rank).limit(1))
    assert top.person_id == org.people["m1_a2"].id and top.grade == "excellent"
    assert org.people["m1_a2"].name in results and "/annual/2026/export.xlsx" in results
    # Filter by grade; bad page numbers never fail.
    failing = client.get("/annual/2026?grade=fail&page=x").get_data(as_text=True)
    assert org.people["m2_a1"].name in failing and org.people["m1_a2"].name not in failing


def test_start_bad_years_are_refused(client, login, db_session, year_done):
    login("office")
    for year in ("", "abc", "1999", "2025"):
        response = client.post("/annual/start", data={"year": year})
        assert response.status_code == 422, year
        assert 'role="alert"' in response.get_data(as_text=True), year
        assert db_session.scalar(select(AnnualAssessment)) is None, year


def test_who_sees_the_annual_pages(client, login, db_session, year_done):
    org = year_done
    _approve(client, login, db_session)
    login("sec_a1")  # a secretary sees the results of their own branch only
    html = client.get("/annual/2026").get_data(as_text=True)
    assert org.people["m2_a1"].name in html and org.people["m1_a2"].name not in html
    assert 'action="/annual/start"' not in client.get("/annual/").get_data(as_text=True)
    assert client.post("/annual/start", data={"year": "2026"}).status_code == 403
    for user in ("m1_a1", "rev_a1", "admin"):
        login(user)
        assert client.get("/annual/2026").status_code == 403
        assert client.get("/annual/2026/export.xlsx").status_code == 403
    login("leader")
    assert client.get("/annual/2031").status_code == 404


def test_export_before_approval_is_refused(client, login, db_session, year_done):
    login("office")
    client.post("/annual/start", data={"year": "2026"})
    response = client.get("/annual/2026/export.xlsx")
    assert response.status_code == 302 and response.headers["Location"].endswith("/annual/2026")


def test_the_workbook_has_a_sheet_per_use(client, login, db_session, year_done):
    org = year_done
    _approve(client, login, db_session)
    login("office")
    response = client.get("/annual/2026/export.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    wb = load_workbook(io.BytesIO(response.data), read_only=True)
    assert wb.sheetnames == ["民主评议", "评优评先", "职务职级晋升参考", "年度考核", "党支部"]
    people = len([p for p in org.people.values() if p.evaluated])

    def rows(name):
        return [list(r) for r in wb[name].iter_rows(values_only=True)]

    democratic = rows("民主评议")
    assert democratic[0][0].startswith("2026年度党员积分评估结果")
    assert democratic[1] == ["党支部", "支部内排名", "姓名", "工号", "党员身份", "第1季度", "第2季度", "第3季度",
                             "第4季度", "参评季度数", "年度积分", "等次"]
    assert len(democratic) == 2 + people
    star = next(r for r in democratic[2:] if r[2] == org.people["m1_a2"].name)
    assert star[0] == "机关第二党支部" and star[1] == 1 and star[8] is not None and star[11] == "优秀"
    assert star[5] is None  # not evaluated in Q1
    awards = rows("评优评先")
    assert awards[1][-1] == "推荐资格"
    by_name = {r[1]: r for r in awards[2:]}
    assert by_name[org.people["m1_a2"].name][-1] == "优先推荐"
    weak = by_name[org.people["m2_a1"].name]
    assert weak[-1] == "不具备资格" and weak[6] == 1 and weak[7] == "第4季度"
    promotion = rows("职务职级晋升参考")
    assert promotion[1][:7] == ["姓名", "工号", "党支部", "年度积分", "等次", "全局排名", "排名百分位"]
    assert promotion[2][0] == org.people["m1_a2"].name and promotion[2][5] == 1
    appraisal = rows("年度考核")
    probationary = next(r for r in appraisal[2:] if r[1] == org.people["m2_a1"].name)
    assert "预备党员" in probationary[-1] and "已取消评优评先资格" in probationary[-1]
    branches = rows("党支部")
    assert branches[1] == ["排名", "党支部", "人数", "平均分", "离散程度（标准差）", "优秀", "不合格"]
    assert sorted(r[1] for r in branches[2:]) == sorted(["机关第一党支部", "机关第二党支部", "海事处党支部"])
    assert [r[0] for r in branches[2:]] == [1, 2, 3]
    # A secretary's workbook holds their own branch only.
    login("sec_b1")
    wb = load_workbook(io.BytesIO(client.get("/annual/2026/export.xlsx").data), read_only=True)
    assert {r[0] for r in list(wb["民主评议"].iter_rows(values_only=True))[2:]} == {"海事处党支部"}
