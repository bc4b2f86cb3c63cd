"""The web side of the transaction boundary: the one way a page runs a service.

`run_service` calls the service through `workflows.engine.tx.run` (commit, retry on a lost
compare-and-set, the messages it threw delivered after the commit) and turns what the service
refused into an answer: NotAllowed is a 403 and NotFound a 404 (the request ends), any other domain
error comes back as an `Outcome` with its status (422 invalid, 409 taken / done / locked / closed)
and, given a form, its messages on the form's fields so nothing typed is lost. `submit_form` is
the thin route around it: validate, run, flash, redirect. Nothing else in the web layer commits
(`tests/test_layering.py` says so); the API has its own error answers over the same `tx.run`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import abort, flash, redirect
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from webapp.extensions import db
from workflows import errors
from workflows.engine import tx
from workflows.errors import DomainError, NotAllowed, NotFound, TaskNotReady, TaskTaken, ValidationFailed


@dataclass
class Outcome:
    """How a service call went: its result, or the domain error with the status that says what happened."""

    result: Any = None
    error: DomainError | None = None
    status: int = 200
    sections: dict[str, list[str]] = field(default_factory=dict)  # translated messages of non-form fields

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def taken(self) -> bool:
        return isinstance(self.error, TaskTaken)

    @property
    def done_already(self) -> bool:
        return isinstance(self.error, TaskNotReady)

    @property
    def field_errors(self) -> dict[str, list[str]]:
        return self.error.field_errors if isinstance(self.error, ValidationFailed) else {}

    @property
    def message(self) -> str:
        """The error in the reader's language (field errors are shown by their fields)."""
        if self.error is None:
            return ""
        if self.taken:
            return _("Somebody else has taken this task.")
        if self.done_already:
            return _("This task has already been done.")
        return message_of(self.error)


def message_of(error: Exception) -> str:
    """A service error in the reader's language. Errors raised without a message of their own
    carry their class's docstring, which message extraction does not see: they are worded here."""
    own = getattr(error, "message", "")
    generic = {
        errors.QuarterLocked: _l("This quarter has been filed and is locked: nothing of it can change."),
        errors.WindowClosed: _l("The period for this action is over."),
        errors.TaskNotReady: _l("This task is no longer waiting: it was completed or withdrawn."),
        errors.TaskTaken: _l("This task has been claimed by somebody else."),
        errors.Conflict: _l("Somebody else changed this at the same time. Please reload and try again."),
    }
    for kind, text in generic.items():
        if type(error) is kind and own == (kind.__doc__ or "").strip():
            return str(text)
    return _(own) if own else str(_l("Some values are not valid."))


def status_of(error: DomainError) -> int:
    return 422 if isinstance(error, ValidationFailed) else int(error.http_status)


def messages_of(error: DomainError) -> list[str]:
    """Every message of a domain error in the reader's language: its fields', else its own."""
    field_errors = error.field_errors if isinstance(error, ValidationFailed) else {}
    return [_(m) for ms in field_errors.values() for m in ms] or [message_of(error)]


def apply_field_errors(form: FlaskForm, error: DomainError, *, skip: Collection[str] = ()) -> None:
    """Put a service's messages on the form's fields (or on the form as a whole); `skip` names
    fields the page shows itself."""
    field_errors = error.field_errors if isinstance(error, ValidationFailed) else {}
    placed = False
    for name, messages in field_errors.items():
        if name in skip:
            placed = True
            continue
        target = getattr(form, name, None)
        if target is not None and hasattr(target, "errors"):
            target.errors = list(target.errors or []) + [_(m) for m in messages]
        else:
            form.form_errors.extend(_(m) for m in messages)
        placed = True
    if not placed:
        form.form_errors.append(message_of(error))


def _split(error: DomainError, keys: Iterable[str]) -> dict[str, list[str]]:
    field_errors = error.field_errors if isinstance(error, ValidationFailed) else {}
    return {k: [_(m) for m in field_errors[k]] for k in keys if field_errors.get(k)}


Placer = Callable[[FlaskForm, DomainError], None]


def run_service(fn: Callable[..., Any], *args: Any, form: FlaskForm | None = None, sections: Collection[str] = (),
                place: Placer | None = None, ends_request: bool = True,
                commit_on: tuple[type[BaseException], ...] = (), **kwargs: Any) -> Outcome:
    """Run `fn(db.session, *args, **kwargs)` at the boundary (see the module's docstring).

    `form`: where the error's messages go; `sections`: fields the page shows apart (returned
    translated in `Outcome.sections`, not put on the form); `place`: how the error goes on the form
    when the service's errors need more than `apply_field_errors`; `ends_request=False`: NotAllowed and
    NotFound come back as outcomes too (one item of a batch); `commit_on`: see `tx.run`."""
    try:
        return Outcome(tx.run(db.session, fn, *args, commit_on=commit_on, **kwargs))
    except DomainError as e:
        if ends_request and isinstance(e, NotAllowed):
            abort(403)
        if ends_request and isinstance(e, NotFound):
            abort(404)
        if form is not None:
            if place is not None:
                place(form, e)
            else:
                apply_field_errors(form, e, skip=sections)
        return Outcome(error=e, status=status_of(e), sections=_split(e, sections))


def submit_form(form: FlaskForm, fn: Callable[..., Any], *args: Any, success: str | Callable[[Any], str],
                then: str | Callable[[Any], str], place: Placer | None = None, ends_request: bool = True,
                **kwargs: Any) -> Any | None:
    """The thin route: validate `form`, run one service, flash `success` and redirect to `then`.
    None when the form or the service said no: the caller renders the page again, with the
    messages on the form and everything typed kept."""
    if not form.validate_on_submit():
        return None
    outcome = run_service(fn, *args, form=form, place=place, ends_request=ends_request, **kwargs)
    if not outcome.ok:
        return None
    flash(success(outcome.result) if callable(success) else success, "success")
    return redirect(then(outcome.result) if callable(then) else then)


def run_and_flash(fn: Callable[..., Any], *args: Any, success: str | Callable[[Any], str], **kwargs: Any) -> Outcome:
    """For a button without a form page: run the service, flash its success or every message of
    its refusal."""
    outcome = run_service(fn, *args, **kwargs)
    if outcome.ok:
        flash(success(outcome.result) if callable(success) else success, "success")
    else:
        assert outcome.error is not None
        for message in messages_of(outcome.error):
            flash(message, "error")
    return outcome
