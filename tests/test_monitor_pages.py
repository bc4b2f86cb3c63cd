"""The monitor's pages over HTTP: who sees what, the counts and lists as pages, the instance page
(diagram data, history, engine data, retry), the charts and their downloadable data."""

from __future__ import annotations

import csv
import io

import pytest

from models.process import InstanceStatus
from tests.test_engine import test_registry  # noqa: F401 - registers the test form, message and operator
from tests.test_migration import fresh
from tests.test_monitor import make_known, make_scored


@pytest.fixture
def known(app, db_session, org, clock):
    return make_known(db_session, org, clock)


@pytest.fixture
def scored(app, db_session, org, clock):
    return make_scored(db_session, org, clock)


@pytest.mark.parametrize("username,status", [
    ("leader", 200), ("office", 200), ("sec_a1", 200), ("disc_b1", 200),
    ("m1_a1", 403), ("rev_a1", 403), ("designer", 403), ("admin", 403),
])
def test_who_may_open_the_monitor(client, login, org, username, status):
    login(username)
    assert client.get("/monitor/").status_code == status


def test_the_overview_shows_counts_by_step_and_branch(client, login, org, known):
    login("leader")
    page = client.get("/monitor/?process=engine_test").get_data(as_text=True)
    assert "申报" in page and "审核" in page and "海事处党支部" in page
    assert 'href="/monitor/instances?process=engine_test&amp;step=review"' in page
    assert "review (审核): something broke" in page  # the failed instance, with its error
    assert page.count('class="overdue') >= 1


def test_a_secretary_sees_only_their_branch(client, login, org, known):
    login("sec_a2")
    page = client.get("/monitor/").get_data(as_text=True)
    assert "机关第二党支部" in page and "海事处党支部" not in page and "something broke" not in page
    assert client.get(f"/monitor/instances/{known['b1_failed'].id}").status_code == 403
    assert client.get(f"/monitor/instances/{known['a2_review'].id}").status_code == 200
    assert client.get(f"/monitor/instances/{known['b1_failed'].id}/diagram.bpmn").status_code == 403
    listed = client.get(f"/monitor/instances?branch={org.branches['b1'].id}").get_data(as_text=True)
    assert "something broke" not in listed and f">{known['b1_failed'].id}<" not in listed


def test_instance_list_and_overdue_pages(client, login, org, known):
    login("office")
    page = client.get("/monitor/instances?process=engine_test&step=review").get_data(as_text=True)
    for key in ("a1_review", "a2_review", "b1_failed"):
        assert f'/monitor/instances/{known[key].id}"' in page
    assert f'/monitor/instances/{known["a1_declare1"].id}"' not in page
    overdue = client.get("/monitor/overdue").get_data(as_text=True)
    assert org.people["m1_a1"].name in overdue and org.people["m1_a2"].name in overdue
    assert client.get("/monitor/instances?page=999&status=nonsense&quarter=abc").status_code == 200


def test_the_instance_page(client, login, org, known):
    login("leader")
    instance = known["a1_wait"]
    page = client.get(f"/monitor/instances/{instance.id}").get_data(as_text=True)
    assert 'data-current="wait_go"' in page
    assert 'data-completed="declare review start"' in page or all(s in page for s in ("declare", "review"))
    assert org.people["rev2_a1"].name in page and "deadline" in page  # history and engine data
    assert "bpmn-viewer.production.min.js" in page and "js/monitor-diagram.js" in page
    xml = client.get(f"/monitor/instances/{instance.id}/diagram.bpmn")
    assert xml.status_code == 200 and xml.mimetype == "application/xml" and b'id="engine_test"' in xml.data
    assert client.get("/monitor/instances/99999").status_code == 404


def test_retry_from_the_instance_page(client, login, db_session, org, known):
    failed = known["b1_failed"]
    login("leader")
    page = client.get(f"/monitor/instances/{failed.id}").get_data(as_text=True)
    assert "something broke" in page and "/retry" not in page
    assert client.post(f"/monitor/instances/{failed.id}/retry").status_code == 403
    login("office")
    assert f"/monitor/instances/{failed.id}/retry" in client.get(f"/monitor/instances/{failed.id}").get_data(as_text=True)
    response = client.post(f"/monitor/instances/{failed.id}/retry", follow_redirects=True)
    assert response.status_code == 200
    assert fresh(db_session, failed).status == InstanceStatus.RUNNING
    # Retrying an instance that has no error says so.
    response = client.post(f"/monitor/instances/{failed.id}/retry", follow_redirects=True)
    assert response.status_code == 200 and "flash-error" in response.get_data(as_text=True)


def test_charts_and_their_data(client, login, org, scored):
    login("leader")
    page = client.get("/monitor/charts").get_data(as_text=True)
    for name in ("completion", "scores", "branches", "grades", "grade_trend"):
        assert f'data-chart="{name}"' in page and f"/monitor/charts/{name}.csv?quarter={scored.id}" in page
    data = client.get(f"/monitor/charts/branches.json?quarter={scored.id}").get_json()
    assert data["keys"] == ["mean", "spread", "low", "high", "members"] and "机关第一党支部" in data["labels"]
    response = client.get(f"/monitor/charts/grades.csv?quarter={scored.id}")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 4 and rows[1][0] == "机关第一党支部"
    assert client.get(f"/monitor/charts/nothing.json?quarter={scored.id}").status_code == 404
    assert client.get(f"/monitor/charts/grades.xml?quarter={scored.id}").status_code == 404


def test_consistency_page(client, login, org, scored):
    login("office")
    page = client.get(f"/monitor/consistency?quarter={scored.id}").get_data(as_text=True)
    assert "flag-harsh" in page and "统一标准、统一尺度" in page
    data = client.get(f"/monitor/charts/consistency.json?quarter={scored.id}").get_json()
    assert "harsh" in data["flags"] and data["flag_labels"]["harsh"]
    login("sec_a1")
    page = client.get(f"/monitor/consistency?quarter={scored.id}").get_data(as_text=True)
    assert "flag-harsh" not in page and "机关第二党支部" not in page


def test_pages_without_any_quarter(client, login, org):
    login("leader")
    for path in ("/monitor/", "/monitor/charts", "/monitor/consistency", "/monitor/overdue", "/monitor/instances"):
        assert client.get(path).status_code == 200, path
    assert client.get("/monitor/charts/scores.json").status_code == 404


def test_english_pages(client, login, org, known):
    login("leader")
    client.post("/lang/en", data={"next": "/monitor/"})
    page = client.get("/monitor/").get_data(as_text=True)
    assert "Process monitor" in page and "Overdue tasks" in page
