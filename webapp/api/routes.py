"""The JSON API (/api/v1): every inbox action for mobile apps, other systems and scripts, over the
same service functions the pages use, each call committed through `workflows.tx.run`.

Authentication is by bearer token only (`POST /api/v1/auth/token`): the session cookie of the
pages is ignored here, which is why the blueprint can be exempt from CSRF. Errors are JSON with a
stable shape: {"error": code, "message": text, "fields": {field: [messages]}} (fields on 400/422).
The OpenAPI document (`webapp.api.openapi`) describes exactly these routes; a test checks both ways.
"""

from __future__ import annotations

import json
import logging
from math import ceil
from typing import Any

from flask import current_app, g, jsonify, request
from flask.globals import request_ctx
from flask_babel import gettext as _
from sqlalchemy import func, select

from models.catalogue import CatalogueStatus, CatalogueVersion, Standard
from models.clock import now
from models.evaluation import (
    Claim,
    Evaluation,
    Evidence,
    Quarter,
)
from models.org import UnitKind
from models.people import Role, User
from models.permissions import RULES, Principal, can, may_ever, visible_branch_ids
from models.process import HumanTask, InstanceStatus, TaskState
from webapp import LoginUser
from webapp.api import bodies, bp, serialize
from webapp.api.serialize import Json, Names
from webapp.authz import current_principal, guard, load_or_404, load_task_or_404, public
from webapp.extensions import db, login_manager
from workflows.engine import access, tx, user_tasks
from workflows.errors import DomainError, NotFound, QuarterLocked, ValidationFailed
from workflows.i18n import N_
from workflows.org import accounts
from workflows.org import tokens as api_tokens
from workflows.quarter import (
    appeals,
    evaluation,
    evidence,
    reports,
    task_actions,
)
from workflows.quarter import (
    opening as quarter,
)
from workflows.quarter.task_actions import MAX_INT, Spec
from workflows.reading import inbox, monitor, ranking
from workflows.reading import tasks as tasks_reading

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
MAX_PER_PAGE = 100


class BadRequest(DomainError):
    """The request could not be understood."""

    http_status = 400
    code = "bad_request"


# --- Authentication, errors ------------------------------------------------------------------------


@bp.before_request
def authenticate_bearer() -> None:
    """The API's user comes from the bearer token alone, never from a session cookie."""
    if request.blueprint != "api":
        return  # the HTML pages nested in this package use the session as every page does
    # No session here: a cookie the client may send is neither read nor refreshed nor set (Flask 3.1
    # keeps the request's session in `_session`; a null session is never saved).
    request_ctx._session = current_app.session_interface.make_null_session(current_app)  # noqa: SLF001
    login_manager._update_request_context_with_user()  # anonymous until a token says otherwise
    header = request.headers.get("Authorization", "")
    if not header:
        return
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise api_tokens.TokenRefused(_("Send the token as: Authorization: Bearer <token>."))
    bearer = api_tokens.verify(db.session, token.strip())  # last_used_at: committed with the request
    login_manager._update_request_context_with_user(LoginUser(bearer.user))
    g.api_token_id = bearer.record.id
    g.principal = bearer.principal  # read with the token: `current_principal` needs no query


@bp.after_request
def api_headers(response: Any) -> Any:
    if request.blueprint == "api":
        # A read commits the token's last use alone; a write committed it with its work (a write that
        # failed leaves it out: nothing else it may have touched is ever committed here).
        if request.method in ("GET", "HEAD") and api_tokens.touch_pending(db.session) and response.status_code < 500:
            tx.commit_bookkeeping(db.session)
        response.headers["Cache-Control"] = "no-store"
        if response.status_code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="pointsflow"'
    return response


def _error(code: str, message: str, status: int, fields: dict[str, list[str]] | None = None) -> Any:
    payload: Json = {"error": code, "message": message}
    if fields:
        payload["fields"] = fields
    return jsonify(payload), status


@bp.errorhandler(DomainError)
def domain_error(e: DomainError) -> Any:
    """A service (or this module) refused: its status, its code, its messages per field."""
    db.session.rollback()
    if isinstance(e, QuarterLocked):
        principal = current_principal()
        tx.run(db.session, tx.record_refusal, e, actor_user_id=principal.user_id if principal else None,
               what=f"{request.method} {request.path}")
    status = e.http_status
    if status >= 500:
        log.error("engine error on %s %s: %s", request.method, request.path, e.message)
        return _error("server_error", _("Something went wrong on our side. Nothing you entered was lost; please try again."), 500)
    if isinstance(e, accounts.Throttled):
        message = _("Too many failed sign-ins. Please wait %(minutes)s minutes and try again.",
                    minutes=current_app.config["LOGIN_WINDOW_MINUTES"])
    elif isinstance(e, accounts.InvalidCredentials):
        message = _("Wrong username or password.")
    else:
        message = _translated(e.message, e.details)
    fields = None
    if isinstance(e, ValidationFailed) and e.field_errors:
        fields = {name: [_translated(m, e.details) for m in messages] for name, messages in e.field_errors.items()}
    return _error(e.code, message, status, fields)


# The services' errors say these by default (their docstrings); marked here so they are translated.
DEFAULT_MESSAGES = (
    N_("Not found."), N_("You are not allowed to do this."), N_("Somebody else changed this at the same time."),
    N_("This task is no longer waiting: it was completed or withdrawn."),
    N_("This task has been claimed by somebody else."),
    N_("This quarter has been filed and is locked: nothing of it can change."),
    N_("The period for this action is over."), N_("The request could not be understood."),
    N_("The upload is too large."),
)


def _translated(message: str, details: dict[str, Any]) -> str:
    """A service's message in the user's language, with its numbers ("larger than %(mb)s MB")."""
    try:
        return _(message, **details) if details else _(message)
    except (KeyError, ValueError, TypeError):
        return _(message)


def _ok(data: Any, status: int = 200) -> Any:
    return jsonify(data), status


def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call one service through the transaction boundary (commit, retries, message delivery)."""
    return tx.run(db.session, fn, *args, **kwargs)


def me() -> Principal:
    principal = current_principal()
    assert principal is not None  # every non-public view is guarded
    return principal


# --- Reading requests -------------------------------------------------------------------------------


def _clean_text(value: Any, where: str, errors: dict[str, list[str]]) -> None:
    """Text the databases cannot store (NUL, lone surrogates) is refused, anywhere in the body."""
    if isinstance(value, str):
        if "\x00" in value:
            errors.setdefault(where, []).append(N_("Text must not contain NUL characters."))
        else:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                errors.setdefault(where, []).append(N_("Text must be valid Unicode."))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _clean_text(item, f"{where}-{i}", errors)
    elif isinstance(value, dict):
        for key, item in value.items():
            _clean_text(key, where or "body", errors)
            _clean_text(item, f"{where}-{key}" if where else str(key), errors)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python reads them, JSON has none


def json_body() -> Json:
    """The request's JSON object (an empty body counts as {}); 400 when it is not one."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise BadRequest(_("The body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise BadRequest(_("The body must be a JSON object."))
    errors: dict[str, list[str]] = {}
    _clean_text(data, "", errors)
    if errors:
        raise ValidationFailed(field_errors={k[:200]: v for k, v in errors.items()})
    return data


def checked(properties: dict[str, Spec]) -> Json:
    """The JSON body checked against its documented fields; 422 with a message per field."""
    errors: dict[str, list[str]] = {}
    clean = task_actions.check_record(properties, json_body(), errors)
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


def _given(values: Json) -> Json:
    return {k: v for k, v in values.items() if v is not None}


def arg_int(name: str, default: int | None = None, low: int = 1, high: int = MAX_INT) -> int | None:
    """A query parameter that is a whole number; absent: the default; anything else (even empty): 422."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or not low <= int(raw) <= high:
        raise ValidationFailed(field_errors={name: [N_("Enter a whole number in range.")]})
    return int(raw)


def arg_choice(name: str, choices: tuple[str, ...]) -> str | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if raw not in choices:
        raise ValidationFailed(field_errors={name: [N_("Choose one of the allowed values.")]})
    return raw


def arg_bool(name: str) -> bool | None:
    return {None: None, "true": True, "false": False}[arg_choice(name, ("true", "false"))]


def arg_text(name: str, max_length: int = 100) -> str | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if not 1 <= len(raw) <= max_length or "\x00" in raw:
        raise ValidationFailed(field_errors={name: [N_("Not a valid value.")]})
    return raw


# --- Tokens ----------------------------------------------------------------------------------------------


@bp.route(f"{PREFIX}/auth/token", methods=["POST"])
@public
def token_issue():
    """Exchange a username and password for a bearer token (throttled like the sign-in page)."""
    data = checked(bodies.TOKEN_REQUEST)
    issued = run(api_tokens.issue, data["username"], data["password"], name=data["name"] or "",
                 hours=current_app.config["API_TOKEN_HOURS"], remote_addr=request.remote_addr or "",
                 max_failures=current_app.config["LOGIN_MAX_FAILURES"],
                 window_minutes=current_app.config["LOGIN_WINDOW_MINUTES"],
                 # the failed attempt counts towards the throttle
                 commit_on=(accounts.InvalidCredentials, accounts.Throttled, api_tokens.PasswordChangeRequired))
    record = issued.record
    return _ok({"token": issued.token, "token_type": "Bearer", "expires_at": serialize.iso(record.expires_at),
                "token_info": serialize.token(record)}, 201)


@bp.route(f"{PREFIX}/auth/token", methods=["DELETE"])
@guard("signed_in")
def token_revoke_current():
    """Revoke the token this request was made with (sign out a script or device)."""
    record = run(api_tokens.revoke, me(), g.api_token_id)
    return _ok(serialize.token(record))


@bp.route(f"{PREFIX}/auth/tokens")
@guard("signed_in")
def token_list():
    """The caller's own tokens (never the tokens themselves: only what they were called, and when)."""
    user = db.session.get(User, me().user_id)
    return _ok({"items": [serialize.token(t, user, g.get("api_token_id"))
                          for t in api_tokens.tokens_of(db.session, me().user_id)]})


@bp.route(f"{PREFIX}/auth/tokens/<int:token_id>", methods=["DELETE"])
@guard("signed_in")
def token_revoke(token_id: int):
    """Revoke one of the caller's tokens."""
    record = run(api_tokens.revoke, me(), token_id)
    return _ok(serialize.token(record, None, g.get("api_token_id")))


# --- Who am I ------------------------------------------------------------------------------------------------


@bp.route(f"{PREFIX}/me")
@guard("signed_in")
def whoami():
    """The caller: their person, their roles with the scope of each, what they may do."""
    principal = me()
    user = db.session.get(User, principal.user_id)
    names = Names(db.session).load(branches={b for _r, b in principal.grants})
    person = user.person if user is not None else None
    roles = [{"role": r, "scope": "bureau" if b is None else "branch", "branch": names.branch(b)}
             for r, b in sorted(principal.grants, key=lambda x: (x[0], x[1] or 0))]
    return _ok({
        "user": {"id": user.id, "username": user.username, "name": user.name, "locale": user.locale},
        "person": None if person is None else {
            "id": person.id, "name": person.name, "employee_no": person.employee_no, "status": person.status,
            "branch": names.branch(person.branch_id)},
        "roles": roles,
        "actions": sorted(a for a in RULES if may_ever(principal, a)),
    })


@bp.route(f"{PREFIX}/me/evaluations")
@guard("signed_in")
def my_evaluations():
    """The caller's own evaluations, newest quarter first."""
    principal = me()
    rows = list(db.session.scalars(
        select(Evaluation).join(Quarter, Evaluation.quarter_id == Quarter.id)
        .where(Evaluation.person_id == (principal.person_id or -1))
        .order_by(Quarter.year.desc(), Quarter.quarter.desc(), Evaluation.id.desc())))
    names = Names(db.session).load(people={e.person_id for e in rows}, branches={e.branch_id for e in rows})
    return _ok({"items": [serialize.evaluation_summary(e, names) for e in rows]})


# --- Tasks ------------------------------------------------------------------------------------------------------


@bp.route(f"{PREFIX}/tasks")
@guard("signed_in")
def task_list():
    """The caller's inbox (the pages' own): open tasks assigned to them or unclaimed in their pools;
    with `state`, what was done or withdrawn."""
    principal = me()
    state = arg_choice("state", tuple(t.value for t in TaskState)) or TaskState.OPEN.value
    show = {"me": "mine", "none": "pool"}.get(arg_choice("assignee", ("me", "none")) or "", "all")
    filters = inbox.Filters(quarter_id=arg_int("quarter"), step=arg_text("step"), branch_id=arg_int("branch"),
                            overdue=bool(arg_bool("overdue")), show=show,
                            role=arg_choice("role", tuple(r.value for r in Role)))
    page = arg_int("page", 1, high=inbox.MAX_PAGE) or 1
    per_page = arg_int("per_page", 50, high=MAX_PER_PAGE) or 50
    if state == TaskState.OPEN:
        total = inbox.count_tasks(db.session, principal, filters).total
        ids = [r.id for r in inbox.list_tasks(db.session, principal, filters, page=page, per_page=per_page)]
        found = {t.id: t for t in db.session.scalars(select(HumanTask).where(HumanTask.id.in_(ids or [-1])))}
        rows = [found[i] for i in ids if i in found]
    else:
        query = tasks_reading.history_query(principal, state, filters)
        total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
        rows = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return _ok({"items": serialize.tasks(db.session, rows), "page": page, "per_page": per_page, "total": total,
                "pages": ceil(total / per_page) if total else 0})


@bp.route(f"{PREFIX}/tasks/<int:task_id>")
@guard("signed_in")
def task_detail(task_id: int):
    """A task with what it is about (its context) and the form that completes it."""
    task = load_task_or_404(task_id)
    principal = me()
    out = serialize.tasks(db.session, [task])[0]
    out["form"] = serialize.form(task.form_key)
    out["may_act"] = task.state == TaskState.OPEN and access.may_act(principal, task)
    out["context"] = task_context(task, principal)
    return _ok(out)


def task_context(task: HumanTask, principal: Principal) -> Json:
    """What the person doing the task needs to see, by form (`workflows.reading.tasks.context_of`)."""
    s = db.session
    facts = tasks_reading.context_of(s, task)
    names = Names(s)
    out: Json = {"instance": serialize.instance(facts.instance)}
    if facts.evaluation is not None:
        out["evaluation"] = serialize.evaluation_full(s, facts.evaluation, principal)
    if facts.branch_quarter is not None:
        out["branch_quarter"] = serialize.branch_quarter(s, facts.branch_quarter)
    if facts.report is not None:
        out["report"] = serialize.report(facts.report, principal, names)
    if facts.asks_appeal:
        out["appeal"] = serialize.appeal(facts.appeal, principal, names) if facts.appeal else None
    if facts.follow_up is not None:
        out["follow_up"] = serialize.follow_up(facts.follow_up, names)
    if facts.annual is not None:
        a = facts.annual
        out["annual"] = {"id": a.id, "year": a.year, "status": a.status, "review_comment": a.review_comment}
    if facts.quarter is not None:
        out["quarter"] = serialize.quarter(facts.quarter)
        out["notice_lists"] = facts.notice_lists
        if facts.sample is not None:
            out["sample"] = [serialize.evaluation_summary(e, names) for e in facts.sample]
    return out


def _task_answer(task_id: int) -> Json:
    task = user_tasks.get_task(db.session, task_id)
    return serialize.tasks(db.session, [task])[0]


def _assign(task_id: int, service: Any) -> Any:
    task = load_task_or_404(task_id)
    run(service, task.id, me())
    return _ok(_task_answer(task.id))


@bp.route(f"{PREFIX}/tasks/<int:task_id>/claim", methods=["POST"])
@guard("signed_in")
def task_claim(task_id: int):
    """Take an unclaimed task of one's pool (409 when somebody else was quicker)."""
    return _assign(task_id, user_tasks.claim)


@bp.route(f"{PREFIX}/tasks/<int:task_id>/release", methods=["POST"])
@guard("signed_in")
def task_release(task_id: int):
    """Give a claimed task back to its pool."""
    return _assign(task_id, user_tasks.release)


@bp.route(f"{PREFIX}/tasks/<int:task_id>/complete", methods=["POST"])
@guard("signed_in")
def task_complete(task_id: int):
    """Complete a task with its form's data (the same service as the task's page)."""
    task = load_task_or_404(task_id)
    principal = me()
    user_tasks.ensure_actionable(principal, task)
    data = json_body()
    answer = run(_complete_and_answer, principal, task.id, data)
    return _ok(answer if isinstance(answer, dict) else _completion_answer(db.session, principal, task.id, answer))


def _complete_and_answer(session: Any, principal: Principal, task_id: int, data: Any) -> Json | int:
    """Complete the task and read the answer in the same transaction (no second transaction, no
    second connection checkout). When the step left messages to deliver after the commit, the
    answer is read after them instead: then this returns the instance's id."""
    completion = task_actions.complete(session, principal, task_id, data)
    if session.info.get("pf_dispatch"):
        return completion.instance.id
    return _completion_answer(session, principal, task_id, completion.instance.id)


def _completion_answer(session: Any, principal: Principal, task_id: int, instance_id: int) -> Json:
    """The completed task, the instance and its open tasks the caller may see, with every name the
    answer shows: one statement."""
    rows = tasks_reading.completion_rows(session, task_id, instance_id)
    names = Names(session)
    for r in rows:
        t = r.HumanTask
        names.known(branches={t.branch_id: r.branch_name}, people={t.subject_person_id: r.subject_name},
                    users={t.assignee_id: User.shown_name(r.assignee_person, r.assignee_display, r.assignee_username),
                           t.completed_by: User.shown_name(r.doer_person, r.doer_display, r.doer_username)})
    done = next(r.HumanTask for r in rows if r.HumanTask.id == task_id)
    following = [r.HumanTask for r in rows if r.HumanTask.id != task_id and r.HumanTask.state == TaskState.OPEN
                 and access.may_see(principal, r.HumanTask)]
    return {"task": serialize.task(done, names), "instance": serialize.instance(rows[0]),
            "next_tasks": [serialize.task(t, names) for t in following]}




# --- Quarters ------------------------------------------------------------------------------------------------------


@bp.route(f"{PREFIX}/quarters")
@guard("quarter.view")
def quarter_list():
    """Every quarter, newest first."""
    return _ok({"items": [serialize.quarter(q) for q in quarter.current_quarters(db.session)]})


@bp.route(f"{PREFIX}/quarters", methods=["POST"])
@guard("quarter.open")
def quarter_open():
    """The party office opens a quarter: everybody in scope gets an evaluation and a self-evaluation task."""
    data = checked(bodies.QUARTER_OPEN)
    options = _given({"publicity_days": data["publicity_days"], "unit_id": data["unit_id"], "title": data["title"]})
    result = run(quarter.open_quarter, me(), year=data["year"], quarter=data["quarter"],
                 self_eval_deadline=data["self_eval_deadline"], **options)
    return _ok({"quarter": serialize.quarter(result.quarter), "evaluations": result.evaluations,
                "branches": result.branches}, 201)


@bp.route(f"{PREFIX}/quarters/<int:quarter_id>")
@guard("quarter.view")
def quarter_detail(quarter_id: int):
    """One quarter with how many evaluations are in each state."""
    q = load_or_404(Quarter, quarter_id, "quarter.view")
    out = serialize.quarter(q)
    out["counts"] = quarter.quarter_counts(db.session, q.id)
    return _ok(out)


@bp.route(f"{PREFIX}/quarters/<int:quarter_id>/ranking")
@guard("ranking.view")
def quarter_ranking(quarter_id: int):
    """The publicity board of a quarter: the bureau's ranking, or one branch's (`branch`), of the
    branches whose scores are posted; and the branches ranked by their collective score."""
    q = load_or_404(Quarter, quarter_id, "ranking.view")
    board = ranking.board(db.session, q.id)
    if board is None:
        raise NotFound()
    branch_id = arg_int("branch")
    page = arg_int("page", 1) or 1
    per_page = arg_int("per_page", 100, high=ranking.MAX_PER_PAGE) or 100
    scope = board.scope(branch_id)
    result = ranking.ranking_page(db.session, q.id, scope, page=page, per_page=per_page)
    moment = now()
    return _ok({
        "quarter": serialize.quarter(q),
        "branch": None if branch_id is None else {"id": branch_id, "name": board.branches[branch_id].name}
        if branch_id in board.branches else None,
        "posted_branches": [{
            "id": b.branch_id, "name": b.name, "unit": b.unit, "status": b.status, "members": b.members,
            "publicity_start": serialize.iso(b.publicity_start), "publicity_end": serialize.iso(b.publicity_end),
            "window_open": b.window_open(moment)} for b in board.branches.values()],
        "items": [{
            "rank": r.rank, "position": r.position, "evaluation_id": r.evaluation_id,
            "person": {"id": r.person_id, "name": r.name}, "employee_no": r.employee_no,
            "branch": {"id": r.branch_id, "name": r.branch}, "member_status": r.member_status,
            "score": serialize.points(r.score), "grade": r.grade} for r in result.rows],
        "page": result.page, "per_page": result.per_page, "total": result.total,
        "pages": ceil(result.total / result.per_page) if result.total else 0,
        "collective": [{
            "rank": c["rank"], "branch": {"id": c["branch_id"], "name": c["branch"]}, "members": c["members"],
            "scored": c["scored"], "mean": serialize.points(c["mean"]), "stdev": serialize.points(c["stdev"]),
            "min": serialize.points(c["min"]), "max": serialize.points(c["max"]), "excellent": c["excellent"],
            "failed": c["failed"]} for c in ranking.collective(db.session, q.id, board.scope(None))],
    })


# --- Evaluations ----------------------------------------------------------------------------------------------------


def load_evaluation(evaluation_id: int) -> Evaluation:
    return load_or_404(Evaluation, evaluation_id, "evaluation.view")


@bp.route(f"{PREFIX}/evaluations/<int:evaluation_id>")
@guard("evaluation.view")
def evaluation_detail(evaluation_id: int):
    """An evaluation: score, grade, every claim with its evidence and decision, and the explanation."""
    ev = load_evaluation(evaluation_id)
    return _ok(serialize.evaluation_full(db.session, ev, me()))


@bp.route(f"{PREFIX}/evaluations/<int:evaluation_id>/claims", methods=["POST"])
@guard("signed_in")
def claim_add(evaluation_id: int):
    """Add a draft claim to the self-evaluation (or to the branch's recording for an overdue member)."""
    ev = load_evaluation(evaluation_id)
    data = checked(bodies.CLAIM)
    claim = run(evaluation.save_claim, me(), ev.id, _given(data))
    return _ok(serialize.claim(claim), 201)


def _own_claim(ev: Evaluation, claim_id: int) -> Claim:
    claim = db.session.get(Claim, claim_id)
    if claim is None or claim.evaluation_id != ev.id:
        raise NotFound()
    return claim


@bp.route(f"{PREFIX}/evaluations/<int:evaluation_id>/claims/<int:claim_id>", methods=["PUT"])
@guard("signed_in")
def claim_change(evaluation_id: int, claim_id: int):
    """Change a draft claim."""
    ev = load_evaluation(evaluation_id)
    claim = _own_claim(ev, claim_id)
    data = checked(bodies.CLAIM)
    claim = run(evaluation.save_claim, me(), ev.id, _given(data), claim_id=claim.id)
    db.session.refresh(claim)
    return _ok(serialize.claim(claim, list(claim.evidence)))


@bp.route(f"{PREFIX}/evaluations/<int:evaluation_id>/claims/<int:claim_id>", methods=["DELETE"])
@guard("signed_in")
def claim_remove(evaluation_id: int, claim_id: int):
    """Remove a draft claim together with its files."""
    ev = load_evaluation(evaluation_id)
    claim = _own_claim(ev, claim_id)
    run(evidence.delete_claim, me(), claim.id, upload_dir=current_app.config["UPLOAD_DIR"])
    return "", 204


class TooLarge(DomainError):
    """The upload is too large."""

    http_status = 413
    code = "too_large"


@bp.route(f"{PREFIX}/evaluations/<int:evaluation_id>/evidence", methods=["POST"])
@guard("signed_in")
def evidence_upload(evaluation_id: int):
    """Attach a file to a draft claim (multipart/form-data: `file` and `claim_id`)."""
    ev = load_evaluation(evaluation_id)
    errors: dict[str, list[str]] = {}
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        errors["file"] = [N_("Choose a file.")]
    raw_claim = request.form.get("claim_id", "")
    if not (raw_claim.isascii() and raw_claim.isdigit() and len(raw_claim) <= 10 and 0 < int(raw_claim) <= MAX_INT):
        errors["claim_id"] = [N_("Enter the id of the draft claim the file backs.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    assert upload is not None
    claim = _own_claim(ev, int(raw_claim))
    limit = current_app.config["UPLOAD_MAX_BYTES"]
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(_("The file is larger than %(mb)s MB.", mb=max(1, limit // (1024 * 1024))))
    item = run(evidence.upload, me(), claim.id, filename=upload.filename or "", data=data,
               upload_dir=current_app.config["UPLOAD_DIR"], max_bytes=limit)
    return _ok(serialize.evidence_item(item), 201)


@bp.route(f"{PREFIX}/evaluations/<int:evaluation_id>/evidence/<int:evidence_id>", methods=["DELETE"])
@guard("signed_in")
def evidence_remove(evaluation_id: int, evidence_id: int):
    """Remove a file from a draft claim."""
    ev = load_evaluation(evaluation_id)
    item = db.session.get(Evidence, evidence_id)
    if item is None or item.evaluation_id != ev.id:
        raise NotFound()
    run(evidence.delete, me(), item.id, upload_dir=current_app.config["UPLOAD_DIR"])
    return "", 204


@bp.route(f"{PREFIX}/evaluations/<int:evaluation_id>/appeals", methods=["POST"])
@guard("signed_in")
def appeal_file(evaluation_id: int):
    """Appeal one's own posted score, or raise a concern about any member's posted score."""
    ev = db.session.get(Evaluation, evaluation_id)
    if ev is None:
        raise NotFound()
    data = checked(bodies.APPEAL)
    appeal = run(appeals.file_appeal, me(), ev.id, kind=data["kind"], text=data["text"], claim_id=data["claim_id"])
    return _ok(serialize.appeal(appeal, me(), Names(db.session)), 201)


# --- Supervision reports ---------------------------------------------------------------------------------------------


@bp.route(f"{PREFIX}/supervision-reports", methods=["POST"])
@guard("report.submit")
def report_submit():
    """Report a member's conduct (the branch's points group verifies it)."""
    data = checked(bodies.REPORT)
    if data["suggested_standard_id"] is not None and db.session.get(Standard, data["suggested_standard_id"]) is None:
        # reports.submit stores the id as given (a foreign key): an unknown one would fail the insert.
        raise ValidationFailed(field_errors={"suggested_standard_id": [N_("Unknown standard.")]})
    report = run(reports.submit, me(), subject_person_id=data["subject_person_id"], text=data["text"],
                 occurred_on=data["occurred_on"], suggested_standard_id=data["suggested_standard_id"],
                 via_party_office=bool(data["via_party_office"]), reporter_name=data["reporter_name"] or "",
                 reporter_contact=data["reporter_contact"] or "")
    return _ok(serialize.report(report, me(), Names(db.session)), 201)


@bp.route(f"{PREFIX}/supervision-reports/<int:report_id>/appeals", methods=["POST"])
@guard("signed_in")
def report_appeal(report_id: int):
    """The member appeals the deduction a substantiated report gave them."""
    reports.own_report(db.session, me(), report_id)
    data = checked(bodies.REPORT_APPEAL)
    appeal = run(reports.appeal, me(), report_id, data["text"])
    return _ok(serialize.appeal(appeal, me(), Names(db.session)), 201)


# --- Monitor, catalogues ---------------------------------------------------------------------------------------------


@bp.route(f"{PREFIX}/monitor/instances")
@guard("monitor.view")
def monitor_instances():
    """Process instances in the caller's scope: counts by process and step (instances, open and
    overdue tasks), and the instances themselves (all, or those at `step`), newest first."""
    principal = me()
    visible = visible_branch_ids(principal, "monitor.view")
    filters = monitor.Filters(quarter_id=arg_int("quarter"), unit_id=arg_int("unit"), branch_id=arg_int("branch"),
                              process_key=arg_text("process"),
                              status=arg_choice("status", tuple(s.value for s in InstanceStatus)))
    step = arg_text("step")
    page = arg_int("page", 1) or 1
    per_page = arg_int("per_page", 50, high=MAX_PER_PAGE) or 50
    overview = monitor.overview(db.session, visible, filters)
    rows, total = monitor.instances(db.session, visible, filters, step=step, limit=per_page,
                                    offset=(page - 1) * per_page)
    names = Names(db.session).load(branches={r.instance.branch_id for r in rows})
    return _ok({
        "counts": {
            "total": overview.total, "by_status": dict(overview.by_status), "open_tasks": overview.open_tasks,
            "overdue": overview.overdue, "stuck": overview.stuck,
            "processes": [{
                "process": p.process_key, "name": p.name, "total": p.total, "by_status": dict(p.by_status),
                "steps": [{"step": c.step, "name": c.name, "instances": c.instances, "errors": c.errors,
                           "open_tasks": c.open_tasks, "overdue": c.overdue} for c in p.steps]}
                for p in overview.processes],
        },
        "items": [{
            **serialize.instance(r.instance), "quarter_id": r.instance.quarter_id,
            "branch": names.branch(r.instance.branch_id),
            "subject": None if r.instance.subject_person_id is None else {
                "id": r.instance.subject_person_id, "name": r.subject or ""},
            "step_names": [{"step": x, "name": n} for x, n in r.steps], "error": r.instance.error,
            "created_at": serialize.iso(r.instance.created_at), "updated_at": serialize.iso(r.instance.updated_at)}
            for r in rows],
        "page": page, "per_page": per_page, "total": total, "pages": ceil(total / per_page) if total else 0,
    })


@bp.route(f"{PREFIX}/catalogues")
@guard("catalogue.view")
def catalogue_list():
    """Catalogue versions (drafts too, for the party office) and the unit kinds."""
    principal = me()
    query = select(CatalogueVersion).order_by(CatalogueVersion.year.desc(), CatalogueVersion.id.desc())
    if not can(principal, "catalogue.edit"):
        query = query.where(CatalogueVersion.status != CatalogueStatus.DRAFT)
    kinds = db.session.scalars(select(UnitKind).order_by(UnitKind.sort, UnitKind.id))
    return _ok({"items": [serialize.catalogue_version(v) for v in db.session.scalars(query)],
                "unit_kinds": [{"id": k.id, "code": k.code, "name": k.name} for k in kinds]})


@bp.route(f"{PREFIX}/catalogues/<int:version_id>")
@guard("catalogue.view")
def catalogue_detail(version_id: int):
    """A catalogue version's whole tree; `unit_kind` (a code) keeps the common part and that kind's part."""
    from workflows.catalogue import versions as catalogue

    version = db.session.get(CatalogueVersion, version_id)
    if version is None or (version.status == CatalogueStatus.DRAFT and not can(me(), "catalogue.edit")):
        raise NotFound()
    kinds = catalogue.unit_kind_codes(db.session)
    unit_kind = arg_choice("unit_kind", tuple(kinds.values()))
    tree = catalogue.load_tree(db.session, version.id)
    return _ok(serialize.catalogue_tree(tree, kinds, unit_kind))


# --- The document ------------------------------------------------------------------------------------------------------


@bp.route(f"{PREFIX}/openapi.json")
@public
def openapi_document():
    """The OpenAPI 3.1 description of this API."""
    from webapp.api import openapi

    return _ok(openapi.document())
