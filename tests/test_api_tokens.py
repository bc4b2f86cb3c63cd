"""Bearer tokens: issued for a password (throttled like the sign-in page), stored only as a hash,
refused when missing, unknown, expired or revoked; revocable from the API and from the user's
token page; the API never reads nor sets a session cookie."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from models.api import ApiToken
from models.people import User
from tests import factories
from tests.test_api_support import ApiUser, api_fixture, check_response  # noqa: F401 - fixture


def test_a_token_is_issued_for_a_password_and_stored_only_as_its_hash(api, org, db_session, clock):
    response = api.issue("m1_a1", name="排班脚本")
    assert response.status_code == 201
    body = response.get_json()
    token = body["token"]
    assert token.startswith("pf_") and len(token) > 40 and body["token_type"] == "Bearer"
    assert body["token_info"]["name"] == "排班脚本" and body["token_info"]["state"] == "active"
    record = db_session.scalar(select(ApiToken))
    assert record.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {str(v) for v in record.__dict__.values()}
    assert record.expires_at == clock.now() + timedelta(hours=720)
    assert "Set-Cookie" not in response.headers

    user = ApiUser(api.client, token, "m1_a1")
    me = user.get("/api/v1/me").get_json()
    assert me["user"]["username"] == "m1_a1" and me["person"]["branch"]["id"] == org.branches["a1"].id
    assert {"role": "member", "scope": "branch", "branch": me["person"]["branch"]} in me["roles"]
    assert "evaluation.declare" in me["actions"] and "quarter.open" not in me["actions"]
    listed = user.get("/api/v1/auth/tokens").get_json()["items"]
    assert [(t["name"], t["current"]) for t in listed] == [("排班脚本", True)]
    assert db_session.scalar(select(ApiToken.last_used_at).execution_options(populate_existing=True)) == clock.now()


def test_roles_come_with_their_scope(api, org):
    me = api("sec_a1").get("/api/v1/me").get_json()
    assert {(r["role"], r["scope"], (r["branch"] or {}).get("id")) for r in me["roles"]} == {
        ("member", "branch", org.branches["a1"].id), ("secretary", "branch", org.branches["a1"].id)}
    me = api("office").get("/api/v1/me").get_json()
    assert ("party_office", "bureau", None) in {(r["role"], r["scope"], (r["branch"] or {}).get("id")) for r in me["roles"]}


@pytest.mark.parametrize("username, password, status, error", [
    ("m1_a1", "wrong-password", 401, "invalid_credentials"),
    ("nobody", factories.TEST_PASSWORD, 401, "invalid_credentials"),
])
def test_wrong_credentials_are_refused(api, org, username, password, status, error):
    response = api.issue(username, password)
    assert response.status_code == status and response.get_json()["error"] == error


@pytest.mark.parametrize("body, fields", [
    ({}, {"username", "password"}),
    ({"username": "m1_a1"}, {"password"}),
    ({"username": 5, "password": ["x"]}, {"username", "password"}),
    ({"username": "m1_a1", "password": "x", "scope": "all"}, {"scope"}),
    ({"username": "m1_a1", "password": "x", "name": "x" * 101}, {"name"}),
])
def test_a_malformed_sign_in_names_its_fields(client, org, body, fields):
    response = client.post("/api/v1/auth/token", json=body)
    check_response("POST", "/api/v1/auth/token", response)
    assert response.status_code == 422 and set(response.get_json()["fields"]) == fields


def test_failed_sign_ins_are_throttled_like_the_sign_in_page(api, org, app):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert api.issue("m1_a1", "wrong-password").status_code == 401
    response = api.issue("m1_a1")  # even the right password, until the window has passed
    assert response.status_code == 429 and response.get_json()["error"] == "throttled"


def test_an_account_that_must_change_its_password_gets_no_token(api, org, db_session):
    org.users["m1_a1"].must_change_password = True
    db_session.commit()
    response = api.issue("m1_a1")
    assert response.status_code == 403 and response.get_json()["error"] == "password_change_required"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic bTE6cGFzcw==", "Bearer pf_unknown",
                                    "Bearer not-a-token", "Bearer " + "x" * 300])
def test_requests_without_a_valid_token_are_401(client, org, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/api/v1/me", headers=headers)
    check_response("GET", "/api/v1/me", response)
    assert response.status_code == 401 and response.get_json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_token_is_refused(api, org, clock):
    user = api("m1_a1")
    clock.advance(hours=719)
    user.get("/api/v1/me")
    clock.advance(hours=1)
    response = user.get("/api/v1/me", expect=401)
    assert "expired" in response.get_json()["message"] or "过期" in response.get_json()["message"]


def test_a_revoked_token_is_refused_at_once(api, org):
    first, second = api("m1_a1"), ApiUser(api.client, api.issue("m1_a1").get_json()["token"], "m1_a1")
    tokens = first.get("/api/v1/auth/tokens").get_json()["items"]
    other = next(t for t in tokens if not t["current"])
    revoked = first.delete(f"/api/v1/auth/tokens/{other['id']}").get_json()
    assert revoked["state"] == "revoked" and revoked["revoked_at"]
    second.get("/api/v1/me", expect=401)
    first.get("/api/v1/me")
    first.delete("/api/v1/auth/token")  # sign out: the token of the request itself
    first.get("/api/v1/me", expect=401)


def test_nobody_revokes_another_users_token(api, org):
    victim = api("m1_a1")
    [token] = victim.get("/api/v1/auth/tokens").get_json()["items"]
    api("office").delete(f"/api/v1/auth/tokens/{token['id']}", expect=404)
    victim.get("/api/v1/me")


def test_changing_the_password_ends_every_token(api, org, db_session):
    from workflows.org import accounts

    user = api("m1_a1")
    accounts.change_password(db_session, db_session.get(User, org.users["m1_a1"].id),
                             factories.TEST_PASSWORD, "a-new-password-1")
    db_session.commit()
    user.get("/api/v1/me", expect=401)


def test_the_api_ignores_the_session_cookie_and_sets_none(client, org, login):
    login("m1_a1")
    assert client.get("/profile").status_code == 200  # signed in on the pages
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    response = client.post("/api/v1/auth/token", json={"username": "m1_a1", "password": factories.TEST_PASSWORD})
    assert response.status_code == 201 and "Set-Cookie" not in response.headers


def test_the_token_page_lists_and_revokes(api, client, org, login, db_session):
    user = api("m1_a1")
    api.issue("m1_a1", name="手机")
    login("m1_a1")
    page = client.get("/account/api-tokens")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "手机" in text and "API" in text
    [phone] = db_session.scalars(select(ApiToken).where(ApiToken.name == "手机"))
    response = client.post(f"/account/api-tokens/{phone.id}/revoke", follow_redirects=True)
    assert response.status_code == 200
    assert db_session.get(ApiToken, phone.id, populate_existing=True).revoked_at is not None
    user.get("/api/v1/me")  # the other token still works
    client.post("/account/api-tokens/revoke-all")
    user.get("/api/v1/me", expect=401)
    # Another user's token is not theirs to revoke.
    office = api("office")
    [token] = office.get("/api/v1/auth/tokens").get_json()["items"]
    client.post(f"/account/api-tokens/{token['id']}/revoke")
    office.get("/api/v1/me")


def test_the_token_page_needs_a_session_and_its_forms_need_csrf(backend, request, tmp_path, clock):
    from tests.conftest import _make_app
    from webapp.extensions import db

    app = _make_app(backend, request, tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        factories.make_org(db.session)
        db.session.commit()
        client = app.test_client()
        assert client.get("/account/api-tokens").status_code == 302  # to the sign-in page
        token = client.post("/api/v1/auth/token", json={"username": "m1_a1", "password": factories.TEST_PASSWORD})
        assert token.status_code == 201  # the API needs no CSRF token: it never uses the cookie
        record_id = db.session.scalar(select(ApiToken.id))
        login = client.get("/login").get_data(as_text=True)
        csrf = login.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        client.post("/login", data={"username": "m1_a1", "password": factories.TEST_PASSWORD, "csrf_token": csrf})
        assert client.get("/account/api-tokens").status_code == 200
        refused = client.post(f"/account/api-tokens/{record_id}/revoke")
        assert refused.status_code == 400
        assert db.session.get(ApiToken, record_id, populate_existing=True).revoked_at is None
        db.session.remove()
        db.engine.dispose()


def test_the_profile_and_the_menu_link_to_the_token_page(client, org, login):
    login("m1_a1")
    page = client.get("/profile").get_data(as_text=True)
    assert page.count('href="/account/api-tokens"') == 2  # the menu entry and the profile's link


def test_a_write_records_the_tokens_last_use_in_its_own_commit(api, org, db_session, clock):
    first = api.issue("m1_a1", name="一").get_json()["token"]
    api.issue("m1_a1", name="二")
    user = ApiUser(api.client, first, "m1_a1")
    second_id = next(t["id"] for t in user.get("/api/v1/auth/tokens").get_json()["items"] if t["name"] == "二")
    clock.advance(minutes=30)
    user.delete(f"/api/v1/auth/tokens/{second_id}", expect=200)
    rows = dict(db_session.execute(select(ApiToken.name, ApiToken.last_used_at)
                                   .execution_options(populate_existing=True)).all())
    assert rows["一"] == clock.now() and rows["二"] is None
    # A refused write commits nothing, its token's last use included.
    clock.advance(minutes=30)
    user.delete(f"/api/v1/auth/tokens/{second_id + 1000}", expect=404)
    db_session.rollback()
    assert db_session.scalar(select(ApiToken.last_used_at).where(ApiToken.name == "一")) == clock.now() - timedelta(minutes=30)
