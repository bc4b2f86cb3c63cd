"""The supervision report form (监督举报)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional


class ReportForm(FlaskForm):
    q = StringField(_l("Find the member"), validators=[Optional(), Length(max=100)],
                    description=_l("Part of the name, or the employee number."))
    occurred_on = DateField(_l("When it happened"), validators=[Optional()])
    text = TextAreaField(_l("What happened"), validators=[Length(max=4000)], render_kw={"rows": 6},
                         description=_l("Facts: what, where, who else saw it. The member's branch points group verifies the report."))
    suggested_standard_id = SelectField(_l("Deduction standard it falls under (optional)"), choices=[],
                                        validate_choice=True)
    via_party_office = BooleanField(_l("Recorded on behalf of someone outside the system"))
    reporter_name = StringField(_l("Reporter's name"), validators=[Length(max=100)])
    reporter_contact = StringField(_l("Reporter's contact"), validators=[Length(max=200)])
    search = SubmitField(_l("Find"))
    submit = SubmitField(_l("Send the report"))
