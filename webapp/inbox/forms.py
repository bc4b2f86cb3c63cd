"""Forms of the inbox."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, SubmitField, TextAreaField


class ButtonForm(FlaskForm):
    """Claim / release: only the CSRF token and where to go back to."""

    next = HiddenField()


class ReassignForm(FlaskForm):
    to_user_id = SelectField(_l("Give the task to"), choices=[], validate_choice=False)
    reason = TextAreaField(_l("Reason"), description=_l("Recorded in the task's history."))
    next = HiddenField()
    submit = SubmitField(_l("Reassign"))
