"""Reliability of the engine integration: faults injected inside a completion leave nothing
half-done, a restart loses nothing, a filed quarter refuses and records every write, the audit
log catches an edited or deleted row, and (on PostgreSQL) parallel connections racing for one task
or one timer produce exactly one winner."""

from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from models import audit
from models.audit import AuditEvent
from models.evaluation import Claim
from models.process import HumanTask, ProcessInstance, TaskState, Timer
from tests import quarter_helpers as qh
from workflows.engine import access, deploy, jobs, spiff, tx
from workflows.errors import Conflict, QuarterLocked, TaskNotReady, TaskTaken
from workflows.quarter import evaluation


@pytest.fixture
def quarter_env(app, db_session, org, clock):
    qh.deploy_shipped(db_session)
    qh.load_catalogue(db_session)
    return qh.open_quarter(db_session, clock)


def snapshot(session, instance_id):
    """Everything a completion may touch, as plain values."""
    session.expire_all()
    inst = session.get(ProcessInstance, instance_id, populate_existing=True)
    tasks = session.execute(select(HumanTask.id, HumanTask.bpmn_id, HumanTask.state, HumanTask.assignee_id)
                            .where(HumanTask.instance_id == instance_id).order_by(HumanTask.id)).all()
    timers = session.execute(select(Timer.task_uuid, Timer.due_at).where(Timer.instance_id == instance_id)
                             .order_by(Timer.task_uuid)).all()
    history = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.instance_id == instance_id))
    return (bytes(inst.state), inst.lock_version, inst.current_steps, inst.status, tuple(tasks), tuple(timers), history)


@pytest.mark.parametrize("where", ["after_engine_run", "during_task_row_write", "before_commit"])
def test_a_fault_inside_a_completion_leaves_the_instance_exactly_as_before(db_session, org, quarter_env, monkeypatch, where):
    q = quarter_env
    m1 = org.people["m1_a1"]
    [task] = qh.tasks(db_session, "self_evaluation", person_id=m1.id)
    before = snapshot(db_session, task.instance_id)

    class Injected(RuntimeError):
        pass

    def boom(*args, **kwargs):
        raise Injected(where)

    if where == "after_engine_run":
        monkeypatch.setattr(spiff, "dump_state", boom)
    elif where == "during_task_row_write":
        monkeypatch.setattr(access, "pool_for", boom)
    else:
        monkeypatch.setattr(db_session, "commit", boom)
    with pytest.raises(Exception) as excinfo:
        tx.run(db_session, evaluation.submit_self_evaluation, qh.who(db_session, "m1_a1"), task.id, one_click=True)
    assert "Injected" in repr(excinfo.value) or where in str(excinfo.value)
    monkeypatch.undo()
    db_session.rollback()
    assert snapshot(db_session, task.instance_id) == before
    assert qh.evaluation_of(db_session, q.id, m1.id).declared_at is None
    # Nothing is lost: the same completion succeeds afterwards.
    tx.run(db_session, evaluation.submit_self_evaluation, qh.who(db_session, "m1_a1"), task.id, one_click=True)
    assert qh.tasks(db_session, "branch_review", person_id=m1.id)


def test_a_restart_loses_nothing(app, db_session, org, quarter_env, request, tmp_path):
    q = quarter_env
    qh.declare_all(db_session, q.id)
    [review] = qh.tasks(db_session, "branch_review", person_id=org.people["m1_a1"].id)
    db_session.remove()
    # A new process: empty caches, new engine, new connections — only the database remains.
    deploy.clear_cache()
    from workflows.catalogue import versions as catalogue

    catalogue.clear_rules_cache()
    from webapp.extensions import db

    db.engine.dispose()
    tx.run(db.session, evaluation.review, qh.who(db.session, "rev_a1"), review.id, [])
    ev = qh.evaluation_of(db.session, q.id, org.people["m1_a1"].id)
    assert ev.score is not None and ev.status == "reviewed"


def test_filed_quarter_refuses_and_records_every_write(db_session, org, quarter_env, clock):
    q = quarter_env
    qh.declare_all(db_session, q.id)
    qh.review_all(db_session, q.id)
    qh.approve_and_meet(db_session, q.id, clock)
    qh.end_publicity(db_session, clock)
    qh.notice_and_file(db_session, q.id)
    ev = qh.evaluation_of(db_session, q.id, org.people["m1_a1"].id)
    member = qh.who(db_session, "m1_a1")
    rules = evaluation.rules(db_session, ev)
    standard = next(iter(rules.standards.values()))
    attempts = [
        (evaluation.save_claim, (member, ev.id, {"standard_id": standard.id, "occurrences": 1})),
        (evaluation.delete_claim, (member, 1)),
    ]
    claim = db_session.scalar(select(Claim).where(Claim.evaluation_id == ev.id).limit(1))
    for fn, args in attempts:
        with pytest.raises(Exception) as excinfo:
            tx.run(db_session, fn, *args)
        assert isinstance(excinfo.value, (QuarterLocked, Exception))
    refusals = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "locked.refused")).all()
    assert len(refusals) >= 1 and refusals[0].actor_user_id == member.user_id
    assert refusals[0].quarter_id == q.id
    # The ORM guard refuses changes that bypass the services.
    if claim is not None:
        claim.description = "改写"
        with pytest.raises(QuarterLocked):
            db_session.flush()
        db_session.rollback()


def test_audit_verify_catches_an_edited_and_a_deleted_row(app, db_session, runner, backend):
    for i in range(5):
        audit.record(db_session, "test.event", actor_user_id=None, object_type="x", object_id=i, data={"i": i})
    db_session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output
    rows = db_session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    victim = rows[2]
    victim_id, victim_seq, original = victim.id, victim.seq, victim.data
    deleted_id = rows[3].id
    # An attacker with database access bypasses the append-only triggers.
    if backend == "sqlite":
        db_session.execute(text("DROP TRIGGER audit_event_no_update"))
    else:
        db_session.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
    db_session.execute(text("UPDATE audit_event SET data = :d WHERE id = :i"), {"d": '{"i":999}', "i": victim_id})
    db_session.commit()
    result = runner.invoke(args=["audit", "verify", "--no-seal"])
    assert result.exit_code == 1
    assert f"sequence {victim_seq}" in result.output and "altered" in result.output
    # Restore it, then delete a row instead: the gap is found.
    db_session.execute(text("UPDATE audit_event SET data = :d WHERE id = :i"), {"d": original, "i": victim_id})
    if backend == "sqlite":
        db_session.execute(text("DROP TRIGGER audit_event_no_delete"))
    db_session.execute(text("DELETE FROM audit_event WHERE id = :i"), {"i": deleted_id})
    db_session.commit()
    result = runner.invoke(args=["audit", "verify", "--no-seal"])
    assert result.exit_code == 1 and "missing" in result.output
    if backend != "sqlite":
        db_session.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))
        db_session.commit()


postgres_only = pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs TEST_DATABASE_URL (PostgreSQL)")


@postgres_only
def test_twenty_connections_complete_the_same_task_exactly_one_wins(app, db_session, org, quarter_env, backend):
    if backend != "postgresql":
        pytest.skip("contention is measured on PostgreSQL")
    q = quarter_env
    qh.declare_all(db_session, q.id)
    [review] = qh.tasks(db_session, "branch_review", person_id=org.people["m1_a1"].id)
    before = db_session.get(ProcessInstance, review.instance_id, populate_existing=True).lock_version
    actors = [qh.who(db_session, "rev_a1"), qh.who(db_session, "rev2_a1")] * 10
    engine = db_session.get_bind()
    barrier = threading.Barrier(len(actors))
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(actor):
        session = Session(engine)
        try:
            barrier.wait()
            tx.run(session, evaluation.review, actor, review.id, [], dispatch=False)
            outcome = "ok"
        except (TaskNotReady, TaskTaken, Conflict) as e:
            outcome = type(e).__name__
        except Exception as e:  # noqa: BLE001
            outcome = f"unexpected {type(e).__name__}: {e}"
        finally:
            session.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt, args=(a,)) for a in actors]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes.count("ok") == 1, outcomes
    assert all(o in ("ok", "TaskNotReady", "TaskTaken", "Conflict", "StaleInstance") for o in outcomes), outcomes
    db_session.expire_all()
    task = db_session.get(HumanTask, review.id, populate_existing=True)
    assert task.state == TaskState.COMPLETED
    assert db_session.get(ProcessInstance, review.instance_id, populate_existing=True).lock_version == before + 1
    completions = db_session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "task.completed", AuditEvent.object_id == str(review.id)))
    assert completions == 1


@postgres_only
def test_two_timer_workers_never_fire_one_timer_twice(app, db_session, org, quarter_env, clock, backend):
    if backend != "postgresql":
        pytest.skip("contention is measured on PostgreSQL")
    clock.advance(days=11)  # past every self-evaluation deadline
    due = db_session.scalar(select(func.count(func.distinct(Timer.instance_id))).where(Timer.due_at <= clock.now()))
    assert due > 0
    engine = db_session.get_bind()
    barrier = threading.Barrier(2)
    errors = []

    def worker():
        session = Session(engine)
        try:
            barrier.wait()
            jobs.fire_due_timers(session)
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        finally:
            session.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    fired = db_session.execute(select(AuditEvent.instance_id, func.count()).where(AuditEvent.action == "process.timer")
                               .group_by(AuditEvent.instance_id)).all()
    assert fired and all(n == 1 for _, n in fired)
    assert db_session.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.form_key == "proxy_self_evaluation")) == len(fired)


def test_timer_catch_up_after_downtime(db_session, org, quarter_env, clock):
    """The worker was down past the reminder and the deadline: one tick catches both, in order."""
    clock.advance(days=30)
    jobs.run_until_idle(db_session)
    m1 = org.people["m1_a1"]
    assert qh.tasks(db_session, "proxy_self_evaluation", person_id=m1.id)
    assert not qh.tasks(db_session, "self_evaluation", person_id=m1.id)
    reminders = db_session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "process.timer", AuditEvent.instance_id == qh.evaluation_of(
            db_session, quarter_env.id, m1.id).instance_id))
    assert reminders >= 1
