"""What the designer's upload checks say about a corpus of broken BPMN files (every message names
its element), hostile files, and a file drawn in Camunda Modeler that deploys and runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from models.process import HumanTask, InstanceStatus, ProcessVersion, TaskState, Timer
from tests.quarter_helpers import who
from workflows.designer import upload
from workflows.engine import checks, instances, spiff, tx, user_tasks
from workflows.errors import NotAllowed, ValidationFailed

DATA = Path(__file__).parent / "data" / "bpmn"
BROKEN = DATA / "broken"
EXPECTED = json.loads((BROKEN / "expected.json").read_text(encoding="utf-8"))
CAMUNDA = (DATA / "camunda" / "followup_camunda.bpmn").read_bytes()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_broken_file_is_refused_with_a_message_naming_its_element(app, db_session, name):
    expected = EXPECTED[name]
    checked = upload.check_upload(db_session, (BROKEN / name).read_bytes(), name)
    assert not checked.ok and not checked.deployable
    texts = [(p.element, str(p)) for p in checked.errors]
    assert any(expected["message"] in text and expected["element"] in element for element, text in texts), texts
    if expected["element"]:
        assert any(element.startswith(expected["element"].split(" ")[0]) for element, _ in texts)


def test_every_door_refuses_every_broken_file_alike(app, db_session, runner, tmp_path):
    """The designer, `flask bpmn validate` and `flask bpmn deploy` run the one check: a file one
    refuses, the others refuse too, with the same message."""
    for name, expected in sorted(EXPECTED.items()):
        path = tmp_path / name
        path.write_bytes((BROKEN / name).read_bytes())
        checked = upload.check_upload(db_session, path.read_bytes(), name)
        validated = runner.invoke(args=["bpmn", "validate", str(path)])
        deployed = runner.invoke(args=["bpmn", "deploy", str(path)])
        assert not checked.ok and validated.exit_code == 1 and deployed.exit_code == 1, name
        assert expected["message"] in validated.output and expected["message"] in deployed.output, name
    assert db_session.scalar(select(ProcessVersion.id).limit(1)) is None


def test_the_corpus_base_is_valid_so_each_file_is_broken_by_one_thing(app, db_session):
    checked = upload.check_upload(db_session, (BROKEN / "valid_base.bpmn").read_bytes(), "valid_base.bpmn")
    assert checked.ok, [str(p) for p in checked.problems]
    assert [str(p) for p in checked.warnings] == [
        "the file has no diagram (BPMNDI); draw it in a modeller so it can be shown"]
    assert set(EXPECTED) == {p.name for p in BROKEN.glob("*.bpmn")} - {"valid_base.bpmn"}


def test_a_file_over_2_mb_is_refused_before_parsing(app, db_session):
    raw = (BROKEN / "valid_base.bpmn").read_bytes().replace(b"</bpmn:definitions>", b"<!--" + b"x" * (2 * 1024 * 1024) + b"--></bpmn:definitions>")
    checked = upload.check_upload(db_session, raw, "huge.bpmn")
    assert [str(p) for p in checked.errors] == ["The file is larger than 2 MB; a BPMN diagram is much smaller."]


def test_nothing_is_deployed_from_a_broken_file(app, db_session, org):
    with pytest.raises(ValidationFailed) as refused:
        upload.deploy_upload(db_session, who(db_session, "designer"), (BROKEN / "unknown_form.bpmn").read_bytes(),
                                "unknown_form.bpmn")
    db_session.rollback()
    assert any("unknown form filing_form_v9" in m for m in refused.value.field_errors["file"])
    assert db_session.scalar(select(ProcessVersion.id)) is None


def test_unreachable_elements_are_warned_about(app, db_session):
    raw = (BROKEN / "valid_base.bpmn").read_bytes().replace(
        b'<bpmn:sequenceFlow id="flow_file" sourceRef="file" targetRef="wait_appeal" />', b"")
    checked = upload.check_upload(db_session, raw, "x.bpmn")
    unreachable = [str(p) for p in checked.warnings if "no path" in str(p)]
    assert unreachable == ["wait_appeal (等待申诉): no path from a start event reaches this element",
                           "done (结束): no path from a start event reaches this element"]


# --- Camunda Modeler ----------------------------------------------------------------------------------------


def test_camunda_form_keys_become_the_engines(app, db_session):
    fixed = checks.normalize(CAMUNDA)
    assert fixed != CAMUNDA
    assert checks.normalize(fixed) == fixed  # once is enough
    root = spiff.safe_xml(fixed)
    props = root.findall(".//bpmn:userTask/bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property",
                         checks.NS)
    assert [(p.get("name"), p.get("value")) for p in props] == [("formKey", "follow_up")] * 2
    # The documentation stays the first child, as BPMN's schema wants.
    talk = root.find(".//bpmn:userTask[@id='Activity_0talk7k']", checks.NS)
    assert [c.tag.split("}")[1] for c in talk][:2] == ["documentation", "extensionElements"]
    assert checks.normalize((BROKEN / "valid_base.bpmn").read_bytes()) == (BROKEN / "valid_base.bpmn").read_bytes()


def test_a_camunda_modeler_file_deploys_and_runs(app, db_session, org, clock):
    checked = upload.check_upload(db_session, CAMUNDA, "followup_camunda.bpmn")
    assert checked.ok and checked.normalized and checked.warnings == [], [str(p) for p in checked.problems]
    [process] = checked.processes
    assert (process.process_key, process.latest, process.same_as) == ("Process_talk_followup", None, None)
    [version] = tx.run(db_session, upload.deploy_upload, who(db_session, "designer"), CAMUNDA,
                       "followup_camunda.bpmn", "画在 Camunda Modeler 里")
    assert (version.version, version.comment, version.deployed_by) == (1, "画在 Camunda Modeler 里", org.users["designer"].id)
    assert upload.check_upload(db_session, CAMUNDA, "again.bpmn").processes[0].same_as.id == version.id

    person = org.people["m1_a1"]
    instance = instances.start_process(db_session, "Process_talk_followup", {"quarter_id": None}, branch_id=person.branch_id,
                                     subject_person_id=person.id)
    db_session.commit()
    [talk] = _open(db_session, instance)
    assert (talk.form_key, talk.role, talk.branch_id, talk.name) == ("follow_up", "secretary", person.branch_id, "约谈提醒")
    [timer] = db_session.scalars(select(Timer).where(Timer.instance_id == instance.id)).all()
    assert (timer.bpmn_id, timer.due_at - clock.now()) == ("Event_0late4x", __import__("datetime").timedelta(days=14))
    tx.run(db_session, user_tasks.complete_task, talk.id, who(db_session, "sec_a1"), {"done": False, "record": "约了"})
    [again] = _open(db_session, instance)
    assert again.bpmn_id == "Activity_0talk7k" and again.id != talk.id  # "not done": the talk comes back
    tx.run(db_session, user_tasks.complete_task, again.id, who(db_session, "sec_a1"), {"done": True})
    [filing] = _open(db_session, instance)
    assert (filing.role, filing.branch_id) == ("party_office", None)
    tx.run(db_session, user_tasks.complete_task, filing.id, who(db_session, "office"), {"done": True})
    assert instances.get_instance(db_session, instance.id).status == InstanceStatus.COMPLETED


def _open(db_session, instance) -> list[HumanTask]:
    return list(db_session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                           HumanTask.state == TaskState.OPEN)
                                   .execution_options(populate_existing=True)))


@pytest.mark.parametrize("username", ["office", "leader", "admin", "sec_a1"])
def test_only_the_process_designer_deploys(app, db_session, org, username):
    with pytest.raises(NotAllowed):
        upload.deploy_upload(db_session, who(db_session, username), CAMUNDA, "x.bpmn")
    db_session.rollback()


def test_an_upload_is_compared_with_the_deployed_version(app, db_session, org):
    tx.run(db_session, upload.deploy_upload, who(db_session, "designer"), CAMUNDA, "followup_camunda.bpmn")
    changed = CAMUNDA.replace("党群部门备案".encode(), "党群部门审核备案".encode())
    checked = upload.check_upload(db_session, changed, "v2.bpmn")
    [process] = checked.processes
    assert process.latest.version == 1 and process.same_as is None and checked.deployable
    [change] = process.comparison.tasks.changed
    assert change.key == "Activity_1file0s" and change.fields == [("name", "党群部门备案", "党群部门审核备案")]


def test_every_shipped_file_passes_the_designers_check(app, db_session):
    """The shipped processes are what any door accepts: uploading one of them again is no error."""
    shipped = sorted((DATA.parent.parent.parent / "bpmn").glob("*.bpmn"))
    assert shipped
    thrown = set()
    for path in shipped:
        for meta in checks.validate(path.read_bytes(), path.name).processes.values():
            thrown |= set(meta["throws"].values())
    for path in shipped:
        result = checks.check(path.read_bytes(), path.name, known_messages=thrown)
        assert result.ok, (path.name, [str(p) for p in result.errors])
