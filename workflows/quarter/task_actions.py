"""Completing a human task from plain data (the JSON API; scripts): which service completes each form
of `workflows.forms.FORMS`, the exact shape of the data each one takes, and a check of that shape
(types, required fields, unknown fields) with per-field messages before the service is called.

The services stay the only path: they check permission, scope, windows and the locked quarter
themselves; this module only turns untrusted JSON into the keyword arguments they expect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from models.db import MAX_ID
from models.permissions import Principal
from models.process import HumanTask
from workflows.engine import user_tasks
from workflows.errors import NotFound, ValidationFailed
from workflows.i18n import N_
from workflows.quarter import annual, appeals, branch, evaluation, followups, notices, reports
from workflows.quarter.forms import FORMS

MAX_INT = MAX_ID
MAX_LIST = 5000  # a branch review or a notice never lists more than this
MAX_STRING = 20000


@dataclass(frozen=True)
class Spec:
    """The JSON shape of one value: a type, and for lists and objects the shape of their parts."""

    type: str  # boolean | integer | number | string | date | datetime | list | object | record
    required: bool = False
    nullable: bool = True  # null is accepted and means "not given"
    choices: tuple[str, ...] = ()
    items: Spec | None = None  # list: every element; object: every value (keys are ids)
    properties: dict[str, Spec] = field(default_factory=dict)  # record: its named properties
    description: str = ""


def _record(**properties: Spec) -> Spec:
    return Spec("record", nullable=False, properties=properties)


ID = Spec("integer", required=True, nullable=False)
TEXT = Spec("string")
DECISION_KINDS = ("accept", "adjust", "reject")
PERSON_FOLLOW_UP_KINDS = tuple(k.value for k in notices.PERSON_FOLLOW_UPS)
BRANCH_FOLLOW_UP_KINDS = tuple(k.value for k in notices.BRANCH_FOLLOW_UPS)

# Shapes of the parts of list and object fields (the flat fields come from FORMS).
NESTED: dict[tuple[str, str], Spec] = {
    ("branch_review", "decisions"): Spec("list", items=_record(
        claim_id=ID, decision=Spec("string", required=True, nullable=False, choices=DECISION_KINDS),
        occurrences=Spec("integer"), points=Spec("number", description="points per occurrence, e.g. \"1.5\""),
        reason=TEXT)),
    ("branch_review", "additions"): Spec("list", items=_record(
        standard_id=ID, occurrences=Spec("integer"), occurred_on=Spec("date"), description=TEXT, reason=TEXT)),
    ("branch_approval", "returned_person_ids"): Spec("list", items=Spec("integer", nullable=False)),
    ("quarter_notice", "commended_person_ids"): Spec("list", items=Spec("integer", nullable=False)),
    ("quarter_notice", "person_follow_ups"): Spec("object", items=Spec(
        "list", nullable=False, items=Spec("string", nullable=False, choices=PERSON_FOLLOW_UP_KINDS))),
    ("quarter_notice", "branch_follow_ups"): Spec("object", items=Spec(
        "string", nullable=False, choices=BRANCH_FOLLOW_UP_KINDS)),
    ("quarter_verification", "findings"): Spec("list", items=_record(
        evaluation_id=ID, result=Spec("string", required=True, nullable=False, choices=("consistent", "issue")),
        finding=TEXT)),
}
_TYPES = {"boolean": "boolean", "integer": "integer", "string": "string", "text": "string", "date": "date",
          "choice": "string", "list": "list", "object": "object"}


def form_spec(form_key: str) -> dict[str, Spec]:
    """The data a form takes, field by field."""
    form = FORMS.get(form_key)
    if form is None:
        raise NotFound()
    out: dict[str, Spec] = {}
    for f in form.fields:
        nested = NESTED.get((form_key, f.name))
        base = nested or Spec(_TYPES[f.type], choices=f.choices)
        out[f.name] = Spec(base.type, required=f.required, nullable=not f.required, choices=base.choices,
                           items=base.items, properties=base.properties, description=f.description)
    return out


# --- Checking the shape ----------------------------------------------------------------------


def _check(spec: Spec, value: Any, name: str, errors: dict[str, list[str]]) -> Any:
    """The clean value, or None with a message under `name` (list items: `name-<i>-<property>`)."""

    def fail(message: str) -> None:
        errors.setdefault(name, []).append(message)

    if value is None:
        if spec.required or not spec.nullable:
            fail(N_("This field is required."))
        return None
    kind = spec.type
    if kind == "boolean":
        if not isinstance(value, bool):
            fail(N_("Enter true or false."))
            return None
        return value
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            fail(N_("Enter a whole number."))
            return None
        if not 0 <= value <= MAX_INT:
            fail(N_("Out of range."))
            return None
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            fail(N_("Enter a number of points."))
            return None
        return str(value)
    if kind == "datetime":
        return _datetime(value, fail)
    if kind in ("string", "date"):
        if not isinstance(value, str):
            fail(N_("Enter text.") if kind == "string" else N_("Enter a date as YYYY-MM-DD."))
            return None
        if len(value) > MAX_STRING:
            fail(N_("The text is too long."))
            return None
        if spec.choices and value not in spec.choices:
            fail(N_("Choose one of the allowed values."))
            return None
        if kind == "date":
            return _date(value, fail)
        return value
    if kind == "list":
        if not isinstance(value, list):
            fail(N_("Enter a list."))
            return None
        if len(value) > MAX_LIST:
            fail(N_("The list is too long."))
            return None
        assert spec.items is not None
        return [_check(spec.items, item, f"{name}-{i}", errors) for i, item in enumerate(value)]
    if kind == "object":
        if not isinstance(value, dict):
            fail(N_("Enter an object whose keys are ids."))
            return None
        assert spec.items is not None
        clean: dict[int, Any] = {}
        for key, item in value.items():
            if not (isinstance(key, str) and key.isascii() and key.isdigit() and len(key) <= 10 and int(key) <= MAX_INT):
                fail(N_("Keys are ids (whole numbers)."))
                continue
            clean[int(key)] = _check(spec.items, item, f"{name}-{key}", errors)
        return clean
    if kind == "record":
        if not isinstance(value, dict):
            fail(N_("Enter an object."))
            return None
        return check_record(spec.properties, value, errors, prefix=f"{name}-")
    raise AssertionError(f"unknown spec type {kind}")


def _date(value: str, fail: Callable[[str], None]) -> date | None:
    try:
        if len(value) != 10:  # fromisoformat would also take "20261009" and week dates
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        fail(N_("Enter a date as YYYY-MM-DD."))
        return None


def _datetime(value: Any, fail: Callable[[str], None]) -> datetime | None:
    try:
        if not isinstance(value, str) or not 16 <= len(value) <= 40:
            raise ValueError(value)
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(N_("Enter a date and time as 2026-10-19T17:00:00+08:00."))
        return None
    if moment.tzinfo is None:
        fail(N_("The time needs a time zone, e.g. +08:00."))
        return None
    return moment


def check_record(properties: dict[str, Spec], value: dict[str, Any], errors: dict[str, list[str]],
                 prefix: str = "") -> dict[str, Any]:
    """Check an object against named properties: unknown ones are refused, missing ones are None."""
    clean: dict[str, Any] = {}
    for key in value:
        if key not in properties:
            errors.setdefault(f"{prefix}{key}"[:200], []).append(N_("Unknown field."))
    for key, spec in properties.items():
        clean[key] = _check(spec, value.get(key), prefix + key, errors)
    return clean


def check(form_key: str, data: Any) -> dict[str, Any]:
    """The clean data for a form, or ValidationFailed with a message per field."""
    if not isinstance(data, dict):
        raise ValidationFailed(N_("Send the form's fields as a JSON object."))
    errors: dict[str, list[str]] = {}
    clean = check_record(form_spec(form_key), data, errors)
    if errors:
        raise ValidationFailed(N_("Some values are not valid."), field_errors=errors)
    return clean


# --- JSON Schema of each form (the API documents and answers with it) -------------------------------


def json_schema(spec: Spec) -> dict[str, Any]:
    """JSON Schema (2020-12) of one value."""
    kind = spec.type
    if kind == "boolean":
        schema: dict[str, Any] = {"type": "boolean"}
    elif kind == "integer":
        schema = {"type": "integer", "minimum": 0, "maximum": MAX_INT}
    elif kind == "number":
        schema = {"type": ["number", "string"]}
    elif kind == "date":
        schema = {"type": "string", "format": "date"}
    elif kind == "datetime":
        schema = {"type": "string", "format": "date-time"}
    elif kind == "string":
        schema = {"type": "string", "maxLength": MAX_STRING}
        if spec.choices:
            schema = {"type": "string", "enum": list(spec.choices)}
    elif kind == "list":
        assert spec.items is not None
        schema = {"type": "array", "maxItems": MAX_LIST, "items": json_schema(spec.items)}
    elif kind == "object":
        assert spec.items is not None
        schema = {"type": "object", "propertyNames": {"pattern": "^[0-9]{1,9}$"},
                  "additionalProperties": json_schema(spec.items)}
    else:
        schema = record_schema(spec.properties)
    if spec.nullable and not spec.required and kind != "record":
        schema["type"] = [*([schema["type"]] if isinstance(schema["type"], str) else schema["type"]), "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
    if spec.description:
        schema["description"] = spec.description
    return schema


def record_schema(properties: dict[str, Spec]) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object", "additionalProperties": False,
        "properties": {k: json_schema(s) for k, s in properties.items()},
    }
    required = [k for k, s in properties.items() if s.required]
    if required:
        schema["required"] = required
    return schema


def form_schema(form_key: str) -> dict[str, Any]:
    """JSON Schema of the data that completes a task of this form."""
    return record_schema(form_spec(form_key))


# --- Completing ----------------------------------------------------------------------------------------


def _self_evaluation(s: Session, actor: Principal, task_id: int, d: dict[str, Any]) -> user_tasks.Completion:
    return evaluation.submit_self_evaluation(s, actor, task_id, one_click=bool(d["one_click"]))


def _review(s: Session, actor: Principal, task_id: int, d: dict[str, Any]) -> user_tasks.Completion:
    def plain(rows: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        return [{k: v for k, v in row.items() if v is not None} for row in rows or []]

    return evaluation.review(s, actor, task_id, plain(d["decisions"]), plain(d["additions"]))


def _approval(s: Session, actor: Principal, task_id: int, d: dict[str, Any]) -> user_tasks.Completion:
    return branch.approve(s, actor, task_id, decision=d["decision"], comment=d["comment"] or "",
                          returned_person_ids=d["returned_person_ids"] or [])


def _meeting(s: Session, actor: Principal, task_id: int, d: dict[str, Any]) -> user_tasks.Completion:
    return branch.confirm_meeting(s, actor, task_id, meeting_date=d["meeting_date"], expected=d["meeting_expected"],
                                  present=d["meeting_present"], resolution=d["meeting_resolution"] or "")


def _appeal_decision(s: Session, actor: Principal, task_id: int, d: dict[str, Any]) -> user_tasks.Completion:
    return appeals.decide(s, actor, task_id, decision=d["decision"], reason=d["reason"] or "")


def _notice(s: Session, actor: Principal, task_id: int, d: dict[str, Any]) -> user_tasks.Completion:
    return notices.save_notice(
        s, actor, task_id, title=d["title"] or "", body=d["body"] or "",
        commended_person_ids=d["commended_person_ids"] or [], person_follow_ups=d["person_follow_ups"] or {},
        branch_follow_ups=d["branch_follow_ups"] or {})


def _filing(s: Session, actor: Principal, task_id: int, d: dict[str, Any]) -> user_tasks.Completion:
    return notices.accept_filing(s, actor, task_id, decision=d["decision"], comment=d["comment"] or "")


def _verification(s: Session, actor: Principal, task_id: int, d: dict[str, Any]) -> user_tasks.Completion:
    return notices.record_verification(s, actor, task_id, d["findings"] or [])


def _report_verification(s: Session, actor: Principal, task_id: int, d: dict[str, Any]) -> user_tasks.Completion:
    occurrences = d["occurrences"] if d["occurrences"] is not None else 1
    return reports.verify(s, actor, task_id, decision=d["decision"], reason=d["reason"] or "",
                          standard_id=d["standard_id"], occurrences=occurrences)


def _follow_up(s: Session, actor: Principal, task_id: int, d: dict[str, Any]) -> user_tasks.Completion:
    return followups.complete(s, actor, task_id, record=d["record"] or "", done_on=d["done_on"])


def _annual_review(s: Session, actor: Principal, task_id: int, d: dict[str, Any]) -> user_tasks.Completion:
    return annual.review(s, actor, task_id, comment=d["comment"] or "")


def _annual_approval(s: Session, actor: Principal, task_id: int, d: dict[str, Any]) -> user_tasks.Completion:
    return annual.approve(s, actor, task_id, decision=d["decision"], comment=d["comment"] or "")


Action = Callable[[Session, Principal, int, dict[str, Any]], user_tasks.Completion]

# form key -> the service that completes it.
ACTIONS: dict[str, Action] = {
    "self_evaluation": _self_evaluation,
    "proxy_self_evaluation": _self_evaluation,
    "branch_review": _review,
    "branch_approval": _approval,
    "branch_meeting": _meeting,
    "appeal_decision": _appeal_decision,
    "quarter_notice": _notice,
    "filing_acceptance": _filing,
    "quarter_verification": _verification,
    "report_verification": _report_verification,
    "follow_up": _follow_up,
    "annual_review": _annual_review,
    "annual_approval": _annual_approval,
}


def complete(session: Session, actor: Principal, task_id: int, data: Any) -> user_tasks.Completion:
    """Complete a task with untrusted data: check who may, check the shape, call the form's service."""
    task = session.get(HumanTask, task_id)  # the caller's transaction has it; the service reloads it locked
    if task is None:
        raise NotFound()
    action = ACTIONS.get(task.form_key)
    if action is None:
        raise NotFound(N_("This task cannot be completed through the API."))
    user_tasks.ensure_actionable(actor, task)
    return action(session, actor, task_id, check(task.form_key, data))
