"""Helpers shared by the forms of every area."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_wtf import FlaskForm

from workflows.errors import DomainError, ValidationFailed


def apply_field_errors(form: FlaskForm, error: DomainError) -> None:
    """Put a service's validation errors on the form's fields (or on the form as a whole)."""
    field_errors = error.field_errors if isinstance(error, ValidationFailed) else {}
    placed = False
    for name, messages in field_errors.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = list(field.errors or []) + [_(m) for m in messages]
            placed = True
        else:
            form.form_errors.extend(_(m) for m in messages)
            placed = True
    if not placed:
        form.form_errors.append(_(error.message))
