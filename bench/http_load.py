"""Drive 2 gunicorn workers (2 threads each, as `make serve-prod`) on PostgreSQL with client threads completing one-click self-evaluations
through the JSON API, each request with its own member's bearer token."""

from __future__ import annotations

import http.client
import json
import os
import queue
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = int(os.environ.get("BENCH_HTTP_CLIENTS", "16"))
REQUESTS = int(os.environ.get("BENCH_HTTP_REQUESTS", "3000"))  # per round
ROUNDS = int(os.environ.get("BENCH_HTTP_ROUNDS", "3"))  # the figure is the median round
THREADS = int(os.environ.get("BENCH_HTTP_THREADS", "2"))  # as `make serve-prod` runs them
WARMUP = 200
DETAILS: dict[str, Any] = {}  # how the last run was set up and where its CPU went (for results.json)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict[str, str], *, workers: int, threads: int, stderr: Any = None) -> tuple[subprocess.Popen, int]:
    """gunicorn serving the app as `make serve-prod` does, on a free local port, once it accepts
    connections; `env` adds to this process's environment (DATABASE_URL at least)."""
    port = _free_port()
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "--workers", str(workers), "--threads", str(threads),
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "webapp:create_app()"],
        cwd=ROOT, env=dict(os.environ, SCHEDULER="0", AUTO_DEPLOY_BPMN="0", **env),
        stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, port
        except OSError:
            pass
        if server.poll() is not None:
            raise RuntimeError("gunicorn exited: " + (server.stderr.read().decode() if server.stderr else ""))
        time.sleep(0.1)
    server.kill()
    raise RuntimeError("gunicorn did not start within 30 s")


def stop_server(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        server.kill()


def _prepare(url: str, schema: str, members: int) -> list[tuple[str, int]]:
    """A fresh schema with the bureau seeded and a quarter open; (token, task id) per member."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    from bench import run

    app = run.make_app(url, Path(os.environ["POINTSFLOW_INSTANCE"]))
    with app.app_context():
        from webapp.extensions import db

        seeded = run.prepare(app, members)
        run.measure_open(db.session, seeded)
        pairs = tokens_for_open_self_evaluations(db.session, REQUESTS * ROUNDS + WARMUP)
        # Table statistics, as a database in service has them (autovacuum may not have caught up
        # with tables filled a second ago; without them the planner guesses).
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        db.engine.dispose()
    return pairs


def tokens_for_open_self_evaluations(session: Any, limit: int) -> list[tuple[str, int]]:
    """(bearer token, task id) for up to `limit` open self-evaluations, each token its member's own."""
    from sqlalchemy import insert, select

    from models.api import ApiToken
    from models.clock import now
    from models.process import HumanTask, TaskState
    from workflows.org import tokens as api_tokens

    rows = session.execute(select(HumanTask.id, HumanTask.assignee_id).where(
        HumanTask.form_key == "self_evaluation", HumanTask.state == TaskState.OPEN).limit(limit)).all()
    pairs, tokens = [], []
    moment = now()
    for task_id, user_id in rows:
        token = api_tokens.PREFIX + secrets.token_urlsafe(24)
        tokens.append({"user_id": user_id, "token_hash": api_tokens.digest(token), "name": "bench",
                       "session_epoch": 0, "created_at": moment, "expires_at": moment + timedelta(days=1)})
        pairs.append((token, task_id))
    session.execute(insert(ApiToken.__table__), tokens)
    session.commit()
    return pairs


def _worker_pids(master: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds consumed so far by these processes (gone ones count 0)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def _database_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def run(url: str, members: int) -> tuple[float | None, float | None]:
    from bench.run import log, peak_rss_mb

    schema = f"pf_bench_{os.getpid()}"
    os.environ.setdefault("POINTSFLOW_INSTANCE", "/tmp")
    env_options = f"-c search_path={schema}"
    os.environ["PGOPTIONS"] = env_options
    try:
        pairs = _prepare(url, schema, members)
    finally:
        os.environ.pop("PGOPTIONS", None)
    if len(pairs) < WARMUP + 100:
        log("not enough open tasks for the HTTP run")
        return None, None
    server, port = start_server({"DATABASE_URL": url, "PGOPTIONS": env_options}, workers=2, threads=THREADS,
                                stderr=sys.stderr)
    try:
        work: queue.Queue[tuple[str, int]] = queue.Queue()
        for pair in pairs:
            work.put(pair)
        results: list[int] = []
        lock = threading.Lock()

        def client(limit: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            while True:
                with lock:
                    if len(results) >= limit:
                        return
                try:
                    token, task_id = work.get_nowait()
                except queue.Empty:
                    return
                body = json.dumps({"one_click": True})
                try:
                    conn.request("POST", f"/api/v1/tasks/{task_id}/complete", body=body,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    status = 599
                with lock:
                    results.append(status)

        def phase(count: int) -> float:
            results.clear()
            threads = [threading.Thread(target=client, args=(count,)) for _ in range(CLIENTS)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return time.perf_counter() - t0

        phase(WARMUP)
        groups = {"web workers": _worker_pids(server.pid), "PostgreSQL": _database_pids(), "load clients": [os.getpid()]}
        before = {k: _cpu_seconds(v) for k, v in groups.items()}
        per_round = max(100, min(REQUESTS, (len(pairs) - WARMUP) // ROUNDS))
        rates, ok, failed, failures = [], 0, 0, set()
        for _ in range(ROUNDS):
            elapsed = phase(per_round)
            done = sum(1 for s in results if s == 200)
            failures |= set(results) - {200}
            failed += len(results) - done
            ok += done
            rates.append(done / elapsed if elapsed else 0.0)
            log(f"HTTP: {done} tasks completed in {elapsed:.2f} s by {CLIENTS} clients = {rates[-1]:.0f}/s")
        spent = {k: _cpu_seconds(v) - before[k] for k, v in groups.items()}
        rss = max((peak_rss_mb(p) for p in _worker_pids(server.pid)), default=float("nan"))
        tps = statistics.median(rates)
        log(f"HTTP: median of {ROUNDS} rounds {tps:.0f}/s ({failed} failed: {sorted(failures)}); "
            f"worker peak RSS {rss:.0f} MB")
        if ok:
            log("CPU per completed task: " + ", ".join(f"{k} {v / ok * 1000:.1f} ms" for k, v in spent.items()))
        DETAILS.update({"http_server": f"gunicorn, 2 workers x {THREADS} threads, {CLIENTS} client threads",
                        "http_rounds_per_s": [round(r, 1) for r in rates], "http_failed": failed,
                        "http_cpu_ms_per_task": {k: round(v / ok * 1000, 2) for k, v in spent.items()} if ok else {}})
        return round(tps, 1), round(rss, 1)
    finally:
        stop_server(server)
        from sqlalchemy import create_engine, text

        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
