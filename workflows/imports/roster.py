"""Import of the member roster (党员花名册) from an Excel workbook.

The administrator downloads a template, fills it (or exports the bureau's own roster with the same
column titles, in any order), uploads it, sees a preview — what is new, what changes, what is
unchanged, and every row-level error with sheet, row and column — and confirms. The import then
runs in the caller's one transaction: all rows or none.

Uploaded files are untrusted: anything that is not a real .xlsx workbook, too large, too long, or
holding formulas is refused with a message saying what to do. Formulas are never evaluated and
their cached results are not trusted (they can be stale or forged): a cell holding a formula is a
row error, the user pastes values instead.

Between preview and confirm the parsed rows (and the uploaded file itself) stay on the server,
under a random token, bound to the administrator who uploaded them; the client only sends the token.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, selectinload

from models import audit
from models.clock import now
from models.db import chunks
from models.org import Branch
from models.people import MembershipStatus, Person, User
from models.permissions import Principal
from workflows.errors import Conflict, NotFound, ValidationFailed
from workflows.i18n import N_
from workflows.org import accounts, people, units
from workflows.org.common import require_admin

MAX_ROWS = 50_000
MAX_BYTES = 10 * 1024 * 1024
MAX_UNPACKED_BYTES = 200 * 1024 * 1024  # a zip bomb stops here, before any XML is parsed
MAX_COLUMNS = 200
HEADER_SEARCH_ROWS = 20  # a title row or two above the column titles is common in real rosters
STAGE_TTL = timedelta(days=2)
DATA_SHEET = "花名册"


@dataclass(frozen=True)
class Column:
    key: str
    header: str  # the title in the template
    required: bool = False
    max_length: int = 100
    aliases: tuple[str, ...] = ()


COLUMNS: tuple[Column, ...] = (
    Column("employee_no", "工号", True, 40, ("职工号", "员工号", "员工编号", "人员编号", "employee no", "employee_no",
                                             "employee number")),
    Column("name", "姓名", True, 100, ("name",)),
    Column("gender", "性别", False, 10, ("gender", "sex")),
    Column("branch", "所在党支部", True, 200, ("党支部", "支部", "所在支部", "所属党支部", "branch")),
    Column("status", "党员身份", True, 20, ("身份", "人员类别", "党员类别", "status", "membership")),
    Column("joined_party_on", "入党时间", False, 40, ("入党日期", "joined party on", "joined_party_on")),
    Column("full_member_on", "转正时间", False, 40, ("转正日期", "full member on", "full_member_on")),
    Column("activist_since", "确定为积极分子时间", False, 40,
           ("确定为入党积极分子时间", "确定积极分子时间", "积极分子时间", "activist since", "activist_since")),
    Column("position", "职务", False, 100, ("职位", "position")),
    Column("phone", "联系电话", False, 40, ("电话", "手机", "手机号", "手机号码", "phone")),
    Column("username", "用户名", False, 80, ("账号", "帐号", "登录名", "username")),
)
BY_KEY = {c.key: c for c in COLUMNS}
DATE_KEYS = ("joined_party_on", "full_member_on", "activist_since")
# What an update may change, in the order the preview lists it.
PERSON_FIELDS = ("name", "gender", "branch_id", "status", *DATE_KEYS, "position", "phone")

STATUS_VALUES = {
    "正式党员": MembershipStatus.FULL, "预备党员": MembershipStatus.PROBATIONARY,
    "入党积极分子": MembershipStatus.ACTIVIST, "积极分子": MembershipStatus.ACTIVIST,
    "full": MembershipStatus.FULL, "probationary": MembershipStatus.PROBATIONARY,
    "activist": MembershipStatus.ACTIVIST,
}
STATUS_TITLES = {MembershipStatus.FULL: "正式党员", MembershipStatus.PROBATIONARY: "预备党员",
                 MembershipStatus.ACTIVIST: "入党积极分子"}
GENDER_VALUES = {"男": "M", "女": "F", "m": "M", "f": "F", "male": "M", "female": "F"}
GENDER_TITLES = {"M": "男", "F": "女"}


def _normalise_header(text: str) -> str:
    return re.sub(r"[\s\u3000*＊:：]", "", text).casefold()


_HEADER_LOOKUP = {_normalise_header(alias): c.key for c in COLUMNS for alias in (c.header, *c.aliases)}


# --- Results ------------------------------------------------------------------------------------

@dataclass
class Problem:
    """One thing wrong (or worth saying) about the file, located like a spreadsheet user would."""

    message: str  # English message id, translated by the web layer with `params`
    row: int | None = None
    column: str = ""  # the column's title as in the file
    letter: str = ""  # the column's letter (A, B, ...)
    sheet: str = ""
    params: dict[str, Any] = field(default_factory=dict)


class FileRejected(ValidationFailed):
    """The upload is not a roster workbook we can read at all."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message, field_errors={"file": [message]}, **params)
        self.params = params


@dataclass
class ParsedRoster:
    """What a workbook holds: rows that parsed (JSON-safe values) and the problems found."""

    sheet: str
    columns: list[str]  # keys of the columns the file has
    rows: list[dict[str, Any]]
    problems: list[Problem]
    notes: list[Problem]
    total_rows: int = 0  # non-empty data rows, including those with errors
    letters: dict[str, str] = field(default_factory=dict)  # column key -> its letter in the file


# --- Reading the workbook ------------------------------------------------------------------------

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _check_container(data: bytes, max_bytes: int) -> None:
    """Refuse what is not a plausible .xlsx before any XML parser sees it."""
    if not data:
        raise FileRejected(N_("The file is empty."))
    if len(data) > max_bytes:
        raise FileRejected(N_("The file is larger than %(mb)s MB. Split the roster into several files."),
                           mb=max_bytes // (1024 * 1024))
    if data.startswith(_OLE_MAGIC):
        raise FileRejected(N_("This is an Excel 97-2003 workbook (.xls) or a password-protected workbook. "
                              "Open it in Excel or WPS and save it as an unprotected .xlsx workbook."))
    if not data.startswith(b"PK\x03\x04"):
        raise FileRejected(N_("This file is not an Excel workbook (.xlsx). Download the template and fill it in."))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            names = {i.filename for i in infos}
            unpacked = sum(i.file_size for i in infos)
            content_types = archive.read("[Content_Types].xml")[:200_000] if "[Content_Types].xml" in names else b""
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, KeyError, NotImplementedError):
        raise FileRejected(N_("This file is not an Excel workbook (.xlsx). Download the template and fill it in.")) from None
    if b"spreadsheetml" not in content_types and b"ms-excel.sheet" not in content_types:
        raise FileRejected(N_("This file is not an Excel workbook (.xlsx). Download the template and fill it in."))
    if unpacked > MAX_UNPACKED_BYTES or len(infos) > 10_000:
        raise FileRejected(N_("The workbook is too large when unpacked. Split the roster into several files."))


def _open_sheet(data: bytes) -> Any:
    from openpyxl import load_workbook

    try:
        # data_only=False on purpose: formula cells must be seen as formulas, to be refused.
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False, keep_links=False)
    except Exception:  # noqa: BLE001 - any failure of the reader means a damaged file, said plainly
        raise FileRejected(N_("The workbook could not be read: it is damaged or not an Excel workbook.")) from None
    sheets = workbook.worksheets
    if not sheets:
        raise FileRejected(N_("The workbook has no worksheet."))
    for sheet in sheets:
        if sheet.title.strip() == DATA_SHEET:
            return sheet
    return sheets[0]


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_formula(cell: Any) -> bool:
    value = getattr(cell, "value", None)
    return getattr(cell, "data_type", None) == "f" or (isinstance(value, str) and value.lstrip().startswith("="))


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _find_header(rows: Iterator[tuple[int, tuple[Any, ...]]], sheet: str) -> tuple[int, tuple[Any, ...]]:
    seen_anything = False
    for number, cells in rows:
        texts = [str(c.value).strip() for c in cells if not _is_blank(getattr(c, "value", None))]
        seen_anything = seen_anything or bool(texts)
        if sum(1 for t in texts if _normalise_header(t) in _HEADER_LOOKUP) >= 2:
            return number, cells
        if number >= HEADER_SEARCH_ROWS:
            break
    if not seen_anything:
        raise FileRejected(N_("The sheet “%(sheet)s” is empty."), sheet=sheet)
    raise FileRejected(N_("No row of column titles was found in the first %(rows)s rows of the sheet “%(sheet)s”. "
                          "The titles must be those of the template, such as 工号, 姓名, 所在党支部, 党员身份."),
                       rows=HEADER_SEARCH_ROWS, sheet=sheet)


def _map_header(cells: tuple[Any, ...], number: int, sheet: str) -> tuple[dict[int, str], list[Problem], list[Problem]]:
    """Column index → key, from the title text; unknown titles are ignored with a note."""
    mapping: dict[int, str] = {}
    problems: list[Problem] = []
    notes: list[Problem] = []
    first_seen: dict[str, int] = {}
    for index, cell in enumerate(cells[:MAX_COLUMNS]):
        value = getattr(cell, "value", None)
        if _is_blank(value):
            continue
        text = str(value).strip()
        at = {"row": number, "column": text[:60], "letter": _letter(index), "sheet": sheet}
        key = _HEADER_LOOKUP.get(_normalise_header(text))
        if key is None:
            notes.append(Problem(N_("This column is not part of the roster and was ignored."), **at))
        elif key in first_seen:
            problems.append(Problem(N_("This column appears twice (first in column %(first)s)."),
                                    params={"first": _letter(first_seen[key])}, **at))
        else:
            first_seen[key] = index
            mapping[index] = key
    present = set(mapping.values())
    for column in COLUMNS:
        if column.required and column.key not in present:
            problems.append(Problem(N_("The required column “%(header)s” is missing."), row=number,
                                    column=column.header, sheet=sheet, params={"header": column.header}))
    return mapping, problems, notes


def _text(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime | date):
        raise ValueError
    return str(value).strip()


_DATE_PATTERNS = (
    re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
_MONTH_PATTERN = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?$")


def _date(value: Any) -> tuple[date, bool]:
    """A date from a cell; the flag says it was given as year and month only (taken as the 1st)."""
    if isinstance(value, datetime):
        return value.date(), False
    if isinstance(value, date):
        return value, False
    if isinstance(value, int | float) and not isinstance(value, bool):
        if float(value).is_integer() and 19000101 <= value <= 21001231:
            return _date(str(int(value)))
        if 7000 <= value <= 80000:  # an Excel day number that lost its date format
            from openpyxl.utils.datetime import from_excel

            return from_excel(value).date(), False
        raise ValueError
    text = str(value).strip()
    for pattern in _DATE_PATTERNS:
        if match := pattern.match(text):
            y, m, d = (int(g) for g in match.groups())
            return date(y, m, d), False
    if match := _MONTH_PATTERN.match(text):
        y, m = (int(g) for g in match.groups())
        return date(y, m, 1), True
    raise ValueError


def _convert(key: str, value: Any) -> tuple[Any, str | None, bool]:
    """(value, error message id or None, month-only flag) for one cell of a known column."""
    column = BY_KEY[key]
    if _is_blank(value):
        return (None if key in DATE_KEYS else ""), (N_("Required.") if column.required else None), False
    if key in DATE_KEYS:
        try:
            day, month_only = _date(value)
        except (ValueError, OverflowError):
            return None, N_("Not a date: write it like 2021-07-01."), False
        return day.isoformat(), None, month_only
    try:
        text = _text(value)
    except ValueError:
        return "", N_("Expected text, not a date or a true/false value."), False
    if len(text) > column.max_length:
        return "", N_("Too long: at most %(max)s characters."), False
    if key == "status":
        status = STATUS_VALUES.get(text) or STATUS_VALUES.get(text.casefold())
        if status is None:
            return "", N_("Unknown membership status: use 正式党员, 预备党员 or 入党积极分子."), False
        return status.value, None, False
    if key == "gender":
        gender = GENDER_VALUES.get(text.casefold())
        return (gender or ""), (None if gender else N_("Unknown gender: use 男 or 女.")), False
    if key == "username":
        text = text.lower()
        if not accounts.USERNAME_PATTERN.match(text):
            return "", N_("Use lower-case letters, digits and . _ @ - only (at most 80)."), False
    return text, None, False


def parse_workbook(data: bytes, *, max_rows: int = MAX_ROWS, max_bytes: int = MAX_BYTES) -> ParsedRoster:
    """Read a roster workbook; raises FileRejected when it cannot be a roster at all."""
    _check_container(data, max_bytes)
    sheet = _open_sheet(data)
    title = sheet.title
    try:
        return _parse_rows(sheet, title, max_rows)
    except FileRejected:
        raise
    except Exception:  # noqa: BLE001 - malformed sheet XML surfaces while streaming rows
        raise FileRejected(N_("The workbook could not be read: it is damaged or not an Excel workbook.")) from None
    finally:
        sheet.parent.close()


def _parse_rows(sheet: Any, title: str, max_rows: int) -> ParsedRoster:
    rows = ((number, cells) for number, cells in enumerate(sheet.iter_rows(max_col=MAX_COLUMNS), start=1))
    header_row, header = _find_header(rows, title)
    mapping, problems, notes = _map_header(header, header_row, title)
    columns = [mapping[i] for i in sorted(mapping)]
    result = ParsedRoster(title, columns, [], problems, notes, letters={k: _letter(i) for i, k in mapping.items()})
    if any(p.message == N_("The required column “%(header)s” is missing.") for p in problems):
        return result
    first_row_of: dict[str, int] = {}
    month_only_rows: list[int] = []
    for number, cells in rows:
        values = {i: getattr(cells[i], "value", None) for i in mapping if i < len(cells)}
        if all(_is_blank(v) for v in values.values()):
            continue
        result.total_rows += 1
        if result.total_rows > max_rows:
            raise FileRejected(N_("The sheet has more than %(limit)s rows. Split the roster into several files."),
                               limit=f"{max_rows:,}")
        record: dict[str, Any] = {"row": number}
        row_problems: list[Problem] = []
        for index, key in mapping.items():
            column_title = str(header[index].value).strip()[:60]
            at = {"row": number, "column": column_title, "letter": _letter(index), "sheet": title}
            cell = cells[index] if index < len(cells) else None
            if cell is not None and _is_formula(cell):
                row_problems.append(Problem(N_("The cell holds a formula. Copy the column and paste it as values only."),
                                            **at))
                continue
            if cell is not None and getattr(cell, "data_type", None) == "e":
                row_problems.append(Problem(N_("The cell holds an Excel error (%(value)s)."),
                                            params={"value": str(cell.value)[:20]}, **at))
                continue
            value, message, month_only = _convert(key, values.get(index))
            if message:
                row_problems.append(Problem(message, params={"max": BY_KEY[key].max_length}, **at))
            record[key] = value
            if month_only:
                month_only_rows.append(number)
        employee_no = record.get("employee_no")
        if employee_no:
            if employee_no in first_row_of:
                index = next(i for i, k in mapping.items() if k == "employee_no")
                row_problems.append(Problem(
                    N_("The employee number %(value)s appears twice in the file (first in row %(first)s)."),
                    row=number, column=str(header[index].value).strip(), letter=_letter(index), sheet=title,
                    params={"value": employee_no, "first": first_row_of[employee_no]}))
            else:
                first_row_of[employee_no] = number
        if row_problems:
            result.problems.extend(row_problems)
        else:
            result.rows.append(record)
    if month_only_rows:
        result.notes.append(Problem(N_("%(count)s dates were given as year and month only and were taken as the "
                                       "1st of the month (first in row %(first)s)."), sheet=title,
                                    params={"count": len(month_only_rows), "first": month_only_rows[0]}))
    if result.total_rows == 0 and not result.problems:
        result.problems.append(Problem(N_("The sheet has column titles but no rows of people."), row=header_row,
                                       sheet=title))
    return result


# --- Comparing with what the database holds -------------------------------------------------------

@dataclass
class PlanItem:
    row: int
    action: str  # "new" | "updated" | "unchanged"
    employee_no: str
    name: str
    branch_name: str
    person_id: int | None = None
    username: str | None = None  # of an account this import opens
    changes: dict[str, list[Any]] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)  # what the person will hold


@dataclass
class Plan:
    items: list[PlanItem]
    problems: list[Problem]

    @property
    def counts(self) -> dict[str, int]:
        out = {"new": 0, "updated": 0, "unchanged": 0}
        for item in self.items:
            out[item.action] += 1
        out["errors"] = len({(p.sheet, p.row) for p in self.problems})
        return out

    @property
    def new_accounts(self) -> int:
        return sum(1 for i in self.items if i.username)


def _branch_lookup(session: Session) -> dict[str, Branch]:
    """Branches by exact name and by code (codes without regard to case)."""
    every = list(session.scalars(select(Branch)))
    lookup = {branch.code.casefold(): branch for branch in every}
    lookup.update({branch.name: branch for branch in every})  # a name wins over a code that reads the same
    return lookup


def plan_import(session: Session, parsed: ParsedRoster, *, update_existing: bool) -> Plan:
    """Compare the parsed rows with the database: what is new, what changes, what is wrong."""
    problems = list(parsed.problems)
    branches = _branch_lookup(session)
    employee_nos = [r["employee_no"] for r in parsed.rows]
    known: dict[str, Person] = {}
    for chunk in chunks(employee_nos, 500):
        for person in session.scalars(select(Person).where(Person.employee_no.in_(chunk))
                                      .options(selectinload(Person.user))):
            known[person.employee_no] = person
    wanted_usernames: dict[str, int] = {}
    items: list[PlanItem] = []
    pending: list[tuple[PlanItem, dict[str, Any]]] = []

    def problem(record: dict[str, Any], key: str, message: str, **params: Any) -> None:
        problems.append(Problem(message, row=record["row"], column=BY_KEY[key].header,
                                letter=parsed.letters.get(key, ""), sheet=parsed.sheet, params=params))

    for record in parsed.rows:
        ok = True
        branch = branches.get(record["branch"]) or branches.get(record["branch"].casefold())
        if branch is None:
            problem(record, "branch", N_("Unknown branch “%(value)s”: give its name or code as in the list of "
                                         "branches."), value=record["branch"])
            ok = False
        elif not branch.active:
            problem(record, "branch", N_("The branch “%(value)s” is inactive."), value=record["branch"])
            ok = False
        person = known.get(record["employee_no"])
        if person is not None and not update_existing:
            problem(record, "employee_no", N_("A person with employee number %(value)s already exists. Tick "
                                              "“update people already known” to update them."),
                    value=record["employee_no"])
            continue
        values = _merged_values(person, record, parsed.columns)
        values["branch_id"] = branch.id if branch is not None else None
        for name, messages in people.membership_errors(values["status"], *(_as_date(values[k]) for k in DATE_KEYS)).items():
            for message in messages:
                problem(record, name, message)
                ok = False
        username = None
        if person is None or person.user is None:
            username = record.get("username") or accounts.default_username(record["employee_no"])
            if not accounts.USERNAME_PATTERN.match(username):
                problem(record, "username", N_("No username can be made from this employee number. Fill in the "
                                               "column 用户名."))
                ok = False
            elif username in wanted_usernames:
                problem(record, "username", N_("The username %(value)s is wanted twice in the file (first in row "
                                               "%(first)s)."), value=username, first=wanted_usernames[username])
                ok = False
            else:
                wanted_usernames[username] = record["row"]
        if not ok:
            continue
        item = PlanItem(record["row"], "new" if person is None else "unchanged", record["employee_no"],
                        values["name"], branch.name if branch else "", person.id if person else None, username)
        pending.append((item, values))
    taken: set[str] = set()
    for chunk in chunks(list(wanted_usernames), 500):
        taken |= set(session.scalars(select(User.username).where(User.username.in_(chunk))))
    for item, values in pending:
        if item.username in taken:
            problems.append(Problem(N_("The username %(value)s is taken by another account."), row=item.row,
                                    column=BY_KEY["username"].header, letter=parsed.letters.get("username", ""),
                                    sheet=parsed.sheet, params={"value": item.username}))
            continue
        person = known.get(item.employee_no)
        if person is not None:
            item.changes = {k: [_plain(getattr(person, k)), values[k]] for k in PERSON_FIELDS
                            if _plain(getattr(person, k)) != values[k]}
            if item.changes or item.username:
                item.action = "updated"
        item.values = values
        items.append(item)
    problems.sort(key=lambda p: (p.row or 0, p.letter))
    return Plan(items, problems)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _as_date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _merged_values(person: Person | None, record: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """The person's fields after the import: a column the file lacks leaves the field as it was."""
    values: dict[str, Any] = {}
    for key in PERSON_FIELDS:
        if key == "branch_id":
            continue
        if key in columns:
            values[key] = record.get(key)
        elif person is not None:
            values[key] = _plain(getattr(person, key))
        else:
            values[key] = None if key in DATE_KEYS else ""
    return values


# --- Importing ---------------------------------------------------------------------------------------

@dataclass
class ImportResult:
    created: int
    updated: int
    unchanged: int
    created_user_ids: list[int]


def _bulk_insert(session: Session, model: type, rows: list[dict[str, Any]], key: Any) -> dict[Any, int]:
    """INSERT many rows at once (thousands of people in seconds, not minutes); returns key -> new id."""
    ids: dict[Any, int] = {}
    for start in range(0, len(rows), 1000):
        result = session.execute(insert(model).returning(model.id, key), rows[start:start + 1000])
        ids.update({k: i for i, k in result.all()})
    return ids


def apply_import(session: Session, actor: Principal, plan: Plan, *, source: str = "") -> ImportResult:
    """Write a plan without errors: every new person, account and change, or (on error) nothing."""
    require_admin(actor)
    if plan.problems:
        raise ValidationFailed(N_("The roster has errors. Correct them in the workbook and upload it again; "
                                  "nothing was imported."))
    new_items = [i for i in plan.items if i.action == "new"]
    updated = [i for i in plan.items if i.action == "updated"]
    person_ids = _bulk_insert(session, Person, [
        {"employee_no": i.employee_no, **{k: (_as_date(v) if k in DATE_KEYS else v) for k, v in i.values.items()}}
        for i in new_items], Person.employee_no)
    active: dict[int, bool] = {}
    for item in updated:
        person = session.get(Person, item.person_id)
        if person is None:
            raise Conflict(N_("Somebody changed the people meanwhile. Check the preview again."))
        for key, (_old, new) in item.changes.items():
            setattr(person, key, _as_date(new) if key in DATE_KEYS else new)
        person_ids[item.employee_no] = person.id
        active[person.id] = person.active
    session.flush()
    user_ids = _bulk_insert(session, User, [
        {"username": i.username, "password_hash": accounts.UNUSABLE_PASSWORD, "person_id": person_ids[i.employee_no],
         "must_change_password": True, "active": active.get(person_ids[i.employee_no], True)}
        for i in new_items + updated if i.username], User.person_id)
    for item in new_items:
        person_id = person_ids[item.employee_no]
        audit.record(session, "person.imported", actor_user_id=actor.acting_user_id, object_type="person",
                     object_id=person_id, branch_id=item.values["branch_id"],
                     data={"employee_no": item.employee_no, "user_id": user_ids.get(person_id), "source": source})
    for item in updated:
        person_id = person_ids[item.employee_no]
        audit.record(session, "person.updated", actor_user_id=actor.acting_user_id, object_type="person",
                     object_id=person_id, branch_id=item.values["branch_id"],
                     data={**item.changes, "user_id": user_ids.get(person_id), "source": source})
    counts = plan.counts
    audit.record(session, "roster.imported", actor_user_id=actor.acting_user_id, object_type="roster",
                 object_id=source, data={"new": counts["new"], "updated": counts["updated"],
                                         "unchanged": counts["unchanged"], "accounts": len(user_ids)})
    return ImportResult(counts["new"], counts["updated"], counts["unchanged"], sorted(user_ids.values()))


# --- Keeping an upload between preview and confirm ----------------------------------------------------

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")


@dataclass
class Staged:
    token: str
    actor_user_id: int | None  # the uploader's acting user id (None: the system)
    created_at: str
    filename: str
    sha256: str
    size: int
    parsed: ParsedRoster
    imported: dict[str, Any] | None = None


def stage(directory: Path, actor: Principal, *, data: bytes, filename: str, parsed: ParsedRoster) -> str:
    """Keep an upload (the file and its parsed rows) on the server, bound to its uploader; returns the token
    that names it."""
    require_admin(actor)
    directory.mkdir(parents=True, exist_ok=True)
    purge_expired(directory)
    token = secrets.token_urlsafe(24)
    _write(directory / f"{token}.xlsx", data)
    staged = Staged(token, actor.acting_user_id, now().isoformat(), _safe_filename(filename),
                    hashlib.sha256(data).hexdigest(), len(data), parsed)
    _save(directory, staged)
    return token


def load_staged(directory: Path, actor: Principal, token: str) -> Staged:
    """The upload named by `token`, if it is this administrator's and has not expired."""
    require_admin(actor)
    path = directory / f"{token}.json" if _TOKEN.match(token or "") else None
    if path is None or not path.is_file():
        raise NotFound(N_("This upload is no longer available. Please upload the workbook again."))
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        parsed = raw.pop("parsed")
        staged = Staged(**raw, parsed=ParsedRoster(
            parsed["sheet"], parsed["columns"], parsed["rows"],
            [Problem(**p) for p in parsed["problems"]], [Problem(**p) for p in parsed["notes"]],
            parsed["total_rows"], parsed.get("letters", {})))
    except (ValueError, KeyError, TypeError):
        raise NotFound(N_("This upload is no longer available. Please upload the workbook again.")) from None
    if staged.actor_user_id != actor.acting_user_id or _expired(staged.created_at):
        raise NotFound(N_("This upload is no longer available. Please upload the workbook again."))
    return staged


def mark_imported(directory: Path, staged: Staged, result: ImportResult) -> None:
    """Remember that this upload was imported (a second confirm must not import it again)."""
    staged.imported = {"at": now().isoformat(), **asdict(result)}
    _save(directory, staged)


def purge_expired(directory: Path) -> None:
    """Delete the files of uploads older than STAGE_TTL (by the files' age on disk: housekeeping only;
    `load_staged` refuses expired uploads by their recorded time)."""
    limit = time.time() - STAGE_TTL.total_seconds()
    for path in directory.glob("*.*"):
        try:
            if path.suffix in (".json", ".xlsx") and path.stat().st_mtime < limit:
                path.unlink()
        except OSError:
            continue


def _expired(created_at: str) -> bool:
    return datetime.fromisoformat(created_at) < now() - STAGE_TTL


def _safe_filename(name: str) -> str:
    return re.sub(r"[\x00-\x1f/\\]", "_", (name or "").strip())[-120:] or "roster.xlsx"


def _save(directory: Path, staged: Staged) -> None:
    _write(directory / f"{staged.token}.json",
           json.dumps(asdict(staged), ensure_ascii=False, default=str).encode("utf-8"))


def _write(path: Path, data: bytes) -> None:
    """Write atomically, readable by the service account only."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


# --- Workbooks we hand out -------------------------------------------------------------------------

def _new_workbook() -> Any:
    from openpyxl import Workbook

    return Workbook()


def _put(sheet: Any, row: int, values: Iterable[Any]) -> None:
    """Write a row of plain values: text that starts with "=" stays text, never becomes a formula."""
    for col, value in enumerate(values, start=1):
        cell = sheet.cell(row=row, column=col, value=value)
        if isinstance(value, str) and value.startswith("="):
            cell.data_type = "s"


def _header(sheet: Any, titles: list[str], widths: list[int]) -> None:
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    _put(sheet, 1, titles)
    for col, width in enumerate(widths, start=1):
        cell = sheet.cell(row=1, column=col)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="F3D6D6")
        sheet.column_dimensions[get_column_letter(col)].width = width
    sheet.freeze_panes = "A2"


def _to_bytes(workbook: Any) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


TEMPLATE_ROWS = 2000  # rows prepared with drop-down lists and formats


def template_workbook(session: Session) -> bytes:
    """The roster template: the data sheet, instructions, and the list of branches to pick from."""
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = _new_workbook()
    data = workbook.active
    data.title = DATA_SHEET
    _header(data, [c.header for c in COLUMNS], [12, 10, 6, 26, 14, 12, 12, 18, 16, 16, 14])
    last = TEMPLATE_ROWS + 1
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        number_format = "yyyy-mm-dd" if column.key in DATE_KEYS else "@"
        for row in data.iter_rows(min_row=2, max_row=last, min_col=index, max_col=index):
            row[0].number_format = number_format
        if column.key == "status":
            rule = DataValidation(type="list", formula1='"正式党员,预备党员,入党积极分子"', allow_blank=True)
            rule.add(f"{letter}2:{letter}{last}")
            data.add_data_validation(rule)
        elif column.key == "gender":
            rule = DataValidation(type="list", formula1='"男,女"', allow_blank=True)
            rule.add(f"{letter}2:{letter}{last}")
            data.add_data_validation(rule)
    branches_sheet = workbook.create_sheet("党支部")
    _header(branches_sheet, ["党支部", "代码", "所属单位"], [32, 10, 28])
    active = [b for b in units.branches(session) if b.active]
    for row, branch in enumerate(active, start=2):
        _put(branches_sheet, row, [branch.name, branch.code, branch.unit.name])
    if active:
        letter = get_column_letter(next(i for i, c in enumerate(COLUMNS, start=1) if c.key == "branch"))
        rule = DataValidation(type="list", formula1=f"'党支部'!$A$2:$A${len(active) + 1}", allow_blank=True)
        rule.add(f"{letter}2:{letter}{last}")
        data.add_data_validation(rule)
    notes = workbook.create_sheet("说明")
    _header(notes, ["列", "必填", "说明"], [18, 8, 90])
    explanations = {
        "employee_no": "每人唯一；已存在的工号按“更新已有人员”选项处理。",
        "name": "",
        "gender": "男 或 女。",
        "branch": "党支部名称或代码，见“党支部”工作表。",
        "status": "正式党员、预备党员 或 入党积极分子。",
        "joined_party_on": "正式党员、预备党员必填；日期写作 2021-07-01。",
        "full_member_on": "正式党员选填；预备党员、入党积极分子不填。",
        "activist_since": "入党积极分子必填。",
        "position": "",
        "phone": "",
        "username": "登录用户名；不填时为工号的小写形式。导入的账号没有密码，由管理员发放初始密码。",
    }
    for row, column in enumerate(COLUMNS, start=2):
        _put(notes, row, [column.header, "是" if column.required else "", explanations[column.key]])
    end = len(COLUMNS) + 3
    for offset, line in enumerate([
        f"列的顺序不限，按第一行的列标题识别；其他列会被忽略。每个文件最多 {MAX_ROWS:,} 行。",
        "单元格中不能有公式：请复制后“选择性粘贴 → 数值”。",
    ]):
        _put(notes, end + offset, ["", "", line])
    return _to_bytes(workbook)


def passwords_workbook(issued: list[tuple[User, str]]) -> bytes:
    """The initial passwords, for handing over once (they are stored nowhere else)."""
    workbook = _new_workbook()
    sheet = workbook.active
    sheet.title = "初始密码"
    _header(sheet, ["工号", "姓名", "所在党支部", "用户名", "初始密码"], [12, 10, 28, 16, 16])
    for row, (user, password) in enumerate(issued, start=2):
        person = user.person
        _put(sheet, row, [person.employee_no if person else "", user.name,
                          person.branch.name if person and person.branch else "", user.username, password])
    return _to_bytes(workbook)


def problems_workbook(problems: list[Problem], translate: Callable[..., str]) -> bytes:
    """Every error of an upload, to work through in Excel beside the roster; `translate(message, **params)`."""
    workbook = _new_workbook()
    sheet = workbook.active
    sheet.title = "错误"
    _header(sheet, ["工作表", "行", "列", "说明"], [14, 8, 22, 90])
    for row, p in enumerate(problems, start=2):
        column = f"{p.letter} {p.column}".strip()
        _put(sheet, row, [p.sheet, p.row, column, translate(p.message, **p.params)])
    return _to_bytes(workbook)
