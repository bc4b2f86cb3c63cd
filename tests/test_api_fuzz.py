"""Schemathesis over the OpenAPI document, with a valid token of the party office and a quarter in
progress: whatever it sends (valid and invalid data), the server never answers 500, and every
answer has a documented status, content type and shape.

`make test` runs a few examples per operation; `make fuzz` runs many (FUZZ_EXAMPLES, default 500):
    FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest -m fuzz tests/test_api_fuzz.py -p no:xdist
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests import factories
from tests import quarter_helpers as qh

pytestmark = [pytest.mark.fuzz]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


@pytest.fixture(scope="session")
def worker_id(request) -> str:
    """As pytest-xdist names it, also when `make fuzz` runs without xdist (-p no:xdist): the
    PostgreSQL fixture keeps one schema per worker."""
    return getattr(request.config, "workerinput", {}).get("workerid", "master")


def _token(client) -> str:
    response = client.post("/api/v1/auth/token", json={"username": "office", "password": factories.TEST_PASSWORD})
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["token"])


def _strategy(operation):
    """Valid and invalid requests for one operation (invalid ones where the operation takes any input)."""
    positive = operation.as_strategy(GenerationMode.POSITIVE)
    try:
        return st.one_of(positive, operation.as_strategy(GenerationMode.NEGATIVE))
    except Exception:  # noqa: BLE001 - nothing to make invalid (no parameters, no body)
        return positive


def _fuzz(operation, token: str) -> None:
    @given(case=_strategy(operation))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 20, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink])
    def run(case):
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        case.validate_response(response, checks=CHECKS)

    run()


# Operations that revoke tokens run last, each with a token of its own.
REVOKING = ("DELETE /api/v1/auth/token", "DELETE /api/v1/auth/tokens/{token_id}")


def test_the_api_never_fails_and_answers_as_documented(app, db_session, org, clock, client):
    qh.deploy_shipped(db_session)
    qh.load_catalogue(db_session)
    qh.open_quarter(db_session, clock)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # The token is ours to send (below): schemathesis neither generates nor removes it.
    schema.config.generation.update(with_security_parameters=False)
    operations = sorted((result.ok() for result in schema.get_all_operations()),
                        key=lambda op: REVOKING.index(op.label) if op.label in REVOKING else -1)
    # Tokens are issued before anything is fuzzed: fuzzed sign-ins soon throttle this address.
    shared = _token(client)
    own = {label: _token(client) for label in REVOKING}
    failures = []
    for operation in operations:
        try:
            _fuzz(operation, own.get(operation.label, shared))
        except (Exception, BaseExceptionGroup) as e:  # noqa: BLE001 - every operation is fuzzed; all are reported
            failures.append(f"{operation.label}: {e}")
    assert not failures, "\n\n".join(failures)
