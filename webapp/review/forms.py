"""Forms of the task pages. Fields are text: the services check every value (range, reason,
catalogue) and their messages are put back on the fields, so nothing typed is ever lost."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    FieldList,
    Form,
    FormField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice

MAX_ADDITIONS = 20
MAX_DECISIONS = 500  # far more claims than a quarter has; a bigger post is not read


class ClaimDecisionForm(Form):
    """One claim's decision (a sub-form: the page's CSRF token covers it)."""

    claim_id = HiddenField()
    decision = RadioField(_l("Decision"), choices=[SelectChoice("accept", _l("Accept")), SelectChoice("adjust", _l("Adjust")),
                                                   SelectChoice("reject", _l("Reject"))], validate_choice=False)
    occurrences = StringField(_l("Occurrences that count"), render_kw={"inputmode": "numeric", "autocomplete": "off"})
    points = StringField(_l("Points per occurrence"), render_kw={"inputmode": "decimal", "autocomplete": "off"})
    reason = TextAreaField(_l("Reason"), render_kw={"rows": 2})


class AdditionForm(Form):
    """A deduction or bonus the reviewer adds from the branch's records."""

    standard_id = SelectField(_l("Scoring standard"), choices=[], validate_choice=False)
    occurrences = StringField(_l("Occurrences"), default="1", render_kw={"inputmode": "numeric", "autocomplete": "off"})
    occurred_on = StringField(_l("Date"), render_kw={"type": "date"})
    description = StringField(_l("What the record says"))
    reason = StringField(_l("Record it is based on"),
                         description=_l("e.g. the attendance sheet of the branch meeting of 12 October"))

    @property
    def blank(self) -> bool:
        return not any((self.standard_id.data, self.occurred_on.data, self.description.data, self.reason.data))


class ReviewForm(FlaskForm):
    decisions = FieldList(FormField(ClaimDecisionForm), max_entries=MAX_DECISIONS)
    additions = FieldList(FormField(AdditionForm), min_entries=1, max_entries=MAX_ADDITIONS)


class ApprovalForm(FlaskForm):
    decision = RadioField(_l("Your decision"), choices=[
        SelectChoice("approved", _l("Approve the reviewed scores")),
        SelectChoice("returned", _l("Return the members ticked below for review"))], default="approved", validate_choice=False)
    comment = TextAreaField(_l("Comment"), description=_l("Required when you return members: the reviewers read it."),
                            render_kw={"rows": 3})


class MeetingForm(FlaskForm):
    meeting_date = StringField(_l("Date of the meeting"), render_kw={"type": "date"})
    meeting_expected = StringField(_l("Members expected"), render_kw={"inputmode": "numeric", "autocomplete": "off"})
    meeting_present = StringField(_l("Members present"), render_kw={"inputmode": "numeric", "autocomplete": "off"},
                                  description=_l("More than half of the members expected must be present."))
    meeting_resolution = TextAreaField(_l("Resolution"), render_kw={"rows": 4})


class AppealDecisionForm(FlaskForm):
    decision = RadioField(_l("Your decision"), choices=[
        SelectChoice("upheld", _l("Uphold: the score is reviewed again")),
        SelectChoice("dismissed", _l("Dismiss: the score stands"))], validate_choice=False)
    reason = TextAreaField(_l("Reason"), description=_l("The member who raised it reads this."), render_kw={"rows": 4})


class ReportVerificationForm(FlaskForm):
    decision = RadioField(_l("Your finding"), choices=[
        SelectChoice("substantiated", _l("Substantiated: record a deduction")),
        SelectChoice("unsubstantiated", _l("Not substantiated: close the report"))], validate_choice=False)
    standard_id = SelectField(_l("Deduction standard"), choices=[], validate_choice=False)
    occurrences = StringField(_l("Occurrences"), default="1", render_kw={"inputmode": "numeric", "autocomplete": "off"})
    reason = TextAreaField(_l("Reason"), description=_l("The member and the reporter read it."), render_kw={"rows": 4})


class FollowUpForm(FlaskForm):
    record = TextAreaField(_l("What was done"), render_kw={"rows": 5},
                           description=_l("Who talked with whom, what was said, what was agreed."))
    done_on = StringField(_l("Done on"), render_kw={"type": "date"})
