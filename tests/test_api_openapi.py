"""The OpenAPI document matches the server: every documented operation is a route, every route
under /api/v1 is documented, each form of the processes has its completion schema, and the
reference page renders it."""

from __future__ import annotations

import re

import pytest

from tests.test_api_support import document
from workflows.quarter import task_actions
from workflows.quarter.forms import FORMS

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _routes(app) -> set[tuple[str, str]]:
    """(method, path template in OpenAPI's spelling) of every rule under /api/v1."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods - IGNORED_METHODS:
            found.add((method.lower(), path))
    return found


def _documented() -> set[tuple[str, str]]:
    return {(method, path) for path, methods in document()["paths"].items() for method in methods}


def test_every_documented_operation_exists(app):
    assert _documented() - _routes(app) == set()


def test_every_api_route_is_documented(app):
    assert _routes(app) - _documented() == set()


def test_path_parameters_match_the_routes(app):
    for path, methods in document()["paths"].items():
        names = set(re.findall(r"\{([a-z_]+)\}", path))
        for method, op in methods.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == names, (method, path)


def test_operation_ids_are_unique_and_every_operation_says_what_it_does():
    ids = [op["operationId"] for methods in document()["paths"].values() for op in methods.values()]
    assert len(ids) == len(set(ids))
    for methods in document()["paths"].values():
        for op in methods.values():
            assert op["summary"] and op["responses"] and op["tags"]


def test_references_resolve():
    schemas = document()["components"]["schemas"]
    text = str(document())
    for name in re.findall(r"#/components/schemas/([A-Za-z_]+)", text):
        assert name in schemas, name


def test_the_document_is_a_valid_openapi_31_document():
    import schemathesis

    schema = schemathesis.openapi.from_dict(document())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(m) for m in document()["paths"].values())


def test_every_form_a_process_may_name_can_be_completed():
    assert set(task_actions.ACTIONS) == set(FORMS)
    for key in FORMS:
        schema = task_actions.form_schema(key)
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert set(schema["properties"]) == {f.name for f in FORMS[key].fields}
        assert set(schema.get("required", [])) == {f.name for f in FORMS[key].fields if f.required}


def test_the_served_document_is_the_built_one(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json() == document()
    assert response.get_json()["openapi"] == "3.1.0"


@pytest.mark.parametrize("signed_in", [False, True])
def test_the_reference_page_renders_every_operation(client, org, login, signed_in):
    if signed_in:
        login("m1_a1")
    response = client.get("/api/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for path, methods in document()["paths"].items():
        assert path in page
        for op in methods.values():
            assert f'id="{op["operationId"]}"' in page
    for name in document()["components"]["schemas"]:
        assert f'id="schema-{name}"' in page
    assert ('href="/account/api-tokens"' in page) is signed_in


def test_unknown_api_paths_answer_json(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"
    response = client.put("/api/v1/me")
    assert response.status_code == 405 and response.get_json()["error"] == "method_not_allowed"
