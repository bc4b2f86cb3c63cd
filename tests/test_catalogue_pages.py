"""The catalogue pages: who sees what, editing a draft through forms, publication, Excel, compare
and what-if over HTTP."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from demo import catalogue as demo_catalogue
from models.catalogue import CatalogueVersion, Item, Standard
from models.permissions import Principal
from workflows.catalogue import versions as catalogue
from workflows.catalogue.excel import parse_workbook

D = Decimal
KINDS = {"department": "机关部门", "maritime_office": "下属海事处"}
SYSTEM = Principal.system()


@pytest.fixture
def published(org, db_session):
    demo_catalogue.load(db_session)
    db_session.commit()
    return catalogue.current_published(db_session, 2026)


@pytest.fixture
def draft(published, db_session):
    version = catalogue.copy_version(db_session, SYSTEM, published.id, year=2027)
    db_session.commit()
    return version


def text(response) -> str:
    return response.get_data(as_text=True)


def test_every_member_sees_published_versions_but_no_drafts(client, login, published, draft):
    login("m1_a1")
    page = text(client.get("/catalogue/"))
    assert "东湾海事局2026年度" in page and "东湾海事局2027年度" not in page
    assert "/catalogue/import" not in page
    view = client.get(f"/catalogue/{published.id}")
    assert view.status_code == 200
    body = text(view)
    for name in ("履行党员义务", "履行岗位职责", "参加组织生活", "发挥先锋模范作用", "五个禁止"):
        assert name in body
    assert client.get(f"/catalogue/{draft.id}").status_code == 404
    assert client.get(f"/catalogue/{draft.id}/export.xlsx").status_code == 404
    assert client.get("/catalogue/999999").status_code == 404


@pytest.mark.parametrize("method, path", [
    ("post", "/catalogue/new"), ("post", "/catalogue/copy-last-year"), ("get", "/catalogue/import"),
    ("get", "/catalogue/whatif"), ("get", "/catalogue/{draft}/edit"), ("post", "/catalogue/{draft}/publish"),
    ("post", "/catalogue/{draft}/delete"), ("get", "/catalogue/{draft}/dimension/new"),
])
def test_members_cannot_edit(client, login, draft, method, path):
    login("m1_a1")
    response = getattr(client, method)(path.format(draft=draft.id))
    assert response.status_code in (403, 404)


def test_signed_out_visitors_are_sent_to_sign_in(client, published):
    response = client.get("/catalogue/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_view_shows_the_catalogue_as_a_member_of_a_kind_sees_it(client, login, published):
    login("m1_b1")
    office = text(client.get(f"/catalogue/{published.id}?view=maritime_office"))
    dept = text(client.get(f"/catalogue/{published.id}?view=department"))
    assert "现场执法规范" in office and "现场执法规范" not in dept
    assert "文稿起草与政策研究" in dept and "文稿起草与政策研究" not in office
    assert "理想信念" in office and "理想信念" in dept
    assert ">202<" in office.replace(" ", "")


def test_export_downloads_the_offices_workbook(client, login, published):
    login("m1_a1")
    response = client.get(f"/catalogue/{published.id}/export.xlsx")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in response.headers["Content-Disposition"]
    assert parse_workbook(response.data, KINDS) == demo_catalogue.spec()


def test_the_office_makes_edits_and_publishes_a_draft(client, login, db_session, org):
    login("office")
    response = client.post("/catalogue/new", data={"new-year": "2027", "new-name": "2027年度考评表",
                                                   "new-pass_line": "8", "new-excellent_line": "12"})
    assert response.status_code == 302
    version = db_session.scalar(select(CatalogueVersion).where(CatalogueVersion.year == 2027))
    vid = version.id

    def post(path, data):
        rev = db_session.scalar(select(CatalogueVersion.revision).where(CatalogueVersion.id == vid))
        return client.post(path, data=data | {"revision": str(rev)})

    assert post(f"/catalogue/{vid}/dimension/new", {"code": "D1", "name": "履行党员义务"}).status_code == 302
    dim_id = db_session.scalar(select(CatalogueVersion).where(CatalogueVersion.id == vid)).dimensions[0].id
    db_session.expire_all()
    page = client.get(f"/catalogue/{vid}/item/new?parent={dim_id}")
    assert page.status_code == 200 and f'<option selected value="{dim_id}"' in text(page)
    assert post(f"/catalogue/{vid}/item/new", {"code": "I1", "name": "理想信念", "kind": "deduction", "baseline": "10",
                                               "dimension_id": str(dim_id), "unit_kind_id": "", "basis_id": ""}
                ).status_code == 302
    item_id = db_session.scalar(select(Item.id).where(Item.version_id == vid))
    assert post(f"/catalogue/{vid}/content/new?parent={item_id}", {"code": "C1", "text": "坚定理想信念"}).status_code == 302
    content_id = db_session.scalar(select(Item).where(Item.id == item_id)).contents[0].id
    # The draft cannot be published yet: the content has no standard. The page says so.
    page = text(client.get(f"/catalogue/{vid}"))
    assert "C1" in page and "disabled" in page
    response = post(f"/catalogue/{vid}/publish", {})
    assert response.status_code == 302
    assert db_session.get(CatalogueVersion, vid).status == "draft"
    assert post(f"/catalogue/{vid}/standard/new?parent={content_id}",
                {"code": "S1", "text": "缺席学习的，每次扣2分", "points": "2", "max_occurrences": "",
                 "honour_category": "", "honour_level": ""}).status_code == 302
    response = post(f"/catalogue/{vid}/publish", {})
    assert response.status_code == 302
    db_session.expire_all()
    assert db_session.get(CatalogueVersion, vid).status == "published"
    # Published: the edit pages send the office back, nothing changes.
    standard = db_session.scalar(select(Standard).where(Standard.version_id == vid))
    response = post(f"/catalogue/{vid}/standard/{standard.id}/edit", {"code": "S1", "text": "改", "points": "9"})
    assert response.status_code == 302
    db_session.expire_all()
    assert db_session.get(Standard, standard.id).points == D("2")


@pytest.mark.parametrize("data, field_error", [
    ({"code": "", "name": "x"}, "code"),
    ({"code": "D 1", "name": "x"}, "code"),
    ({"code": "D1", "name": ""}, "name"),
])
def test_bad_node_input_is_shown_on_the_form_and_kept(client, login, draft, data, field_error):
    login("office")
    response = client.post(f"/catalogue/{draft.id}/dimension/new", data=data | {"revision": str(draft.revision)})
    assert response.status_code == 422
    page = text(response)
    assert 'aria-invalid="true"' in page and f'id="{field_error}"' in page
    if data["name"]:
        assert f'value="{data["name"]}"' in page


def test_a_duplicate_code_is_refused_at_the_field(client, login, draft):
    login("office")
    response = client.post(f"/catalogue/{draft.id}/dimension/new",
                           data={"code": "D1", "name": "重复", "revision": str(draft.revision)})
    assert response.status_code == 422
    assert "D1" in text(response) and "重复" in text(response)


def test_a_stale_form_loses_to_the_edit_before_it(client, login, draft, db_session):
    login("office")
    stale = str(draft.revision)
    assert client.post(f"/catalogue/{draft.id}/dimension/new",
                       data={"code": "D9", "name": "第一", "revision": stale}).status_code == 302
    response = client.post(f"/catalogue/{draft.id}/dimension/new",
                           data={"code": "D8", "name": "第二", "revision": stale})
    assert response.status_code == 422
    assert "第二" in text(response)  # nothing typed is lost
    assert db_session.scalar(select(CatalogueVersion.revision).where(CatalogueVersion.id == draft.id)) == int(stale) + 1


def test_bad_version_lines_are_refused(client, login, draft):
    login("office")
    response = client.post(f"/catalogue/{draft.id}/edit", data={
        "year": "2027", "name": "x", "pass_line": "110", "excellent_line": "100", "revision": str(draft.revision)})
    assert response.status_code == 422 and 'aria-invalid="true"' in text(response)


def test_copy_and_delete_a_draft(client, login, published, db_session):
    login("office")
    response = client.post(f"/catalogue/{published.id}/copy", data={"copy-year": "2028", "copy-name": ""})
    assert response.status_code == 302
    copy = db_session.scalar(select(CatalogueVersion).where(CatalogueVersion.year == 2028))
    assert copy.copied_from_id == published.id
    assert client.post(f"/catalogue/{copy.id}/delete").status_code == 302
    db_session.expire_all()
    assert db_session.get(CatalogueVersion, copy.id) is None
    response = client.post(f"/catalogue/{published.id}/delete")
    assert response.status_code == 302
    assert db_session.get(CatalogueVersion, published.id) is not None


def test_copy_last_year_from_the_list(client, login, published, db_session):
    login("office")
    page = text(client.get("/catalogue/"))
    assert 'value="2027"' in page
    assert client.post("/catalogue/copy-last-year", data={"copy-year": "2027"}).status_code == 302
    assert client.post("/catalogue/copy-last-year", data={"copy-year": "2026"}).status_code == 422


def test_import_good_and_broken_workbooks(client, login, published, db_session):
    login("office")
    from pathlib import Path

    data = Path(__file__).parent / "data" / "catalogue"
    response = client.post("/catalogue/import", data={
        "file": (io.BytesIO((data / "broken.xlsx").read_bytes()), "broken.xlsx"), "year": ""},
        content_type="multipart/form-data")
    assert response.status_code == 422
    page = text(response)
    rows = re.findall(r"<tr><td>Sheet1</td><td class=\"num\">(\d+)</td><td>([A-Z]+)", page)
    assert rows == [("2", "F"), ("4", "O"), ("5", "O"), ("7", "P"), ("8", "F"), ("9", "R"), ("10", "L"), ("11", "S")]
    assert "市属单位" in page  # the offending value, in the message
    assert db_session.query(CatalogueVersion).count() == 1
    response = client.post("/catalogue/import", data={"file": (io.BytesIO(b"not excel"), "x.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    response = client.post("/catalogue/import", data={
        "file": (io.BytesIO((data / "office-layout.xlsx").read_bytes()), "考评表.xlsx"), "year": "2027"},
        content_type="multipart/form-data")
    assert response.status_code == 302
    version = db_session.scalar(select(CatalogueVersion).where(CatalogueVersion.year == 2027))
    assert version.status == "draft" and response.headers["Location"].endswith(f"/catalogue/{version.id}")


def test_compare_page(client, login, published, draft, db_session):
    std = db_session.scalar(select(Standard).where(Standard.version_id == draft.id, Standard.code == "D3-01-1-1"))
    catalogue.save_node(db_session, SYSTEM, draft.id, "standard",
                        {"code": std.code, "text": std.text, "points": D("3")},
                        node_id=std.id, expected_revision=None)
    db_session.commit()
    login("office")
    page = text(client.get(f"/catalogue/compare?old={published.id}&new={draft.id}"))
    assert "D3-01-1-1" in page and "无故缺席支部党员大会" in page
    login("m1_a1")
    assert client.get(f"/catalogue/compare?old={published.id}&new={draft.id}").status_code == 404
    assert client.get("/catalogue/compare").status_code == 200


def test_whatif_page(client, login, published, draft, db_session, org):
    from datetime import timedelta

    from models.clock import now
    from models.evaluation import Claim, Evaluation, Quarter

    quarter = Quarter(year=2026, quarter=3, scope_key="bureau", catalogue_version_id=published.id, status="notified",
                      self_eval_deadline=now() - timedelta(days=30))
    db_session.add(quarter)
    db_session.flush()
    person = org.people["m1_a1"]
    ev = Evaluation(quarter_id=quarter.id, person_id=person.id, branch_id=person.branch_id,
                    unit_kind_id=org.kinds["department"].id, member_status="full", score=D("98"))
    db_session.add(ev)
    db_session.flush()
    old = db_session.scalar(select(Standard).where(Standard.version_id == published.id, Standard.code == "D3-01-1-1"))
    db_session.add(Claim(evaluation_id=ev.id, standard_id=old.id, status="accepted", occurrences=1))
    new = db_session.scalar(select(Standard).where(Standard.version_id == draft.id, Standard.code == "D3-01-1-1"))
    catalogue.save_node(db_session, SYSTEM, draft.id, "standard",
                        {"code": new.code, "text": new.text, "points": D("3")},
                        node_id=new.id, expected_revision=None)
    db_session.commit()
    login("office")
    page = client.get(f"/catalogue/whatif?quarter={quarter.id}&version={draft.id}")
    assert page.status_code == 200
    body = text(page)
    assert person.name in body and "D3-01-1-1" in body and "delta-down" in body
    quarter.status = "open"
    db_session.commit()
    page = text(client.get(f"/catalogue/whatif?quarter={quarter.id}&version={draft.id}"))
    assert "flash-error" in page
