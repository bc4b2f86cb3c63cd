"""Helpers of the bureau's pages (office, publicity board, notices, reports): the thin-route
pattern around a service, task pages, local times, page numbers and streamed Excel workbooks."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, current_app, send_file
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from wtforms.fields.choices import SelectChoice

from models.db import MAX_ID  # ids and years are 32-bit integers in the database
from models.process import HumanTask, TaskState

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def local_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def local_now() -> datetime:
    from models.clock import now

    return now().astimezone(local_zone())


def choices(pairs: Iterable[tuple[str, Any]], optgroup: str | None = None) -> list[SelectChoice]:
    """Select options (WTForms wants SelectChoice objects)."""
    return [SelectChoice(str(value), str(text), optgroup=optgroup) for value, text in pairs]



def in_range(ident: int) -> int:
    """A path's id, or 404 when no row can have it (the database would refuse the number)."""
    if not 0 < ident <= MAX_ID:
        abort(404)
    return ident


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
