"""Forms of the member pages. The services validate the values (one place for the rules); the
forms carry the CSRF token, keep what was typed, and show the errors next to their fields."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional
from wtforms.widgets import DateInput, NumberInput

from workflows.quarter import evidence


class ClaimForm(FlaskForm):
    """One claim of the self-evaluation, optionally with its first evidence file."""

    standard_id = HiddenField()
    occurrences = StringField(_l("Occurrences"), default="1", widget=NumberInput(min=1, step=1),
                              render_kw={"inputmode": "numeric", "required": True})
    occurred_on = StringField(_l("Date"), widget=DateInput(),
                              description=_l("When it happened; a day of this quarter. Leave empty for several dates."))
    description = TextAreaField(_l("Facts of the claim"), validators=[Optional()],
                                description=_l("A sentence the reviewer can check: what, where, who can confirm it."),
                                render_kw={"rows": 3, "maxlength": 2000})
    file = FileField(_l("Evidence file (optional)"), render_kw={"accept": evidence.ACCEPT})


class UploadForm(FlaskForm):
    file = FileField(_l("Evidence file"), render_kw={"accept": evidence.ACCEPT})


class SubmitForm(FlaskForm):
    one_click = HiddenField(default="")


class AppealForm(FlaskForm):
    claim_id = SelectField(_l("What the appeal is about"), choices=[], validate_choice=False)
    text = TextAreaField(_l("What is wrong, and why"), validators=[Optional()],
                         render_kw={"rows": 5, "maxlength": 2000})


class TextForm(FlaskForm):
    """A concern about a posted score, or an appeal against a report's deduction: just the text."""

    text = TextAreaField(_l("What is wrong, and why"), validators=[Optional()],
                         render_kw={"rows": 5, "maxlength": 2000})
