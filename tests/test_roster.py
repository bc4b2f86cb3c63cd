"""The roster import: reading hostile and honest workbooks, the preview, the all-or-nothing import,
the template, and initial passwords handed over once."""

from __future__ import annotations

import io
import os
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from models.audit import AuditEvent
from models.people import Person, Role
from models.permissions import Principal
from workflows.errors import ValidationFailed
from workflows.imports import roster
from workflows.org.principals import principal_for

DATA = Path(__file__).parent / "data" / "roster"
HEADER = ["工号", "姓名", "性别", "所在党支部", "党员身份", "入党时间", "转正时间", "确定为积极分子时间", "职务",
          "联系电话", "用户名"]


def workbook(rows: list[list], *, header: list | None = HEADER, title: str | None = None, sheet: str = "花名册",
             before: list[list] | None = None) -> bytes:
    """An .xlsx with an optional title row, a header row and the given rows."""
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    for row in before or []:
        ws.append(row)
    if title:
        ws.append([title])
    if header is not None:
        ws.append(header)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def administrator(user_id: int) -> Principal:
    """An administrator as the services see them, without an account in the database."""
    return Principal.build(user_id, None, None, [(Role.ADMINISTRATOR.value, None)])


def person_row(no: str = "N001", name: str = "新同志", branch: str = "A1", status: str = "正式党员",
               joined: object = "2010-07-01", full: object = "2011-07-01", activist: object = None,
               username: str | None = None, gender: str = "男", position: str = "科员", phone: object = "13900000000"):
    return [no, name, gender, branch, status, joined, full, activist, position, phone, username]


def messages(parsed_or_plan) -> list[str]:
    return [p.message % p.params if p.params else p.message for p in parsed_or_plan.problems]


def rejected(data: bytes, **kwargs) -> str:
    with pytest.raises(roster.FileRejected) as info:
        roster.parse_workbook(data, **kwargs)
    return info.value.message % info.value.params if info.value.params else info.value.message


# --- Reading: pure, no database ------------------------------------------------------------------------

def test_a_good_workbook_parses_with_typed_values():
    parsed = roster.parse_workbook(workbook([
        person_row(),
        person_row("N002", "预备同志", status="预备党员", joined=datetime(2026, 3, 1), full=None, gender="女"),
        person_row("N003", "积极同志", status="入党积极分子", joined=None, full=None, activist=date(2025, 5, 4)),
    ]))
    assert parsed.problems == [] and parsed.notes == []
    assert parsed.sheet == "花名册" and parsed.total_rows == 3
    first, second, third = parsed.rows
    assert first["employee_no"] == "N001" and first["status"] == "full" and first["gender"] == "M"
    assert first["joined_party_on"] == "2010-07-01" and first["phone"] == "13900000000"
    assert second["status"] == "probationary" and second["joined_party_on"] == "2026-03-01"
    assert second["full_member_on"] is None and second["gender"] == "F"
    assert third["status"] == "activist" and third["activist_since"] == "2025-05-04"
    assert [r["row"] for r in parsed.rows] == [2, 3, 4]


def test_headers_are_mapped_by_text_in_any_order_below_a_title_with_extra_columns_noted():
    header = ["备注", "党员身份", "姓名", "所在党支部", " 工号 ", "入党时间", "籍贯"]
    parsed = roster.parse_workbook(workbook([["x", "正式党员", "张三", "A1", 1001, "2001年7月1日", "广东"]],
                                            header=header, title="东湾海事局党员花名册"))
    assert parsed.problems == []
    assert parsed.rows == [{"row": 3, "status": "full", "name": "张三", "branch": "A1", "employee_no": "1001",
                            "joined_party_on": "2001-07-01"}]
    ignored = [(n.letter, n.column) for n in parsed.notes]
    assert ignored == [("A", "备注"), ("G", "籍贯")]


@pytest.mark.parametrize("value,expected", [
    ("2021-07-01", "2021-07-01"), ("2021/7/1", "2021-07-01"), ("2021.07.01", "2021-07-01"),
    ("2021年7月1日", "2021-07-01"), ("20210701", "2021-07-01"), (20210701, "2021-07-01"),
    (datetime(2021, 7, 1, 0, 0), "2021-07-01"), (44378, "2021-07-01"), ("2021-07-01 00:00:00", "2021-07-01"),
])
def test_dates_in_the_shapes_people_type_them(value, expected):
    parsed = roster.parse_workbook(workbook([person_row(joined=value, full=None)]))
    assert parsed.problems == []
    assert parsed.rows[0]["joined_party_on"] == expected


def test_a_date_with_year_and_month_only_is_the_first_of_the_month_with_a_note():
    parsed = roster.parse_workbook(workbook([person_row(joined="2005.06", full="2006年7月")]))
    assert parsed.rows[0]["joined_party_on"] == "2005-06-01" and parsed.rows[0]["full_member_on"] == "2006-07-01"
    assert "1st of the month" in parsed.notes[0].message and parsed.notes[0].params["count"] == 2


@pytest.mark.parametrize("row,column,message", [
    (person_row(joined="去年"), "入党时间", "Not a date"),
    (person_row(joined="2021-13-45"), "入党时间", "Not a date"),
    (person_row(status="群众"), "党员身份", "Unknown membership status"),
    (person_row(gender="未知"), "性别", "Unknown gender"),
    (person_row(name=""), "姓名", "Required."),
    (person_row(no=None), "工号", "Required."),
    (person_row(branch=None), "所在党支部", "Required."),
    (person_row(name="名" * 101), "姓名", "Too long: at most 100 characters."),
    (person_row(name=True), "姓名", "Expected text"),
    (person_row(username="有 空格"), "用户名", "lower-case letters"),
    (person_row(name="=HYPERLINK(\"http://x\")"), "姓名", "formula"),
    (person_row(phone="#N/A"), "联系电话", "Excel error"),
])
def test_row_errors_say_sheet_row_column_and_what_is_wrong(row, column, message):
    parsed = roster.parse_workbook(workbook([person_row("OK1"), row]))
    assert [r["employee_no"] for r in parsed.rows] == ["OK1"]
    problem = next(p for p in parsed.problems if p.column == column)
    assert (problem.sheet, problem.row) == ("花名册", 3)
    assert problem.letter == "ABCDEFGHIJK"[HEADER.index(column)]
    assert message in (problem.message % problem.params)


def test_a_formula_cell_is_refused_not_evaluated():
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    ws.append(person_row())
    ws["B2"] = '=CONCATENATE("张", "三")'
    out = io.BytesIO()
    wb.save(out)
    parsed = roster.parse_workbook(out.getvalue())
    assert parsed.rows == []
    assert [(p.row, p.letter) for p in parsed.problems] == [(2, "B")]
    assert "formula" in parsed.problems[0].message


def test_an_employee_number_twice_in_the_file_is_an_error_on_the_second_row():
    parsed = roster.parse_workbook(workbook([person_row("D1"), person_row("D2"), person_row("D1", "另一人")]))
    assert [r["employee_no"] for r in parsed.rows] == ["D1", "D2"]
    assert messages(parsed) == ["The employee number D1 appears twice in the file (first in row 2)."]
    assert parsed.problems[0].row == 4


def test_missing_required_columns_are_all_reported_at_the_header_row():
    parsed = roster.parse_workbook(workbook([["张三", "正式党员"]], header=["姓名", "党员身份"]))
    assert parsed.rows == []
    missing = sorted(p.params["header"] for p in parsed.problems)
    assert missing == ["工号", "所在党支部"] and all(p.row == 1 for p in parsed.problems)


def test_a_column_given_twice_is_an_error():
    parsed = roster.parse_workbook(workbook([["1", "张三", "A1", "正式党员", "李四"]],
                                            header=["工号", "姓名", "所在党支部", "党员身份", "姓名"]))
    assert any("appears twice" in p.message and p.letter == "E" for p in parsed.problems)


def test_blank_rows_are_skipped_and_rows_keep_their_excel_numbers():
    parsed = roster.parse_workbook(workbook([person_row("R1"), [None] * 11, ["  "] * 11, person_row("R2")]))
    assert [(r["employee_no"], r["row"]) for r in parsed.rows] == [("R1", 2), ("R2", 5)]


def test_the_data_sheet_is_found_by_name_among_others():
    wb = Workbook()
    wb.active.title = "说明"
    wb.active.append(["这是说明"])
    ws = wb.create_sheet("花名册")
    ws.append(HEADER)
    ws.append(person_row())
    out = io.BytesIO()
    wb.save(out)
    parsed = roster.parse_workbook(out.getvalue())
    assert parsed.sheet == "花名册" and len(parsed.rows) == 1


@pytest.mark.parametrize("name,expected", [
    ("text_renamed.xlsx", "not an Excel workbook"),
    ("zip_renamed.xlsx", "not an Excel workbook"),
    ("program_renamed.xlsx", "not an Excel workbook"),
    ("old_format.xlsx", "Excel 97-2003"),
    ("truncated.xlsx", "not an Excel workbook"),
])
def test_files_that_are_not_workbooks_are_refused_with_a_clear_message(name, expected):
    assert expected in rejected((DATA / name).read_bytes())


def test_a_damaged_workbook_is_refused():
    good = workbook([person_row()])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            body = source.read(info.filename)
            target.writestr(info, b"<not-xml" if info.filename == "xl/workbook.xml" else body)
    assert "could not be read" in rejected(out.getvalue())


def test_empty_file_empty_workbook_and_header_only_sheet():
    assert "empty" in rejected(b"")
    wb = Workbook()
    out = io.BytesIO()
    wb.save(out)
    assert "is empty" in rejected(out.getvalue())
    parsed = roster.parse_workbook(workbook([]))
    assert messages(parsed) == ["The sheet has column titles but no rows of people."]


def test_a_sheet_without_a_header_row_says_which_titles_are_expected():
    message = rejected(workbook([["a", "b", "c"]] * 25, header=None))
    assert "No row of column titles" in message and "工号" in message


def test_too_large_a_file_is_refused_before_reading():
    data = workbook([person_row()])
    assert "larger than 1 MB" in rejected(data + b"\0" * (1024 * 1024), max_bytes=1024 * 1024)


def test_a_zip_bomb_is_refused_before_unpacking(monkeypatch):
    monkeypatch.setattr(roster, "MAX_UNPACKED_BYTES", 2_000)
    assert "too large when unpacked" in rejected(workbook([person_row()] * 50))


def test_a_sheet_of_50001_rows_is_refused():
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("花名册")
    ws.append(["工号", "姓名", "所在党支部", "党员身份", "入党时间"])
    for i in range(50_001):
        ws.append([f"E{i}", "张三", "A1", "正式党员", "2001-07-01"])
    out = io.BytesIO()
    wb.save(out)
    assert "more than 50,000 rows" in rejected(out.getvalue())


def test_row_limit_counts_people_not_blank_rows():
    parsed = roster.parse_workbook(workbook([person_row("L1"), [None] * 11, person_row("L2")]), max_rows=2)
    assert len(parsed.rows) == 2
    assert "more than 1 rows" in rejected(workbook([person_row("L1"), person_row("L2")]), max_rows=1)


# --- Against the database ---------------------------------------------------------------------------------

def plan_of(db_session, rows, update_existing=False, **kwargs):
    return roster.plan_import(db_session, roster.parse_workbook(workbook(rows, **kwargs)),
                              update_existing=update_existing)


def test_plan_counts_new_people_and_finds_branches_by_name_or_code(db_session, org):
    plan = plan_of(db_session, [person_row("P1", branch="a1"), person_row("P2", branch="机关第二党支部"),
                                person_row("P3", branch="B1", username="P3.Custom")])
    assert plan.problems == []
    assert plan.counts == {"new": 3, "updated": 0, "unchanged": 0, "errors": 0}
    assert [(i.branch_name, i.username) for i in plan.items] == [
        ("机关第一党支部", "p1"), ("机关第二党支部", "p2"), ("海事处党支部", "p3.custom")]


@pytest.mark.parametrize("row,column,message", [
    (person_row(branch="不存在的支部"), "所在党支部", "Unknown branch “不存在的支部”"),
    (person_row(status="预备党员", full="2011-07-01"), "转正时间", "no date of full membership yet"),
    (person_row(status="正式党员", joined=None, full=None), "入党时间", "Required for full and probationary"),
    (person_row(status="入党积极分子", joined="2010-01-01", full=None, activist="2009-01-01"), "入党时间",
     "has not joined the party"),
    (person_row(status="入党积极分子", joined=None, full=None), "确定为积极分子时间", "Required for an activist"),
    (person_row(joined="2012-01-01", full="2011-01-01"), "转正时间", "cannot come before joining"),
    (person_row(joined="2030-01-01", full=None), "入党时间", "in the future"),
    (person_row(joined="1900-01-01", full=None), "入党时间", "before 1921"),
    (person_row(username="m1_a1"), "用户名", "The username m1_a1 is taken"),
])
def test_plan_errors_against_the_database_and_the_membership_rules(db_session, org, row, column, message):
    plan = plan_of(db_session, [row])
    assert plan.items == []
    assert [p.column for p in plan.problems] == [column]
    assert plan.problems[0].letter == "ABCDEFGHIJK"[HEADER.index(column)] and plan.problems[0].row == 2
    assert message in messages(plan)[0]


def test_an_inactive_branch_is_refused(db_session, org):
    org.branches["b1"].active = False
    db_session.commit()
    assert "inactive" in messages(plan_of(db_session, [person_row(branch="B1")]))[0]


def test_the_same_username_wanted_twice_is_an_error(db_session, org):
    plan = plan_of(db_session, [person_row("U1", username="same"), person_row("U2", username="same")])
    assert messages(plan) == ["The username same is wanted twice in the file (first in row 2)."]


def test_known_people_are_duplicates_unless_updating(db_session, org):
    known = org.people["m1_a1"]
    row = person_row(known.employee_no, known.name, branch="A1", joined=None, full=None, gender="", position="",
                     phone="")
    row[5] = "2000-01-01"
    plan = plan_of(db_session, [row])
    assert plan.counts["errors"] == 1 and "already exists" in messages(plan)[0]

    plan = plan_of(db_session, [row], update_existing=True)
    assert plan.problems == [] and plan.items[0].action == "updated"
    assert plan.items[0].changes == {"joined_party_on": [None, "2000-01-01"]}
    assert plan.items[0].username is None  # they have an account already


def test_unchanged_people_are_counted_as_unchanged_and_absent_columns_keep_values(db_session, org):
    known = org.people["m2_a1"]  # probationary
    known.joined_party_on = date(2026, 1, 5)
    known.phone = "123"
    db_session.commit()
    plan = plan_of(db_session, [[known.employee_no, known.name, "A1", "预备党员", "2026-01-05"]], update_existing=True,
                   header=["工号", "姓名", "所在党支部", "党员身份", "入党时间"])
    assert plan.problems == []
    assert plan.counts == {"new": 0, "updated": 0, "unchanged": 1, "errors": 0}
    assert plan.items[0].values["phone"] == "123"


def test_import_creates_people_and_accounts_without_passwords_in_one_go(db_session, org):
    plan = plan_of(db_session, [person_row("I1"), person_row("I2", status="预备党员", full=None)])
    result = roster.apply_import(db_session, principal_for(db_session, org.users["admin"].id), plan, source="test")
    db_session.commit()
    assert (result.created, result.updated, len(result.created_user_ids)) == (2, 0, 2)
    person = db_session.scalar(select(Person).where(Person.employee_no == "I2"))
    assert person.status == "probationary" and person.joined_party_on == date(2010, 7, 1)
    assert person.branch_id == org.branches["a1"].id and person.gender == "M" and person.position == "科员"
    user = person.user
    assert user.username == "i2" and user.password_hash == "!" and user.must_change_password
    actions = set(db_session.scalars(select(AuditEvent.action)))
    assert {"person.imported", "roster.imported"} <= actions


def test_import_with_updates_changes_only_what_differs(db_session, org):
    known = org.people["m2_a1"]
    row = person_row(known.employee_no, known.name, branch="A2", status="正式党员", joined="2025-01-01",
                     full="2026-01-02", gender="", position="", phone="")
    plan = plan_of(db_session, [row], update_existing=True)
    roster.apply_import(db_session, Principal.system(), plan)
    db_session.commit()
    db_session.refresh(known)
    assert (known.status, known.branch_id, known.full_member_on) == ("full", org.branches["a2"].id, date(2026, 1, 2))
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "person.updated"))
    assert event.object_id == str(known.id) and "full_member_on" in event.data


def test_a_plan_with_errors_imports_nothing(db_session, org):
    plan = plan_of(db_session, [person_row("X1"), person_row("X2", branch="无")])
    with pytest.raises(ValidationFailed):
        roster.apply_import(db_session, Principal.system(), plan)
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(Person).where(Person.employee_no.like("X%"))) == 0


def test_staged_uploads_belong_to_their_uploader_and_expire(tmp_path, clock):
    parsed = roster.parse_workbook(workbook([person_row()]))
    token = roster.stage(tmp_path, administrator(7), data=b"file", filename="../../etc/花名册.xlsx", parsed=parsed)
    staged = roster.load_staged(tmp_path, administrator(7), token)
    assert staged.parsed.rows == parsed.rows and staged.filename == ".._.._etc_花名册.xlsx"
    assert (tmp_path / f"{token}.xlsx").read_bytes() == b"file"
    for bad in (dict(token=token, actor=administrator(8)), dict(token="../" + token, actor=administrator(7)),
                dict(token="x" * 32, actor=administrator(7))):
        with pytest.raises(roster.NotFound):
            roster.load_staged(tmp_path, **bad)
    clock.advance(days=3)
    with pytest.raises(roster.NotFound):
        roster.load_staged(tmp_path, administrator(7), token)
    roster.purge_expired(tmp_path)
    assert len(list(tmp_path.iterdir())) == 2  # files are removed by their age on disk
    for path in tmp_path.iterdir():
        os.utime(path, (0, 0))
    roster.purge_expired(tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- Through the web -------------------------------------------------------------------------------------

def upload(client, data: bytes, name: str = "花名册.xlsx", update_existing: bool = False):
    form = {"file": (io.BytesIO(data), name)}
    if update_existing:
        form["update_existing"] = "y"
    return client.post("/admin/roster", data=form, content_type="multipart/form-data")


def test_template_is_a_workbook_with_the_columns_lists_and_branches(client, org, login):
    login("admin")
    response = client.get("/admin/roster/template.xlsx")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    wb = load_workbook(io.BytesIO(response.data))
    assert wb.sheetnames == ["花名册", "党支部", "说明"]
    assert [c.value for c in wb["花名册"][1]] == HEADER
    assert [r[0] for r in wb["党支部"].iter_rows(min_row=2, values_only=True)] == [
        "机关第一党支部", "机关第二党支部", "海事处党支部"]
    validations = [v.formula1 for v in wb["花名册"].data_validations.dataValidation]
    assert '"正式党员,预备党员,入党积极分子"' in validations


def test_the_filled_template_round_trips(client, org, login):
    login("admin")
    wb = load_workbook(io.BytesIO(client.get("/admin/roster/template.xlsx").data))
    ws = wb["花名册"]
    for col, value in enumerate(person_row("RT1"), start=1):
        ws.cell(row=2, column=col, value=value)
    out = io.BytesIO()
    wb.save(out)
    response = upload(client, out.getvalue())
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "RT1" in page and "rt1" in page


def test_upload_preview_confirm_and_initial_passwords(client, org, login, db_session):
    login("admin")
    response = upload(client, workbook([person_row("W1"), person_row("W2", status="预备党员", full=None)]))
    assert response.status_code == 302
    preview_url = response.headers["Location"]
    token = preview_url.split("/admin/roster/")[1].split("?")[0]
    page = client.get(preview_url).get_data(as_text=True)
    assert "W1" in page and "W2" in page
    assert db_session.scalar(select(func.count()).select_from(Person).where(Person.employee_no.like("W%"))) == 0

    response = client.post(f"/admin/roster/{token}/confirm", data={"update_existing": ""})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/admin/roster/{token}/done")
    assert db_session.scalar(select(func.count()).select_from(Person).where(Person.employee_no.like("W%"))) == 2
    # A second confirm (a double click, the back button) imports nothing more.
    again = client.post(f"/admin/roster/{token}/confirm", data={"update_existing": ""})
    assert again.status_code == 302
    assert db_session.scalar(select(func.count()).select_from(Person).where(Person.employee_no.like("W%"))) == 2

    done = client.get(f"/admin/roster/{token}/done").get_data(as_text=True)
    assert "2" in done
    response = client.post(f"/admin/roster/{token}/passwords")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert sorted(r[3] for r in rows) == ["w1", "w2"]
    username, password = rows[0][3], rows[0][4]
    # The passwords are issued once: asking again issues none.
    assert client.post(f"/admin/roster/{token}/passwords").status_code == 302

    response = login(username, password)
    assert response.status_code == 302 and response.headers["Location"].endswith("/profile")


def test_preview_shows_row_errors_and_offers_no_import(client, org, login, db_session):
    login("admin")
    response = upload(client, workbook([person_row("E1"), person_row("E2", branch="火星支部"),
                                        person_row("E3", joined="昨天")]))
    page = client.get(response.headers["Location"])
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "火星支部" in body and "roster_confirm" not in body and "/confirm" not in body
    token = response.headers["Location"].split("/admin/roster/")[1].split("?")[0]
    forced = client.post(f"/admin/roster/{token}/confirm", data={"update_existing": ""})
    assert forced.status_code == 422
    assert db_session.scalar(select(func.count()).select_from(Person).where(Person.employee_no.like("E%"))) == 0
    errors = load_workbook(io.BytesIO(client.get(f"/admin/roster/{token}/errors.xlsx").data)).active
    assert [(r[0], r[1]) for r in errors.iter_rows(min_row=2, values_only=True)] == [("花名册", 3), ("花名册", 4)]


def test_nothing_is_half_imported_when_the_database_changed_after_the_preview(client, org, login, db_session):
    login("admin")
    response = upload(client, workbook([person_row("H1"), person_row("H2", username="late")]))
    token = response.headers["Location"].split("/admin/roster/")[1].split("?")[0]
    # Meanwhile somebody takes the username.
    from workflows.org import people as org_people

    org_people.create_person(db_session, Principal.system(), employee_no="Z9", name="抢先者",
                             branch_id=org.branches["a1"].id, joined_party_on=date(2000, 1, 1), username="late")
    db_session.commit()
    response = client.post(f"/admin/roster/{token}/confirm", data={"update_existing": ""})
    assert response.status_code == 422
    assert "late" in response.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(Person).where(Person.employee_no.like("H%"))) == 0


def test_update_option_is_carried_from_upload_to_confirm(client, org, login, db_session):
    login("admin")
    known = org.people["m1_a1"]
    row = person_row(known.employee_no, "改名后", branch="A1", joined="2000-01-01", full=None)
    response = upload(client, workbook([row]), update_existing=True)
    assert "update_existing=1" in response.headers["Location"]
    preview = client.get(response.headers["Location"]).get_data(as_text=True)
    assert '<div class="stat">1</div>将更新' in preview and '<div class="stat">0</div>新增人员' in preview
    assert "改名后" in preview and "姓名" in preview
    token = response.headers["Location"].split("/admin/roster/")[1].split("?")[0]
    assert client.post(f"/admin/roster/{token}/confirm", data={"update_existing": "1"}).status_code == 302
    db_session.refresh(known)
    assert known.name == "改名后"


@pytest.mark.parametrize("name", ["text_renamed.xlsx", "zip_renamed.xlsx", "program_renamed.xlsx",
                                  "old_format.xlsx", "truncated.xlsx"])
def test_hostile_uploads_get_a_message_on_the_form(client, org, login, name):
    login("admin")
    response = upload(client, (DATA / name).read_bytes(), name=name)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Excel" in body and 'class="error"' in body


def test_upload_without_a_file_is_a_form_error(client, org, login):
    login("admin")
    response = client.post("/admin/roster", data={}, content_type="multipart/form-data")
    assert response.status_code == 422


def test_another_administrators_upload_is_not_found(client, app, org, login, db_session):
    from tests.factories import password_hash
    from workflows.org import people as org_people
    from workflows.org import roles as org_roles

    login("admin")
    response = upload(client, workbook([person_row("S1")]))
    location = response.headers["Location"]
    other = org_people.create_person(db_session, Principal.system(), employee_no="ADM2", name="二号管理员",
                                     branch_id=None, status="none", username="admin2",
                                     password_hash=password_hash())
    org_roles.assign_role(db_session, Principal.system(), other.user, Role.ADMINISTRATOR, None)
    db_session.commit()
    login("admin2")
    assert client.get(location).status_code == 404
    assert client.get("/admin/roster/not-a-token").status_code == 404
    assert client.get("/admin/roster/" + "A" * 32).status_code == 404
