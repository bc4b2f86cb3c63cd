"""The designer's pages over HTTP: versions and their files, upload → check → replay → deploy, the
broken corpus as the designer sees it, the in-app modeller's submission, compare, and migration
with its dry run."""

from __future__ import annotations

import ast
import io
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from models.process import ProcessInstance, ProcessVersion
from tests.test_designer_checks import BROKEN, CAMUNDA, EXPECTED
from tests.test_engine import test_registry  # noqa: F401 - registers the test form, message and operator
from tests.test_migration import XML, complete, deploy_xml, fresh, start, with_check_step
from webapp.designer import texts

ROOT = Path(__file__).resolve().parent.parent


def upload(client, data: bytes, name: str = "x.bpmn", follow: bool = True):
    return client.post("/designer/upload", data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data", follow_redirects=follow)


@pytest.fixture
def designer(client, login, org):
    login("designer")
    client.post("/lang/en", data={"next": "/designer/"})
    return client


@pytest.mark.parametrize("username,status", [("designer", 200), ("office", 403), ("leader", 403), ("admin", 403),
                                             ("sec_a1", 403), ("m1_a1", 403)])
def test_only_the_designer_enters(client, login, org, username, status):
    login(username)
    for path in ("/designer/", "/designer/upload", "/designer/edit", "/designer/compare"):
        assert client.get(path).status_code == status, path


def test_versions_list_view_and_download(designer, db_session, org):
    v1 = deploy_xml(db_session, XML, "first")
    page = designer.get("/designer/").get_data(as_text=True)
    assert "引擎测试流程" in page and v1.content_hash[:12] in page and "first" in page
    view = designer.get(f"/designer/versions/{v1.id}").get_data(as_text=True)
    assert f'data-bpmn-url="/designer/versions/{v1.id}/file"' in view and "test_form" in view
    inline = designer.get(f"/designer/versions/{v1.id}/file")
    assert inline.mimetype == "application/xml" and "Content-Disposition" not in inline.headers
    download = designer.get(f"/designer/versions/{v1.id}/file?download=1")
    assert download.data == XML and 'filename="engine_test-v1.bpmn"' in download.headers["Content-Disposition"]
    assert designer.get("/designer/versions/9999").status_code == 404


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_files_are_explained_naming_their_element(designer, db_session, name):
    response = upload(designer, (BROKEN / name).read_bytes(), name)
    page = response.get_data(as_text=True)
    expected = EXPECTED[name]
    import html

    text = html.unescape(page)
    assert expected["message"] in text
    if expected["element"]:
        assert expected["element"].split(" ")[0] in text
    if response.status_code == 422:  # refused before it was even stored
        assert "Upload a BPMN file" in page
    else:
        assert response.status_code == 200 and "nothing can be deployed" in page and "Deploy as a new version" not in page
    assert db_session.scalar(select(ProcessVersion.id)) is None


def test_broken_files_are_explained_in_chinese_too(client, login, org):
    login("designer")
    page = upload(client, (BROKEN / "unknown_form.bpmn").read_bytes(), "unknown_form.bpmn").get_data(as_text=True)
    assert "未知的表单 filing_form_v9" in page and "file (党群部门备案)" in page
    page = upload(client, (BROKEN / "zip_renamed.bpmn").read_bytes(), "zip_renamed.bpmn").get_data(as_text=True)
    assert "ZIP 压缩包" in page


@pytest.mark.parametrize("data,name,message", [
    (b"", "empty.bpmn", "The file is empty."),
    (b"<x/>", "diagram.docx", "Choose a .bpmn file"),
    (None, "", "Choose a .bpmn file."),
])
def test_upload_refusals_keep_the_form(designer, data, name, message):
    if data is None:
        response = designer.post("/designer/upload", data={}, content_type="multipart/form-data")
    else:
        response = upload(designer, data, name, follow=False)
    assert response.status_code == 422 and message in response.get_data(as_text=True)


def test_a_huge_file_is_refused(designer):
    raw = (BROKEN / "valid_base.bpmn").read_bytes() + b"<!--" + b"x" * (2 * 1024 * 1024) + b"-->"
    response = upload(designer, raw, "huge.bpmn", follow=False)
    assert response.status_code in (413, 422)


def test_the_camunda_file_is_checked_and_deployed(designer, db_session, org):
    response = upload(designer, CAMUNDA, "followup_camunda.bpmn", follow=False)
    assert response.status_code == 302
    digest = response.headers["Location"].rsplit("/", 1)[1]
    page = designer.get(f"/designer/review/{digest}").get_data(as_text=True)
    assert "The file passes every check." in page and "new process" in page and "camunda:formKey" in page
    assert designer.get(f"/designer/review/{digest}/file").data.count(b'name="formKey"') == 2
    deployed = designer.post(f"/designer/review/{digest}/deploy", data={"comment": "来自 Camunda Modeler"},
                             follow_redirects=True)
    assert deployed.status_code == 200 and "is deployed as version 1" in deployed.get_data(as_text=True)
    version = db_session.scalar(select(ProcessVersion).where(ProcessVersion.process_key == "Process_talk_followup"))
    assert version.comment == "来自 Camunda Modeler" and version.deployed_by == org.users["designer"].id
    again = designer.get(f"/designer/review/{digest}").get_data(as_text=True)
    assert "already deployed" in again and "Deploy as a new version" not in again


def test_review_replays_recent_instances_and_shows_the_changes(designer, db_session, org, clock):
    v1 = deploy_xml(db_session, XML)
    waiting = start(db_session, org, clock)
    complete(db_session, waiting, "m1_a1")
    complete(db_session, waiting, "rev_a1")
    fresh_one = start(db_session, org, clock, "m1_a2")
    response = upload(designer, with_check_step(), "engine_test.bpmn", follow=False)
    digest = response.headers["Location"].rsplit("/", 1)[1]
    page = designer.get(f"/designer/review/{digest}").get_data(as_text=True)
    assert "It would become version 2 of this process" in page
    assert "1 same path, 1 different path, 0 stuck." in page
    assert f"#{waiting.id}" in page and f"#{fresh_one.id}" in page
    assert "Ends up at 复核确认 (check) instead of 等待 (wait_go)." in page
    assert 'data-added="check f3b"' in page and "复核" in page
    designer.post(f"/designer/review/{digest}/deploy", data={"comment": ""}, follow_redirects=True)
    assert db_session.scalar(select(ProcessVersion.version).where(ProcessVersion.content_hash != v1.content_hash)) == 2


def test_the_modeller_page_and_its_submission(designer, db_session, org):
    v1 = deploy_xml(db_session, XML)
    page = designer.get(f"/designer/edit?version={v1.id}").get_data(as_text=True)
    assert f'data-source="/designer/versions/{v1.id}/file"' in page and "bpmn-modeler.production.min.js" in page
    assert 'name="xml"' in page and "test_form" in page
    response = designer.post("/designer/upload", data={"xml": renamed_text(), "filename": "engine_test.bpmn"})
    assert response.status_code == 302
    digest = response.headers["Location"].rsplit("/", 1)[1]
    review = designer.get(f"/designer/review/{digest}").get_data(as_text=True)
    assert "name" in review and "复核" in review
    draft = designer.get(f"/designer/edit?draft={digest}").get_data(as_text=True)
    assert f'data-source="/designer/review/{digest}/file"' in draft
    assert designer.get("/designer/edit?draft=../../etc/passwd").status_code == 404
    assert designer.get("/designer/review/" + "0" * 64).status_code == 404


def renamed_text() -> str:
    return XML.decode().replace("审核", "复核")


def test_compare_page(designer, db_session, org):
    v1 = deploy_xml(db_session, XML)
    v2 = deploy_xml(db_session, with_check_step())
    page = designer.get(f"/designer/compare?a={v1.id}&b={v2.id}").get_data(as_text=True)
    assert "version 1 → version 2" in page and "check" in page and "f3b" in page
    assert designer.get("/designer/compare?a=1&b=999").status_code == 404


def test_migration_page_dry_run_then_move(designer, db_session, org, clock):
    v1 = deploy_xml(db_session, XML)
    movable = start(db_session, org, clock)
    blocked = start(db_session, org, clock, "m1_a2")
    complete(db_session, blocked, "m1_a2")
    complete(db_session, blocked, "rev_a2")
    v2 = deploy_xml(db_session, with_check_step())
    page = designer.get("/designer/processes/engine_test/migrate").get_data(as_text=True)
    assert "2 running instances are on older versions than version 2." in page
    dry = designer.post("/designer/processes/engine_test/migrate",
                        data={"to_version": v2.id, "from_version": "", "quarter": "", "dry_run": "1"})
    text = dry.get_data(as_text=True)
    assert dry.status_code == 200 and "1 can move, 1 cannot" in text
    assert f'name="instance_ids" value="{movable.id}"' in text
    assert f'name="instance_ids" value="{blocked.id}"' not in text
    assert "is connected differently in the new version" in text
    done = designer.post("/designer/processes/engine_test/migrate",
                         data={"to_version": v2.id, "from_version": "", "quarter": "", "migrate": "1",
                               "instance_ids": [movable.id]})
    assert done.status_code == 200 and "1 of 1 instances moved to version 2." in done.get_data(as_text=True)
    assert fresh(db_session, movable).process_version_id == v2.id
    assert fresh(db_session, blocked).process_version_id == v1.id
    assert designer.get("/designer/processes/nothing/migrate").status_code == 404
    bad = designer.post("/designer/processes/engine_test/migrate", data={"to_version": "abc", "dry_run": "1"})
    assert bad.status_code == 422


def test_every_validation_message_has_a_place_in_the_designers_catalogue():
    """The services' message ids are listed in webapp/designer/texts.py, so they get translated."""
    listed = set(texts.MESSAGE_IDS) | set(texts.PREFIXED.values())
    for module in ("workflows/engine/deploy.py", "workflows/designer/migration.py"):
        tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "N_":
                value = node.args[0].value
                assert value in listed, f"{module}: {value!r} is not in webapp/designer/texts.py"


def test_the_designer_and_monitor_catalogues_are_complete():
    from babel.messages.pofile import read_po

    for area in ("designer", "monitor"):
        po = ROOT / "webapp" / area / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
        catalog = read_po(po.open("rb"))
        missing = [m.id for m in catalog if m.id and not (m.string if isinstance(m.string, str) else all(m.string))]
        assert missing == [], (area, missing)
        for m in catalog:
            if m.id and isinstance(m.id, str):
                assert set(re.findall(r"%\(\w+\)s", m.id)) == set(re.findall(r"%\(\w+\)s", m.string)), m.id


def test_a_review_of_a_version_that_no_instance_used(designer, db_session, org):
    deploy_xml(db_session, XML)
    response = upload(designer, with_check_step(), "engine_test.bpmn")
    assert "nothing to replay" in response.get_data(as_text=True)
    assert json.loads(json.dumps({"ok": True}))["ok"]
    assert db_session.scalar(select(ProcessInstance.id)) is None
