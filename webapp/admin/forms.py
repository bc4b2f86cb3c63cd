"""Forms of the administrator's pages. Choices that come from the database are set by the views."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateField, HiddenField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from models.people import ASSIGNABLE_ROLES, MembershipStatus
from webapp.arguments import optional_int
from webapp.labels import label


def status_choices(with_none: bool = True) -> list[tuple[str, str]]:
    statuses = [s for s in MembershipStatus if with_none or s is not MembershipStatus.NONE]
    return [(s.value, label("membership", s.value)) for s in statuses]


def gender_choices() -> list[tuple[str, str]]:
    return [("", "—"), ("M", str(_l("Male"))), ("F", str(_l("Female")))]


class KindForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)],
                       description=_l("Lower-case letters, digits and _, e.g. maritime_office. It cannot change later."))
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    name_en = StringField(_l("English name"), validators=[Optional(), Length(max=100)])
    submit = SubmitField(_l("Save"))


class KindRenameForm(KindForm):
    """Renaming keeps the code: the catalogue refers to it."""

    code = None  # type: ignore[assignment]


class UnitForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    kind_id = SelectField(_l("Kind"), coerce=optional_int, validate_choice=False)
    submit = SubmitField(_l("Save"))


class BranchForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    unit_id = SelectField(_l("Unit"), coerce=optional_int, validate_choice=False)
    submit = SubmitField(_l("Save"))


class MoveForm(FlaskForm):
    """Move something to another place: a branch to a unit, a person to a branch."""

    target_id = SelectField(_l("Move to"), coerce=optional_int, validate_choice=False)
    submit = SubmitField(_l("Move"))


class PersonDetailsForm(FlaskForm):
    employee_no = StringField(_l("Employee number"), validators=[DataRequired(), Length(max=40)])
    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=100)])
    gender = SelectField(_l("Gender"), validate_choice=False)
    position = StringField(_l("Position"), validators=[Optional(), Length(max=100)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=40)])
    submit = SubmitField(_l("Save"))


class MembershipForm(FlaskForm):
    status = SelectField(_l("Membership"), validate_choice=False)
    joined_party_on = DateField(_l("Joined the party (入党时间)"), validators=[Optional()])
    full_member_on = DateField(_l("Full membership (转正时间)"), validators=[Optional()])
    activist_since = DateField(_l("Activist since (确定为积极分子时间)"), validators=[Optional()])
    submit = SubmitField(_l("Save"))


class PersonForm(PersonDetailsForm, MembershipForm):
    """A new person: particulars, branch, membership, and optionally an account."""

    branch_id = SelectField(_l("Branch"), coerce=optional_int, validate_choice=False)
    create_account = BooleanField(_l("Open a sign-in account"), default=True)
    username = StringField(_l("Username"), validators=[Optional(), Length(max=80)],
                           description=_l("Empty: the employee number in lower case."))
    submit = SubmitField(_l("Add person"))


class AccountForm(FlaskForm):
    username = StringField(_l("Username"), validators=[Optional(), Length(max=80)],
                           description=_l("Empty: the employee number in lower case."))
    submit = SubmitField(_l("Open account"))


class RoleForm(FlaskForm):
    """Assign a role; `who` (username or employee number) is used where no person is given."""

    who = StringField(_l("Person (username or employee number)"), validators=[Optional(), Length(max=80)])
    role = SelectField(_l("Role"), validate_choice=False)
    branch_id = SelectField(_l("Where"), coerce=optional_int, validate_choice=False)
    submit = SubmitField(_l("Assign"))

    def set_role_choices(self) -> None:
        self.role.choices = [(r.value, label("role", r.value)) for r in ASSIGNABLE_ROLES]


class RosterUploadForm(FlaskForm):
    file = FileField(_l("Roster workbook (.xlsx)"), validators=[FileRequired(_l("Choose a workbook to upload."))])
    update_existing = BooleanField(_l("Update people already known by employee number"),
                                   description=_l("Otherwise people already known are reported as duplicates."))
    submit = SubmitField(_l("Upload and check"))


class ConfirmImportForm(FlaskForm):
    update_existing = HiddenField()
    submit = SubmitField(_l("Import"))


class PasswordsForm(FlaskForm):
    """Issue initial passwords to the selected accounts (user_ids) or to every account without one."""

    scope = HiddenField(default="selected")
    submit = SubmitField(_l("Issue initial passwords and download"))
