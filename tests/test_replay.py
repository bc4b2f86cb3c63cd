"""Replay before deploy: the recorded histories of recent instances run on a candidate version in
memory and each is reported as the same path, a different path at step X, or stuck at step X."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from models.audit import AuditEvent
from models.process import ProcessInstance
from tests.test_migration import (
    XML,
    complete,
    deploy_xml,
    fresh,
    start,
    test_registry,  # noqa: F401 - the fixture registering the test form, message and operator
    with_check_step,
    with_gateway,
)
from workflows.designer import replay
from workflows.engine import instances, jobs, spiff


@pytest.fixture
def history(app, db_session, org, clock):
    """Four instances of engine_test v1 with different histories."""
    deploy_xml(db_session, XML)
    finished = start(db_session, org, clock)
    complete(db_session, finished, "m1_a1")
    complete(db_session, finished, "rev_a1", ok=False)
    instances.send_message(db_session, fresh(db_session, finished), "go", {"value": "再见"}, actor_user_id=None)
    db_session.commit()
    reviewing = start(db_session, org, clock, "m1_a2")
    complete(db_session, reviewing, "m1_a2")
    late = start(db_session, org, clock, "m1_b1", days=3)
    clock.advance(days=4)
    jobs.run_until_idle(db_session)
    waiting = start(db_session, org, clock, "m2_a1")
    complete(db_session, waiting, "m2_a1")
    complete(db_session, waiting, "rev_a1", ok=True)
    return {"finished": fresh(db_session, finished), "reviewing": fresh(db_session, reviewing),
            "late": fresh(db_session, late), "waiting": fresh(db_session, waiting)}


def outcomes(db_session, xml: bytes, history) -> dict[str, replay.ReplayResult]:
    candidate = spiff.parse(xml)["engine_test"]
    by_id = {r.instance_id: r for r in replay.replay(db_session, candidate)}
    return {name: by_id[i.id] for name, i in history.items()}


def test_the_same_version_replays_the_same_path(db_session, history, test_registry):  # noqa: F811
    assert history["finished"].status == "completed" and history["late"].status == "completed"
    calls = list(test_registry)
    results = outcomes(db_session, XML, history)
    assert {k: (r.outcome, r.reason) for k, r in results.items()} == {k: ("same", "same") for k in history}
    assert results["finished"].events == results["finished"].total_events == 3  # two tasks and the message
    # The service task answered from the record: the real operator was not called again.
    assert test_registry == calls
    assert "stubbed" not in results["finished"].detail


def test_a_timer_fires_at_its_recorded_moment(db_session, history):
    """The late instance's deadline fired 4 days in; a version whose deadline is a fixed date in the
    far future keeps it at declare instead."""
    fixed = XML.replace(b"<bpmn:timeDate>deadline</bpmn:timeDate>",
                        b"<bpmn:timeDate>'2099-01-01T00:00:00+08:00'</bpmn:timeDate>")
    result = outcomes(db_session, fixed, history)["late"]
    assert (result.outcome, result.reason, result.step) == ("different", "path_differs", "deadline")


def test_an_inserted_step_is_a_different_path(db_session, history):
    results = outcomes(db_session, with_check_step(), history)
    finished = results["finished"]
    # After review the new version waits at "check", so the recorded "go" message finds nobody.
    assert (finished.outcome, finished.reason, finished.step) == ("different", "message_not_awaited", "check")
    assert finished.detail["message"] == "go" and finished.detail["found"] == ["check"]
    waiting = results["waiting"]
    assert (waiting.outcome, waiting.reason, waiting.step) == ("different", "ends_elsewhere", "check")
    assert waiting.detail == {"found": ["check"], "expected": ["wait_go"]}
    assert results["reviewing"].same and results["late"].same


def test_a_gateway_sends_a_recorded_history_elsewhere(db_session, history):
    results = outcomes(db_session, with_gateway("ok == False"), history)
    finished = results["finished"]
    assert (finished.outcome, finished.reason) == ("different", "ended_early")
    assert results["waiting"].same  # ok was True: it still waits for go


def test_an_expression_the_history_cannot_satisfy_is_stuck(db_session, history):
    results = outcomes(db_session, with_gateway("approved == True"), history)
    for name in ("finished", "waiting"):
        result = results[name]
        assert (result.outcome, result.reason, result.step) == ("stuck", "engine_error", "gw")
        assert "approved" in result.detail["error"]
    assert results["reviewing"].same


def test_replay_changes_nothing(db_session, history):
    before = {i.id: (i.lock_version, i.current_steps) for i in db_session.scalars(select(ProcessInstance))}
    events = db_session.scalar(select(func.count()).select_from(AuditEvent))
    outcomes(db_session, with_check_step(), history)
    db_session.rollback()
    after = {i.id: (i.lock_version, i.current_steps) for i in db_session.scalars(
        select(ProcessInstance).execution_options(populate_existing=True))}
    assert after == before
    assert db_session.scalar(select(func.count()).select_from(AuditEvent)) == events


def test_the_replay_clock_is_private_to_the_replay(db_session, history, clock):
    from SpiffWorkflow.bpmn.specs.event_definitions import timer

    outcomes(db_session, XML, history)
    assert timer.datetime.now(clock.now().tzinfo) == clock.now()
    clock.advance(timedelta(hours=1))
    assert timer.datetime.now(clock.now().tzinfo) == clock.now()


def test_summary_and_limit(db_session, history):
    candidate = spiff.parse(with_check_step())["engine_test"]
    results = replay.replay(db_session, candidate, limit=2)
    assert len(results) == 2 and {r.instance_id for r in results} == {history["waiting"].id, history["late"].id}
    assert replay.summary(results) == {"same": 1, "different": 1, "stuck": 0}
    assert replay.replay(db_session, spiff.parse(XML.replace(b'id="engine_test"', b'id="other"'))["other"]) == []


def test_recent_instances_are_spread_over_where_they_stand(db_session, org, history, clock):
    for who_ in ("m2_a2", "m3_a2", "m2_b1"):  # three more, newest, all at declare
        start(db_session, org, clock, who_)
    chosen = replay.recent_instances(db_session, "engine_test", limit=4)
    assert {i.current_steps for i in chosen} == {"declare", "wait_go", "", "review"}
    assert [i.id for i in chosen] == sorted((i.id for i in chosen), reverse=True)
