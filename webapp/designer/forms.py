"""Forms of the designer's pages: upload (a file, or the XML the in-app modeller sends), deploy,
and migration. Choices that come from the database are set by the views."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, SelectField, SelectMultipleField, StringField, SubmitField
from wtforms.validators import Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from webapp.arguments import optional_int
from workflows.engine import checks, spiff

SUFFIXES = (".bpmn", ".xml")


class UploadForm(FlaskForm):
    """A .bpmn file from any BPMN 2.0 modeller, or the XML of the in-app modeller."""

    file = FileField(_l("BPMN file"), description=_l("A .bpmn file saved by Camunda Modeler, bpmn.io or any BPMN 2.0 "
                                                     "tool (2 MB at most)."))
    xml = HiddenField(validators=[Optional()])
    filename = HiddenField(validators=[Optional(), Length(max=200)])
    submit = SubmitField(_l("Check the file"))

    raw: bytes = b""
    name: str = ""

    def validate(self, extra_validators: Any = None) -> bool:
        if not super().validate(extra_validators):
            return False
        upload = self.file.data
        if upload is not None and getattr(upload, "filename", ""):
            name = PurePath(upload.filename).name
            if not name.lower().endswith(SUFFIXES):
                self.file.errors = [_("Choose a .bpmn file (BPMN 2.0 XML).")]
                return False
            raw = upload.read(spiff.MAX_BPMN_BYTES + 1)
        elif self.xml.data:
            name = PurePath(self.filename.data or "diagram.bpmn").name or "diagram.bpmn"
            raw = self.xml.data.encode("utf-8")
        else:
            self.file.errors = [_("Choose a .bpmn file.")]
            return False
        reason = checks.sniff(raw)
        if reason is not None:
            self.file.errors = [_(checks.SNIFF_MESSAGES[reason])]
            return False
        self.raw, self.name = raw, name if name.lower().endswith(SUFFIXES) else name + ".bpmn"
        return True


class DeployForm(FlaskForm):
    comment = StringField(_l("What changed"), validators=[Optional(), Length(max=500)],
                          description=_l("Kept with the version, e.g. \"reminder two days earlier\"."))
    submit = SubmitField(_l("Deploy as a new version"))


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class MigrateForm(FlaskForm):
    to_version = SelectField(_l("Migrate to"), coerce=int)
    from_version = SelectField(_l("Instances on"), coerce=optional_int, validators=[Optional()])
    quarter = SelectField(_l("Quarter"), coerce=optional_int, validators=[Optional()])
    instance_ids = MultiCheckboxField(_l("Instances"), coerce=int, validators=[Optional()])
    dry_run = SubmitField(_l("Dry run"))
    migrate = SubmitField(_l("Move the selected instances"))
