"""Profile the JSON API's task completion in one process (no gunicorn): where do the milliseconds go?

    .venv/bin/python tools/profile_api.py [members=400] [requests=300]

Seeds a bureau on the PostgreSQL server of the benchmark (a schema of its own), opens a quarter,
gives each member a token, then completes one-click self-evaluations through the Flask test client,
under cProfile. Prints the per-request time and the functions that cost most (cumulative).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    members = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    from sqlalchemy import create_engine, text

    from bench import http, http_load, run

    url = http.pg_url()
    if url is None:
        raise SystemExit("no PostgreSQL server answers")
    schema = f"pf_profile_{os.getpid()}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    os.environ["PGOPTIONS"] = f"-c search_path={schema}"
    try:
        app = run.make_app(url, Path(tempfile.mkdtemp()))
        with app.app_context():
            from webapp.extensions import db

            seeded = run.prepare(app, members)
            run.measure_open(db.session, seeded)
            pairs = http_load.tokens_for_open_self_evaluations(db.session, requests + 20)
            db.session.remove()
        client = app.test_client()

        def complete(token: str, task_id: int) -> None:
            response = client.post(f"/api/v1/tasks/{task_id}/complete", json={"one_click": True},
                                   headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, (response.status_code, response.get_json())

        for token, task_id in pairs[:20]:  # warm-up
            complete(token, task_id)
        rest = pairs[20:]
        half = len(rest) // 2
        timings: dict[str, list[float]] = {}
        from sqlalchemy import event

        def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
            conn.info["pf_t0"] = time.perf_counter()

        def after(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
            key = " ".join(statement.split())[:110]
            timings.setdefault(key, []).append((time.perf_counter() - conn.info.pop("pf_t0")) * 1000)

        from webapp.extensions import db

        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        for token, task_id in rest[half:half + 50]:
            complete(token, task_id)
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        print("statements of one completion (mean ms over 50, round trip included):")
        for key, values in timings.items():
            print(f"  {len(values) / 50:4.1f} x {sum(values) / len(values):6.3f}  {key}")
        rest = rest[:half] + rest[half + 50:]
        t0, c0 = time.perf_counter(), time.process_time()
        for token, task_id in rest[:half]:
            complete(token, task_id)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"{half} completions without the profiler: {wall / half * 1000:.2f} ms each "
              f"({cpu / half * 1000:.2f} ms of it this process's CPU)")
        profile = cProfile.Profile(time.process_time) if os.environ.get("PROFILE_CPU") else cProfile.Profile()
        t0 = time.perf_counter()
        profile.enable()
        for token, task_id in rest[half:]:
            complete(token, task_id)
        profile.disable()
        elapsed = time.perf_counter() - t0
        done = len(rest) - half
        print(f"{done} completions, {elapsed / done * 1000:.1f} ms each (profiled), {done / elapsed:.0f}/s")
        pstats.Stats(profile).sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(int(os.environ.get("PROFILE_LINES", "45")))
        for name in os.environ.get("PROFILE_CALLERS", "").split():  # who calls these, and how often
            pstats.Stats(profile).sort_stats("tottime").print_callers(name)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


if __name__ == "__main__":
    main()
