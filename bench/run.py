"""`make bench`: the performance figures of pointsflow, measured in one run, printed as a table and
written to bench/results.json.

BENCH_MEMBERS (default 20000, in one branch per 50 members) people on SQLite in a temp folder, or
on DATABASE_URL. The HTTP throughput runs on PostgreSQL (BENCH_PG_URL, else TEST_DATABASE_URL, else
the local server at 127.0.0.1:5432/test when it answers) with 2 gunicorn workers.
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results.json"
TARGETS = {
    "ratio_to_floor": ("<=", 3.0),
    "open_quarter_s": ("<=", 30.0),
    "http_tasks_per_s": (">=", 200.0),
    "inbox_p95_ms": ("<=", 20.0),
    "ranking_ms": ("<=", 200.0),
    "bytes_per_instance": ("<=", 6144.0),
}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- The engine floor: SpiffWorkflow alone ------------------------------------------------------


def engine_floor(n: int = 300) -> float:
    """Median ms to deserialise (stock serializer, spec included), run one task and serialise."""
    from SpiffWorkflow.util.task import TaskState

    from workflows import setup
    from workflows.engine import spiff

    setup.configure()

    parsed = spiff.parse((ROOT / "bpmn" / "person_quarter.bpmn").read_bytes())["person_quarter"]
    wf = spiff.new_workflow(parsed)
    wf.get_next_task(spec_name="Start").data.update({
        "quarter_id": 1, "person_id": 2, "branch_id": 3, "deadline": "2099-01-01T00:00:00+08:00",
        "reminder_at": "2098-12-30T00:00:00+08:00", "review_due": "2099-01-08T00:00:00+08:00"})
    wf.do_engine_steps()
    serialized = spiff.FULL_SERIALIZER.serialize_json(wf)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        w = spiff.FULL_SERIALIZER.deserialize_json(serialized)
        task = w.get_tasks(state=TaskState.READY, manual=True)[0]
        task.set_data(one_click=True)
        task.run()
        w.do_engine_steps()
        spiff.FULL_SERIALIZER.serialize_json(w)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


# --- The service layer on the benchmark database ----------------------------------------------------


def make_app(url: str, instance: Path) -> Any:
    os.environ["POINTSFLOW_INSTANCE"] = str(instance)
    os.environ["SCHEDULER"] = "0"
    from webapp import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "AUTO_DEPLOY_BPMN": False, "WTF_CSRF_ENABLED": False})


def prepare(app: Any, members: int) -> Any:
    from flask_migrate import upgrade

    from bench import seed
    from demo import catalogue as demo_catalogue
    from webapp.extensions import db
    from workflows.engine import deploy

    upgrade()
    session = db.session
    t0 = time.perf_counter()
    seeded = seed.seed(session, members)
    demo_catalogue.load(session)
    deploy.deploy_shipped(session, str(ROOT / "bpmn"), actor_user_id=None)
    session.commit()
    log(f"seeded {members} members in {len(seeded.branches)} branches ({time.perf_counter() - t0:.1f} s)")
    return seeded


def measure_open(session: Any, seeded: Any) -> tuple[float, Any]:
    from workflows.org import principals
    from workflows.quarter import opening as quarter

    office = principals.principal_for(session, seeded.office_user)
    from models import clock

    t0 = time.perf_counter()
    result = quarter.open_quarter(session, office, year=2026, quarter=4,
                                  self_eval_deadline=clock.now() + timedelta(days=14), publicity_days=5)
    session.commit()
    return time.perf_counter() - t0, result.quarter


def bytes_per_instance(session: Any) -> float:
    from sqlalchemy import func, select

    from models.process import ProcessInstance

    return float(session.scalar(select(func.avg(func.length(ProcessInstance.state))).where(
        ProcessInstance.process_key == "person_quarter")) or 0)


def measure_complete(session: Any, quarter_id: int, n: int = 500) -> list[float]:
    """ms per completion of a member's self-evaluation (one click) through the service layer,
    including the transaction's commit."""
    from sqlalchemy import select

    from models.process import HumanTask, TaskState
    from workflows.engine import tx
    from workflows.org import principals
    from workflows.quarter import evaluation

    tasks = session.execute(select(HumanTask.id, HumanTask.assignee_id).where(
        HumanTask.quarter_id == quarter_id, HumanTask.form_key == "self_evaluation",
        HumanTask.state == TaskState.OPEN).limit(n + 20)).all()
    actors = {a: principals.principal_for(session, a) for _, a in tasks}
    session.commit()
    times = []
    for i, (task_id, assignee) in enumerate(tasks):
        t0 = time.perf_counter()
        tx.run(session, evaluation.submit_self_evaluation, actors[assignee], task_id, one_click=True)
        elapsed = (time.perf_counter() - t0) * 1000
        if i >= 20:  # warm-up: caches, prepared statements
            times.append(elapsed)
    return times


def _fill_tasks(session: Any, rows: int) -> None:
    """Insert `rows` synthetic task rows in SQL (no Python loop): 93% done, the rest open, spread
    over every instance, branch and user, roles in the proportions of a real quarter."""
    from sqlalchemy import func, select, text

    from models.people import User
    from models.process import ProcessInstance

    i_lo, i_hi = session.execute(select(func.min(ProcessInstance.id), func.max(ProcessInstance.id))).one()
    u_lo, u_hi = session.execute(select(func.min(User.id), func.max(User.id))).one()
    from models.org import Branch

    b_lo, b_hi = session.execute(select(func.min(Branch.id), func.max(Branch.id))).one()
    postgres = session.get_bind().dialect.name == "postgresql"
    rnd = "(floor(random() * 1000000000)::bigint)" if postgres else "abs(random())"
    source = ("generate_series(1, :n) AS s(n)" if postgres
              else "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :n) SELECT n FROM s) AS s")
    now = "now()" if postgres else "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    shift = ("(now() + (({r} % 90) - 60) * interval '1 day')" if postgres
             else "strftime('%Y-%m-%d %H:%M:%f', 'now', ((({r} % 90) - 60)) || ' days')")
    role = ("(CASE WHEN s.n % 10 < 6 THEN 'member' WHEN s.n % 10 < 8 THEN 'reviewer' "
            "WHEN s.n % 10 = 8 THEN 'secretary' ELSE 'discipline' END)")
    done = "((((s.n % 100) * 37) % 100) < 93)"  # a fixed scatter of the rows; stays within 32 bits
    sql = f"""
        INSERT INTO human_task (instance_id, task_uuid, process_key, bpmn_id, name, form_key, role, branch_id,
                                escalated, quarter_id, subject_person_id, excluded_users, assignee_id, state,
                                due_at, created_at)
        SELECT {i_lo} + ({rnd} % {i_hi - i_lo + 1}), 'bench-' || s.n, 'person_quarter',
               CASE WHEN {role} = 'reviewer' THEN 'branch_review' ELSE 'self_evaluation' END, '历史任务',
               CASE WHEN {role} = 'reviewer' THEN 'branch_review' ELSE 'self_evaluation' END,
               {role}, {b_lo} + ({rnd} % {b_hi - b_lo + 1}), {'false' if postgres else '0'}, NULL, NULL, '',
               CASE WHEN {role} = 'member' OR {done} THEN {u_lo} + ({rnd} % {u_hi - u_lo + 1}) END,
               CASE WHEN {done} THEN 'completed' ELSE 'open' END,
               {shift.format(r=rnd)}, {now}
        FROM {source}
    """
    session.execute(text(sql), {"n": rows})
    session.commit()


def measure_inbox(session: Any, target_rows: int = 1_000_000, samples: int = 300) -> tuple[float, int]:
    """Fill human_task to `target_rows` with a realistic mix, then time the inbox query."""
    from sqlalchemy import func, select, text

    from models.people import RoleAssignment, User
    from models.process import HumanTask
    from workflows.org import principals
    from workflows.reading import inbox

    have = session.scalar(select(func.count()).select_from(HumanTask)) or 0
    t0 = time.perf_counter()
    if target_rows > have:
        _fill_tasks(session, target_rows - have)
    total = session.scalar(select(func.count()).select_from(HumanTask)) or 0
    log(f"human_task rows: {total} (filled in {time.perf_counter() - t0:.1f} s)")
    session.execute(text("ANALYZE"))
    session.commit()
    rng = random.Random(11)
    users = list(session.scalars(select(User.id)))
    reviewers = list(session.scalars(select(RoleAssignment.user_id).where(RoleAssignment.role == "reviewer")))
    people = rng.sample(users, min(len(users), samples // 2))
    who = [principals.principal_for(session, u) for u in rng.sample(reviewers, min(len(reviewers), samples // 2)) + people]
    session.commit()
    times: list[float] = []
    for _ in range(2):  # warm once, measure the second pass
        times = []
        for principal in who:
            t0 = time.perf_counter()
            inbox.list_tasks(session, principal, inbox.Filters(), page=1)
            times.append((time.perf_counter() - t0) * 1000)
        session.commit()
    return percentile(times, 0.95), total


def measure_ranking(app: Any, session: Any, members: int = 120_000) -> tuple[float, float]:
    """A posted quarter with `members` ranked people; ms for the bureau ranking (service, page)."""
    from sqlalchemy import func, insert, select

    from models.catalogue import CatalogueVersion
    from models.evaluation import BranchQuarter, Evaluation, Quarter
    from models.org import Branch, Unit
    from models.people import Person, User
    from workflows.reading import ranking

    have = session.scalar(select(func.count()).select_from(Person)) or 0
    branch_ids = list(session.scalars(select(Branch.id)))
    kind_of = dict(session.execute(select(Branch.id, Unit.kind_id).join(Unit, Branch.unit_id == Unit.id)).all())
    rng = random.Random(5)
    rows = [{"employee_no": f"R{i:07d}", "name": f"排名党员{i:06d}", "gender": "", "branch_id": rng.choice(branch_ids),
             "status": "full", "position": "", "phone": "", "active": True} for i in range(max(0, members - have))]
    for start in range(0, len(rows), 10000):
        session.execute(insert(Person.__table__), rows[start:start + 10000])
    session.commit()
    version = session.scalar(select(CatalogueVersion.id).limit(1))
    quarter = Quarter(year=2026, quarter=1, scope_key="bureau", title="排名基准", catalogue_version_id=version,
                      status="notified", self_eval_deadline=datetime(2026, 3, 20, tzinfo=UTC), publicity_days=5,
                      opened_at=datetime(2026, 1, 5, tzinfo=UTC))
    session.add(quarter)
    session.flush()
    people = session.execute(select(Person.id, Person.branch_id).limit(members)).all()
    evs = []
    for pid, bid in people:
        score = round(rng.gauss(100, 6), 2)
        evs.append({"quarter_id": quarter.id, "person_id": pid, "branch_id": bid, "unit_kind_id": kind_of[bid],
                    "member_status": "full", "status": "confirmed", "self_score": score, "score": score,
                    "grade": "excellent" if score >= 105 else "pass" if score >= 90 else "fail",
                    "one_click": True, "recorded_by_branch": False})
    for start in range(0, len(evs), 10000):
        session.execute(insert(Evaluation.__table__), evs[start:start + 10000])
    moment = datetime(2026, 3, 25, tzinfo=UTC)
    session.execute(insert(BranchQuarter.__table__), [
        {"quarter_id": quarter.id, "branch_id": b, "status": "reported", "member_count": 0, "approval_comment": "",
         "meeting_resolution": "", "publicity_start": moment, "publicity_end": moment + timedelta(days=7)}
        for b in branch_ids])
    session.commit()
    from sqlalchemy import text

    session.execute(text("ANALYZE"))
    session.commit()
    service = []
    for _ in range(7):
        t0 = time.perf_counter()
        ranking.ranking_page(session, quarter.id, None, page=1)
        service.append((time.perf_counter() - t0) * 1000)
    page_ms = float("nan")
    member = session.scalar(select(User.username).limit(1))
    client = app.test_client()
    client.post("/login", data={"username": member, "password": "bench-password"})
    url = _board_url(app, quarter.id)
    if url:
        timings = []
        for _ in range(7):
            t0 = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - t0) * 1000)
            if response.status_code != 200:
                log(f"ranking page answered {response.status_code}")
                break
        page_ms = statistics.median(timings)
    return statistics.median(service), page_ms


def _board_url(app: Any, quarter_id: int) -> str | None:
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("publicity.") and "quarter_id" in rule.arguments and "bureau" in rule.rule:
            return rule.rule.replace("<int:quarter_id>", str(quarter_id)).replace("<quarter_id>", str(quarter_id))
    return None


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def main() -> None:
    members = int(os.environ.get("BENCH_MEMBERS", "20000"))
    work = Path(tempfile.mkdtemp(prefix="pointsflow-bench-"))
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{work / 'bench.db'}"
    log(f"{members} members on {url.split('@')[-1]}; work folder {work}")
    results: dict[str, Any] = {"members": members, "database": url.split("://")[0],
                               "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
                               "date": datetime.now(UTC).strftime("%Y-%m-%d")}
    results["engine_floor_ms"] = round(engine_floor(), 3)
    log(f"engine floor {results['engine_floor_ms']} ms")
    app = make_app(url, work)
    with app.app_context():
        from webapp.extensions import db

        seeded = prepare(app, members)
        seconds, quarter = measure_open(db.session, seeded)
        results["open_quarter_s"] = round(seconds, 2)
        log(f"opened a quarter for {members} members in {seconds:.2f} s")
        results["bytes_per_instance"] = round(bytes_per_instance(db.session), 1)
        times = measure_complete(db.session, quarter.id)
        results["complete_p50_ms"] = round(percentile(times, 0.5), 3)
        results["complete_p95_ms"] = round(percentile(times, 0.95), 3)
        results["ratio_to_floor"] = round(results["complete_p50_ms"] / results["engine_floor_ms"], 2)
        log(f"completion p50 {results['complete_p50_ms']} ms, p95 {results['complete_p95_ms']} ms")
        p95, rows = measure_inbox(db.session)
        results["inbox_p95_ms"], results["task_rows"] = round(p95, 3), rows
        log(f"inbox p95 {p95:.2f} ms over {rows} task rows")
        service_ms, page_ms = measure_ranking(app, db.session)
        results["ranking_service_ms"] = round(service_ms, 2)
        results["ranking_ms"] = round(page_ms, 2) if page_ms == page_ms else round(service_ms, 2)
        log(f"ranking of 120000: service {service_ms:.1f} ms, page {page_ms:.1f} ms")
        results["peak_rss_mb"] = round(peak_rss_mb(os.getpid()), 1)
    from bench import http

    tps, worker_rss = http.measure(members)
    results["http_tasks_per_s"] = tps
    results.update(http.details())
    if worker_rss:
        results["peak_rss_mb"] = worker_rss
    report(results)


def report(results: dict[str, Any]) -> None:
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print()
    print(f"pointsflow benchmark — {results['members']} members, {results['database']}, {results['machine']}")
    print(f"{'figure':<22}{'value':>14}  target")
    for key, value in results.items():
        if key in ("members", "database", "machine", "date"):
            continue
        target = TARGETS.get(key)
        mark = ""
        if target and isinstance(value, (int, float)) and value == value:
            op, limit = target
            ok = value <= limit if op == "<=" else value >= limit
            mark = f"{op} {limit:g} {'ok' if ok else 'MISSED'}"
        print(f"{key:<22}{value!s:>14}  {mark}")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
