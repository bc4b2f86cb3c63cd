"""The OpenAPI 3.1 document of the JSON API, built in code next to the routes it describes.

Request bodies come from the same specs the routes check them with (`webapp.api.bodies`, and
`workflows.task_actions` for the forms), so a documented body and an accepted body are one thing.
`tests/test_api_openapi.py` checks that every documented operation exists and every route under
/api/v1 is documented; the whole-quarter test validates every answer against these schemas.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from models.people import Role
from models.process import TaskState
from webapp.api import bodies
from workflows.quarter import task_actions
from workflows.quarter.forms import FORMS

Schema = dict[str, Any]
MAX_ID = task_actions.MAX_INT


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """The schema, or null."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    out = copy.deepcopy(schema)
    kinds = out.get("type", "object")
    out["type"] = [*([kinds] if isinstance(kinds, str) else kinds), "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def obj(properties: dict[str, Schema], *, optional: tuple[str, ...] = (), description: str = "") -> Schema:
    """An object whose properties are all present (but those named in `optional`)."""
    schema: Schema = {"type": "object", "properties": properties,
                      "required": [k for k in properties if k not in optional]}
    if description:
        schema["description"] = description
    return schema


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}
DATETIME: Schema = {"type": "string", "format": "date-time"}
DATE: Schema = {"type": "string", "format": "date"}
POINTS: Schema = {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$", "description": "points, two decimals"}
ANY_OBJECT: Schema = {"type": "object"}
N_STRING, N_INTEGER, N_DATETIME, N_DATE, N_POINTS = (nullable(s) for s in (STRING, INTEGER, DATETIME, DATE, POINTS))
N_REF = nullable(ref("Ref"))


def _schemas() -> dict[str, Schema]:
    s: dict[str, Schema] = {}
    s["Error"] = obj({
        "error": {"type": "string", "description": "a stable code: bad_request, unauthorized, forbidden, not_found, "
                  "conflict, task_not_ready, task_taken, quarter_locked, window_closed, invalid, too_large, "
                  "too_many_requests, invalid_credentials, throttled, password_change_required, ..."},
        "message": {"type": "string", "description": "for people, in the user's language"},
        "fields": {"type": "object", "additionalProperties": array(STRING),
                   "description": "messages per field (400/422); list items are named `field-<index>-<property>`"},
    }, optional=("fields",))
    s["Ref"] = obj({"id": INTEGER, "name": STRING}, description="a person, user or branch: its id and name")
    s["Task"] = obj({
        "id": INTEGER, "process": STRING, "step": {"type": "string", "description": "the BPMN id of the user task"},
        "name": STRING, "form": {"type": "string", "enum": sorted(FORMS)}, "role": {"type": "string", "enum": [r.value for r in Role]},
        "branch": N_REF, "quarter_id": N_INTEGER, "subject": N_REF, "assignee": N_REF, "escalated": BOOLEAN,
        "due_at": N_DATETIME, "overdue": BOOLEAN, "state": {"type": "string", "enum": [t.value for t in TaskState]},
        "instance_id": INTEGER, "created_at": N_DATETIME, "completed_at": N_DATETIME, "completed_by": N_REF,
    })
    s["TaskPage"] = page_of("Task")
    s["FormField"] = obj({"name": STRING, "type": STRING, "required": BOOLEAN, "choices": array(STRING),
                          "description": STRING})
    s["Form"] = obj({"key": STRING, "title": STRING, "fields": array(ref("FormField")),
                     "schema": nullable({"type": "object", "description": "JSON Schema of the completion data"})})
    s["Instance"] = obj({"id": INTEGER, "process": STRING, "status": STRING, "steps": array(STRING),
                         "step_status": N_STRING})
    s["TaskContext"] = obj({
        "instance": ref("Instance"), "evaluation": ref("EvaluationFull"), "appeal": nullable(ref("Appeal")),
        "branch_quarter": ref("BranchQuarter"), "report": ref("Report"), "follow_up": ref("FollowUp"),
        "annual": obj({"id": INTEGER, "year": INTEGER, "status": STRING, "review_comment": STRING}),
        "quarter": ref("Quarter"),
        "notice_lists": {"type": "object", "description": "the generated lists a notice starts from: pass and "
                         "excellent lines, commendations, under_pass, low_branches, branches (collective scores)"},
        "sample": array(ref("EvaluationSummary")),
    }, optional=("evaluation", "appeal", "branch_quarter", "report", "follow_up", "annual", "quarter",
                 "notice_lists", "sample"), description="what the task is about; which parts depend on the form")
    detail = copy.deepcopy(s["Task"])
    detail["properties"].update({"form": ref("Form"), "may_act": BOOLEAN, "context": ref("TaskContext")})
    detail["required"] += ["may_act", "context"]
    s["TaskDetail"] = detail
    s["Completion"] = obj({"task": ref("Task"), "instance": ref("Instance"), "next_tasks": array(ref("Task"))})
    s["Me"] = obj({
        "user": obj({"id": INTEGER, "username": STRING, "name": STRING, "locale": N_STRING}),
        "person": nullable(obj({"id": INTEGER, "name": STRING, "employee_no": STRING, "status": STRING,
                                "branch": N_REF})),
        "roles": array(obj({"role": {"type": "string", "enum": [r.value for r in Role]},
                            "scope": {"type": "string", "enum": ["branch", "bureau"]}, "branch": N_REF})),
        "actions": array(STRING),
    })
    s["Token"] = obj({"id": INTEGER, "name": STRING, "created_at": DATETIME, "expires_at": DATETIME,
                      "last_used_at": N_DATETIME, "revoked_at": N_DATETIME,
                      "state": {"type": "string", "enum": ["active", "expired", "revoked"]}, "current": BOOLEAN})
    s["TokenIssued"] = obj({"token": {"type": "string", "description": "shown once: keep it secret"},
                            "token_type": {"type": "string", "enum": ["Bearer"]}, "expires_at": DATETIME,
                            "token_info": ref("Token")})
    s["TokenList"] = obj({"items": array(ref("Token"))})
    s["Quarter"] = obj({
        "id": INTEGER, "year": INTEGER, "quarter": INTEGER, "label": STRING, "title": STRING,
        "status": {"type": "string", "enum": ["open", "notified", "filed"]}, "unit_id": N_INTEGER,
        "catalogue_version_id": INTEGER, "self_eval_deadline": DATETIME, "review_deadline": N_DATETIME,
        "publicity_days": INTEGER, "opened_at": DATETIME, "notified_at": N_DATETIME, "filed_at": N_DATETIME,
        "locked": BOOLEAN})
    s["QuarterList"] = obj({"items": array(ref("Quarter"))})
    detail = copy.deepcopy(s["Quarter"])
    detail["properties"]["counts"] = {"type": "object", "additionalProperties": INTEGER,
                                      "description": "evaluations per status"}
    detail["required"].append("counts")
    s["QuarterDetail"] = detail
    s["QuarterOpened"] = obj({"quarter": ref("Quarter"), "evaluations": INTEGER, "branches": INTEGER})
    s["EvaluationSummary"] = obj({
        "id": INTEGER, "quarter": obj({"id": INTEGER, "label": STRING, "title": STRING}), "person": N_REF,
        "branch": N_REF, "member_status": STRING, "status": STRING, "self_score": N_POINTS, "score": N_POINTS,
        "grade": nullable({"type": "string", "enum": ["excellent", "pass", "fail"]}), "one_click": BOOLEAN,
        "recorded_by_branch": BOOLEAN, "declared_at": N_DATETIME, "reviewed_at": N_DATETIME})
    s["EvaluationList"] = obj({"items": array(ref("EvaluationSummary"))})
    s["Evidence"] = obj({"id": INTEGER, "claim_id": N_INTEGER, "filename": STRING, "content_type": STRING,
                         "size": INTEGER, "sha256": STRING, "uploaded_at": DATETIME})
    s["Claim"] = obj({
        "id": INTEGER, "evaluation_id": INTEGER,
        "standard": obj({"id": INTEGER, "code": STRING, "text": STRING,
                         "kind": {"type": "string", "enum": ["bonus", "deduction"]}, "points": POINTS,
                         "max_occurrences": N_INTEGER, "evidence_required": BOOLEAN}),
        "source": {"type": "string", "enum": ["self", "branch", "review", "report"]},
        "status": {"type": "string", "enum": ["draft", "submitted", "accepted", "adjusted", "rejected", "revoked"]},
        "occurrences": INTEGER, "occurred_on": N_DATE, "description": STRING, "reviewed_occurrences": N_INTEGER,
        "reviewed_points": N_POINTS, "decision_reason": STRING, "reviewed_at": N_DATETIME, "report_id": N_INTEGER,
        "evidence": array(ref("Evidence"))})
    s["Appeal"] = obj({
        "id": INTEGER, "evaluation_id": INTEGER, "kind": {"type": "string", "enum": ["appeal", "concern"]},
        "claim_id": N_INTEGER, "text": STRING, "status": {"type": "string", "enum": ["open", "upheld", "dismissed"]},
        "submitted_at": DATETIME, "mine": BOOLEAN,
        "submitted_by": {**N_REF, "description": "shown to the appellant and to those who decide"},
        "decided_at": N_DATETIME, "decision_reason": STRING})
    s["Explanation"] = obj({
        "evaluation": {"type": "object", "description": "scores, grade, who declared and reviewed, when"},
        "quarter": ANY_OBJECT, "person": ANY_OBJECT, "branch": ANY_OBJECT,
        "provisional": {"type": "boolean", "description": "true before review: what the declared claims would give"},
        "totals": obj({"baseline_total": POINTS, "deductions": POINTS, "bonuses": POINTS, "total": POINTS,
                       "grade": {"type": "string", "enum": ["excellent", "pass", "fail"]}, "pass_line": POINTS,
                       "excellent_line": POINTS}),
        "honours": array(ANY_OBJECT),
        "dimensions": array(obj({"name": STRING, "items": array({
            "type": "object", "description": "an item: baseline, deductions applied (never below zero for the "
            "item), bonuses, score, and its entries: each claim with its standard, evidence, review decision "
            "(reason, who, when), report, appeals and history"})})),
        "appeals": array(ANY_OBJECT),
        "branch_quarter": nullable(ANY_OBJECT),
        "steps": array({"type": "object", "description": "a completed step of the member's process: who, when"}),
    }, description="the why of every point, as the member pages show it: standard → claim → evidence → "
       "review decision → appeal decision, with who and when")
    full = copy.deepcopy(s["EvaluationSummary"])
    full["properties"].update({
        "catalogue_version_id": INTEGER, "unit_kind_id": INTEGER, "claims": array(ref("Claim")),
        "explanation": ref("Explanation"),
        "appeal_window_until": {**N_DATETIME, "description": "while the score is under publicity"}})
    full["required"] = list(full["properties"])
    s["EvaluationFull"] = full
    s["BranchQuarter"] = obj({
        "id": INTEGER, "quarter_id": INTEGER, "branch": N_REF, "status": STRING, "member_count": INTEGER,
        "approved_at": N_DATETIME, "approval_comment": STRING, "meeting_date": N_DATE, "meeting_expected": N_INTEGER,
        "meeting_present": N_INTEGER, "meeting_resolution": STRING, "publicity_start": N_DATETIME,
        "publicity_end": N_DATETIME, "mean_score": N_POINTS, "members": array(ref("EvaluationSummary"))})
    s["Report"] = obj({
        "id": INTEGER, "subject": N_REF, "branch": N_REF, "text": STRING, "occurred_on": N_DATE, "status": STRING,
        "suggested_standard_id": N_INTEGER, "occurrences": INTEGER, "decision_reason": STRING,
        "verified_at": N_DATETIME, "evaluation_id": N_INTEGER, "claim_id": N_INTEGER, "created_at": DATETIME,
        "reporter": {**nullable(obj({"user": N_REF, "name": STRING, "contact": STRING,
                                     "via_party_office": BOOLEAN})),
                     "description": "only for the branch's discipline member and the party office"}})
    s["FollowUp"] = obj({"id": INTEGER, "quarter_id": INTEGER, "kind": STRING, "person": N_REF, "branch": N_REF,
                         "reason": STRING, "due_at": N_DATETIME, "status": STRING, "record": STRING,
                         "done_at": N_DATETIME})
    s["CatalogueVersion"] = obj({
        "id": INTEGER, "year": INTEGER, "name": STRING,
        "status": {"type": "string", "enum": ["draft", "published", "retired"]}, "pass_line": POINTS,
        "excellent_line": POINTS, "description": STRING, "published_at": N_DATETIME})
    s["CatalogueList"] = obj({"items": array(ref("CatalogueVersion")),
                              "unit_kinds": array(obj({"id": INTEGER, "code": STRING, "name": STRING}))})
    standard = obj({"id": INTEGER, "code": STRING, "text": STRING,
                    "kind": {"type": "string", "enum": ["bonus", "deduction"]}, "points": POINTS,
                    "max_occurrences": N_INTEGER, "honour_category": N_STRING, "honour_level": N_INTEGER,
                    "evidence_required": BOOLEAN})
    item = obj({"id": INTEGER, "code": STRING, "name": STRING, "kind": STRING, "baseline": POINTS,
                "unit_kind": {**N_STRING, "description": "null: the common part"},
                "contents": array(obj({"id": INTEGER, "code": STRING, "text": STRING, "standards": array(standard)}))})
    s["CatalogueTree"] = obj({
        "version": ref("CatalogueVersion"), "unit_kind": N_STRING,
        "bases": array(obj({"id": INTEGER, "code": STRING, "title": STRING, "kind": STRING})),
        "dimensions": array(obj({"id": INTEGER, "code": STRING, "name": STRING, "items": array(item)}))})
    s["OpenAPIDocument"] = {"type": "object", "required": ["openapi", "paths"], "description": "OpenAPI 3.1"}
    s["Ranking"] = obj({
        "quarter": ref("Quarter"), "branch": N_REF,
        "posted_branches": array(obj({"id": INTEGER, "name": STRING, "unit": STRING, "status": STRING,
                                      "members": INTEGER, "publicity_start": DATETIME, "publicity_end": N_DATETIME,
                                      "window_open": {"type": "boolean", "description": "concerns accepted now"}})),
        "items": array(obj({"rank": INTEGER, "position": INTEGER, "evaluation_id": INTEGER, "person": ref("Ref"),
                            "employee_no": STRING, "branch": ref("Ref"), "member_status": STRING, "score": POINTS,
                            "grade": nullable({"type": "string", "enum": ["excellent", "pass", "fail"]})})),
        "page": INTEGER, "per_page": INTEGER, "total": INTEGER, "pages": INTEGER,
        "collective": array(obj({"rank": N_INTEGER, "branch": ref("Ref"), "members": INTEGER, "scored": INTEGER,
                                 "mean": N_POINTS, "stdev": N_POINTS, "min": N_POINTS, "max": N_POINTS,
                                 "excellent": INTEGER, "failed": INTEGER})),
    }, description="ranks are competition ranks (ties share a rank); only branches whose publicity started")
    counts = {"type": "object", "additionalProperties": INTEGER}
    s["MonitorInstances"] = obj({
        "counts": obj({
            "total": INTEGER, "by_status": counts, "open_tasks": INTEGER, "overdue": INTEGER, "stuck": INTEGER,
            "processes": array(obj({
                "process": STRING, "name": STRING, "total": INTEGER, "by_status": counts,
                "steps": array(obj({"step": {"type": "string", "description": "a BPMN id; __completed__ for "
                                             "finished instances"}, "name": STRING, "instances": INTEGER,
                                    "errors": INTEGER, "open_tasks": INTEGER, "overdue": INTEGER}))}))}),
        "items": array(obj({
            "id": INTEGER, "process": STRING, "status": STRING, "steps": array(STRING), "step_status": N_STRING,
            "quarter_id": N_INTEGER, "branch": N_REF,
            "subject": N_REF, "step_names": array(obj({"step": STRING, "name": STRING})), "error": N_STRING,
            "created_at": DATETIME, "updated_at": DATETIME})),
        "page": INTEGER, "per_page": INTEGER, "total": INTEGER, "pages": INTEGER,
    })
    for key in sorted(task_actions.ACTIONS):
        s[form_schema_name(key)] = {**task_actions.form_schema(key), "title": FORMS[key].title}
    s["TokenRequest"] = task_actions.record_schema(bodies.TOKEN_REQUEST)
    s["QuarterOpen"] = task_actions.record_schema(bodies.QUARTER_OPEN)
    s["ClaimInput"] = task_actions.record_schema(bodies.CLAIM)
    s["AppealInput"] = task_actions.record_schema(bodies.APPEAL)
    s["ReportInput"] = task_actions.record_schema(bodies.REPORT)
    s["ReportAppealInput"] = task_actions.record_schema(bodies.REPORT_APPEAL)
    return s


def page_of(name: str) -> Schema:
    return obj({"items": array(ref(name)), "page": INTEGER, "per_page": INTEGER, "total": INTEGER, "pages": INTEGER})


def form_schema_name(form_key: str) -> str:
    return "Complete_" + form_key


# --- Operations -------------------------------------------------------------------------------------------

STATUS_TEXT = {
    200: "OK", 201: "Created", 204: "Done, nothing to return",
    400: "The body is not a JSON object (malformed JSON)",
    401: "No valid bearer token (missing, unknown, expired or revoked)",
    403: "The caller's roles do not allow this, or not on this object",
    404: "No such object (or not visible to the caller)",
    409: "Conflict: the task is no longer ready or taken by somebody else, the quarter is locked, or the window is closed",
    413: "The upload is too large",
    422: "Some values are not valid: see `fields`",
    429: "Too many failed sign-ins: wait and try again",
}


def _id_param(name: str, what: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": f"the {what}'s id",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


ID_SCHEMA: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
PAGE = _query("page", {"type": "integer", "minimum": 1, "maximum": MAX_ID, "default": 1}, "page number")
PER_PAGE = _query("per_page", {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
                  "items per page (at most 100)")


def _json_body(schema: Schema, description: str = "") -> Schema:
    body: Schema = {"required": True, "content": {"application/json": {"schema": schema}}}
    if description:
        body["description"] = description
    return body


def _operation(op_id: str, tag: str, summary: str, ok: tuple[int, str | None], *, description: str = "",
               public: bool = False, params: list[Schema] | None = None, body: Schema | None = None,
               errors: tuple[int, ...] = ()) -> Schema:
    status, schema_name = ok
    responses: dict[str, Any] = {}
    if schema_name is None:
        responses[str(status)] = {"description": STATUS_TEXT[status]}
    else:
        responses[str(status)] = {"description": STATUS_TEXT[status],
                                  "content": {"application/json": {"schema": ref(schema_name)}}}
    codes = set(errors)
    if not public:
        codes |= {401, 403}
    if body is not None:
        codes |= {400, 422}
    if any(p["in"] == "path" for p in params or []):
        codes.add(404)
    if any(p["in"] == "query" for p in params or []):
        codes.add(422)
    for code in sorted(codes):
        responses[str(code)] = {"description": STATUS_TEXT[code],
                                "content": {"application/json": {"schema": ref("Error")}}}
    op: Schema = {"operationId": op_id, "tags": [tag], "summary": summary, "responses": responses}
    if description:
        op["description"] = description
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = body
    op["security"] = [] if public else [{"bearer": []}]
    return op


def _paths() -> dict[str, dict[str, Schema]]:
    paths = _operations()
    for methods in paths.values():
        for method, op in methods.items():
            if method != "get" and op["security"] and "409" not in op["responses"]:
                # A write that kept losing to concurrent changes (after the retries) is a conflict too.
                op["responses"]["409"] = {"description": STATUS_TEXT[409],
                                          "content": {"application/json": {"schema": ref("Error")}}}
                op["responses"] = dict(sorted(op["responses"].items()))
    return paths


def _operations() -> dict[str, dict[str, Schema]]:
    task_id = [_id_param("task_id", "task")]
    evaluation_id = [_id_param("evaluation_id", "evaluation")]
    quarter_id = [_id_param("quarter_id", "quarter")]
    forms_list = ", ".join(f"`{k}`" for k in sorted(task_actions.ACTIONS))
    return {
        "/api/v1/auth/token": {
            "post": _operation(
                "issueToken", "Tokens", "Sign in: exchange a username and password for a bearer token",
                (201, "TokenIssued"), public=True, body=_json_body(ref("TokenRequest")), errors=(401, 403, 429),
                description="Send the token as `Authorization: Bearer <token>`. It expires after "
                "`API_TOKEN_HOURS` (default 720) hours and can be revoked from the token page "
                "(/account/api-tokens) or with DELETE. Failed attempts are throttled like the sign-in page "
                "(429). An account that must change its password first is refused (403 password_change_required)."),
            "delete": _operation("revokeCurrentToken", "Tokens", "Sign out: revoke the token of this request",
                                 (200, "Token"), errors=(404,)),
        },
        "/api/v1/auth/tokens": {"get": _operation("listTokens", "Tokens", "The caller's tokens", (200, "TokenList"))},
        "/api/v1/auth/tokens/{token_id}": {"delete": _operation(
            "revokeToken", "Tokens", "Revoke one of the caller's tokens", (200, "Token"),
            params=[_id_param("token_id", "token")])},
        "/api/v1/me": {"get": _operation("me", "Me", "The caller: person, roles with their scope, allowed actions",
                                         (200, "Me"))},
        "/api/v1/me/evaluations": {"get": _operation("myEvaluations", "Me", "The caller's own evaluations",
                                                     (200, "EvaluationList"))},
        "/api/v1/tasks": {"get": _operation(
            "listTasks", "Tasks", "The caller's inbox", (200, "TaskPage"),
            description="The inbox of the pages: open tasks assigned to the caller and unclaimed tasks of their "
            "pools (their role in the task's branch, or bureau-wide), their own first, then by role, soonest due "
            "first. With `state=completed` or `cancelled`: the pools' and the caller's past tasks, latest first.",
            params=[
                _query("role", {"type": "string", "enum": [r.value for r in Role]}, "the role the task is for"),
                _query("quarter", ID_SCHEMA, "a quarter's id"),
                _query("step", {"type": "string", "minLength": 1, "maxLength": 100}, "the BPMN id of the step, e.g. `branch_review`"),
                _query("branch", ID_SCHEMA, "a branch's id"),
                _query("state", {"type": "string", "enum": [t.value for t in TaskState], "default": "open"}, "task state"),
                _query("overdue", {"type": "boolean"}, "true: only tasks past their due date"),
                _query("assignee", {"type": "string", "enum": ["me", "none"]}, "claimed by the caller, or unclaimed"),
                _query("page", {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1}, "page number"),
                PER_PAGE])},
        "/api/v1/tasks/{task_id}": {"get": _operation(
            "getTask", "Tasks", "A task, its context and the form that completes it", (200, "TaskDetail"),
            params=task_id)},
        "/api/v1/tasks/{task_id}/claim": {"post": _operation(
            "claimTask", "Tasks", "Claim an unclaimed task of one's pool", (200, "Task"), params=task_id,
            errors=(409,))},
        "/api/v1/tasks/{task_id}/release": {"post": _operation(
            "releaseTask", "Tasks", "Give a claimed task back to its pool", (200, "Task"), params=task_id,
            errors=(409,))},
        "/api/v1/tasks/{task_id}/complete": {"post": _operation(
            "completeTask", "Tasks", "Complete a task with its form's data", (200, "Completion"), params=task_id,
            errors=(409,), body=_json_body({"anyOf": [ref(form_schema_name(k)) for k in sorted(task_actions.ACTIONS)]},
                                           "the data of the task's form (see `form.schema` of GET /tasks/{id}); "
                                           "unknown fields are refused"),
            description=f"The form is the task's `form`: {forms_list}. Each is completed by the same service as "
            "its page, which checks permission, scope, windows and the quarter's lock. 409 when the task was "
            "completed meanwhile or claimed by somebody else. A self-evaluation declares the draft claims "
            "added with POST /evaluations/{id}/claims; `one_click: true` declares nothing (一键申报).")},
        "/api/v1/quarters": {
            "get": _operation("listQuarters", "Quarters", "Every quarter, newest first", (200, "QuarterList")),
            "post": _operation("openQuarter", "Quarters", "Open a quarter (party office)", (201, "QuarterOpened"),
                               body=_json_body(ref("QuarterOpen"))),
        },
        "/api/v1/quarters/{quarter_id}": {"get": _operation(
            "getQuarter", "Quarters", "A quarter with its evaluations counted by status", (200, "QuarterDetail"),
            params=quarter_id)},
        "/api/v1/quarters/{quarter_id}/ranking": {"get": _operation(
            "getRanking", "Quarters", "The publicity board: the bureau's ranking, or one branch's", (200, "Ranking"),
            description="Every party member may see it, for the branches whose scores are posted (晒绩). "
            "`collective`: the branches ranked by their mean score.",
            params=[*quarter_id, _query("branch", ID_SCHEMA, "one branch's ranking"), PAGE,
                    _query("per_page", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                           "rows per page (at most 500)")])},
        "/api/v1/evaluations/{evaluation_id}": {"get": _operation(
            "getEvaluation", "Evaluations", "An evaluation: score, claims, evidence, appeals, full explanation",
            (200, "EvaluationFull"), params=evaluation_id)},
        "/api/v1/evaluations/{evaluation_id}/claims": {"post": _operation(
            "addClaim", "Evaluations", "Add a draft claim to the self-evaluation", (201, "Claim"),
            params=evaluation_id, body=_json_body(ref("ClaimInput")), errors=(409,),
            description="During the member's self-evaluation (or the branch's recording for an overdue member). "
            "Drafts are declared when the self-evaluation task is completed.")},
        "/api/v1/evaluations/{evaluation_id}/claims/{claim_id}": {
            "put": _operation("changeClaim", "Evaluations", "Change a draft claim", (200, "Claim"),
                              params=[*evaluation_id, _id_param("claim_id", "claim")],
                              body=_json_body(ref("ClaimInput")), errors=(409,)),
            "delete": _operation("removeClaim", "Evaluations", "Remove a draft claim", (204, None),
                                 params=[*evaluation_id, _id_param("claim_id", "claim")], errors=(409,)),
        },
        "/api/v1/evaluations/{evaluation_id}/evidence": {"post": _operation(
            "uploadEvidence", "Evaluations", "Attach a file to a draft claim", (201, "Evidence"),
            params=evaluation_id, errors=(400, 409, 413, 422),
            description="The file is accepted for what its content is (PDF, PNG/JPEG/GIF/WebP, Word/Excel/"
            "PowerPoint without macros), up to `UPLOAD_MAX_MB` (413 beyond).",
            body={"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file", "claim_id"], "properties": {
                    "file": {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream",
                             "description": bodies.EVIDENCE_FIELDS["file"]},
                    "claim_id": {**ID_SCHEMA, "description": bodies.EVIDENCE_FIELDS["claim_id"]}}}}}})},
        "/api/v1/evaluations/{evaluation_id}/evidence/{evidence_id}": {"delete": _operation(
            "removeEvidence", "Evaluations", "Remove a file from a draft claim", (204, None),
            params=[*evaluation_id, _id_param("evidence_id", "evidence")], errors=(409,))},
        "/api/v1/evaluations/{evaluation_id}/appeals": {"post": _operation(
            "fileAppeal", "Evaluations", "Appeal one's own posted score, or raise a concern about a posted score",
            (201, "Appeal"), params=evaluation_id, body=_json_body(ref("AppealInput")), errors=(409,),
            description="Only while the score is under publicity (409 window_closed otherwise). The branch's "
            "discipline member decides it.")},
        "/api/v1/supervision-reports": {"post": _operation(
            "submitReport", "Supervision reports", "Report a member's conduct", (201, "Report"),
            body=_json_body(ref("ReportInput")))},
        "/api/v1/supervision-reports/{report_id}/appeals": {"post": _operation(
            "appealReport", "Supervision reports", "Appeal the deduction of a substantiated report", (201, "Appeal"),
            params=[_id_param("report_id", "report")], body=_json_body(ref("ReportAppealInput")), errors=(409,))},
        "/api/v1/monitor/instances": {"get": _operation(
            "monitorInstances", "Monitor", "Process instances: counts by step and the list", (200, "MonitorInstances"),
            description="For the leading group and the party office (the whole bureau) and for a branch's "
            "secretary and discipline member (their branch).",
            params=[_query("quarter", ID_SCHEMA, "a quarter's id"), _query("unit", ID_SCHEMA, "a unit's id"),
                    _query("branch", ID_SCHEMA, "a branch's id"),
                    _query("process", {"type": "string", "minLength": 1, "maxLength": 100}, "a process key"),
                    _query("status", {"type": "string", "enum": ["running", "completed", "error", "cancelled"]},
                           "instance status"),
                    _query("step", {"type": "string", "minLength": 1, "maxLength": 100}, "only instances at this step (BPMN id)"),
                    PAGE, PER_PAGE])},
        "/api/v1/catalogues": {"get": _operation(
            "listCatalogues", "Catalogues", "Catalogue versions and unit kinds", (200, "CatalogueList"))},
        "/api/v1/catalogues/{version_id}": {"get": _operation(
            "getCatalogue", "Catalogues", "A catalogue version's whole tree (the standards claims refer to)",
            (200, "CatalogueTree"), params=[_id_param("version_id", "catalogue version"), _query(
                "unit_kind", {"type": "string", "minLength": 1, "maxLength": 40}, "a unit kind's code: the common part and its own")])},
        "/api/v1/openapi.json": {"get": _operation(
            "openapi", "Reference", "This document", (200, "OpenAPIDocument"), public=True)},
    }


TAGS = [
    {"name": "Tokens", "description": "Sign in with a password for a bearer token; list and revoke tokens."},
    {"name": "Me", "description": "The caller and their own evaluations."},
    {"name": "Tasks", "description": "The inbox: every user task of the processes, claimed, released and "
     "completed here exactly as on its page."},
    {"name": "Quarters", "description": "Opening a quarter, its state and its posted ranking."},
    {"name": "Evaluations", "description": "A member's quarter: claims, evidence, score with its explanation, appeals."},
    {"name": "Supervision reports", "description": "Reports of a member's conduct, and appeals against their deduction."},
    {"name": "Monitor", "description": "Where every process instance stands (supervisors)."},
    {"name": "Catalogues", "description": "The indicator catalogues (积分量化指标体系) scores are computed from."},
    {"name": "Reference", "description": "This document."},
]

DESCRIPTION = """The JSON API of pointsflow (党员积分量化管理系统): every inbox action of the quarterly points
evaluation, over the same services as the pages, with the same rules of who may do what where.

**Authentication.** `POST /api/v1/auth/token` with `{"username", "password"}` gives a token; send it as
`Authorization: Bearer <token>`. The session cookie of the pages is never used by the API.

**Errors** are JSON: `{"error": "<code>", "message": "<text>", "fields": {"<field>": ["<message>"]}}`
(`fields` with 400 and 422). 401: no valid token. 403: not allowed (or not in your scope). 404: no such
object. 409: the task is no longer ready or someone else took it; the quarter is filed and locked; the
window for this action is closed. 413: the upload is too large. 422: some values are not valid.

**Values.** Times are ISO 8601 (answers in UTC); points are strings with two decimals.
"""


@functools.cache
def _document() -> Schema:
    schemas = _schemas()
    # The completion body refers to the form schemas; the data each form takes lives in them.
    return {
        "openapi": "3.1.0",
        "info": {"title": "pointsflow API", "version": "1.0.0", "description": DESCRIPTION},
        "tags": TAGS,
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "a token from POST /api/v1/auth/token"}},
            "schemas": schemas,
        },
    }


def document() -> Schema:
    """The OpenAPI document (a fresh copy: callers may change it)."""
    return copy.deepcopy(_document())


def operations_by_tag(doc: Schema) -> list[tuple[Schema, list[Schema]]]:
    """(tag, [operations with their method and path]) in the document's order, for the reference page."""
    groups: dict[str, list[Schema]] = {t["name"]: [] for t in doc.get("tags", [])}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            groups.setdefault(op["tags"][0], []).append({"method": method.upper(), "path": path, **op})
    tags = {t["name"]: t for t in doc.get("tags", [])}
    return [(tags.get(name, {"name": name}), ops) for name, ops in groups.items() if ops]
