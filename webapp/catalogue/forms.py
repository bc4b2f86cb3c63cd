"""Forms of the catalogue pages. Choices that come from the database are set by the views."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DecimalField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from models.catalogue import HONOUR_LEVELS
from webapp.arguments import optional_int


def choices(pairs: Any) -> list[SelectChoice]:
    """Select options from (value, label) pairs."""
    return [SelectChoice(str(value), label) for value, label in pairs]


def _points(label: Any, **kw: Any) -> DecimalField:
    return DecimalField(label, places=2, validators=[DataRequired(), NumberRange(min=0, max=9999.99)], **kw)


class Revisioned(FlaskForm):
    """Every edit of a draft carries the revision it was made on: a stale one is refused."""

    revision = HiddenField()

    @property
    def expected_revision(self) -> int | None:
        return optional_int(self.revision.data)


class VersionForm(Revisioned):
    year = IntegerField(_l("Year"), validators=[DataRequired(), NumberRange(min=2000, max=2100)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    pass_line = DecimalField(_l("Pass line"), places=2, validators=[DataRequired(), NumberRange(min=0, max=999999)],
                             description=_l("A quarter score at or above it is a pass (合格)."))
    excellent_line = DecimalField(_l("Excellent line"), places=2,
                                  validators=[DataRequired(), NumberRange(min=0, max=999999)],
                                  description=_l("A quarter score at or above it is excellent (优秀)."))
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=4000)])
    submit = SubmitField(_l("Save"))


class CopyForm(FlaskForm):
    year = IntegerField(_l("Year of the new draft"), validators=[DataRequired(), NumberRange(min=2000, max=2100)])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)],
                       description=_l("Empty: the name of the copied version with the new year."))
    submit = SubmitField(_l("Make a draft"))


class ImportForm(FlaskForm):
    file = FileField(_l("Workbook (.xlsx)"), validators=[FileRequired()])
    year = IntegerField(_l("Year"), validators=[Optional(), NumberRange(min=2000, max=2100)],
                        description=_l("Empty: the year written in the workbook."))
    submit = SubmitField(_l("Import as a new draft"))


class BasisForm(Revisioned):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=300)])
    kind = SelectField(_l("Kind"), choices=choices([("constitution", _l("Party constitution")),
                                                    ("regulation", _l("Party regulation or law")),
                                                    ("internal", _l("Internal rule"))]))
    submit = SubmitField(_l("Save"))


class DimensionForm(Revisioned):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    submit = SubmitField(_l("Save"))


class ItemForm(Revisioned):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=300)])
    kind = SelectField(_l("Kind"), choices=choices([("deduction", _l("Deduction item (starts at its baseline)")),
                                                    ("bonus", _l("Bonus item"))]))
    baseline = DecimalField(_l("Baseline"), places=2, default=0,
                            validators=[Optional(), NumberRange(min=0, max=9999.99)],
                            description=_l("The full score of a deduction item (满分); 0 for a bonus item."))
    dimension_id = SelectField(_l("Dimension"), coerce=optional_int, validate_choice=False)
    unit_kind_id = SelectField(_l("Applies to"), coerce=optional_int, validate_choice=False)
    basis_id = SelectField(_l("Basis"), coerce=optional_int, validate_choice=False)
    submit = SubmitField(_l("Save"))


class ContentForm(Revisioned):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    text = TextAreaField(_l("Content"), validators=[DataRequired(), Length(max=2000)])
    submit = SubmitField(_l("Save"))


class StandardForm(Revisioned):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    text = TextAreaField(_l("Scoring standard"), validators=[DataRequired(), Length(max=2000)])
    points = _points(_l("Points per occurrence"))
    max_occurrences = IntegerField(_l("Most occurrences per quarter"),
                                   validators=[Optional(), NumberRange(min=1, max=999)],
                                   description=_l("Empty: no limit."))
    honour_category = StringField(_l("Honour category"), validators=[Optional(), Length(max=100)],
                                  description=_l("Within one category only the highest honour counts."))
    honour_level = SelectField(_l("Honour level"), coerce=optional_int,
                               choices=choices([("", "—"), *HONOUR_LEVELS.items()]))
    evidence_required = BooleanField(_l("Evidence required"))
    submit = SubmitField(_l("Save"))


NODE_FORMS: dict[str, type[Revisioned]] = {
    "basis": BasisForm, "dimension": DimensionForm, "item": ItemForm, "content": ContentForm, "standard": StandardForm,
}


class EmptyForm(FlaskForm):
    """A form with only its CSRF token, for buttons that POST."""

    revision = HiddenField()
    submit = SubmitField(_l("Confirm"))
