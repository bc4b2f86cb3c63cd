"""Excel import and export of a whole catalogue: lossless round trip, the party office's own layout,
and broken or hostile workbooks reported by sheet, row and column with nothing half-imported."""

from __future__ import annotations

import io
import re
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from demo import catalogue as demo_catalogue
from models.catalogue import CatalogueVersion
from models.permissions import Principal
from workflows.catalogue import excel as catalogue_excel
from workflows.catalogue import versions as catalogue
from workflows.catalogue.excel import WorkbookInvalid, export_spec, parse_workbook
from workflows.org.principals import principal_for

DATA = Path(__file__).resolve().parent / "data" / "catalogue"
KINDS = {"department": "机关部门", "maritime_office": "下属海事处"}
SYSTEM = Principal.system()


def problems_of(data: bytes, **kw) -> list[tuple[int | None, str | None, str]]:
    with pytest.raises(WorkbookInvalid) as e:
        parse_workbook(data, KINDS, **kw)
    return [(p.row, p.column, p.message) for p in e.value.problems]


def edited(data: bytes, edit) -> bytes:
    wb = load_workbook(io.BytesIO(data))
    edit(wb)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


DEMO_XLSX = export_spec(demo_catalogue.spec(), KINDS)


def test_round_trip_is_lossless():
    spec = demo_catalogue.spec()
    back = parse_workbook(DEMO_XLSX, KINDS)
    assert back == spec and back.as_json() == spec.as_json()
    again = export_spec(back, KINDS)
    cells = [[c.value for c in row] for row in load_workbook(io.BytesIO(DEMO_XLSX)).active.iter_rows()]
    assert cells == [[c.value for c in row] for row in load_workbook(io.BytesIO(again)).active.iter_rows()]


def test_the_committed_demo_workbook_still_imports_as_the_demo_catalogue():
    assert parse_workbook((DATA / "demo-2026.xlsx").read_bytes(), KINDS) == demo_catalogue.spec()


def test_the_export_is_the_offices_table_one_row_per_standard():
    ws = load_workbook(io.BytesIO(DEMO_XLSX))["考评表"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == "东湾海事局2026年度党员积分量化管理考评表"
    assert rows[1][:6] == ("年度", 2026, "合格标准", 90, "优秀标准", 105)
    assert rows[3][:5] == ("维度编号", "考评维度", "适用范围", "项目编号", "积分项目")
    assert len(rows) - 4 == len({s.code for _, _, s in demo_catalogue.spec().standards()}) == 238
    first = dict(zip(rows[3], rows[4], strict=True))
    assert first["考评维度"] == "履行党员义务" and first["适用范围"] == "共性指标" and first["项目类别"] == "扣分项"
    assert first["指标依据"] == "中国共产党章程" and first["加扣分"] == "扣分" and first["需佐证材料"] == "否"


def test_texts_that_look_like_formulas_stay_text():
    spec = demo_catalogue.spec()
    d = spec.dimensions[0]
    renamed = type(spec)(**{**spec.__dict__, "dimensions": (type(d)(d.code, "=HYPERLINK(\"x\")", d.items),)
                            + spec.dimensions[1:]})
    data = export_spec(renamed, KINDS)
    ws = load_workbook(io.BytesIO(data))["考评表"]
    assert ws["B5"].data_type == "s"
    assert parse_workbook(data, KINDS).dimensions[0].name == "=HYPERLINK(\"x\")"


def test_the_offices_own_layout_imports_merged_cells_extra_columns_and_all():
    spec = parse_workbook((DATA / "office-layout.xlsx").read_bytes(), KINDS)
    assert (spec.name, spec.year, spec.pass_line, spec.excellent_line) == (
        "测试海事局2027年度党员积分量化管理考评表", 2027, Decimal("12"), Decimal("30"))
    assert [d.code for d in spec.dimensions] == ["D1", "D2", "D4"]
    items = {i.code: i for _, i in spec.items()}
    assert items["1-1"].basis == "B1" and [len(c.standards) for c in items["1-1"].contents] == [2, 1]
    assert items["2-1"].unit_kind == "maritime_office" and items["2-2"].unit_kind == "department"
    honours = [s for c in items["4-1"].contents for s in c.standards if s.honour_category]
    assert [(s.honour_level, s.points) for s in honours] == [(5, Decimal("20")), (3, Decimal("10"))]
    volunteer = items["4-1"].contents[1].standards[0]
    assert volunteer.points == Decimal("0.5") and volunteer.max_occurrences == 4


def test_the_broken_workbook_reports_every_mistake_where_it_is():
    assert problems_of((DATA / "broken.xlsx").read_bytes()) == [
        (2, "F", "The excellent line must be above the pass line."),
        (4, "O", "Enter a number."),
        (5, "O", "Formulas are not accepted: enter the value itself."),
        (7, "P", "Enter a whole number."),
        (8, "F", "Unknown unit kind %(value)s: use %(common)s or the name of a unit kind."),
        (9, "R", "Unknown honour level %(value)s: use %(levels)s."),
        (10, "L", "The code %(code)s is used twice."),
        (11, "S", "Enter 是 (yes) or 否 (no)."),
    ]


def _cell(ref: str, value):
    def edit(wb):
        wb["考评表"][ref] = value
    return edit


@pytest.mark.parametrize("edit, expected", [
    (_cell("B2", None), (2, "B", "Enter a year between 2000 and 2100.")),
    (_cell("D2", 101), (2, "D", "The pass line %(line)s is above the full baseline %(total)s of %(view)s: nobody could pass.")),
    (_cell("A1", None), (1, None, "This field is required.")),
    (_cell("F5", "其他"), (5, "F", "Enter 扣分项 (deduction item) or 加分项 (bonus item).")),
    (_cell("E6", "另一个名字"), (6, "E", "%(code)s is described differently in row %(row)s.")),
    (_cell("H5", "不存在的依据"), (5, "H", "The basis %(value)s is not in the sheet 指标依据.")),
    (_cell("N5", "-1"), (5, "N", "Must be greater than zero.")),
    (_cell("N5", "1.234"), (5, "N", "Use a number with at most two decimals.")),
    (_cell("K5", "有 空格"), (5, "K", "A code is 1 to 40 letters, digits, dots, hyphens or underscores, starting with a letter or digit.")),
    (_cell("L5", "x" * 2001), (5, "L", "At most %(max)s characters.")),
    (_cell("M5", "加分"), (5, "M", "A deduction item holds deduction standards and a bonus item bonus standards.")),
])
def test_bad_cells_are_reported_by_row_and_column(edit, expected):
    assert expected in problems_of(edited(DEMO_XLSX, edit))


def test_an_honour_level_worth_less_than_the_level_below_is_refused():
    spec = demo_catalogue.spec()
    row = 5 + next(n for n, (_, _, s) in enumerate(spec.standards()) if s.honour_category == "综合表彰")
    found = problems_of(edited(DEMO_XLSX, _cell(f"N{row}", 1)))
    assert (row, "N", "In %(category)s a higher level must be worth more: %(high)s is not above %(low)s.") in found


def test_a_missing_column_is_named():
    def drop(wb):
        wb["考评表"]["N4"] = "分数"
    assert problems_of(edited(DEMO_XLSX, drop)) == [(4, None, "The column %(column)s is missing.")]


def test_more_rows_than_allowed_are_refused():
    found = problems_of(DEMO_XLSX, max_rows=100)
    assert found == [(105, None, "More than %(max)s rows: nothing beyond them is read.")]


def test_a_sheet_with_only_its_header_has_no_standards():
    def empty(wb):
        wb["考评表"].delete_rows(5, 300)
    assert problems_of(edited(DEMO_XLSX, empty)) == [(5, None, "The sheet has no scoring standards.")]


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize("data, message", [
    (b"", "This is not an Excel workbook (.xlsx)."),
    (b"PK\x03\x04 not really a zip", "This is not an Excel workbook (.xlsx)."),
    ("维度,项目\n1,2\n".encode(), "This is not an Excel workbook (.xlsx)."),
    (_zip({"hello.txt": b"hi"}), "This is not an Excel workbook (.xlsx)."),
    (_zip({"[Content_Types].xml": b"<Types/>"}), "This is not an Excel workbook (.xlsx)."),
    (_zip({"[Content_Types].xml": b"<Types/>", "xl/bomb.xml": b"0" * (60 * 1024 * 1024)}),
     "The workbook is too large when unpacked."),
])
def test_what_is_not_a_workbook_is_refused_without_a_crash(data, message):
    assert problems_of(data) == [(None, None, message)]


def test_entity_expansion_is_not_performed():
    """A billion-laughs sheet is refused (defusedxml), not expanded."""
    lol = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
           b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
           b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>')

    def poison(data: bytes) -> bytes:
        src = zipfile.ZipFile(io.BytesIO(data))
        members = {n: src.read(n) for n in src.namelist()}
        sheet = members["xl/worksheets/sheet1.xml"]
        members["xl/worksheets/sheet1.xml"] = lol + re.sub(rb"^<\?xml[^>]*\?>", b"", sheet).replace(
            b"<v>2026</v>", b"<v>&lol3;</v>", 1)
        return _zip(members)

    found = problems_of(poison(DEMO_XLSX))
    assert found and all(row is None or row <= 5 for row, _, _ in found)


def test_a_file_over_the_size_limit_is_refused(monkeypatch):
    monkeypatch.setattr(catalogue_excel, "MAX_BYTES", 1000)
    assert problems_of(DEMO_XLSX) == [(None, None, "The file is larger than %(max)s MB.")]


def test_import_creates_a_draft_or_nothing(org, db_session):
    office = principal_for(db_session, org.user("office").id)
    version = catalogue_excel.import_workbook(db_session, office, DEMO_XLSX, year=2027)
    db_session.commit()
    assert version.status == "draft" and version.year == 2027
    stats = catalogue.stats(db_session, [version.id])[0]
    assert stats["unit_kinds"]["maritime_office"]["standards"] == 202
    with pytest.raises(WorkbookInvalid):
        catalogue_excel.import_workbook(db_session, SYSTEM, (DATA / "broken.xlsx").read_bytes())
    db_session.rollback()
    assert db_session.query(CatalogueVersion).count() == 1
    name, data = catalogue_excel.export_version(db_session, version.id)
    assert name == f"catalogue-2027-v{version.id}.xlsx"
    assert parse_workbook(data, KINDS) == catalogue.spec_for(db_session, version.id)


def test_a_draft_with_empty_nodes_round_trips_too(org, db_session):
    draft = catalogue.create_draft(db_session, SYSTEM, year=2027, name="草稿", pass_line=Decimal("1"),
                                   excellent_line=Decimal("2"))
    dim = catalogue.save_node(db_session, SYSTEM, draft.id, "dimension", {"code": "D1", "name": "维度一"},
                              expected_revision=None)
    catalogue.save_node(db_session, SYSTEM, draft.id, "dimension", {"code": "D2", "name": "维度二"},
                        expected_revision=None)
    item = catalogue.save_node(db_session, SYSTEM, draft.id, "item",
                               {"code": "I1", "name": "项目", "kind": "deduction", "baseline": Decimal("5")},
                               parent_id=dim.id, expected_revision=None)
    catalogue.save_node(db_session, SYSTEM, draft.id, "content", {"code": "C1", "text": "内容"},
                        parent_id=item.id, expected_revision=None)
    spec = catalogue.spec_for(db_session, draft.id)
    # An empty dimension and a content without standards are rows with the deeper columns empty.
    back = parse_workbook(export_spec(spec, KINDS), KINDS)
    assert [d.code for d in back.dimensions] == ["D1", "D2"] and back == spec


def test_export_and_import_commands(org, db_session, runner, tmp_path):
    demo_catalogue.load(db_session)
    db_session.commit()
    version = catalogue.current_published(db_session, 2026)
    out = tmp_path / "kaoping.xlsx"
    result = runner.invoke(args=["catalogue", "export", str(version.id), str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["catalogue", "import", str(out), "--year", "2027", "--publish"])
    assert result.exit_code == 0, result.output
    assert catalogue.current_published(db_session, 2027) is not None
    result = runner.invoke(args=["catalogue", "import", str(DATA / "broken.xlsx")])
    assert result.exit_code != 0
    assert "Sheet1 row 4 O 分值: Enter a number." in result.output
    assert "Unknown unit kind 市属单位" in result.output
