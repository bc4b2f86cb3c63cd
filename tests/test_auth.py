"""Sign in and out, throttling, safe redirects, CSRF, session cookies, role-fitting navigation."""

import re

import pytest

from tests.factories import TEST_PASSWORD


def test_login_page_renders_in_chinese_by_default(client, org):
    response = client.get("/login")
    assert response.status_code == 200
    assert "登录" in response.get_data(as_text=True)


def test_sign_in_and_out(client, org, login):
    response = login("m1_a1")
    assert response.status_code == 302
    assert client.get("/profile").status_code == 200
    client.post("/logout")
    response = client.get("/profile")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("username,password", [("m1_a1", "wrong-password"), ("nobody", TEST_PASSWORD), ("", ""),
                                               ("m1_a1", "x" * 500), ("<script>", "'; drop table user_account; --")])
def test_bad_credentials_get_a_clear_message(client, org, username, password):
    response = client.post("/login", data={"username": username, "password": password})
    assert response.status_code in (200, 401)
    body = response.get_data(as_text=True)
    assert "<script>" not in body
    assert client.get("/profile").status_code == 302


def test_failed_sign_ins_are_throttled(client, org, app):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert client.post("/login", data={"username": "m1_a1", "password": "wrong"}).status_code == 401
    response = client.post("/login", data={"username": "m1_a1", "password": TEST_PASSWORD})
    assert response.status_code == 429
    assert client.get("/profile").status_code == 302


def test_throttle_lifts_after_the_window(client, org, app, clock):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        client.post("/login", data={"username": "m1_a1", "password": "wrong"})
    clock.advance(minutes=app.config["LOGIN_WINDOW_MINUTES"] + 1)
    assert client.post("/login", data={"username": "m1_a1", "password": TEST_PASSWORD}).status_code == 302


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
def test_no_open_redirect_after_login(client, org, target):
    response = client.post(f"/login?next={target}", data={"username": "m1_a1", "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert "evil" not in response.headers["Location"] and "javascript" not in response.headers["Location"]


def test_session_cookie_is_http_only_and_same_site(client, org, login):
    response = login("m1_a1")
    cookie = next(v for k, v in response.headers.items() if k == "Set-Cookie" and "pointsflow_session" in v)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_password_change_signs_out_other_sessions(app, org, login, client):
    other = app.test_client()
    other.post("/login", data={"username": "m1_a1", "password": TEST_PASSWORD})
    login("m1_a1")
    response = client.post("/profile", data={"current_password": TEST_PASSWORD, "new_password": "new-password-1",
                                             "confirm": "new-password-1"})
    assert response.status_code == 302
    assert client.get("/profile").status_code == 200  # this session stays
    assert other.get("/profile").status_code == 302  # the other one is gone


def test_password_change_with_wrong_current_password_keeps_input(client, org, login):
    login("m1_a1")
    response = client.post("/profile", data={"current_password": "wrong", "new_password": "new-password-1",
                                             "confirm": "new-password-1"})
    assert response.status_code == 200
    assert "当前密码不正确" in response.get_data(as_text=True) or "current password is wrong" in response.get_data(as_text=True)


def test_language_switch_to_english(client, org, login):
    login("m1_a1")
    client.post("/lang/en", data={"next": "/profile"})
    assert "My account" in client.get("/profile").get_data(as_text=True)


def test_forms_carry_csrf_tokens_and_posts_without_them_are_refused(backend, request, tmp_path, clock):
    from tests import factories
    from tests.conftest import _make_app
    from webapp.extensions import db

    app = _make_app(backend, request, tmp_path, WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        factories.make_org(db.session)
        db.session.commit()
        page = client.get("/login").get_data(as_text=True)
        assert re.search(r'name="csrf_token" type="hidden" value="[^"]+"', page)
        response = client.post("/login", data={"username": "m1_a1", "password": TEST_PASSWORD})
        assert response.status_code == 400
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        response = client.post("/login", data={"username": "m1_a1", "password": TEST_PASSWORD, "csrf_token": token})
        assert response.status_code == 302


def test_security_headers(client, org):
    response = client.get("/login")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors" in response.headers["Content-Security-Policy"]
