"""Authorisation at the HTTP boundary: every view declares its action, every object is loaded
through `load_or_404`, which answers 404 when missing and 403 when the rules say no.

The rules themselves live in `models.permissions`; this module only knows how to find the
current principal and how to describe an object as a `Target`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, g, redirect, request, url_for
from flask_login import current_user

from models import evaluation as ev
from models import process as pr
from models.db import db, get_by_id
from models.org import Branch
from models.people import Person
from models.permissions import NOBODY, Principal, Target, can, may_ever
from workflows.engine import access
from workflows.errors import NotAllowed, NotFound
from workflows.org.principals import principal_for

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M")

PUBLIC = "public"  # the marker of views that need no sign-in (login page, health, static)


def current_principal() -> Principal | None:
    """The signed-in user as the permission rules see them, built once per request."""
    if not current_user or not current_user.is_authenticated:
        return None
    if "principal" not in g:
        g.principal = principal_for(db.session, current_user.id)
    return g.principal


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def guard(action: str) -> Callable[[F], F]:
    """Mark a view with the action it performs; refuse users who could never perform it."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if action != PUBLIC:
                principal = current_principal()
                if principal is None:
                    if _wants_json():
                        abort(401)
                    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
                if not may_ever(principal, action):
                    abort(403)
            return view(*args, **kwargs)

        wrapped.pf_action = action  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator


public = guard(PUBLIC)


def target_of(obj: object) -> Target:
    """Which branch an object belongs to and which person it is about."""
    if isinstance(obj, Person):
        return Target(obj.branch_id, obj.id)
    if isinstance(obj, Branch):
        return Target(obj.id, None)
    if isinstance(obj, ev.Evaluation):
        return Target(obj.branch_id, obj.person_id)
    if isinstance(obj, ev.Claim):
        return target_of(obj.evaluation)
    if isinstance(obj, ev.Evidence):
        evaluation = db.session.get(ev.Evaluation, obj.evaluation_id)
        return target_of(evaluation)
    if isinstance(obj, ev.Appeal):
        return target_of(obj.evaluation)
    if isinstance(obj, ev.BranchQuarter):
        return Target(obj.branch_id, None)
    if isinstance(obj, ev.SupervisionReport):
        return Target(obj.branch_id, obj.subject_person_id)
    if isinstance(obj, ev.FollowUp):
        return Target(obj.branch_id, obj.person_id)
    if isinstance(obj, pr.HumanTask):
        return Target(obj.branch_id, obj.subject_person_id)
    if isinstance(obj, pr.ProcessInstance):
        return Target(obj.branch_id, obj.subject_person_id)
    return NOBODY


def allowed(action: str, obj: object | None = None) -> bool:
    """For templates and branches in views: may the current user do `action` on `obj`?"""
    principal = current_principal()
    return can(principal, action, target_of(obj) if obj is not None else NOBODY)


def check(action: str, obj: object | None = None) -> None:
    """Abort with 403 unless the current user may do `action` on `obj`."""
    if not allowed(action, obj):
        abort(403)


def load_or_404(model: type[M], ident: Any, action: str) -> M:
    """Load by primary key; 404 when missing, 403 when the rules refuse `action` on it."""
    obj = get_by_id(db.session, model, ident)
    if obj is None:
        abort(404)
    check(action, obj)
    return obj


def load_task_or_404(task_id: Any, *form_keys: str, supervise: bool = False) -> pr.HumanTask:
    """The human task of a task page or API call, fresh from the database: NotFound (404) when it is
    missing or of another form, NotAllowed (403) unless the current user may see it
    (`workflows.engine.access.may_see`) — or, with `supervise`, holds `task.reassign` (the party
    office looks at any task page to hand the task over)."""
    task = get_by_id(db.session, pr.HumanTask, task_id, populate_existing=True)
    if task is None or (form_keys and task.form_key not in form_keys):
        raise NotFound()
    principal = current_principal()
    if principal is None or not (access.may_see(principal, task) or (supervise and can(principal, "task.reassign"))):
        raise NotAllowed()
    return task
