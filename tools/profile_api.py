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
import secrets
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    members = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    from sqlalchemy import create_engine, insert, select, text

    from bench import http, run

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
            from models.api import ApiToken
            from models.clock import now
            from models.process import HumanTask, TaskState
            from webapp.extensions import db
            from workflows import api_tokens

            seeded = run.prepare(app, members)
            run.measure_open(db.session, seeded)
            rows = db.session.execute(select(HumanTask.id, HumanTask.assignee_id).where(
                HumanTask.form_key == "self_evaluation", HumanTask.state == TaskState.OPEN).limit(requests + 20)).all()
            moment, pairs, tokens = now(), [], []
            for task_id, user_id in rows:
                token = api_tokens.PREFIX + secrets.token_urlsafe(24)
                tokens.append({"user_id": user_id, "token_hash": api_tokens.digest(token), "name": "profile",
                               "session_epoch": 0, "created_at": moment, "expires_at": moment + timedelta(days=1)})
                pairs.append((token, task_id))
            db.session.execute(insert(ApiToken.__table__), tokens)
            db.session.commit()
            db.session.remove()
        client = app.test_client()

        def complete(token: str, task_id: int) -> None:
            response = client.post(f"/api/v1/tasks/{task_id}/complete", json={"one_click": True},
                                   headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, (response.status_code, response.get_json())

        for token, task_id in pairs[:20]:  # warm-up
            complete(token, task_id)
        profile = cProfile.Profile()
        t0 = time.perf_counter()
        profile.enable()
        for token, task_id in pairs[20:]:
            complete(token, task_id)
        profile.disable()
        elapsed = time.perf_counter() - t0
        done = len(pairs) - 20
        print(f"{done} completions, {elapsed / done * 1000:.1f} ms each (profiled), {done / elapsed:.0f}/s")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


if __name__ == "__main__":
    main()
