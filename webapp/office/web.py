"""Helpers of the bureau's pages (office, publicity board, notices, reports): the thin-route
pattern around a service, task pages, local times, page numbers and streamed Excel workbooks."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, current_app, request, send_file
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from wtforms.fields.choices import SelectChoice

from models.db import MAX_ID  # ids and years are 32-bit integers in the database
from models.process import HumanTask, TaskState
from webapp.extensions import db
from webapp.forms_util import apply_field_errors
from workflows.engine import tx
from workflows.errors import DomainError, ValidationFailed

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def local_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def local_now() -> datetime:
    from models.clock import now

    return now().astimezone(local_zone())


def int_arg(name: str, default: int, low: int = 1, high: int = 10**9) -> int:
    """A whole-number query argument, clamped; anything unreadable gives the default (never a 500)."""
    try:
        value = int(request.args.get(name, default))
    except (TypeError, ValueError):
        return default
    return max(low, min(high, value))


def choices(pairs: Iterable[tuple[str, Any]], optgroup: str | None = None) -> list[SelectChoice]:
    """Select options (WTForms wants SelectChoice objects)."""
    return [SelectChoice(str(value), str(text), optgroup=optgroup) for value, text in pairs]



def optional_int(value: Any) -> int | None:
    """A whole number from a form or query value, or None (unreadable, or outside what a row id can be,
    so that no query ever fails on it)."""
    try:
        number = int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
    return number if number is not None and -MAX_ID <= number <= MAX_ID else None


def in_range(ident: int) -> int:
    """A path's id, or 404 when no row can have it (the database would refuse the number)."""
    if not 0 < ident <= MAX_ID:
        abort(404)
    return ident


# --- Services behind forms -------------------------------------------------------------------------


def error_status(error: DomainError) -> int:
    return 422 if isinstance(error, ValidationFailed) else int(error.http_status)


@dataclass
class Outcome:
    """What a service call at the boundary gave: its result, or the status and messages of its error."""

    result: Any = None
    status: int = 200
    sections: dict[str, list[str]] = field(default_factory=dict)  # messages of non-WTForms fields

    @property
    def ok(self) -> bool:
        return self.status == 200


def submit(form: FlaskForm | None, fn: Callable[..., Any], *args: Any, sections: Collection[str] = (),
           **kwargs: Any) -> Outcome:
    """Run one service through the transaction boundary (commit, retry, deliver messages). On a domain
    error the transaction is rolled back; messages for `sections` are returned apart, the others are
    put on `form` (on its fields where they match, else on the form as a whole)."""
    try:
        return Outcome(tx.run(db.session, fn, *args, **kwargs))
    except DomainError as e:
        db.session.rollback()
        apart = split_errors(e, sections)
        if form is not None:
            rest = ValidationFailed(e.message, field_errors={k: v for k, v in getattr(e, "field_errors", {}).items()
                                                             if k not in apart}) if apart else e
            if not (isinstance(rest, ValidationFailed) and not rest.field_errors and apart):
                apply_field_errors(form, rest)
        return Outcome(None, error_status(e), apart)


def split_errors(error: DomainError, keys: Iterable[str]) -> dict[str, list[str]]:
    """The translated messages of a validation error for fields that are not WTForms fields."""
    field_errors = error.field_errors if isinstance(error, ValidationFailed) else {}
    return {k: [_(m) for m in field_errors.get(k, [])] for k in keys if field_errors.get(k)}


# --- Task pages --------------------------------------------------------------------------------------


def task_is_open(task: HumanTask) -> bool:
    return task.state == TaskState.OPEN


# --- Excel -------------------------------------------------------------------------------------------

Sheet = tuple[str, Sequence[str], Iterable[Sequence[Any]]]


def _cell(ws: Any, value: Any) -> Any:
    # A text that starts with "=" would be written as a formula: force it to stay text.
    if isinstance(value, str) and value.startswith("="):
        cell = WriteOnlyCell(ws, value=value)
        cell.data_type = "s"
        return cell
    return value


def xlsx_response(sheets: Iterable[Sheet], filename: str, *, title_rows: Sequence[str] = ()) -> Any:
    """A workbook streamed from a temporary file: write-only sheets, so a large ranking never sits
    in memory as cells. Each sheet is (title, header, rows); `title_rows` go above every header."""
    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    for title, header, rows in sheets:
        ws = wb.create_sheet(title=title[:31])
        for text in title_rows:
            cell = WriteOnlyCell(ws, value=text)
            cell.font = bold
            ws.append([cell])
        head = []
        for text in header:
            cell = WriteOnlyCell(ws, value=text)
            cell.font = bold
            head.append(cell)
        ws.append(head)
        for row in rows:
            ws.append([_cell(ws, v) for v in row])
    fh = tempfile.TemporaryFile(suffix=".xlsx")
    wb.save(fh)
    fh.seek(0)
    return send_file(fh, mimetype=XLSX, as_attachment=True, download_name=filename, max_age=0)
