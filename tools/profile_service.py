"""Profile the service-layer task completion (the benchmark's `complete_p50_ms`): where do the
milliseconds and the statements go?

    .venv/bin/python tools/profile_service.py [members=600] [completions=300] [sort=cumulative]

Seeds a bureau on SQLite in a temp folder (or on DATABASE_URL), opens a quarter, then completes
one-click self-evaluations through `workflows.evaluation.submit_self_evaluation` under cProfile.
Prints the time per completion next to the engine floor, the SQL statements of one completion,
and the functions that cost most.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    members = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    completions = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    sort = sys.argv[3] if len(sys.argv) > 3 else "cumulative"
    from sqlalchemy import event, select

    from bench import run

    folder = Path(tempfile.mkdtemp())
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{folder / 'profile.db'}"
    app = run.make_app(url, folder)
    with app.app_context():
        from models.process import HumanTask, TaskState
        from webapp.extensions import db
        from workflows.engine import tx
        from workflows.org import principals
        from workflows.quarter import evaluation

        session = db.session
        seeded = run.prepare(app, members)
        _, quarter = run.measure_open(session, seeded)
        tasks = session.execute(select(HumanTask.id, HumanTask.assignee_id).where(
            HumanTask.quarter_id == quarter.id, HumanTask.form_key == "self_evaluation",
            HumanTask.state == TaskState.OPEN).limit(completions + 21)).all()
        actors = {a: principals.principal_for(session, a) for _, a in tasks}
        session.commit()

        def complete(task_id: int, assignee: int) -> None:
            tx.run(session, evaluation.submit_self_evaluation, actors[assignee], task_id, one_click=True)

        for task_id, assignee in tasks[:20]:  # warm-up: caches, compiled statements
            complete(task_id, assignee)
        statements: list[str] = []

        def log_statement(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
            statements.append(" ".join(statement.split())[:160])

        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", log_statement)
        complete(*tasks[20])
        event.remove(engine, "before_cursor_execute", log_statement)
        print(f"\n{len(statements)} statements in one completion:")
        for s in statements:
            print("  ", s)

        rest = tasks[21:]
        half = len(rest) // 2
        times = []
        for task_id, assignee in rest[:half]:
            t0 = time.perf_counter()
            complete(task_id, assignee)
            times.append((time.perf_counter() - t0) * 1000)
        profile = cProfile.Profile()
        profile.enable()
        for task_id, assignee in rest[half:]:
            complete(task_id, assignee)
        profile.disable()
    floor = run.engine_floor(200)
    p50 = statistics.median(times)
    print(f"\n{len(times)} completions without the profiler: p50 {p50:.2f} ms, engine floor {floor:.2f} ms,"
          f" ratio {p50 / floor:.1f}; then {len(rest) - half} under the profiler:")
    stats = pstats.Stats(profile).sort_stats(sort)
    stats.print_stats(45)
    for name in sys.argv[4:]:  # e.g. submit_self_evaluation: what it calls and what that costs
        stats.print_callees(name)


if __name__ == "__main__":
    main()
