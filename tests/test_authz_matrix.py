"""The authorisation matrix, generated from the route table: every route (pages and API) × every
role × an object of the user's own branch and of another branch → the expected allow or deny.

The expectations are written here from the product's rules (SPEC §4), not read from
`models.permissions`, so a change of the rule table that opens a door fails this test. A new
route whose action or URL parameter the matrix does not know fails it too, until someone
decides what it should allow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from models.db import MAX_ID
from models.evaluation import Claim, Evidence, Notification
from models.process import HumanTask, TaskState
from tests import quarter_helpers as qh
from tests.test_api_support import api_fixture, processes_fixture, quarter_fixture  # noqa: F401
from workflows.engine import tx
from workflows.quarter import evaluation, evidence, reports

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")

# --- What each role may ever do (SPEC §4). Every person of the test bureau is also a member of a branch.
MEMBER = {"signed_in", "person.view", "catalogue.view", "quarter.view", "evaluation.view", "evaluation.declare",
          "evaluation.appeal", "evaluation.concern", "ranking.view", "report.submit"}
ACTIONS: dict[str, set[str]] = {
    "m1_a1": MEMBER,
    "rev_a1": MEMBER | {"evaluation.record_for_member", "evaluation.review", "branch.view", "report.verify",
                        "report.list"},
    "sec_a1": MEMBER | {"evaluation.record_for_member", "branch.view", "branch.approve", "branch.meeting",
                        "annual.view", "monitor.view"},
    "disc_a1": MEMBER | {"branch.view", "appeal.decide", "report.reporter_identity", "report.list", "monitor.view"},
    "office": MEMBER | {"org.view", "catalogue.edit", "quarter.open", "quarter.notice", "branch.view",
                        "report.reporter_identity", "report.list", "followup.manage", "annual.view", "annual.review",
                        "task.reassign", "monitor.view", "audit.view"},
    "leader": MEMBER | {"org.view", "quarter.file", "quarter.verify", "branch.view", "annual.view",
                        "annual.approve", "monitor.view", "audit.view"},
    "designer": MEMBER | {"process.design"},
    "admin": MEMBER | {"admin.manage", "org.view", "audit.view"},
}
KNOWN_ACTIONS = set().union(*ACTIONS.values()) | {"public"}
BRANCH_SCOPED_USERS = ("m1_a1", "rev_a1", "sec_a1", "disc_a1")  # roles held in branch a1 only

# URL parameters that name an object of a branch (or of one person); everything else is bureau-wide.
SCOPED_PARAMS = {"task_id", "evaluation_id", "claim_id", "evidence_id", "person_id", "report_id",
                 "instance_id", "branch_id", "notification_id", "token_id"}
UNSCOPED_PARAMS = {"version_id", "quarter_id", "year", "kind_id", "node_id", "unit_id", "user_id", "assignment_id",
                   "obj_id", "notice_id", "kind", "what", "token", "digest", "process_key", "code", "name", "fmt"}
# Routes on a bureau-wide object by design: a concern may be raised about any member's posted score
# (the API's appeal route takes both appeals and concerns); the service refuses outside the window.
BUREAU_WIDE_OBJECT_ROUTES = {"member.concern", "api.appeal_file"}
STATIC = {"filename"}


def _static(rule: Any) -> bool:
    return rule.endpoint == "static" or rule.endpoint.endswith(".static")


def _routes(app: Any) -> list[tuple[Any, str, str]]:
    """(rule, method, action) for every route and method of the application but static files."""
    found = []
    for rule in app.url_map.iter_rules():
        if _static(rule):
            continue
        action = getattr(app.view_functions[rule.endpoint], "pf_action", None)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule, method, action))
    return found


def test_every_route_declares_a_known_action_and_known_parameters(app):
    problems = []
    for rule, method, action in _routes(app):
        if action is None:
            problems.append(f"{method} {rule.rule}: no @guard(action)")
        elif action not in KNOWN_ACTIONS:
            problems.append(f"{method} {rule.rule}: action {action!r} is not in the matrix")
        unknown = set(rule.arguments) - SCOPED_PARAMS - UNSCOPED_PARAMS
        if unknown:
            problems.append(f"{method} {rule.rule}: parameters {sorted(unknown)} are not in the matrix")
    static = [rule.rule for rule in app.url_map.iter_rules() if _static(rule)]
    assert all(set(app.url_map._rules_by_endpoint[r.endpoint][0].arguments) == STATIC
               for r in app.url_map.iter_rules() if _static(r)), static
    assert not problems, "\n".join(problems)
    assert len(_routes(app)) > 150


# --- The world: branch a1 and branch b1 in the same state, mid-quarter.

@dataclass
class Side:
    """The objects of one branch the URLs are built from."""

    branch_id: int
    person_id: int  # m1: declaring, with a claim and its evidence
    neighbour_id: int  # m2: declared, review open
    evaluation_id: int
    neighbour_evaluation_id: int
    instance_id: int
    neighbour_instance_id: int
    claim_id: int
    evidence_id: int
    report_id: int
    tasks: dict[str, int] = field(default_factory=dict)  # form key -> an open task of that form
    notification_id: int = MAX_ID
    token_id: int = MAX_ID


def _side(db_session, app, q, org, key: str, reporter: str) -> Side:
    m1, m2, m3 = (org.people[f"{n}_{key}"] for n in ("m1", "m2", "m3"))
    member = qh.who(db_session, f"m1_{key}")
    ev = qh.evaluation_of(db_session, q.id, m1.id)
    ev2 = qh.evaluation_of(db_session, q.id, m2.id)
    bonus = next(s for s in evaluation.rules(db_session, ev).standards.values() if s.kind == "bonus")
    claim = tx.run(db_session, evaluation.save_claim, member, ev.id, {"standard_id": bonus.id})
    item = tx.run(db_session, evidence.upload, member, claim.id, filename="证书.png", data=PNG,
                  upload_dir=app.config["UPLOAD_DIR"], max_bytes=1 << 20)
    report = tx.run(db_session, reports.submit, qh.who(db_session, reporter), subject_person_id=m3.id,
                    text="上班期间脱岗。")
    return Side(org.branches[key].id, m1.id, m2.id, ev.id, ev2.id, ev.instance_id, ev2.instance_id,
                claim.id, item.id, report.id)


@pytest.fixture
def world(quarter, db_session, org, app, api):
    q = quarter
    sides = {"a1": _side(db_session, app, q, org, "a1", "m1_a2"), "b1": _side(db_session, app, q, org, "b1", "m1_a2")}
    keep = {org.people[f"{n}_{k}"].id for n in ("m1", "m2") for k in ("a1", "b1")}
    qh.declare_all(db_session, q.id, except_person_ids={org.people["m1_a1"].id, org.people["m1_b1"].id})
    for task in qh.tasks(db_session, "branch_review", quarter_id=q.id):
        if task.subject_person_id not in keep:
            tx.run(db_session, evaluation.review, qh.reviewer_for(db_session, task), task.id, [])
    for key, side in sides.items():
        open_tasks = db_session.scalars(select(HumanTask).where(
            HumanTask.branch_id == side.branch_id, HumanTask.state == TaskState.OPEN.value)
            .order_by(HumanTask.id)).all()
        for task in open_tasks:
            side.tasks.setdefault(task.form_key, task.id)
        assert {"self_evaluation", "branch_review", "report_verification"} <= set(side.tasks), side.tasks
        # A notification and an API token belonging to m1 of the branch.
        side.token_id = _token_id(api, f"m1_{key}")
        mine = db_session.scalar(select(Notification.id).where(Notification.user_id == org.users[f"m1_{key}"].id)
                                 .order_by(Notification.id).limit(1))
        side.notification_id = mine or MAX_ID
    db_session.commit()
    return sides


def _token_id(api: Any, username: str) -> int:
    user = api(username)
    body = user.get("/api/v1/auth/tokens").get_json()
    return max(item["id"] for item in body["items"])


def _values(side: Side, rule: Any, *, neighbour: bool = False) -> list[dict[str, Any]]:
    """The URL values to try for a rule with the objects of one side (one or more tasks)."""
    from webapp.tasks import registered

    forms = {endpoint: form for form, endpoint in registered().items()}
    base: dict[str, Any] = {
        "evaluation_id": side.neighbour_evaluation_id if neighbour else side.evaluation_id,
        "person_id": side.neighbour_id if neighbour else side.person_id,
        "instance_id": side.neighbour_instance_id if neighbour else side.instance_id,
        "claim_id": side.claim_id, "evidence_id": side.evidence_id, "report_id": side.report_id,
        "branch_id": side.branch_id, "notification_id": side.notification_id, "token_id": side.token_id,
        # Bureau-wide values: valid enough to reach the view.
        "version_id": 1, "quarter_id": 1, "year": 2026, "kind_id": 1, "node_id": 1, "unit_id": 1, "user_id": 1,
        "assignment_id": 1, "obj_id": 1, "notice_id": 1, "kind": "item", "what": "person", "token": "A" * 32,
        "digest": "0" * 64, "process_key": "person_quarter", "code": "en", "name": "scores", "fmt": "csv",
    }
    if "task_id" not in rule.arguments:
        return [base]
    if rule.endpoint.startswith("member.self_evaluation") or rule.rule.startswith("/self-evaluation/"):
        return [{**base, "task_id": side.tasks["self_evaluation"]}]
    form = forms.get(rule.endpoint)
    if form in side.tasks:
        return [{**base, "task_id": side.tasks[form]}]
    return [{**base, "task_id": task_id} for task_id in side.tasks.values()]


class Caller:
    """Requests as one user: the page session for pages, a bearer token for /api/."""

    def __init__(self, client: Any, api: Any, login: Any, username: str | None) -> None:
        self.client, self.username = client, username
        self.headers: dict[str, str] = {}
        if username is None:
            client.post("/logout")
        else:
            login(username)
            self.headers = {"Authorization": f"Bearer {api(username).token}"}

    def __call__(self, method: str, url: str) -> Any:
        headers = self.headers if url.startswith("/api/") else {}
        kwargs: dict[str, Any] = {"json": {}} if url.startswith("/api/") and method != "GET" else {"data": {}}
        return self.client.open(url, method=method, headers=headers, **kwargs)


def _build(rule: Any, values: dict[str, Any]) -> str:
    return rule.build({k: v for k, v in values.items() if k in rule.arguments}, append_unknown=False)[1]


def test_authorisation_matrix(app, client, api, login, world, db_session):
    routes = _routes(app)
    problems: list[str] = []
    a1, b1 = world["a1"], world["b1"]

    # 1. Nobody signed in: the sign-in page (pages) or 401 (API) for everything but the public routes.
    anonymous = Caller(client, api, login, None)
    for rule, method, action in routes:
        url = _build(rule, _values(a1, rule)[0])
        status = anonymous(method, url).status_code
        if action == "public":
            if status in (401,) or status >= 500:
                problems.append(f"anonymous {method} {url}: {status} on a public route")
        elif url.startswith("/api/"):
            if status != 401:
                problems.append(f"anonymous {method} {url}: {status}, expected 401")
        elif status != 302 or "/login" not in anonymous(method, url).headers.get("Location", ""):
            problems.append(f"anonymous {method} {url}: {status}, expected the sign-in page")

    for username, actions in ACTIONS.items():
        call = Caller(client, api, login, username)
        for rule, method, action in routes:
            if action == "public" or rule.endpoint == "auth.logout":
                continue
            for values in _values(a1, rule):
                url = _build(rule, values)
                # 2. A role that never may: 403 on every method, before anything is read or written.
                if action not in actions:
                    status = call(method, url).status_code
                    if status != 403:
                        problems.append(f"{username} {method} {url} ({action}): {status}, expected 403")
                    continue
                # 3. A role that may, on a route without objects: the page answers.
                if method == "GET" and not set(rule.arguments) & (SCOPED_PARAMS | UNSCOPED_PARAMS):
                    response = call(method, url)
                    if response.status_code not in (200, 302) or "/login" in response.headers.get("Location", ""):
                        problems.append(f"{username} GET {url} ({action}): {response.status_code}, expected 200")

        # 4. Users of branch a1 on the objects of branch b1: refused on every method, whatever they hold.
        if username in BRANCH_SCOPED_USERS:
            for rule, method, action in routes:
                scoped = set(rule.arguments) & SCOPED_PARAMS
                if not scoped or action not in actions or rule.endpoint in BUREAU_WIDE_OBJECT_ROUTES:
                    continue
                for values in _values(b1, rule):
                    url = _build(rule, values)
                    status = call(method, url).status_code
                    if status not in (403, 404):
                        problems.append(f"{username} {method} {url} (object of b1): {status}, expected 403/404")

    # 5. A member on a neighbour's evaluation, person and instance in their own branch: refused.
    call = Caller(client, api, login, "m1_a1")
    for rule, method, action in routes:
        if not set(rule.arguments) & {"evaluation_id", "person_id", "instance_id"}:
            continue
        if action not in ACTIONS["m1_a1"] or rule.endpoint in BUREAU_WIDE_OBJECT_ROUTES:
            continue
        url = _build(rule, _values(a1, rule, neighbour=True)[0])
        status = call(method, url).status_code
        if status not in (403, 404):
            problems.append(f"m1_a1 {method} {url} (a neighbour's): {status}, expected 403/404")

    assert not problems, f"{len(problems)} unexpected answers:\n" + "\n".join(problems)
    # Nothing of b1 was touched by the refused writes.
    assert db_session.get(Claim, b1.claim_id) is not None and db_session.get(Evidence, b1.evidence_id) is not None
    assert api("m1_b1").get("/api/v1/me").status_code == 200  # its token was not revoked


# --- The positive side: the holders of each object reach it (so the refusals above are not vacuous).
ALLOWED = [
    ("m1_a1", "a1", "GET", "/self-evaluation/{self_evaluation}"),
    ("m1_a1", "a1", "GET", "/my/evaluations/{evaluation_id}"),
    ("m1_a1", "a1", "GET", "/evidence/{evidence_id}"),
    ("m1_a1", "a1", "GET", "/api/v1/evaluations/{evaluation_id}"),
    ("rev_a1", "a1", "GET", "/review/{branch_review}/review"),
    ("rev_a1", "a1", "GET", "/inbox/tasks/{branch_review}"),
    ("rev_a1", "a1", "GET", "/api/v1/tasks/{branch_review}"),
    ("rev_a1", "a1", "GET", "/review/{report_verification}/report"),
    ("rev_a1", "a1", "GET", "/my/evaluations/{neighbour_evaluation_id}"),
    ("sec_a1", "a1", "GET", "/people/{neighbour_id}/probation-record"),
    ("sec_a1", "a1", "GET", "/monitor/instances/{instance_id}"),
    ("disc_a1", "a1", "GET", "/reports/{report_id}"),
    ("office", "b1", "GET", "/monitor/instances/{instance_id}"),
    ("office", "b1", "GET", "/my/evaluations/{evaluation_id}"),
    ("office", "b1", "GET", "/evidence/{evidence_id}"),
    ("office", "b1", "GET", "/people/{neighbour_id}/probation-record"),
    ("leader", "b1", "GET", "/api/v1/evaluations/{evaluation_id}"),
    ("leader", "b1", "GET", "/monitor/instances/{instance_id}/diagram.bpmn"),
    ("rev_b1", "b1", "GET", "/review/{branch_review}/review"),
    ("m1_b1", "b1", "GET", "/self-evaluation/{self_evaluation}"),
]


def test_the_holders_of_an_object_reach_it(app, client, api, login, world):
    problems = []
    for username, key, method, template in ALLOWED:
        side = world[key]
        url = template.format(**side.__dict__, **side.tasks)
        status = Caller(client, api, login, username)(method, url).status_code
        if status != 200:
            problems.append(f"{username} {method} {url}: {status}, expected 200")
    assert not problems, "\n".join(problems)


def test_ids_beyond_the_database_range_are_404_everywhere(app, client, api, login, world):
    """Every integer URL parameter, given an id no 32-bit column holds, answers 404 (never a query error)."""
    call = Caller(client, api, login, "office")
    problems = []
    for rule, method, _action in _routes(app):
        ints = [name for name, conv in rule._converters.items() if type(conv).__name__ == "BoundedInt"]
        for name in ints:
            url = _build(rule, {**_values(world["a1"], rule)[0], name: 2**40})
            status = call(method, url).status_code
            if status != 404:
                problems.append(f"{method} {url}: {status}")
    assert not problems, "\n".join(problems)
