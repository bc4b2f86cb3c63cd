"""The engine integration without HTTP: deploy, start, complete, claim, timers, messages,
versions, locking — on a small test diagram (tests/data/bpmn/engine_test.bpmn)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models.audit import AuditEvent
from models.permissions import Principal
from models.process import HumanTask, InstanceStatus, ProcessInstance, TaskState, Timer
from workflows.engine import checks, deploy, instances, jobs, registry, user_tasks
from workflows.errors import NotAllowed, TaskNotReady, TaskTaken

DATA = Path(__file__).parent / "data" / "bpmn"
XML = (DATA / "engine_test.bpmn").read_bytes()


@pytest.fixture(autouse=True)
def test_registry():
    echoes = []

    def echo(ctx, data, value):
        echoes.append((ctx.instance.id, value))
        return {"echo": value}

    registry.add(forms=["test_form"], operators={"test_echo": echo}, external_messages=["go"])
    yield echoes
    registry.remove(forms=["test_form"], operators=["test_echo"], external_messages=["go"])


def principal(session, user):
    from models.people import RoleAssignment

    grants = [(r.role, r.branch_id) for r in session.scalars(select(RoleAssignment).where(RoleAssignment.user_id == user.id))]
    person = user.person
    return Principal.build(user.id, user.person_id, person.branch_id if person else None, grants)


@pytest.fixture
def deployed(app, db_session, org):
    versions, result = deploy.deploy(db_session, XML, "engine_test.bpmn", actor_user_id=None)
    assert result.ok, [str(p) for p in result.problems]
    db_session.commit()
    return versions[0]


def start(db_session, org, clock, who="m1_a1"):
    person = org.people[who]
    deadline = (clock.now() + timedelta(days=7)).isoformat()
    instance = instances.start_process(db_session, "engine_test", {"deadline": deadline}, branch_id=person.branch_id,
                                     subject_person_id=person.id)
    db_session.commit()
    return instance


def open_tasks(db_session, instance):
    return list(db_session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                           HumanTask.state == TaskState.OPEN)))


def test_start_mirrors_the_first_task_and_its_timer(db_session, org, deployed, clock):
    instance = start(db_session, org, clock)
    [task] = open_tasks(db_session, instance)
    assert (task.bpmn_id, task.name, task.role, task.form_key) == ("declare", "申报", "member", "test_form")
    assert task.assignee_id == org.users["m1_a1"].id
    assert task.due_at == clock.now() + timedelta(days=7)
    [timer] = db_session.scalars(select(Timer).where(Timer.instance_id == instance.id))
    assert timer.bpmn_id == "deadline" and timer.due_at == clock.now() + timedelta(days=7)
    assert instance.current_steps == "declare" and instance.step_status == "declaring"
    assert len(instance.state) < 3000  # compact state, no spec inside


def test_completion_moves_to_the_reviewers_pool_without_the_subject(db_session, org, deployed, clock):
    instance = start(db_session, org, clock, who="rev_a1")  # a reviewer's own evaluation
    [task] = open_tasks(db_session, instance)
    user_tasks.complete_task(db_session, task.id, principal(db_session, org.users["rev_a1"]), {"claims": 1})
    db_session.commit()
    [review] = open_tasks(db_session, instance)
    assert (review.bpmn_id, review.role, review.branch_id) == ("review", "reviewer", org.branches["a1"].id)
    assert review.excluded_users == f" {org.users['rev_a1'].id} "
    assert db_session.scalar(select(func.count()).select_from(Timer).where(Timer.instance_id == instance.id)) == 0
    # The subject cannot review themself; the other reviewer of the branch can.
    with pytest.raises(NotAllowed):
        user_tasks.complete_task(db_session, review.id, principal(db_session, org.users["rev_a1"]), {})
    db_session.rollback()
    with pytest.raises(NotAllowed):
        user_tasks.complete_task(db_session, review.id, principal(db_session, org.users["rev_a2"]), {})
    db_session.rollback()
    user_tasks.complete_task(db_session, review.id, principal(db_session, org.users["rev2_a1"]), {"ok": True})
    db_session.commit()
    history = db_session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance.id,
                                                          AuditEvent.action == "task.completed")).all()
    assert [h.actor_user_id for h in history] == [org.users["rev_a1"].id, org.users["rev2_a1"].id]


def test_second_completion_is_refused(db_session, org, deployed, clock):
    instance = start(db_session, org, clock)
    [task] = open_tasks(db_session, instance)
    member = principal(db_session, org.users["m1_a1"])
    user_tasks.complete_task(db_session, task.id, member, {})
    db_session.commit()
    version = instances.get_instance(db_session, instance.id).lock_version
    with pytest.raises(TaskNotReady):
        user_tasks.complete_task(db_session, task.id, member, {})
    db_session.rollback()
    assert instances.get_instance(db_session, instance.id).lock_version == version


def test_claim_release_and_taken(db_session, org, deployed, clock):
    instance = start(db_session, org, clock)
    [task] = open_tasks(db_session, instance)
    user_tasks.complete_task(db_session, task.id, principal(db_session, org.users["m1_a1"]), {})
    db_session.commit()
    [review] = open_tasks(db_session, instance)
    first, second = principal(db_session, org.users["rev_a1"]), principal(db_session, org.users["rev2_a1"])
    user_tasks.claim(db_session, review.id, first)
    db_session.commit()
    with pytest.raises(TaskTaken):
        user_tasks.claim(db_session, review.id, second)
    db_session.rollback()
    with pytest.raises(TaskTaken):
        user_tasks.complete_task(db_session, review.id, second, {})
    db_session.rollback()
    user_tasks.release(db_session, review.id, first)
    db_session.commit()
    user_tasks.complete_task(db_session, review.id, second, {})
    db_session.commit()


def test_message_from_outside_then_service_task(db_session, org, deployed, clock, test_registry):
    instance = start(db_session, org, clock)
    [task] = open_tasks(db_session, instance)
    user_tasks.complete_task(db_session, task.id, principal(db_session, org.users["m1_a1"]), {})
    [review] = open_tasks(db_session, instance)
    user_tasks.complete_task(db_session, review.id, principal(db_session, org.users["rev_a1"]), {})
    db_session.commit()
    assert instance.waiting_messages == "go" and instance.step_status == "waiting"
    assert instances.send_message(db_session, instance, "go", {"value": "你好"}, actor_user_id=None)
    db_session.commit()
    assert test_registry == [(instance.id, "你好")]
    assert db_session.get(ProcessInstance, instance.id).status == InstanceStatus.COMPLETED
    assert not instances.send_message(db_session, instance, "go", {"value": "again"}, actor_user_id=None)


def test_deadline_timer_fires_once_when_the_clock_passes_it(db_session, org, deployed, clock):
    instance = start(db_session, org, clock)
    assert jobs.fire_due_timers(db_session) == (0, 0)
    clock.advance(days=7, seconds=1)
    assert jobs.fire_due_timers(db_session) == (1, 0)
    assert jobs.fire_due_timers(db_session) == (0, 0)
    instance = db_session.get(ProcessInstance, instance.id, populate_existing=True)
    assert instance.status == InstanceStatus.COMPLETED
    task = db_session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id))
    assert task.state == TaskState.CANCELLED


def test_two_tickers_never_fire_one_timer_twice(app, db_session, org, deployed, clock):
    """Ticker B loaded the instance before ticker A fired it: B's compare-and-set loses."""
    from sqlalchemy.orm import Session

    instance = start(db_session, org, clock)
    clock.advance(days=8)
    other = Session(db_session.get_bind())
    stale = other.get(ProcessInstance, instance.id)
    assert instances.fire_timers(db_session, instances.get_instance(db_session, instance.id))
    db_session.commit()
    with pytest.raises(instances.StaleInstance):
        instances.fire_timers(other, stale)
    other.rollback()
    other.close()
    fired = db_session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.instance_id == instance.id, AuditEvent.action == "process.timer"))
    assert fired == 1


def test_running_instances_stay_on_their_version(db_session, org, deployed, clock):
    old = start(db_session, org, clock)
    v2_xml = XML.replace("审核".encode(), "复核".encode())
    [v2], result = deploy.deploy(db_session, v2_xml, "engine_test.bpmn", actor_user_id=None)
    db_session.commit()
    assert result.ok and v2.version == 2
    new = start(db_session, org, clock, who="m1_a2")
    assert old.process_version_id == deployed.id and new.process_version_id == v2.id
    for instance in (old, new):
        [task] = open_tasks(db_session, instance)
        user_tasks.complete_task(db_session, task.id, principal(db_session, db_session.get(
            type(org.users["m1_a1"]), task.assignee_id)), {})
    db_session.commit()
    names = {i.id: open_tasks(db_session, i)[0].name for i in (old, new)}
    assert names == {old.id: "审核", new.id: "复核"}
    # The same content deployed again is the same version, not a new one.
    again, _ = deploy.deploy(db_session, v2_xml, "engine_test.bpmn", actor_user_id=None)
    assert again[0].id == v2.id


@pytest.mark.parametrize("mutate,expected", [
    (lambda x: x.replace(b'value="test_form" />\n        <spiffworkflow:property name="dueAt"', b'value="nope" />\n        <spiffworkflow:property name="dueAt"'), "unknown form nope"),
    (lambda x: x.replace(b"<bpmn:flowNodeRef>review</bpmn:flowNodeRef>", b""), "not in a lane"),
    (lambda x: x.replace(b'name="reviewer"', b'name="cook"'), "lane cook is not a known role"),
    (lambda x: x.replace(b"<bpmn:timeDate>deadline</bpmn:timeDate>", b"<bpmn:timeDate>'next tuesday'</bpmn:timeDate>"), "bad timer expression"),
    (lambda x: x.replace(b"<bpmn:timeDate>deadline</bpmn:timeDate>", b"<bpmn:timeDate>${deadline}</bpmn:timeDate>"), "bad timer expression"),
    (lambda x: x.replace(b'id="test_echo"', b'id="rm_rf"'), "unknown service operator rm_rf"),
    (lambda x: x.replace(b'name="go"', b'name="never_sent"'), "waits for message never_sent"),
    (lambda x: x.replace(b'isExecutable="true"', b'isExecutable="false"'), "no executable process"),
    (lambda x: x.replace(b'<bpmn:sequenceFlow id="f2" sourceRef="declare" targetRef="review" />',
                         b'<bpmn:sequenceFlow id="f2" sourceRef="declare" targetRef="review">'
                         b'<bpmn:conditionExpression>${ok == true}</bpmn:conditionExpression></bpmn:sequenceFlow>'),
     "f2: bad condition"),
    (lambda x: x[:200], "not well-formed"),
    (lambda x: b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>', "not allowed"),
    (lambda x: b"<html><body>hello</body></html>", "not a BPMN 2.0 document"),
])
def test_validation_names_the_problem(app, mutate, expected):
    result = checks.validate(mutate(XML), "x.bpmn")
    assert not result.ok
    assert any(expected in str(p) for p in result.errors), [str(p) for p in result.problems]


def test_a_failing_deploy_stores_nothing(db_session, org):
    from models.process import ProcessVersion

    versions, result = deploy.deploy(db_session, XML.replace(b'name="reviewer"', b'name="cook"'), "x.bpmn",
                                     actor_user_id=None)
    assert versions == [] and not result.ok
    assert db_session.scalar(select(func.count()).select_from(ProcessVersion)) == 0


def test_a_camunda_form_key_is_the_tasks_form(db_session, org, clock):
    """A file drawn in Camunda Modeler names its forms with camunda:formKey."""
    xml = XML.replace(b'xmlns:spiffworkflow=', b'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:spiffworkflow=')
    xml = xml.replace('<bpmn:userTask id="review" name="审核">'.encode(), b'<bpmn:userTask id="review" name="review" camunda:formKey="test_form">')
    xml = xml.replace(b'<spiffworkflow:property name="formKey" value="test_form" />\n        <spiffworkflow:property name="status" value="reviewing" />',
                      b'<spiffworkflow:property name="status" value="reviewing" />')
    assert b'camunda:formKey="test_form"' in xml
    assert xml.count(b'name="formKey"') == 1  # only the first task keeps the spiffworkflow property
    versions, result = deploy.deploy(db_session, xml, "camunda.bpmn", actor_user_id=None)
    assert result.ok, [str(p) for p in result.problems]
    db_session.commit()
    instance = start(db_session, org, clock)
    [task] = open_tasks(db_session, instance)
    user_tasks.complete_task(db_session, task.id, principal(db_session, org.users["m1_a1"]), {})
    db_session.commit()
    [review] = open_tasks(db_session, instance)
    assert review.form_key == "test_form"
