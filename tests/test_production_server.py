"""The production server as `make serve-prod` runs it (gunicorn, threads sharing one process and its
engine caches), under concurrent API completions: every task is completed once, by its member,
with one history row and one new review task each; a second submission of the same task racing
the first gets 409, never a second completion or a server error."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from bench import http_load
from tests.conftest import BACKENDS, PG_URL

MEMBERS = 100
COMPLETIONS = 40


def _prepare(url: str) -> list[tuple[str, int]]:
    from bench import run

    app = run.make_app(url, Path(os.environ["POINTSFLOW_INSTANCE"]))
    with app.app_context():
        from webapp.extensions import db

        seeded = run.prepare(app, MEMBERS)
        run.measure_open(db.session, seeded)
        pairs = http_load.tokens_for_open_self_evaluations(db.session, COMPLETIONS)
        db.session.remove()
        db.engine.dispose()
    return pairs


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path):
    """(url, environment for the server) of a fresh migrated database with a bureau and an open quarter."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'server.db'}", {}
        return
    schema = f"pf_server_{os.getpid()}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    saved = os.environ.get("PGOPTIONS")
    os.environ["PGOPTIONS"] = f"-c search_path={schema}"
    try:
        yield PG_URL, {"PGOPTIONS": os.environ["PGOPTIONS"]}
    finally:
        if saved is None:
            os.environ.pop("PGOPTIONS", None)
        else:
            os.environ["PGOPTIONS"] = saved
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def test_threads_of_the_production_server_complete_each_task_once(database):
    url, extra_env = database
    pairs = _prepare(url)
    assert len(pairs) == COMPLETIONS
    from models.process import HumanTask, ProcessInstance

    engine = create_engine(url)  # PGOPTIONS (the fixture's) puts it in the test's schema
    task_ids = [t for _, t in pairs]
    with engine.connect() as conn:
        before = dict(conn.execute(select(ProcessInstance.id, ProcessInstance.lock_version).join(
            HumanTask, HumanTask.instance_id == ProcessInstance.id).where(HumanTask.id.in_(task_ids))).all())
    server, port = http_load.start_server({"DATABASE_URL": url, **extra_env}, workers=1, threads=4,
                                          stderr=subprocess.PIPE)
    # Every task is submitted twice, by two different threads at about the same time.
    work = [pair for pair in pairs for _ in range(2)]
    lock = threading.Lock()
    answers: list[tuple[int, int, dict]] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if not work:
                    break
                token, task_id = work.pop()
            conn.request("POST", f"/api/v1/tasks/{task_id}/complete", body=json.dumps({"one_click": True}),
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            response = conn.getresponse()
            body = json.loads(response.read() or b"{}")
            with lock:
                answers.append((task_id, response.status, body))
        conn.close()

    try:
        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        http_load.stop_server(server)
    errors = server.stderr.read().decode() if server.stderr else ""
    assert "Traceback" not in errors, errors

    by_task: dict[int, list[int]] = {}
    for task_id, status, body in answers:
        by_task.setdefault(task_id, []).append(status)
        if status == 200:
            assert body["task"]["id"] == task_id and body["task"]["state"] == "completed", body
            assert body["instance"]["step_status"] == "review", body
        else:
            assert status == 409 and body["error"] in ("task_not_ready", "task_taken"), (status, body)
    assert sorted(by_task) == sorted(t for _, t in pairs)
    assert all(sorted(s) == [200, 409] for s in by_task.values()), by_task

    # The database agrees: each task completed once by its own member, one history row each, one
    # review task per instance, every instance one step further.
    from models.audit import AuditEvent
    from models.evaluation import Evaluation

    with engine.connect() as conn:
        done = conn.execute(select(HumanTask.id, HumanTask.state, HumanTask.completed_by, HumanTask.assignee_id,
                                   HumanTask.instance_id).where(HumanTask.id.in_(task_ids))).all()
        assert all(r.state == "completed" and r.completed_by == r.assignee_id for r in done)
        instances = [r.instance_id for r in done]
        history = conn.execute(select(AuditEvent.object_id, func.count()).where(
            AuditEvent.action == "task.completed", AuditEvent.object_type == "human_task")
            .group_by(AuditEvent.object_id)).all()
        assert sorted((int(o), n) for o, n in history) == sorted((t, 1) for t in task_ids)
        reviews = conn.execute(select(HumanTask.instance_id, func.count()).where(
            HumanTask.instance_id.in_(instances), HumanTask.form_key == "branch_review",
            HumanTask.state == "open").group_by(HumanTask.instance_id)).all()
        assert sorted(reviews) == sorted((i, 1) for i in instances)
        after = dict(conn.execute(select(ProcessInstance.id, ProcessInstance.lock_version)
                                  .where(ProcessInstance.id.in_(instances))).all())
        assert after == {i: v + 1 for i, v in before.items()}
        statuses = conn.execute(select(Evaluation.status).where(Evaluation.instance_id.in_(instances))).scalars()
        assert set(statuses) == {"review"}
    engine.dispose()
