"""Forms of the party office and leading group pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional


class OpenQuarterForm(FlaskForm):
    unit_id = SelectField(_l("Scope"), choices=[], validate_choice=True,
                          description=_l("The whole bureau, or the branches of one unit."))
    year = IntegerField(_l("Year"), validators=[InputRequired(message=_l("Enter the year.")),
                                                NumberRange(2000, 2100, message=_l("Enter a year between 2000 and 2100."))])
    quarter = SelectField(_l("Quarter"), choices=[SelectChoice(q, q) for q in ("1", "2", "3", "4")])
    self_eval_deadline = DateTimeLocalField(
        _l("Self-evaluation deadline"), format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[InputRequired(message=_l("Enter the date and time of the deadline."))],
        description=_l("Date and time in the bureau's time zone (Asia/Shanghai)."))
    publicity_days = IntegerField(_l("Publicity period (working days)"), default=5,
                                  validators=[InputRequired(message=_l("Enter the number of working days.")),
                                              NumberRange(1, 30, message=_l("Publicity lasts 1 to 30 working days."))])
    catalogue_version_id = SelectField(_l("Indicator catalogue"), choices=[], validate_choice=True)
    title = StringField(_l("Title (optional)"), validators=[Optional(), Length(max=200)],
                        description=_l("Left empty: “<year>年第<quarter>季度党员积分考评”."))
    submit = SubmitField(_l("Open the quarter"))


class NoticeForm(FlaskForm):
    # Required, but checked by the service with the lists, so every message shows at once.
    title = StringField(_l("Heading"), validators=[Length(max=300)])
    body = TextAreaField(_l("Comment on the quarter"), validators=[Optional(), Length(max=20000)],
                         description=_l("The party office's comment on the quarter: what went well, what must improve."),
                         render_kw={"rows": 8})
    submit = SubmitField(_l("Publish the notice"))


class FilingForm(FlaskForm):
    decision = RadioField(_l("Decision"), choices=[SelectChoice("accepted", _l("Accept for filing (the quarter is then locked)")),
                                                   SelectChoice("returned", _l("Return for correction"))],
                          validators=[InputRequired(message=_l("Accept or return."))])
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=4000)],
                            description=_l("Required when returning: say what must be done before filing."))
    submit = SubmitField(_l("Record the decision"))


class VerificationForm(FlaskForm):
    size = HiddenField()
    submit = SubmitField(_l("Record the findings"))


class AnnualStartForm(FlaskForm):
    year = IntegerField(_l("Year"), validators=[InputRequired(message=_l("Enter the year.")),
                                                NumberRange(2000, 2100, message=_l("Enter a year between 2000 and 2100."))])
    submit = SubmitField(_l("Start the annual assessment"))


class AnnualReviewForm(FlaskForm):
    comment = TextAreaField(_l("Review comment"), validators=[Optional(), Length(max=4000)])
    submit = SubmitField(_l("Send to the Leading Group"))


class AnnualApprovalForm(FlaskForm):
    decision = RadioField(_l("Decision"), choices=[SelectChoice("approved", _l("Approve and publish")),
                                                   SelectChoice("returned", _l("Return to the party office"))],
                          validators=[InputRequired(message=_l("Approve or return."))])
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=4000)],
                            description=_l("Required when returning: say what must change."))
    submit = SubmitField(_l("Record the decision"))
