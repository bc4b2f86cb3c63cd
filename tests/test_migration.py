"""Versions and instance migration at the engine level: an instance stays on its version when a
new one is deployed and moves when asked (and only when SpiffWorkflow's diff says it is safe);
the dry run says what would move and why not; the version comparison names what changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.process import HumanTask, InstanceStatus, ProcessInstance, TaskState, Timer
from tests.quarter_helpers import who
from tests.test_engine import test_registry  # noqa: F401 - registers the test form, message and operator
from workflows.designer import compare, migration, versions
from workflows.engine import deploy, instances, tx, user_tasks
from workflows.errors import NotAllowed

DATA = Path(__file__).parent / "data" / "bpmn"
XML = (DATA / "engine_test.bpmn").read_bytes()


# --- Variants of the engine test diagram (tests/data/bpmn/engine_test.bpmn) -------------------------------


def with_check_step(xml: bytes = XML) -> bytes:
    """A new user task "check" between review and the wait for "go"; review renamed 复核."""
    return (xml.replace(b'<bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="wait_go" />',
                        b'<bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="check" />'
                        b'<bpmn:sequenceFlow id="f3b" sourceRef="check" targetRef="wait_go" />')
            .replace(b'<bpmn:intermediateCatchEvent id="wait_go"',
                     b'<bpmn:userTask id="check" name="\xe5\xa4\x8d\xe6\xa0\xb8\xe7\xa1\xae\xe8\xae\xa4"><bpmn:extensionElements>'
                     b'<spiffworkflow:properties><spiffworkflow:property name="formKey" value="test_form" />'
                     b'</spiffworkflow:properties></bpmn:extensionElements><bpmn:incoming>f3</bpmn:incoming>'
                     b'<bpmn:outgoing>f3b</bpmn:outgoing></bpmn:userTask><bpmn:intermediateCatchEvent id="wait_go"')
            .replace(b"<bpmn:flowNodeRef>review</bpmn:flowNodeRef>",
                     b"<bpmn:flowNodeRef>review</bpmn:flowNodeRef><bpmn:flowNodeRef>check</bpmn:flowNodeRef>")
            .replace(b"<bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>",
                     b"<bpmn:incoming>f3b</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>")
            .replace("审核".encode(), "复核".encode()))


def renamed(xml: bytes = XML) -> bytes:
    """Only the review's label changes."""
    return xml.replace("审核".encode(), "复核".encode())


def with_gateway(condition: str, xml: bytes = XML) -> bytes:
    """After review, a gateway: `condition` true ends the process at "rejected", else it waits for go."""
    return (xml.replace(b'<bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="wait_go" />',
                        b'<bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="gw" />'
                        b'<bpmn:sequenceFlow id="gw_ok" sourceRef="gw" targetRef="wait_go" />'
                        b'<bpmn:sequenceFlow id="gw_no" sourceRef="gw" targetRef="rejected"><bpmn:conditionExpression>'
                        + condition.encode() + b'</bpmn:conditionExpression></bpmn:sequenceFlow>')
            .replace(b'<bpmn:intermediateCatchEvent id="wait_go"',
                     b'<bpmn:exclusiveGateway id="gw" name="ok?" default="gw_ok"><bpmn:incoming>f3</bpmn:incoming>'
                     b'<bpmn:outgoing>gw_ok</bpmn:outgoing><bpmn:outgoing>gw_no</bpmn:outgoing></bpmn:exclusiveGateway>'
                     b'<bpmn:endEvent id="rejected" name="rejected"><bpmn:incoming>gw_no</bpmn:incoming></bpmn:endEvent>'
                     b'<bpmn:intermediateCatchEvent id="wait_go"')
            .replace(b"<bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>",
                     b"<bpmn:incoming>gw_ok</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>"))


def without_review(xml: bytes = XML) -> bytes:
    return (xml.replace(b'<bpmn:sequenceFlow id="f2" sourceRef="declare" targetRef="review" />',
                        b'<bpmn:sequenceFlow id="f2" sourceRef="declare" targetRef="wait_go" />')
            .replace(b'<bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="wait_go" />', b"")
            .replace(b"<bpmn:flowNodeRef>review</bpmn:flowNodeRef>", b"")
            .replace(b"<bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>",
                     b"<bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>")
            .replace(_between(xml, b'<bpmn:userTask id="review"', b"</bpmn:userTask>"), b""))


def _between(xml: bytes, start: bytes, end: bytes) -> bytes:
    i = xml.index(start)
    return xml[i:xml.index(end, i) + len(end)]


def in_secretary_lane(xml: bytes = XML) -> bytes:
    return xml.replace(b'<bpmn:lane id="lane_reviewer" name="reviewer">', b'<bpmn:lane id="lane_reviewer" name="secretary">')


# --- Fixtures ----------------------------------------------------------------------------------------------


def deploy_xml(db_session, xml: bytes, comment: str = ""):
    versions, result = deploy.deploy(db_session, xml, "engine_test.bpmn", actor_user_id=None, comment=comment)
    assert result.ok, [str(p) for p in result.errors]
    db_session.commit()
    return versions[0]


@pytest.fixture
def v1(app, db_session, org):
    return deploy_xml(db_session, XML)


def start(db_session, org, clock, who_="m1_a1", days=7):
    from datetime import timedelta

    person = org.people[who_]
    instance = instances.start_process(db_session, "engine_test", {"deadline": (clock.now() + timedelta(days=days)).isoformat()},
                                     branch_id=person.branch_id, subject_person_id=person.id)
    db_session.commit()
    return instance


def open_task(db_session, instance) -> HumanTask:
    [task] = db_session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                        HumanTask.state == TaskState.OPEN)
                                .execution_options(populate_existing=True))
    return task


def complete(db_session, instance, username: str, **data) -> HumanTask:
    task = open_task(db_session, instance)
    tx.run(db_session, user_tasks.complete_task, task.id, who(db_session, username), data)
    return task


def fresh(db_session, instance) -> ProcessInstance:
    return db_session.get(ProcessInstance, instance.id, populate_existing=True)


# --- Versions ----------------------------------------------------------------------------------------------


def test_an_instance_finishes_on_its_version_and_migrates_when_asked(db_session, org, v1, clock):
    stays = start(db_session, org, clock)
    moves = start(db_session, org, clock, "m1_a2")
    v2 = deploy_xml(db_session, with_check_step(), "check step")
    assert v2.version == 2

    # Version 1 to the end, although version 2 is deployed.
    complete(db_session, stays, "m1_a1")
    assert open_task(db_session, stays).name == "审核"
    complete(db_session, stays, "rev_a1")
    assert instances.send_message(db_session, fresh(db_session, stays), "go", {"value": "v1"}, actor_user_id=None)
    db_session.commit()
    stays = fresh(db_session, stays)
    assert stays.status == InstanceStatus.COMPLETED and stays.process_version_id == v1.id

    # The other one moves when asked: same inbox row, then version 2's steps.
    declare = open_task(db_session, moves)
    designer = who(db_session, "designer")
    [check] = migration.dry_run(db_session, designer, [moves.id], v2.id)
    assert check.movable and check.steps_after == ["declare"] and (check.from_version, check.to_version) == (1, 2)
    tx.run(db_session, migration.migrate_instance, designer, moves.id, v2.id)
    moves = fresh(db_session, moves)
    assert moves.process_version_id == v2.id and moves.current_steps == "declare"
    assert open_task(db_session, moves).id == declare.id
    complete(db_session, moves, "m1_a2")
    assert open_task(db_session, moves).name == "复核"
    complete(db_session, moves, "rev_a2")
    assert open_task(db_session, moves).bpmn_id == "check"
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.instance_id == moves.id,
                                                       AuditEvent.action == "process.migrated"))
    assert event is not None and '"from":1' in event.data and '"to":2' in event.data
    assert event.actor_user_id == org.users["designer"].id
    # The deadline timer of the waiting declare was predicted again from version 2, not lost.
    assert not db_session.scalars(select(Timer).where(Timer.instance_id == moves.id)).all()  # declare is done


def test_a_waiting_timer_is_kept_when_moving(db_session, org, v1, clock):
    instance = start(db_session, org, clock)
    before = db_session.scalars(select(Timer).where(Timer.instance_id == instance.id)).all()
    v2 = deploy_xml(db_session, renamed())
    tx.run(db_session, migration.migrate_instance, who(db_session, "designer"), instance.id, v2.id)
    after = db_session.scalars(select(Timer).where(Timer.instance_id == instance.id)
                               .execution_options(populate_existing=True)).all()
    assert [(t.bpmn_id, t.due_at) for t in after] == [(t.bpmn_id, t.due_at) for t in before]
    assert fresh(db_session, instance).timer_tasks == " ".join(t.task_uuid for t in after)


def test_a_step_moved_to_another_lane_takes_its_new_pool(db_session, org, v1, clock):
    instance = start(db_session, org, clock)
    complete(db_session, instance, "m1_a1")
    assert open_task(db_session, instance).role == "reviewer"
    v2 = deploy_xml(db_session, in_secretary_lane())
    tx.run(db_session, migration.migrate_instance, who(db_session, "designer"), instance.id, v2.id)
    task = open_task(db_session, instance)
    assert (task.role, task.branch_id, task.excluded_users) == ("secretary", org.branches["a1"].id,
                                                               f" {org.users['m1_a1'].id} ")
    complete(db_session, instance, "sec_a1")
    assert fresh(db_session, instance).waiting_messages == "go"


@pytest.mark.parametrize("variant,code,step", [
    (without_review, "removed_step", "review"),
    (with_check_step, "changed_done_step", "review"),  # review is done and now leads elsewhere
])
def test_unsafe_changes_block_the_move(db_session, org, v1, clock, variant, code, step):
    instance = start(db_session, org, clock)
    complete(db_session, instance, "m1_a1")
    complete(db_session, instance, "rev_a1")  # past review: waits for "go"
    v2 = deploy_xml(db_session, variant())
    designer = who(db_session, "designer")
    [check] = migration.dry_run(db_session, designer, [instance.id], v2.id)
    assert not check.movable
    assert (check.reasons[0].code, check.reasons[0].step) == (code, step)
    with pytest.raises(migration.MigrationRefused) as refused:
        migration.migrate_instance(db_session, designer, instance.id, v2.id)
    db_session.rollback()
    assert refused.value.check.reasons[0].code == code
    assert fresh(db_session, instance).process_version_id == v1.id


def test_dry_run_lists_what_moves_and_what_cannot(db_session, org, v1, clock):
    waiting = start(db_session, org, clock)
    reviewing = start(db_session, org, clock, "m1_a2")
    complete(db_session, reviewing, "m1_a2")
    past = start(db_session, org, clock, "m1_b1")
    complete(db_session, past, "m1_b1")
    complete(db_session, past, "rev_b1")
    done = start(db_session, org, clock, "m2_a1")
    complete(db_session, done, "m2_a1")
    complete(db_session, done, "rev_a1")
    instances.send_message(db_session, fresh(db_session, done), "go", {"value": "x"}, actor_user_id=None)
    db_session.commit()
    v2 = deploy_xml(db_session, with_check_step())
    found = migration.candidates(db_session, "engine_test", v2)
    assert [i.id for i in found] == [waiting.id, reviewing.id, past.id]  # the completed one is not a candidate
    checks = {c.instance_id: c for c in migration.dry_run(db_session, who(db_session, "designer"),
                                                          [waiting.id, reviewing.id, past.id, done.id, 99999], v2.id)}
    assert checks[waiting.id].movable and checks[reviewing.id].movable
    assert checks[reviewing.id].steps_after == ["review"]
    assert [r.code for r in checks[past.id].reasons] == ["changed_done_step"]
    assert [r.code for r in checks[done.id].reasons] == ["not_running"]
    assert 99999 not in checks
    [same] = migration.dry_run(db_session, who(db_session, "designer"), [waiting.id], v1.id)
    assert [r.code for r in same.reasons] == ["same_version"]
    # Dry runs change nothing.
    assert {fresh(db_session, i).process_version_id for i in (waiting, reviewing, past)} == {v1.id}


def test_an_errored_instance_can_be_moved_onto_a_fix(db_session, org, v1, clock):
    instance = start(db_session, org, clock)
    instances.record_error(db_session, instance.id, "boom")
    db_session.commit()
    v2 = deploy_xml(db_session, renamed())
    tx.run(db_session, migration.migrate_instance, who(db_session, "designer"), instance.id, v2.id)
    instance = fresh(db_session, instance)
    assert instance.status == InstanceStatus.RUNNING and instance.error is None and instance.process_version_id == v2.id


@pytest.mark.parametrize("username", ["office", "leader", "sec_a1", "m1_a1"])
def test_only_the_process_designer_migrates(db_session, org, v1, clock, username):
    instance = start(db_session, org, clock)
    v2 = deploy_xml(db_session, renamed())
    with pytest.raises(NotAllowed):
        migration.migrate_instance(db_session, who(db_session, username), instance.id, v2.id)
    db_session.rollback()
    with pytest.raises(NotAllowed):
        migration.dry_run(db_session, who(db_session, username), [instance.id], v2.id)
    db_session.rollback()


def test_two_migrations_of_one_instance_one_wins(app, db_session, org, v1, clock):
    """The migration loaded the instance before somebody completed its task: its CAS loses."""
    from sqlalchemy.orm import Session

    instance = start(db_session, org, clock)
    v2 = deploy_xml(db_session, renamed())
    other = Session(db_session.get_bind())
    stale = other.get(ProcessInstance, instance.id)
    complete(db_session, instance, "m1_a1")
    import workflows.engine.instances as rt

    original = rt.get_instance
    rt.get_instance = lambda session, iid: stale  # the migration works on what it read before
    try:
        with pytest.raises(instances.StaleInstance):
            migration.migrate_instance(other, who(other, "designer"), instance.id, v2.id)
    finally:
        rt.get_instance = original
        other.rollback()
        other.close()
    assert fresh(db_session, instance).process_version_id == v1.id


# --- Comparing versions -------------------------------------------------------------------------------------


def test_compare_names_tasks_flows_and_lanes(db_session, org, v1):
    v2 = deploy_xml(db_session, in_secretary_lane(with_check_step()))
    diff = compare.compare_versions(db_session, v1.id, v2.id)
    assert [c.key for c in diff.tasks.added] == ["check"]
    assert not diff.tasks.removed
    review = next(c for c in diff.tasks.changed if c.key == "review")
    assert ("name", "审核", "复核") in review.fields and ("lane", "reviewer", "secretary") in review.fields
    assert [c.key for c in diff.flows.added] == ["f3b"]
    f3 = next(c for c in diff.flows.changed if c.key == "f3")
    assert ("to", "wait_go", "check") in f3.fields
    assert [c.key for c in diff.lanes.added] == ["secretary"] and [c.key for c in diff.lanes.removed] == ["reviewer"]
    same = compare.compare_versions(db_session, v1.id, v1.id)
    assert same.empty


def test_versions_overview_counts_instances_per_version(db_session, org, v1, clock):
    start(db_session, org, clock)
    start(db_session, org, clock, "m1_a2")
    v2 = deploy_xml(db_session, renamed())
    start(db_session, org, clock, "m1_b1")
    [info] = [p for p in versions.versions_overview(db_session) if p.process_key == "engine_test"]
    assert [(v.version.version, v.total, v.live) for v in info.versions] == [(2, 1, 1), (1, 2, 2)]
    assert info.latest.version.id == v2.id
