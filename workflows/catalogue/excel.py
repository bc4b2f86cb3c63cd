"""The catalogue as an Excel workbook, in the layout a party office keeps its 考评表 in.

Sheet 考评表: the version's name (row 1), its year and lines (row 2) and description (row 3), then
a header row and one row per scoring standard with its dimension, item and content columns. A
row with the standard columns empty stands for a draft's item or content that has none yet.
Blank dimension/item/content cells repeat the row above (merged cells, as offices draw them).
Sheet 指标依据: code, title and kind of every basis (items cite a basis by its title).

Import validates everything and reports each problem by sheet, row and column; it creates a new
draft or nothing at all. Hostile workbooks are defused: size and unpacked-size limits, a row
limit, formulas refused, XML parsed without entity expansion (openpyxl + defusedxml).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import audit
from models.catalogue import (
    HONOUR_LEVELS,
    BasisKind,
    BasisSpec,
    CatalogueSpec,
    CatalogueVersion,
    ContentSpec,
    DimensionSpec,
    ItemKind,
    ItemSpec,
    Problem,
    StandardKind,
    StandardSpec,
    check_version_fields,
    validate_spec,
)
from models.org import UnitKind
from models.permissions import Principal
from workflows.catalogue import versions as catalogue
from workflows.errors import ValidationFailed
from workflows.i18n import N_

MAIN_SHEET = "考评表"
BASES_SHEET = "指标依据"
MAX_BYTES = 5 * 1024 * 1024
MAX_UNPACKED = 50 * 1024 * 1024
MAX_RATIO = 200  # a member unpacking to more than 200× its size is a zip bomb
MAX_MEMBERS = 200
MAX_ROWS = 2000
MAX_COLUMNS = 40
HEADER_SEARCH_ROWS = 10
COMMON_SCOPE = "共性指标"

# Columns of the main sheet: key → header label. The order is the export's.
COLUMNS: dict[str, str] = {
    "dimension_code": "维度编号",
    "dimension_name": "考评维度",
    "scope": "适用范围",
    "item_code": "项目编号",
    "item_name": "积分项目",
    "item_kind": "项目类别",
    "baseline": "基础分",
    "basis": "指标依据",
    "content_code": "内容编号",
    "content_text": "积分内容",
    "standard_code": "标准编号",
    "standard_text": "评分标准",
    "standard_kind": "加扣分",
    "points": "分值",
    "max_occurrences": "次数上限",
    "honour_category": "荣誉类别",
    "honour_level": "荣誉级别",
    "evidence_required": "需佐证材料",
}
LEVELS: dict[str, tuple[str, ...]] = {
    "dimension": ("dimension_code", "dimension_name"),
    "item": ("item_code", "scope", "item_name", "item_kind", "baseline", "basis"),
    "content": ("content_code", "content_text"),
    "standard": ("standard_code", "standard_text", "standard_kind", "points", "max_occurrences",
                 "honour_category", "honour_level", "evidence_required"),
}
META = {"year": "年度", "pass_line": "合格标准", "excellent_line": "优秀标准", "description": "说明"}
BASIS_COLUMNS = {"code": "编号", "title": "名称", "kind": "类别"}
ITEM_KINDS = {"扣分项": ItemKind.DEDUCTION, "加分项": ItemKind.BONUS}
STANDARD_KINDS = {"扣分": StandardKind.DEDUCTION, "加分": StandardKind.BONUS}
BASIS_KINDS = {"党章": BasisKind.CONSTITUTION, "党内法规": BasisKind.REGULATION, "内部规定": BasisKind.INTERNAL}
YES, NO = "是", "否"
# Where a problem found by catalogue validation shows: node field → column key.
FIELD_COLUMNS = {
    ("dimension", "code"): "dimension_code", ("dimension", "name"): "dimension_name",
    ("item", "code"): "item_code", ("item", "name"): "item_name", ("item", "kind"): "item_kind",
    ("item", "baseline"): "baseline", ("item", "unit_kind"): "scope", ("item", "basis"): "basis",
    ("content", "code"): "content_code", ("content", "text"): "content_text",
    ("standard", "code"): "standard_code", ("standard", "text"): "standard_text", ("standard", "kind"): "standard_kind",
    ("standard", "points"): "points", ("standard", "max_occurrences"): "max_occurrences",
    ("standard", "honour_category"): "honour_category", ("standard", "honour_level"): "honour_level",
}


@dataclass(frozen=True)
class SheetProblem:
    """A problem of an imported workbook: where (sheet, row, column letter and label) and what."""

    sheet: str
    row: int | None
    column: str | None
    label: str | None
    message: str
    params: dict[str, Any] = field(default_factory=dict)


class WorkbookInvalid(ValidationFailed):
    """The workbook has errors; nothing was imported."""

    def __init__(self, problems: list[SheetProblem]) -> None:
        super().__init__(N_("The workbook has errors; nothing was imported."), sheet_problems=problems)
        self.problems = problems


# --- export -----------------------------------------------------------------------------------


def _kind_label(mapping: dict[str, str], value: str) -> str:
    return next((label for label, v in mapping.items() if v == value), value)


def _put(ws: Any, row: int, column: int, value: Any) -> Any:
    cell = ws.cell(row=row, column=column, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # never a formula, whatever the text starts with
    return cell


def _number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def export_spec(spec: CatalogueSpec, unit_kind_names: dict[str, str]) -> bytes:
    """The workbook of a catalogue (`unit_kind_names`: unit kind code → name)."""
    wb = Workbook()
    ws = wb.active
    ws.title = MAIN_SHEET
    width = len(COLUMNS)
    _put(ws, 1, 1, spec.name).font = Font(bold=True, size=14)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    for n, (key, value) in enumerate((("year", spec.year), ("pass_line", _number(spec.pass_line)),
                                      ("excellent_line", _number(spec.excellent_line)))):
        _put(ws, 2, 2 * n + 1, META[key]).font = Font(bold=True)
        _put(ws, 2, 2 * n + 2, value)
    _put(ws, 3, 1, META["description"]).font = Font(bold=True)
    _put(ws, 3, 2, spec.description or None)
    ws.merge_cells(start_row=3, start_column=2, end_row=3, end_column=width)
    header = 4
    fill = PatternFill("solid", fgColor="F0F2F5")
    for col, label in enumerate(COLUMNS.values(), start=1):
        cell = _put(ws, header, col, label)
        cell.font, cell.fill = Font(bold=True), fill
    titles = {b.code: b.title for b in spec.bases}
    row = header
    for d in spec.dimensions:
        for i in d.items or (None,):
            for c in (i.contents if i else ()) or (None,):
                for s in (c.standards if c else ()) or (None,):
                    row += 1
                    values: dict[str, Any] = {"dimension_code": d.code, "dimension_name": d.name}
                    if i is not None:
                        values |= {
                            "scope": unit_kind_names.get(i.unit_kind, i.unit_kind) if i.unit_kind else COMMON_SCOPE,
                            "item_code": i.code, "item_name": i.name, "item_kind": _kind_label(ITEM_KINDS, i.kind),
                            "baseline": _number(i.baseline), "basis": titles.get(i.basis) if i.basis else None,
                        }
                    if c is not None:
                        values |= {"content_code": c.code, "content_text": c.text}
                    if s is not None:
                        values |= {
                            "standard_code": s.code, "standard_text": s.text,
                            "standard_kind": _kind_label(STANDARD_KINDS, s.kind), "points": _number(s.points),
                            "max_occurrences": s.max_occurrences, "honour_category": s.honour_category,
                            "honour_level": HONOUR_LEVELS.get(s.honour_level) if s.honour_level else None,
                            "evidence_required": YES if s.evidence_required else NO,
                        }
                    for col, key in enumerate(COLUMNS, start=1):
                        _put(ws, row, col, values.get(key))
    widths = {"dimension_name": 16, "item_name": 18, "basis": 28, "content_text": 30, "standard_text": 50,
              "honour_category": 14, "scope": 12}
    for col, key in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(col)].width = widths.get(key, 10)
    wrap = Alignment(wrap_text=True, vertical="top")
    for cells in ws.iter_rows(min_row=header + 1, max_row=row):
        for cell in cells:
            cell.alignment = wrap
    ws.freeze_panes = ws.cell(row=header + 1, column=1)

    bases = wb.create_sheet(BASES_SHEET)
    for col, label in enumerate(BASIS_COLUMNS.values(), start=1):
        _put(bases, 1, col, label).font = Font(bold=True)
    for r, b in enumerate(spec.bases, start=2):
        for col, value in enumerate((b.code, b.title, _kind_label(BASIS_KINDS, b.kind)), start=1):
            _put(bases, r, col, value)
    bases.column_dimensions["B"].width = 40
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def unit_kind_names(session: Session) -> dict[str, str]:
    """Unit kind code → name, as the workbook writes them."""
    return dict(session.execute(select(UnitKind.code, UnitKind.name).order_by(UnitKind.sort, UnitKind.id)).all())


def export_version(session: Session, version_id: int) -> tuple[str, bytes]:
    """(file name, workbook bytes) of a stored version."""
    version = catalogue.get_version(session, version_id)
    data = export_spec(catalogue.spec_for(session, version_id), unit_kind_names(session))
    return f"catalogue-{version.year}-v{version.id}.xlsx", data


# --- import -----------------------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.items: list[SheetProblem] = []

    def add(self, sheet: str, at: int | None, col: int | None, label: str | None, message: str,
            params: dict[str, Any] | None = None) -> None:
        letter = get_column_letter(col) if col else None
        self.items.append(SheetProblem(sheet, at, letter, label, message, params or {}))

    def fail_if_any(self) -> None:
        if self.items:
            raise WorkbookInvalid(sorted(self.items, key=lambda p: (p.sheet == BASES_SHEET, p.row or 0,
                                                                    len(p.column or ""), p.column or "")))


def _check_container(data: bytes, problems: _Problems) -> None:
    """Refuse what is not a reasonable .xlsx before any XML is parsed."""
    if len(data) > MAX_BYTES:
        problems.add(MAIN_SHEET, None, None, None, N_("The file is larger than %(max)s MB."),
                     {"max": MAX_BYTES // 2**20})
        problems.fail_if_any()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = zf.infolist()
            total = sum(m.file_size for m in members)
            bomb = len(members) > MAX_MEMBERS or total > MAX_UNPACKED or any(
                m.file_size > MAX_RATIO * max(m.compress_size, 1) and m.file_size > 1_000_000 for m in members)
            if "[Content_Types].xml" not in zf.namelist():
                raise zipfile.BadZipFile
    except (zipfile.BadZipFile, OSError, ValueError):
        problems.add(MAIN_SHEET, None, None, None, N_("This is not an Excel workbook (.xlsx)."))
        problems.fail_if_any()
        return
    if bomb:
        problems.add(MAIN_SHEET, None, None, None, N_("The workbook is too large when unpacked."))
        problems.fail_if_any()


@dataclass
class _Cell:
    value: Any
    formula: bool


def _rows(ws: Any, limit: int) -> list[tuple[int, list[_Cell]]]:
    """The sheet's non-empty rows as (row number, cells): at most `limit` + 1, so that the caller
    can tell there were too many without reading them all."""
    out = []
    for number, cells in enumerate(ws.iter_rows(max_col=MAX_COLUMNS), start=1):
        row = [_Cell(c.value, getattr(c, "data_type", None) == "f") for c in cells]
        if all(c.value is None or (isinstance(c.value, str) and not c.value.strip()) for c in row):
            continue
        out.append((number, row))
        if len(out) > limit:
            break
    return out


def _too_many(rows: list[tuple[int, list[_Cell]]], limit: int, sheet: str, problems: _Problems) -> bool:
    if len(rows) <= limit:
        return False
    problems.add(sheet, rows[limit][0], None, None, N_("More than %(max)s rows: nothing beyond them is read."),
                 {"max": limit})
    return True


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = (format(value, "f") if isinstance(value, Decimal) else
            str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)).strip()
    return text or None


class _Reader:
    """Converts the cells of one sheet, recording a problem for each bad one."""

    def __init__(self, sheet: str, problems: _Problems, columns: dict[str, int], labels: dict[str, str]) -> None:
        self.sheet, self.problems, self.columns, self.labels = sheet, problems, columns, labels
        self.row = 0
        self.cells: list[_Cell] = []

    def at(self, row: int, cells: list[_Cell]) -> _Reader:
        self.row, self.cells = row, cells
        return self

    def bad(self, key: str, message: str, **params: Any) -> None:
        col = self.columns.get(key)
        self.problems.add(self.sheet, self.row, col + 1 if col is not None else None, self.labels.get(key),
                          message, params)

    def raw(self, key: str) -> Any:
        col = self.columns.get(key)
        if col is None or col >= len(self.cells):
            return None
        cell = self.cells[col]
        if cell.formula:
            self.bad(key, N_("Formulas are not accepted: enter the value itself."))
            return None
        return cell.value

    def blank(self, key: str) -> bool:
        col = self.columns.get(key)
        return col is None or col >= len(self.cells) or _text(self.cells[col].value) is None

    def text(self, key: str) -> str | None:
        return _text(self.raw(key))

    def decimal(self, key: str) -> Decimal | None:
        value = self.raw(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, bool):
            self.bad(key, N_("Enter a number."))
            return None
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            self.bad(key, N_("Enter a number."))
            return None
        if not number.is_finite():
            self.bad(key, N_("Enter a number."))
            return None
        return number

    def integer(self, key: str) -> int | None:
        number = self.decimal(key)
        if number is None:
            return None
        if number != number.to_integral_value() or abs(number) > 10**6:
            self.bad(key, N_("Enter a whole number."))
            return None
        return int(number)

    def choice(self, key: str, mapping: dict[str, str], message: str) -> str | None:
        value = self.text(key)
        if value is None:
            return None
        if value in mapping:
            return mapping[value]
        if value in mapping.values():
            return value
        self.bad(key, message, value=value)
        return None


def _find_header(rows: list[tuple[int, list[_Cell]]], wanted: dict[str, str]) -> tuple[int, dict[str, int]] | None:
    """The first row (within the first few) that carries every wanted label; label → column index."""
    for position, (_, cells) in enumerate(rows[:HEADER_SEARCH_ROWS]):
        labels = {_text(c.value): n for n, c in enumerate(cells) if _text(c.value)}
        found = {key: labels[label] for key, label in wanted.items() if label in labels}
        if len(found) == len(wanted):
            return position, found
        if len(found) >= len(wanted) // 2 + 1:
            return position, found  # a header with columns missing: reported by the caller
    return None


def _read_bases(wb: Any, problems: _Problems) -> tuple[list[BasisSpec], dict[str, str]]:
    """The bases sheet; returns the bases and a title → code map."""
    if BASES_SHEET not in wb.sheetnames:
        return [], {}
    rows = _rows(wb[BASES_SHEET], MAX_ROWS)
    header = _find_header(rows, BASIS_COLUMNS)
    if _too_many(rows, MAX_ROWS, BASES_SHEET, problems):
        return [], {}
    if header is None:
        problems.add(BASES_SHEET, None, None, None, N_("The header row was not found: the sheet needs the columns %(columns)s."),
                     {"columns": "、".join(BASIS_COLUMNS.values())})
        return [], {}
    position, columns = header
    reader = _Reader(BASES_SHEET, problems, columns, BASIS_COLUMNS)
    bases: list[BasisSpec] = []
    by_title: dict[str, str] = {}
    for number, cells in rows[position + 1:]:
        r = reader.at(number, cells)
        code, title = r.text("code"), r.text("title")
        kind = r.choice("kind", BASIS_KINDS, N_("Unknown kind of basis %(value)s.")) or BasisKind.REGULATION
        if code is None or title is None:
            r.bad("code" if code is None else "title", N_("This field is required."))
            continue
        if title in by_title:
            r.bad("title", N_("Two bases have the title %(value)s."), value=title)
            continue
        by_title[title] = code
        bases.append(BasisSpec(code, title, kind))
    return bases, by_title


@dataclass
class _Tree:
    """What the rows describe, in order of first appearance, and where each node was first seen."""

    dimensions: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    contents: dict[str, dict[str, Any]] = field(default_factory=dict)
    standards: dict[str, tuple[str, StandardSpec]] = field(default_factory=dict)
    where: dict[tuple[str, str], int] = field(default_factory=dict)


def _level_values(r: _Reader, level: str, kinds: dict[str, str], basis_titles: dict[str, str]) -> dict[str, Any]:
    if level == "dimension":
        return {"code": r.text("dimension_code"), "name": r.text("dimension_name")}
    if level == "item":
        scope = r.text("scope")
        unit_kind = None
        if scope is not None and scope != COMMON_SCOPE:
            unit_kind = kinds.get(scope) or (scope if scope in kinds.values() else None)
            if unit_kind is None:
                r.bad("scope", N_("Unknown unit kind %(value)s: use %(common)s or the name of a unit kind."),
                      value=scope, common=COMMON_SCOPE)
        basis = r.text("basis")
        basis_code = None
        if basis is not None:
            basis_code = basis_titles.get(basis) or (basis if basis in basis_titles.values() else None)
            if basis_code is None:
                r.bad("basis", N_("The basis %(value)s is not in the sheet 指标依据."), value=basis)
        kind = r.choice("item_kind", ITEM_KINDS, N_("Enter 扣分项 (deduction item) or 加分项 (bonus item)."))
        baseline = r.decimal("baseline")
        return {"code": r.text("item_code"), "name": r.text("item_name"), "kind": kind,
                "baseline": baseline if baseline is not None else Decimal("0"), "unit_kind": unit_kind,
                "basis": basis_code}
    return {"code": r.text("content_code"), "text": r.text("content_text")}


def _standard(r: _Reader) -> StandardSpec | None:
    code = r.text("standard_code")
    kind = r.choice("standard_kind", STANDARD_KINDS, N_("Enter 扣分 (deduction) or 加分 (bonus)."))
    points = r.decimal("points")
    most = r.integer("max_occurrences")
    level_text = r.text("honour_level")
    level = None
    if level_text is not None:
        names = {name: number for number, name in HONOUR_LEVELS.items()}
        level = names.get(level_text) or (int(level_text) if level_text.isdigit() and int(level_text) in HONOUR_LEVELS
                                          else None)
        if level is None:
            r.bad("honour_level", N_("Unknown honour level %(value)s: use %(levels)s."), value=level_text,
                  levels="、".join(HONOUR_LEVELS.values()))
    evidence = r.text("evidence_required")
    if evidence not in (None, YES, NO):
        r.bad("evidence_required", N_("Enter 是 (yes) or 否 (no)."))
    for key, value in (("standard_kind", kind), ("points", points)):
        if value is None and r.blank(key):
            r.bad(key, N_("This field is required."))
    if kind is None or points is None:
        return None
    return StandardSpec(code or "", r.text("standard_text") or "", kind, points, most, r.text("honour_category"), level,
                        evidence == YES)


def _collect(rows: list[tuple[int, list[_Cell]]], reader: _Reader, kinds: dict[str, str],
             basis_titles: dict[str, str]) -> _Tree:
    tree = _Tree()
    above: dict[str, dict[str, Any]] = {}
    parents = {"item": "dimension", "content": "item"}
    stores = {"dimension": tree.dimensions, "item": tree.items, "content": tree.contents}
    for number, cells in rows:
        r = reader.at(number, cells)
        present = {level: not all(r.blank(k) for k in keys) for level, keys in LEVELS.items()}
        deepest = max((n for n, level in enumerate(LEVELS) if present[level]), default=-1)
        current: dict[str, dict[str, Any]] = {}
        for n, level in enumerate(("dimension", "item", "content")):
            if n > deepest:
                break
            if not present[level] and level in above:
                current[level] = above[level]  # blank (merged) cells: the row above's
                continue
            values = _level_values(r, level, kinds, basis_titles)
            code = values["code"]
            if code is None:
                r.bad(LEVELS[level][0], N_("This field is required."))
                break
            parent = parents.get(level)
            values["parent"] = current[parent]["code"] if parent in current else None
            known = stores[level].get(code)
            if known is None:
                stores[level][code] = values
                tree.where[(level, code)] = number
            elif {k: v for k, v in known.items()} != values:
                key = next(k for k in values if known.get(k) != values[k])
                column = {"parent": LEVELS[parent][0] if parent else None}.get(key) or _column_of(level, key)
                r.bad(column, N_("%(code)s is described differently in row %(row)s."), code=code,
                      row=tree.where[(level, code)])
            current[level] = values
        else:
            if present["standard"]:
                standard = _standard(r)
                if standard is not None and "content" in current:
                    if standard.code in tree.standards:
                        r.bad("standard_code", N_("The code %(code)s is used twice."), code=standard.code)
                    else:
                        tree.standards[standard.code] = (current["content"]["code"], standard)
                        tree.where[("standard", standard.code)] = number
        above = current
    return tree


def _column_of(level: str, key: str) -> str:
    return {("dimension", "name"): "dimension_name", ("item", "name"): "item_name", ("item", "kind"): "item_kind",
            ("item", "baseline"): "baseline", ("item", "unit_kind"): "scope", ("item", "basis"): "basis",
            ("content", "text"): "content_text"}.get((level, key), LEVELS[level][0])


def _build(tree: _Tree, meta: dict[str, Any], name: str, bases: list[BasisSpec]) -> CatalogueSpec:
    contents: dict[str, list[StandardSpec]] = {code: [] for code in tree.contents}
    for content_code, standard in tree.standards.values():
        contents[content_code].append(standard)
    items: dict[str, list[ContentSpec]] = {code: [] for code in tree.items}
    for code, c in tree.contents.items():
        items[c["parent"]].append(ContentSpec(code, c["text"] or "", tuple(contents[code])))
    dims: dict[str, list[ItemSpec]] = {code: [] for code in tree.dimensions}
    for code, i in tree.items.items():
        dims[i["parent"]].append(ItemSpec(code, i["name"] or "", i["kind"] or "", i["baseline"], i["unit_kind"],
                                          i["basis"], tuple(items[code])))
    return CatalogueSpec(
        year=meta.get("year") or 0, name=name, pass_line=meta.get("pass_line"),  # type: ignore[arg-type]
        excellent_line=meta.get("excellent_line"), description=meta.get("description") or "",  # type: ignore[arg-type]
        bases=tuple(bases),
        dimensions=tuple(DimensionSpec(code, d["name"] or "", tuple(dims[code])) for code, d in tree.dimensions.items()),
    )


def parse_workbook(data: bytes, unit_kinds: dict[str, str], *, max_rows: int = MAX_ROWS,
                   year: int | None = None) -> CatalogueSpec:
    """The catalogue a workbook holds, fully validated (`unit_kinds`: code → name).

    Raises WorkbookInvalid with every problem found, each at its sheet, row and column.
    """
    problems = _Problems()
    _check_container(data, problems)
    wb = None
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=False, keep_links=False)
        names = [n for n in wb.sheetnames if n != BASES_SHEET]
        if not names:
            problems.add(MAIN_SHEET, None, None, None, N_("The sheet %(sheet)s is missing."), {"sheet": MAIN_SHEET})
            problems.fail_if_any()
        sheet = MAIN_SHEET if MAIN_SHEET in names else names[0]
        bases, basis_titles = _read_bases(wb, problems)
        rows = _rows(wb[sheet], max_rows + HEADER_SEARCH_ROWS)
    except WorkbookInvalid:
        raise
    except Exception:  # noqa: BLE001 - whatever breaks while reading (bad zip, XML, entities): one answer
        raise WorkbookInvalid([SheetProblem(MAIN_SHEET, None, None, None,
                                            N_("This is not an Excel workbook (.xlsx)."))]) from None
    finally:
        if wb is not None:
            wb.close()
    header = _find_header(rows, COLUMNS)
    if header is None:
        problems.add(sheet, None, None, None, N_("The header row was not found: the sheet needs the columns %(columns)s."),
                     {"columns": "、".join(COLUMNS.values())})
        problems.fail_if_any()
        raise AssertionError("unreachable")
    position, columns = header
    header_row = rows[position][0]
    for key, label in COLUMNS.items():
        if key not in columns:
            problems.add(sheet, header_row, None, label, N_("The column %(column)s is missing."), {"column": label})
    problems.fail_if_any()
    meta, name, meta_cells = _read_meta(rows[:position], sheet, problems)
    if year is not None:
        meta["year"] = year
    data_rows = rows[position + 1:]
    if _too_many(data_rows, max_rows, sheet, problems):
        problems.fail_if_any()
    if not data_rows:
        problems.add(sheet, header_row + 1, None, None, N_("The sheet has no scoring standards."))
        problems.fail_if_any()
    reader = _Reader(sheet, problems, columns, COLUMNS)
    tree = _collect(data_rows, reader, {name: code for code, name in unit_kinds.items()}, basis_titles)
    spec = _build(tree, meta, name or "", bases)
    # With bad rows the tree is partial: check the version's own fields, the rest once rows are clean.
    found = (check_version_fields(spec) if problems.items else
             validate_spec(spec, unit_kinds.keys(), complete=False, views=True))
    for p in found:
        _place(p, tree, meta_cells, sheet, columns, problems)
    problems.fail_if_any()
    return spec


def _read_meta(rows: Iterable[tuple[int, list[_Cell]]], sheet: str,
               problems: _Problems) -> tuple[dict[str, Any], str | None, dict[str, tuple[int, int]]]:
    """The name (a row holding one text alone), the year, the lines and the description above the
    header; and where each was (field → (row, column number))."""
    meta: dict[str, Any] = {}
    name = None
    labels = {label: key for key, label in META.items()}
    found: dict[str, tuple[int, int]] = {}
    for number, cells in rows:
        texts = [(n, _text(c.value)) for n, c in enumerate(cells) if _text(c.value)]
        if len(texts) == 1 and texts[0][1] not in labels and name is None:
            name = texts[0][1]
            found["name"] = (number, texts[0][0] + 1)
            continue
        for n, cell in enumerate(cells):
            key = labels.get(_text(cell.value) or "")
            if key is None:
                continue
            found[key] = (number, n + 2)  # the value sits right of its label
            reader = _Reader(sheet, problems, {key: n + 1}, {key: META[key]}).at(number, cells)
            if reader.blank(key):
                continue
            if key == "year":
                meta[key] = reader.integer(key)
            elif key == "description":
                meta[key] = reader.text(key)
            else:
                meta[key] = reader.decimal(key)
    return meta, name, found


def _place(p: Problem, tree: _Tree, meta_cells: dict[str, tuple[int, int]], sheet: str,
           columns: dict[str, int], problems: _Problems) -> None:
    """Put a validation problem on the row and column it comes from."""
    if p.node == "version":
        row, col = meta_cells.get(p.field, (1 if p.field == "name" else 2, None))  # type: ignore[arg-type]
        problems.add(sheet, row, col, META.get(p.field, "名称" if p.field == "name" else p.field), p.message,
                     p.params)
        return
    if p.node == "basis":
        problems.add(BASES_SHEET, None, None, BASIS_COLUMNS.get(p.field), p.message, p.params)
        return
    row = tree.where.get((p.node, p.code or ""))
    key = FIELD_COLUMNS.get((p.node, p.field))
    col = columns.get(key) if key else None
    problems.add(sheet, row, col + 1 if col is not None else None, COLUMNS.get(key or ""), p.message, p.params)


def import_workbook(session: Session, actor: Principal, data: bytes, *, year: int | None = None) -> CatalogueVersion:
    """A new draft from a workbook, or WorkbookInvalid and nothing saved."""
    catalogue.require_editor(actor)
    kinds = unit_kind_names(session)
    spec = parse_workbook(data, kinds, year=year)
    with session.begin_nested():
        version = catalogue.build_version(session, actor, spec)
    audit.record(session, "catalogue.import", actor_user_id=actor.acting_user_id, object_type="catalogue_version",
                 object_id=version.id, data={"year": version.year, "name": version.name, "bytes": len(data)})
    return version
