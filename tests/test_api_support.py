"""Helpers of the API tests (no tests here): a client that signs in with a bearer token and checks
every answer against the response schema the OpenAPI document gives for its status.

Fixtures are imported by the API test modules: `from tests.test_api_support import api_fixture`
makes `api` available there (the names differ so the import is not shadowed by the argument)."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import jsonschema_rs
import pytest

from tests import factories
from tests import quarter_helpers as qh

_TEMPLATE = re.compile(r"\{[^}/]+\}")


@cache
def document() -> dict[str, Any]:
    from webapp.api import openapi

    return openapi.document()


@cache
def _operations() -> list[tuple[re.Pattern[str], str, str]]:
    out = []
    for path, methods in document()["paths"].items():
        pattern = re.compile("^" + _TEMPLATE.sub("[^/]+", re.escape(path).replace(r"\{", "{").replace(r"\}", "}")) + "$")
        for method in methods:
            out.append((pattern, method, path))
    return out


def operation_for(method: str, url: str) -> tuple[str, dict[str, Any]]:
    """The documented path and operation a request goes to (fails the test when undocumented)."""
    path = url.split("?", 1)[0]
    for pattern, op_method, template in _operations():
        if op_method == method.lower() and pattern.match(path):
            return template, document()["paths"][template][op_method]
    raise AssertionError(f"{method} {path} is not documented")


@cache
def _validator(schema_key: str) -> Any:
    import json

    schema = json.loads(schema_key)
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema,
            "components": document()["components"]}
    return jsonschema_rs.validator_for(root, validate_formats=True)


def check_response(method: str, url: str, response: Any) -> None:
    """The status is documented for the operation, and the body matches its schema."""
    import json

    template, op = operation_for(method, url)
    documented = op["responses"].get(str(response.status_code))
    assert documented is not None, f"{method} {template} answered {response.status_code}, not documented: {response.data[:300]!r}"
    content = documented.get("content")
    if content is None:
        assert response.data == b"", f"{method} {template} {response.status_code} should have no body"
        return
    assert response.mimetype == "application/json", response.mimetype
    schema = content["application/json"]["schema"]
    errors = list(_validator(json.dumps(schema, sort_keys=True)).iter_errors(response.get_json()))
    assert not errors, f"{method} {template} {response.status_code}: " + "; ".join(
        f"{e.message} at {list(e.instance_path)}" for e in errors[:5])


class ApiUser:
    """A test client acting with one bearer token; every answer is checked against the document."""

    def __init__(self, client: Any, token: str, username: str) -> None:
        self.client, self.token, self.username = client, token, username

    def call(self, method: str, url: str, expect: int | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        response = self.client.open(url, method=method, headers=headers, **kwargs)
        check_response(method, url, response)
        if expect is not None:
            assert response.status_code == expect, f"{method} {url}: {response.status_code} {response.get_json()}"
        return response

    def get(self, url: str, expect: int | None = 200, **kwargs: Any) -> Any:
        return self.call("GET", url, expect, **kwargs)

    def post(self, url: str, json: Any = None, expect: int | None = 200, **kwargs: Any) -> Any:
        return self.call("POST", url, expect, json=json, **kwargs)

    def put(self, url: str, json: Any = None, expect: int | None = 200, **kwargs: Any) -> Any:
        return self.call("PUT", url, expect, json=json, **kwargs)

    def delete(self, url: str, expect: int | None = 200, **kwargs: Any) -> Any:
        return self.call("DELETE", url, expect, **kwargs)

    def data(self, method: str, url: str, **kwargs: Any) -> Any:
        return self.call(method, url, **kwargs).get_json()

    def tasks(self, **filters: Any) -> list[dict[str, Any]]:
        """Every task of the inbox matching the filters (all pages)."""
        items, page = [], 1
        while True:
            body = self.get("/api/v1/tasks", query_string={**filters, "page": page, "per_page": 100}).get_json()
            items += body["items"]
            if page >= body["pages"]:
                return items
            page += 1


class Api:
    """Signs users in through the API (one token per user, kept for the test)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._users: dict[str, ApiUser] = {}

    def issue(self, username: str, password: str = factories.TEST_PASSWORD, **extra: Any) -> Any:
        response = self.client.post("/api/v1/auth/token", json={"username": username, "password": password, **extra})
        check_response("POST", "/api/v1/auth/token", response)
        return response

    def __call__(self, username: str) -> ApiUser:
        if username not in self._users:
            response = self.issue(username)
            assert response.status_code == 201, response.get_json()
            self._users[username] = ApiUser(self.client, response.get_json()["token"], username)
        return self._users[username]


@pytest.fixture(name="api")
def api_fixture(client):
    return Api(client)


@pytest.fixture(name="processes")
def processes_fixture(app, db_session, org, clock):
    """The shipped processes and the demo catalogue, for a quarter to be opened."""
    qh.deploy_shipped(db_session)
    qh.load_catalogue(db_session)
    return org


@pytest.fixture(name="quarter")
def quarter_fixture(processes, db_session, clock):
    """An open quarter (2026Q4), opened through the services."""
    return qh.open_quarter(db_session, clock)


def screenshot_tokens(session) -> None:
    """For tools/shoot.py --setup: the demo `office` user with an active, a revoked and an expired token."""
    from datetime import timedelta

    from models.clock import now
    from workflows.org import principals
    from workflows.org import tokens as api_tokens

    for name in ("排班脚本", "移动端", "旧脚本"):
        api_tokens.issue(session, "office", "pointsflow", hours=720, name=name)
    session.flush()
    office = principals.principal_by_username(session, "office")
    tokens = {t.name: t for t in api_tokens.tokens_of(session, office.user_id)}
    api_tokens.revoke(session, office, tokens["移动端"].id)
    tokens["旧脚本"].expires_at = now() - timedelta(days=1)
    session.commit()
