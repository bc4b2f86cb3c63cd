"""The administrator's pages: who may use them, and units, branches, people, accounts and roles
changed through them — with clear messages for bad input and an audit event for every change."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from models.audit import AuditEvent
from models.org import Branch, Unit, UnitKind
from models.people import Person, Role, RoleAssignment, User
from tests.factories import TEST_PASSWORD

NOT_ADMINISTRATORS = ["m1_a1", "sec_a1", "disc_a1", "rev_a1", "office", "leader", "designer"]


def audited(db_session, action: str) -> list[AuditEvent]:
    return list(db_session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def admin_urls(app, org) -> list[tuple[str, str]]:
    """(method, url) for every admin route, with ids of objects that exist."""
    ids = {"kind_id": org.kinds["department"].id, "unit_id": org.units["dept"].id,
           "branch_id": org.branches["a1"].id, "person_id": org.people["m1_a1"].id,
           "user_id": org.users["m1_a1"].id, "obj_id": org.people["m1_a1"].id, "assignment_id": 1,
           "token": "A" * 32, "what": "person"}
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("admin."):
            continue
        url = rule.build({k: v for k, v in ids.items() if k in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, url))
    return found


def test_every_admin_view_needs_admin_manage(app):
    views = {name: view for name, view in app.view_functions.items() if name.startswith("admin.")}
    assert len(views) > 30
    assert {getattr(view, "pf_action", None) for view in views.values()} == {"admin.manage"}


@pytest.mark.parametrize("username", NOT_ADMINISTRATORS)
def test_non_administrators_get_403_on_every_admin_route(app, client, org, login, username, db_session):
    login(username)
    before = db_session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action != "auth.login"))
    for method, url in admin_urls(app, org):
        response = client.open(url, method=method, data={"active": "0", "name": "x", "code": "x"})
        assert response.status_code == 403, (username, method, url, response.status_code)
    after = db_session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action != "auth.login"))
    assert after == before


def test_signed_out_visitors_are_sent_to_sign_in(app, client, org):
    for method, url in admin_urls(app, org):
        if method == "GET":
            response = client.get(url)
            assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_an_administrator_role_held_in_a_branch_grants_nothing(client, org, login, db_session):
    user = org.users["sec_a1"]
    db_session.add(RoleAssignment(user_id=user.id, role=Role.ADMINISTRATOR.value, branch_id=org.branches["a1"].id,
                                  scope_key=f"b{org.branches['a1'].id}"))
    db_session.commit()
    login("sec_a1")
    assert client.get("/admin/").status_code == 403
    assert client.post("/admin/roles", data={"who": "sec_a1", "role": "administrator", "branch_id": ""}).status_code == 403


def test_a_secretary_cannot_administer_their_own_branch(client, org, login, db_session):
    login("sec_a1")
    branch = org.branches["a1"]
    assert client.post(f"/admin/branches/{branch.id}/edit", data={"name": "改名", "code": "A1"}).status_code == 403
    assert client.post("/admin/roles", data={"who": "m1_a1", "role": "reviewer",
                                              "branch_id": branch.id}).status_code == 403
    db_session.refresh(branch)
    assert branch.name == "机关第一党支部"
    assert db_session.scalar(select(func.count()).select_from(RoleAssignment).where(
        RoleAssignment.user_id == org.users["m1_a1"].id)) == 0


def test_navigation_shows_administration_to_administrators_only(client, org, login):
    login("admin")
    assert 'href="/admin/"' in client.get("/profile").get_data(as_text=True)
    login("sec_a1")
    assert 'href="/admin/"' not in client.get("/profile").get_data(as_text=True)


def test_pages_are_in_chinese(client, org, login):
    login("admin")
    for url, text in [("/admin/", "需要关注的党支部"), ("/admin/org", "单位类型"), ("/admin/people", "新增人员"),
                      ("/admin/accounts", "账号"), ("/admin/roles", "分配角色"), ("/admin/roster", "下载模板")]:
        assert text in client.get(url).get_data(as_text=True), url


# --- Kinds, units, branches -------------------------------------------------------------------------------

def test_add_rename_and_remove_a_kind_of_unit(client, org, login, db_session):
    login("admin")
    response = client.post("/admin/kinds/new", data={"code": "vessel_team", "name": "船艇队", "name_en": "Vessel team"})
    assert response.status_code == 302
    kind = db_session.scalar(select(UnitKind).where(UnitKind.code == "vessel_team"))
    assert kind.name == "船艇队"
    assert client.post(f"/admin/kinds/{kind.id}/edit", data={"name": "船艇大队", "name_en": ""}).status_code == 302
    db_session.refresh(kind)
    assert kind.name == "船艇大队" and kind.code == "vessel_team"
    assert client.post(f"/admin/kinds/{kind.id}/delete").status_code == 302
    assert db_session.get(UnitKind, kind.id) is None
    assert [len(audited(db_session, a)) for a in ("unit_kind.created", "unit_kind.renamed", "unit_kind.deleted")] == [1, 1, 1]


@pytest.mark.parametrize("data,message", [
    ({"code": "department", "name": "新的"}, "This code is taken."),
    ({"code": "new_kind", "name": "机关部门"}, "Another kind has this name."),
    ({"code": "Bad Code!", "name": "新的"}, "lower-case letters"),
    ({"code": "", "name": ""}, "This field is required."),
])
def test_bad_kinds_are_refused_and_the_form_keeps_what_was_typed(client, org, login, data, message):
    login("admin")
    client.post("/lang/en", data={"next": "/"})
    response = client.post("/admin/kinds/new", data=data)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert message in body
    if data["name"]:
        assert f'value="{data["name"]}"' in body


def test_a_kind_in_use_cannot_be_removed(client, org, login, db_session):
    login("admin")
    kind = org.kinds["department"]
    response = client.post(f"/admin/kinds/{kind.id}/delete", follow_redirects=True)
    assert "该类型下还有单位" in response.get_data(as_text=True)
    assert db_session.get(UnitKind, kind.id) is not None


def test_units_add_edit_and_deactivate_only_when_empty(client, org, login, db_session):
    login("admin")
    kind = org.kinds["maritime_office"]
    response = client.post("/admin/units/new", data={"name": "新港海事处", "code": "UN", "kind_id": kind.id})
    assert response.status_code == 302
    unit = db_session.scalar(select(Unit).where(Unit.code == "UN"))
    response = client.post(f"/admin/units/{unit.id}/edit", data={"name": "新港海事处", "code": "UN",
                                                                 "kind_id": org.kinds["department"].id})
    assert response.status_code == 302
    db_session.refresh(unit)
    assert unit.kind_id == org.kinds["department"].id
    # Duplicate name, unknown kind: the form comes back with messages.
    response = client.post("/admin/units/new", data={"name": "局机关", "code": "UX", "kind_id": "999"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "该名称已被使用" in body and "请选择类型" in body
    # A unit with active branches stays active.
    busy = org.units["dept"]
    response = client.post(f"/admin/unit/{busy.id}/active", data={"active": "0"}, follow_redirects=True)
    assert "该单位还有在用的党支部" in response.get_data(as_text=True)
    db_session.refresh(busy)
    assert busy.active
    assert client.post(f"/admin/unit/{unit.id}/active", data={"active": "0"}).status_code == 302
    db_session.refresh(unit)
    assert not unit.active and audited(db_session, "unit.deactivated")


def test_branches_add_rename_move_and_deactivate(client, org, login, db_session):
    login("admin")
    response = client.post("/admin/branches/new", data={"name": "机关第三党支部", "code": "A3",
                                                         "unit_id": org.units["dept"].id})
    assert response.status_code == 302
    branch = db_session.scalar(select(Branch).where(Branch.code == "A3"))
    assert response.headers["Location"].endswith(f"/admin/branches/{branch.id}")
    assert client.post(f"/admin/branches/{branch.id}/edit", data={"name": "机关综合党支部", "code": "A3"}).status_code == 302
    assert client.post(f"/admin/branches/{branch.id}/move",
                       data={"target_id": org.units["office"].id}).status_code == 302
    db_session.refresh(branch)
    assert (branch.name, branch.unit_id) == ("机关综合党支部", org.units["office"].id)
    assert client.post(f"/admin/branch/{branch.id}/active", data={"active": "0"}).status_code == 302
    db_session.refresh(branch)
    assert not branch.active
    for action in ("branch.created", "branch.renamed", "branch.moved", "branch.deactivated"):
        assert audited(db_session, action), action


def test_a_branch_with_active_people_stays_active(client, org, login, db_session):
    login("admin")
    branch = org.branches["a1"]
    response = client.post(f"/admin/branch/{branch.id}/active", data={"active": "0",
                                                                      "next": f"/admin/branches/{branch.id}"})
    assert response.headers["Location"].endswith(f"/admin/branches/{branch.id}")
    assert "请先将其调至其他党支部" in client.get(response.headers["Location"]).get_data(as_text=True)
    db_session.refresh(branch)
    assert branch.active


@pytest.mark.parametrize("data,message", [
    ({"name": "机关第二党支部", "code": "A1"}, "该名称已被使用"),
    ({"name": "机关第一党支部", "code": "A2"}, "该代码已被使用"),
    ({"name": "机关第一党支部", "code": "a 1"}, "只能使用字母"),
    ({"name": "", "code": "A1"}, "该字段是必填字段"),
])
def test_bad_branch_names_and_codes(client, org, login, data, message):
    login("admin")
    response = client.post(f"/admin/branches/{org.branches['a1'].id}/edit", data=data)
    assert response.status_code == 422 and message in response.get_data(as_text=True)


def test_moving_a_branch_to_a_missing_unit_is_a_form_error(client, org, login):
    login("admin")
    response = client.post(f"/admin/branches/{org.branches['a1'].id}/move", data={"target_id": "not-a-number"})
    assert response.status_code == 422 and "请选择单位" in response.get_data(as_text=True)


def test_unknown_objects_are_404(client, org, login):
    login("admin")
    for url in ("/admin/branches/99999", "/admin/people/99999", "/admin/units/99999/edit", "/admin/kinds/99999/edit"):
        assert client.get(url).status_code == 404, url
    assert client.post("/admin/person/99999/active", data={"active": "0"}).status_code == 404
    assert client.post("/admin/roles/99999/revoke").status_code == 404


# --- People ----------------------------------------------------------------------------------------------

def test_people_search_filter_and_paginate(client, org, login, db_session):
    login("admin")
    body = client.get("/admin/people").get_data(as_text=True)
    # Listed unit by unit, branch by branch: a1 and a2 (the department), then b1 (the office).
    positions = [body.index(org.people[f"m1_{b}"].name) for b in ("a1", "a2", "b1")]
    assert positions == sorted(positions)
    someone = org.people["m2_b1"]
    body = client.get("/admin/people", query_string={"q": someone.name}).get_data(as_text=True)
    assert someone.employee_no in body and "1 人" in body
    body = client.get("/admin/people", query_string={"q": someone.employee_no.lower()}).get_data(as_text=True)
    assert someone.name in body
    body = client.get("/admin/people", query_string={"branch_id": org.branches["b1"].id,
                                                     "status": "probationary"}).get_data(as_text=True)
    assert someone.name in body and org.people["m2_a1"].name not in body
    body = client.get("/admin/people", query_string={"q": "%"}).get_data(as_text=True)
    assert "0 人" in body  # LIKE wildcards are searched for literally
    for i in range(60):
        db_session.add(Person(employee_no=f"P{i:03d}", name=f"翻页{i:02d}", branch_id=org.branches["b1"].id,
                              status="full"))
    db_session.commit()
    page1 = client.get("/admin/people", query_string={"q": "翻页"}).get_data(as_text=True)
    page2 = client.get("/admin/people", query_string={"q": "翻页", "page": 2}).get_data(as_text=True)
    assert "翻页00" in page1 and "翻页59" not in page1 and "翻页59" in page2 and "第 2 页，共 2 页" in page2
    org.people["m3_b1"].active = False
    db_session.commit()
    assert org.people["m3_b1"].name not in client.get("/admin/people").get_data(as_text=True)
    assert org.people["m3_b1"].name in client.get("/admin/people?state=inactive").get_data(as_text=True)
    assert client.get("/admin/people?page=999&branch_id=x&status=zz&account=?").status_code == 200
    body = client.get("/admin/people?account=none&q=翻页").get_data(as_text=True)
    assert "共 60 人" in body  # none of them has an account
    assert "共 0 人" in client.get("/admin/people?account=none&q=" + someone.name).get_data(as_text=True)


def new_person(**extra):
    data = {"employee_no": "N100", "name": "新党员", "gender": "F", "branch_id": "", "status": "full",
            "joined_party_on": "2015-06-30", "full_member_on": "2016-07-01", "activist_since": "",
            "position": "科员", "phone": "13800000000", "create_account": "y", "username": ""}
    data.update(extra)
    return data


def test_add_a_person_with_an_account(client, org, login, db_session):
    login("admin")
    response = client.post("/admin/people/new", data=new_person(branch_id=org.branches["a2"].id))
    assert response.status_code == 302
    person = db_session.scalar(select(Person).where(Person.employee_no == "N100"))
    assert (person.branch_id, person.status, person.joined_party_on) == (org.branches["a2"].id, "full", date(2015, 6, 30))
    assert person.user.username == "n100" and person.user.password_hash == "!" and person.user.must_change_password
    assert audited(db_session, "person.created") and audited(db_session, "user.created")


@pytest.mark.parametrize("extra,field,message", [
    ({"employee_no": None}, "employee_no", "该工号已存在"),
    ({"status": "full", "joined_party_on": ""}, "joined_party_on", "正式党员和预备党员必填"),
    ({"status": "probationary", "full_member_on": "2016-07-01"}, "full_member_on", "预备党员尚无转正时间"),
    ({"status": "activist", "joined_party_on": "", "full_member_on": ""}, "activist_since", "入党积极分子必填"),
    ({"joined_party_on": "2027-01-01", "full_member_on": ""}, "joined_party_on", "日期不能晚于今天"),
    ({"joined_party_on": "not a date"}, "joined_party_on", "不是有效的日期值"),
    ({"branch_id": ""}, "branch_id", "需要所在党支部"),
    ({"username": "m1_a1"}, "username", "该用户名已被使用"),
    ({"username": "有空格 的名字"}, "username", "只能使用小写字母"),
    ({"name": ""}, "name", "该字段是必填字段"),
])
def test_adding_a_person_with_bad_input_keeps_the_form(client, org, login, db_session, extra, field, message):
    login("admin")
    if extra.get("employee_no", "") is None:
        extra = {"employee_no": org.people["m1_a1"].employee_no}
    data = new_person(**{"branch_id": org.branches["a1"].id, **extra})
    response = client.post("/admin/people/new", data=data)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert message in body
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="{field}"', body)
    assert 'value="13800000000"' in body  # what was typed is still there
    assert db_session.scalar(select(func.count()).select_from(Person).where(Person.name == "新党员")) == 0


def test_edit_move_and_change_membership(client, org, login, db_session):
    login("admin")
    person = org.people["m2_a1"]  # probationary, no dates yet
    response = client.post(f"/admin/people/{person.id}/edit", data={"employee_no": person.employee_no, "name": "改名",
                                                                    "gender": "M", "position": "科长", "phone": ""})
    assert response.status_code == 302
    response = client.post(f"/admin/people/{person.id}/membership", data={
        "status": "full", "joined_party_on": "2025-09-01", "full_member_on": "2026-09-01", "activist_since": ""})
    assert response.status_code == 302
    response = client.post(f"/admin/people/{person.id}/move", data={"target_id": org.branches["b1"].id})
    assert response.status_code == 302
    db_session.refresh(person)
    assert (person.name, person.position, person.status, person.full_member_on, person.branch_id) == (
        "改名", "科长", "full", date(2026, 9, 1), org.branches["b1"].id)
    for action in ("person.updated", "person.status_changed", "person.moved"):
        assert audited(db_session, action), action


def test_moving_a_role_holder_says_which_roles_stay_in_the_old_branch(client, org, login):
    login("admin")
    person = org.people["sec_a1"]
    response = client.post(f"/admin/people/{person.id}/move", data={"target_id": org.branches["a2"].id},
                           follow_redirects=True)
    assert "在原党支部仍担任以下角色：支部书记" in response.get_data(as_text=True)


def test_membership_change_with_contradicting_dates_is_refused(client, org, login, db_session):
    login("admin")
    person = org.people["m1_a1"]
    response = client.post(f"/admin/people/{person.id}/membership", data={
        "status": "full", "joined_party_on": "2020-01-01", "full_member_on": "2019-01-01", "activist_since": ""})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "转正时间不能早于入党时间" in body and 'value="2019-01-01"' in body
    db_session.refresh(person)
    assert person.full_member_on is None


def test_deactivating_a_person_closes_their_account(client, org, login, db_session, app):
    other = app.test_client()
    other.post("/login", data={"username": "m1_a1", "password": TEST_PASSWORD})
    assert other.get("/profile").status_code == 200
    login("admin")
    person = org.people["m1_a1"]
    assert client.post(f"/admin/person/{person.id}/active", data={"active": "0"}).status_code == 302
    db_session.refresh(person)
    assert not person.active and not person.user.active
    assert other.get("/profile").status_code == 302
    assert audited(db_session, "person.deactivated") and audited(db_session, "user.deactivated")


# --- Accounts --------------------------------------------------------------------------------------------

def test_open_an_account_for_a_person_without_one(client, org, login, db_session):
    login("admin")
    person = Person(employee_no="NA1", name="无账号", branch_id=org.branches["a1"].id, status="full")
    db_session.add(person)
    db_session.commit()
    assert "没有账号" in client.get(f"/admin/people/{person.id}").get_data(as_text=True)
    response = client.post(f"/admin/people/{person.id}/account", data={"username": "m1_a1"}, follow_redirects=True)
    assert "该用户名已被使用" in response.get_data(as_text=True)
    assert client.post(f"/admin/people/{person.id}/account", data={"username": ""}).status_code == 302
    db_session.refresh(person)
    assert person.user.username == "na1" and person.user.password_hash == "!"
    response = client.post(f"/admin/people/{person.id}/account", data={"username": "x"}, follow_redirects=True)
    assert "此人已有账号" in response.get_data(as_text=True)


def test_reset_password_shows_a_one_time_password_once(client, org, login, db_session, app):
    login("admin")
    user = org.users["m1_a1"]
    response = client.post(f"/admin/accounts/{user.id}/reset")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    password = re.search(r'<code class="stat" id="password">([^<]+)</code>', response.get_data(as_text=True)).group(1)
    assert len(password) == 12
    assert password not in client.get(f"/admin/people/{org.people['m1_a1'].id}").get_data(as_text=True)
    other = app.test_client()
    assert other.post("/login", data={"username": "m1_a1", "password": TEST_PASSWORD}).status_code == 401
    response = other.post("/login", data={"username": "m1_a1", "password": password})
    assert response.status_code == 302 and response.headers["Location"].endswith("/profile")
    assert audited(db_session, "user.password_reset")


def test_require_a_new_password(client, org, login, db_session):
    login("admin")
    user = org.users["m1_a1"]
    assert client.post(f"/admin/accounts/{user.id}/require-change").status_code == 302
    db_session.refresh(user)
    assert user.must_change_password and audited(db_session, "user.must_change_password")


def test_account_activation_and_the_administrator_who_cannot_lock_themselves_out(client, org, login, db_session):
    login("admin")
    user = org.users["m1_a1"]
    assert client.post(f"/admin/account/{user.id}/active", data={"active": "0"}).status_code == 302
    db_session.refresh(user)
    assert not user.active
    assert client.post(f"/admin/account/{user.id}/active", data={"active": "1"}).status_code == 302
    db_session.refresh(user)
    assert user.active
    me = org.users["admin"]
    response = client.post(f"/admin/account/{me.id}/active", data={"active": "0"}, follow_redirects=True)
    assert "不能停用自己的账号" in response.get_data(as_text=True)
    db_session.refresh(me)
    assert me.active


def test_issue_initial_passwords_for_selected_accounts(client, org, login, db_session, app):
    login("admin")
    waiting = []
    for i in range(3):
        person = Person(employee_no=f"IP{i}", name=f"待发{i}", branch_id=org.branches["a1"].id, status="full")
        db_session.add(person)
        db_session.flush()
        user = User(username=f"ip{i}", password_hash="!", person_id=person.id, must_change_password=True)
        db_session.add(user)
        waiting.append(user)
    db_session.commit()
    body = client.get("/admin/accounts?state=no_password").get_data(as_text=True)
    assert all(u.username in body for u in waiting) and "m1_a1" not in body
    chosen = [waiting[0].id, waiting[1].id, org.users["m1_a1"].id]  # m1_a1 has a password: left alone
    response = client.post("/admin/accounts/passwords", data={"scope": "selected", "user_ids": chosen})
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    rows = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(min_row=2, values_only=True))
    assert sorted(r[3] for r in rows) == ["ip0", "ip1"]
    assert rows[0][2] == "机关第一党支部"
    other = app.test_client()
    assert other.post("/login", data={"username": rows[0][3], "password": rows[0][4]}).status_code == 302
    assert other.post("/login", data={"username": "m1_a1", "password": TEST_PASSWORD}).status_code == 302
    # "All": only the one still waiting.
    response = client.post("/admin/accounts/passwords", data={"scope": "all"})
    rows = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(min_row=2, values_only=True))
    assert [r[3] for r in rows] == ["ip2"]
    response = client.post("/admin/accounts/passwords", data={"scope": "all"}, follow_redirects=True)
    assert "没有等待密码的账号" in response.get_data(as_text=True)
    assert len(audited(db_session, "user.initial_password_issued")) == 3
    response = client.post("/admin/accounts/passwords", data={"scope": "selected"}, follow_redirects=True)
    assert "请先选择账号" in response.get_data(as_text=True)


def test_accounts_search(client, org, login):
    login("admin")
    body = client.get("/admin/accounts", query_string={"q": "rev2_"}).get_data(as_text=True)
    assert "rev2_a1" in body and "m1_a1" not in body
    assert client.get("/admin/accounts?state=bogus&page=-3").status_code == 200


# --- Roles -----------------------------------------------------------------------------------------------

def test_assign_roles_by_username_or_employee_number_and_revoke(client, org, login, db_session):
    login("admin")
    m1 = org.users["m1_a1"]
    response = client.post("/admin/roles", data={"who": "M1_A1", "role": "reviewer", "branch_id": org.branches["a2"].id})
    assert response.status_code == 302
    response = client.post("/admin/roles", data={"who": org.people["m1_a1"].employee_no, "role": "party_office",
                                                 "branch_id": ""})
    assert response.status_code == 302
    held = set(db_session.execute(select(RoleAssignment.role, RoleAssignment.branch_id)
                                  .where(RoleAssignment.user_id == m1.id)).all())
    assert held == {("reviewer", org.branches["a2"].id), ("party_office", None)}
    assignment = db_session.scalar(select(RoleAssignment).where(RoleAssignment.user_id == m1.id,
                                                                RoleAssignment.role == "reviewer"))
    assert client.post(f"/admin/roles/{assignment.id}/revoke").status_code == 302
    assert db_session.get(RoleAssignment, assignment.id) is None
    assert audited(db_session, "role.assigned") and audited(db_session, "role.revoked")


@pytest.mark.parametrize("data,message", [
    ({"who": "m1_a1", "role": "administrator", "branch_id": "A1"}, "该角色为全局角色"),
    ({"who": "m1_a1", "role": "party_office", "branch_id": "A1"}, "该角色为全局角色"),
    ({"who": "nobody", "role": "reviewer", "branch_id": ""}, "没有此用户名或工号的账号"),
    ({"who": "rev_a1", "role": "reviewer", "branch_id": "A1"}, "此人已在该范围担任此角色"),
    ({"who": "m1_a1", "role": "member", "branch_id": ""}, "党员身份由所在支部决定"),
    ({"who": "m1_a1", "role": "emperor", "branch_id": ""}, "未知角色"),
    ({"who": "m1_a1", "role": "reviewer", "branch_id": "99999"}, "未知党支部"),
])
def test_role_assignment_errors_are_shown_on_the_form(client, org, login, db_session, data, message):
    login("admin")
    if data["branch_id"] == "A1":
        data = dict(data, branch_id=org.branches["a1"].id)
    response = client.post("/admin/roles", data=data)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert message in body and f'value="{data["who"]}"' in body


def test_several_roles_for_one_person(client, org, login, db_session):
    login("admin")
    person = org.people["sec_a1"]
    response = client.post(f"/admin/people/{person.id}/roles", data={"role": "reviewer", "branch_id": org.branches["a2"].id,
                                                                    "next": f"/admin/people/{person.id}"})
    assert response.headers["Location"].endswith(f"/admin/people/{person.id}")
    client.post(f"/admin/people/{person.id}/roles", data={"role": "leading_group", "branch_id": ""})
    db_session.expire_all()  # the tests share one session with the app: forget its loaded role lists
    body = client.get(f"/admin/people/{person.id}").get_data(as_text=True)
    assert body.count(">撤销</button>") == 3 and "领导小组" in body and "积分审核员" in body and "支部书记" in body


def test_the_last_administrator_keeps_the_role(client, org, login, db_session):
    login("admin")
    assignment = db_session.scalar(select(RoleAssignment).where(RoleAssignment.role == "administrator"))
    response = client.post(f"/admin/roles/{assignment.id}/revoke", follow_redirects=True)
    assert "这是最后一位在用的管理员" in response.get_data(as_text=True)
    assert db_session.get(RoleAssignment, assignment.id) is not None


def test_branches_missing_role_holders_are_flagged(client, org, login, db_session):
    login("admin")
    body = client.get("/admin/roles").get_data(as_text=True)
    assert "只有一名积分审核员" not in body and "齐全" in body
    db_session.delete(db_session.scalar(select(RoleAssignment).where(
        RoleAssignment.user_id == org.users["rev2_b1"].id)))
    db_session.delete(db_session.scalar(select(RoleAssignment).where(
        RoleAssignment.user_id == org.users["sec_a2"].id)))
    org.users["disc_a2"].active = False  # an inactive holder does not count
    db_session.commit()
    body = client.get("/admin/roles").get_data(as_text=True)
    assert "只有一名积分审核员" in body and "没有支部书记" in body and "没有纪检委员" in body
    overview = client.get("/admin/").get_data(as_text=True)
    assert "海事处党支部" in overview and "机关第二党支部" in overview and "机关第一党支部" not in overview
    branch_page = client.get(f"/admin/branches/{org.branches['b1'].id}").get_data(as_text=True)
    assert "只有一名积分审核员" in branch_page


def test_bad_form_posts_never_give_a_server_error(client, org, login):
    login("admin")
    person = org.people["m1_a1"]
    junk = {"status": "\x00", "joined_party_on": "9999-99-99", "target_id": "1e9", "branch_id": "-1",
            "kind_id": "[]", "unit_id": "💥", "role": "x" * 1000, "who": "' or 1=1 --", "active": "maybe",
            "name": "x" * 5000, "code": "x" * 5000, "employee_no": "", "username": "x" * 5000}
    for url in ("/admin/kinds/new", "/admin/units/new", "/admin/branches/new", "/admin/people/new", "/admin/roles",
                f"/admin/people/{person.id}/membership", f"/admin/people/{person.id}/move",
                f"/admin/people/{person.id}/edit", f"/admin/people/{person.id}/roles",
                f"/admin/people/{person.id}/account", f"/admin/branches/{org.branches['a1'].id}/move"):
        response = client.post(url, data=junk)
        assert response.status_code in (302, 422), (url, response.status_code)
