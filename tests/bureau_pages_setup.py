"""States for the bureau pages (office, publicity board, notices, reports): builders for the tests
and `tools/shoot.py --setup tests.bureau_pages_setup:<function>` for looking at the pages.

The shoot functions take the session of a database with the demo bureau and catalogue loaded (and
the shipped BPMN deployed); each moves a quarter of the demo to the state its pages need.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, insert, select, text

from models.catalogue import CatalogueVersion
from models.clock import now
from models.db import UTCDateTime
from models.evaluation import BranchQuarter, Evaluation, Quarter
from models.org import Branch, Bureau, Unit, UnitKind

# --- A big bureau, straight into the tables (for the ranking's speed) ---------------------------------


def big_board(session, *, members: int = 120_000, branches: int = 100) -> int:
    """A bureau of `members` people in `branches` branches with one quarter whose scores are all
    posted (publicity open now), built by the database itself (INSERT ... SELECT over a counter),
    no engine. Most members keep the full baseline (100): large ties, as in a real bureau. Scores
    are a fixed function of the person, so every run is the same. Returns the quarter id."""
    moment = now()
    bureau = session.execute(insert(Bureau.__table__).returning(Bureau.__table__.c.id),
                             [{"name": "基准海事局", "short_name": "基准局"}]).scalar_one()
    kind = session.execute(insert(UnitKind.__table__).returning(UnitKind.__table__.c.id),
                           [{"code": "bench_kind", "name": "机关部门", "name_en": "Department", "sort": 0}]).scalar_one()
    unit = session.execute(insert(Unit.__table__).returning(Unit.__table__.c.id), [{
        "bureau_id": bureau, "kind_id": kind, "name": "基准单位", "code": "BENCH", "sort": 0, "active": True,
        "created_at": moment}]).scalar_one()
    branch_ids = list(session.scalars(insert(Branch.__table__).returning(
        Branch.__table__.c.id, sort_by_parameter_order=True), [
        {"unit_id": unit, "name": f"基准第{i + 1}党支部", "code": f"BB{i + 1:03d}", "sort": i, "active": True,
         "created_at": moment} for i in range(branches)]))
    assert branch_ids == list(range(branch_ids[0], branch_ids[0] + branches))
    version = session.execute(insert(CatalogueVersion.__table__).returning(CatalogueVersion.__table__.c.id), [{
        "year": 2026, "name": "基准指标", "status": "retired", "pass_line": Decimal("90"),
        "excellent_line": Decimal("110"), "description": "", "revision": 0, "created_at": moment}]).scalar_one()
    quarter = session.execute(insert(Quarter.__table__).returning(Quarter.__table__.c.id), [{
        "year": 2026, "quarter": 4, "scope_key": "bureau", "title": "2026年第4季度党员积分考评",
        "catalogue_version_id": version, "status": "open", "self_eval_deadline": moment + timedelta(days=10),
        "publicity_days": 5, "opened_at": moment, "locked": False}]).scalar_one()
    session.execute(text(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :last) "
        "INSERT INTO person (employee_no, name, gender, branch_id, status, position, phone, active, created_at) "
        "SELECT 'BN' || CAST(i AS VARCHAR(12)), "
        "substr(:surnames, 1 + i % 30, 1) || substr(:given, 1 + (i * 7) % 20, 1) || substr(:given, 1 + (i * 13) % 20, 1), "
        "'', :first_branch + i % :branches, 'full', '', '', :yes, :stamp FROM n").bindparams(
        bindparam("stamp", type_=UTCDateTime())),
        {"last": members - 1, "surnames": "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏",
         "given": "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平", "first_branch": branch_ids[0], "branches": branches,
         "yes": True, "stamp": moment})
    score = ("CASE WHEN (p.id * 37) % 10 < 6 THEN 100 "
             "ELSE CAST(8000 + (p.id * 7919) % 5001 AS NUMERIC(8, 2)) / 100.0 END")
    session.execute(text(
        "INSERT INTO evaluation (quarter_id, person_id, branch_id, unit_kind_id, member_status, status, self_score, "
        "score, grade, one_click, recorded_by_branch) "
        "SELECT :quarter, s.id, s.branch_id, :kind, 'full', 'posted', s.score, s.score, "
        "CASE WHEN s.score >= 110 THEN 'excellent' WHEN s.score < 90 THEN 'fail' ELSE 'pass' END, :yes, :no "
        f"FROM (SELECT p.id, p.branch_id, {score} AS score FROM person p WHERE p.employee_no LIKE 'BN%') AS s"),
        {"quarter": quarter, "kind": kind, "yes": True, "no": False})
    end = moment + timedelta(days=7)
    session.execute(insert(BranchQuarter.__table__), [
        {"quarter_id": quarter, "branch_id": b, "status": "publicity", "member_count": members // branches,
         "approval_comment": "", "meeting_resolution": "", "publicity_start": moment, "publicity_end": end}
        for b in branch_ids])
    session.commit()
    # What autovacuum does after a bulk load: statistics, and (PostgreSQL) the visibility map that
    # lets the ranking read its pages from the index alone.
    if session.get_bind().dialect.name == "postgresql":
        with session.get_bind().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE evaluation"))
            conn.execute(text("VACUUM ANALYZE person"))
    else:
        session.execute(text("ANALYZE"))
        session.commit()
    return int(quarter)


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def first_evaluation(session, quarter_id: int) -> Evaluation:
    return session.scalar(select(Evaluation).where(Evaluation.quarter_id == quarter_id).order_by(Evaluation.id).limit(1))


# --- Quarters moved through the services, the way the pages do ----------------------------------------


def _additions(session, ev: Evaluation, *, bonus: bool) -> list[dict]:
    """Claims a reviewer adds from the branch's records: bonuses worth well over the excellent line's
    margin, or deductions heavy enough to fall under the pass line."""
    from workflows.quarter import evaluation as evaluations

    rules = evaluations.rules(session, ev)
    out = []
    if bonus:
        picked = [s for s in rules.standards.values() if s.kind == "bonus" and s.honour_category is None]
        picked.sort(key=lambda s: (-s.points, s.id))
        total = Decimal(0)
        for s in picked:
            times = min(s.max_occurrences or 3, 3)
            out.append({"standard_id": s.id, "occurrences": times, "reason": "支部记录：急难险重任务表现突出"})
            total += s.points * times
            if total >= 20:
                break
        return out
    items = sorted((i for i in rules.items.values() if i.kind == "deduction"), key=lambda i: (-i.baseline, i.id))
    lost = Decimal(0)
    for item in items:
        standard = max((s for s in rules.standards.values() if s.item_id == item.id and s.kind == "deduction"),
                       key=lambda s: s.points, default=None)
        if standard is None:
            continue
        times = min(standard.max_occurrences or 10, 10)
        out.append({"standard_id": standard.id, "occurrences": times, "reason": "支部考勤及谈话记录"})
        lost += min(item.baseline, standard.points * times)
        if lost >= 30:
            break
    return out


def review_quarter(session, quarter_id: int, *, excellent: tuple[int, ...] = (), weak: tuple[int, ...] = ()) -> None:
    """Review every evaluation: people in `excellent` get bonuses from the records, people in `weak`
    heavy deductions, everybody else is accepted as declared."""
    from tests import quarter_helpers as qh
    from workflows.engine import tx
    from workflows.quarter import evaluation as evaluations

    for task in qh.tasks(session, "branch_review", quarter_id=quarter_id):
        if task.subject_person_id not in excellent + weak:
            continue
        ev = session.scalar(select(Evaluation).where(Evaluation.instance_id == task.instance_id))
        decisions = [{"claim_id": c.id, "decision": "accept"} for c in evaluations.claims_of(session, ev.id)
                     if c.status == "submitted"]
        tx.run(session, evaluations.review, qh.reviewer_for(session, task), task.id, decisions,
               _additions(session, ev, bonus=task.subject_person_id in excellent))
    qh.review_all(session, quarter_id)


def posted(session, clock, *, excellent: tuple[int, ...] = (), weak: tuple[int, ...] = (), quarter=None) -> Quarter:
    """A quarter whose branches have all posted their scores (publicity open)."""
    from tests import quarter_helpers as qh

    q = quarter or qh.open_quarter(session, clock)
    qh.declare_all(session, q.id)
    review_quarter(session, q.id, excellent=excellent, weak=weak)
    qh.approve_and_meet(session, q.id, clock)
    return session.get(Quarter, q.id, populate_existing=True)


def at_notice(session, clock, **kwargs) -> Quarter:
    """Publicity over everywhere: the party office's notice task is waiting."""
    from tests import quarter_helpers as qh

    q = posted(session, clock, **kwargs)
    qh.end_publicity(session, clock)
    return session.get(Quarter, q.id, populate_existing=True)


def notified(session, clock, *, branch_follow_ups: dict | None = None, **kwargs) -> Quarter:
    """The notice is published (every member under the pass line gets a reminder talk and loses award
    eligibility); the Leading Group's filing task is waiting."""
    from tests import quarter_helpers as qh
    from workflows.engine import tx
    from workflows.quarter import notices

    q = at_notice(session, clock, **kwargs)
    [task] = qh.tasks(session, "quarter_notice", quarter_id=q.id)
    lists = notices.compose(session, q.id)
    tx.run(session, notices.save_notice, qh.who(session, "office"), task.id, title=f"{q.year}年第{q.quarter}季度党员积分通报",
           body="总体情况良好，个别党员需加强学习。", commended_person_ids=[c["person_id"] for c in lists["commendations"]],
           person_follow_ups={u["person_id"]: ["reminder_talk", "award_disqualification"] for u in lists["under_pass"]},
           branch_follow_ups=branch_follow_ups or {})
    return session.get(Quarter, q.id, populate_existing=True)


def filed(session, clock, **kwargs) -> Quarter:
    """Filed and locked; the Leading Group's verification task is waiting."""
    from tests import quarter_helpers as qh
    from workflows.engine import tx
    from workflows.quarter import notices

    q = notified(session, clock, **kwargs)
    [task] = qh.tasks(session, "filing_acceptance", quarter_id=q.id)
    tx.run(session, notices.accept_filing, qh.who(session, "leader"), task.id, decision="accepted")
    return session.get(Quarter, q.id, populate_existing=True)


# --- For tools/shoot.py: the demo bureau's 2026 Q4 moved on (the demo loads Q3 filed, Q4 open) ---------


def _demo_q4(session) -> Quarter:
    return session.scalar(select(Quarter).where(Quarter.year == 2026, Quarter.quarter == 4))


def _freeze():
    """Run the demo's open quarter on a frozen clock from now on (the server started after uses it too)."""
    from models import clock

    frozen = clock.FrozenClock(clock.now())
    clock.set_clock(frozen)
    return frozen


def _demo_people(session, *usernames: str) -> tuple[int, ...]:
    from models.people import User

    return tuple(session.scalar(select(User.person_id).where(User.username == u)) for u in usernames)


def shoot_posted(session) -> None:
    """Demo 2026 Q4: everybody declared and reviewed (member1 excellent, member2 and member5 weak),
    every branch posted: the publicity board with its window open."""
    from tests import quarter_helpers as qh

    frozen = _freeze()
    q = _demo_q4(session)
    qh.declare_all(session, q.id)
    review_quarter(session, q.id, excellent=_demo_people(session, "member1", "member3"),
                   weak=_demo_people(session, "member2", "member5"))
    qh.approve_and_meet(session, q.id, frozen)


def shoot_notice(session) -> None:
    """Demo 2026 Q4 after publicity: the party office's notice task is waiting."""
    from models import clock
    from tests import quarter_helpers as qh

    shoot_posted(session)
    qh.end_publicity(session, clock.get_clock())
    print_links(session)


def shoot_filing(session) -> None:
    """Demo 2026 Q4 notified (with a weak branch's secretary to interview): the filing task waits."""
    from tests import quarter_helpers as qh
    from workflows.engine import tx
    from workflows.quarter import notices

    shoot_notice(session)
    q = _demo_q4(session)
    [task] = qh.tasks(session, "quarter_notice", quarter_id=q.id)
    lists = notices.compose(session, q.id)
    low = {b: "secretary_interview" for b in lists["low_branches"][:1]} or {lists["branches"][-1]["branch_id"]: "criticism_notice"}
    tx.run(session, notices.save_notice, qh.who(session, "office"), task.id, title="2026年第四季度党员积分情况通报",
           body="本季度各支部认真开展积分考评，党员报绩及时、算绩规范。\n个别党员积分未达到合格标准，请所在支部按要求约谈提醒。",
           commended_person_ids=[c["person_id"] for c in lists["commendations"]],
           person_follow_ups={u["person_id"]: ["reminder_talk", "award_disqualification"] for u in lists["under_pass"]},
           branch_follow_ups=low)
    print_links(session)


def shoot_verification(session) -> None:
    """Demo 2026 Q4 filed: the Leading Group's verification task waits."""
    from tests import quarter_helpers as qh
    from workflows.engine import tx
    from workflows.quarter import notices

    shoot_filing(session)
    q = _demo_q4(session)
    [task] = qh.tasks(session, "filing_acceptance", quarter_id=q.id)
    tx.run(session, notices.accept_filing, qh.who(session, "leader"), task.id, decision="accepted", comment="同意备案")
    print_links(session)


def shoot_annual(session) -> None:
    """Demo 2026 with Q3 and Q4 filed, the annual assessment reviewed and approved."""
    from tests import quarter_helpers as qh
    from workflows.engine import tx
    from workflows.quarter import annual

    shoot_verification(session)
    tx.run(session, annual.start, qh.who(session, "office"), 2026)
    [review] = qh.tasks(session, "annual_review")
    tx.run(session, annual.review, qh.who(session, "office"), review.id, comment="已核对四个季度积分。")
    print_links(session)


def shoot_annual_approved(session) -> None:
    from tests import quarter_helpers as qh
    from workflows.engine import tx
    from workflows.quarter import annual

    shoot_annual(session)
    [approval] = qh.tasks(session, "annual_approval")
    tx.run(session, annual.approve, qh.who(session, "leader"), approval.id, decision="approved", comment="同意")


def shoot_reports(session) -> None:
    """A few supervision reports in the demo: by members, and one recorded by the party office."""
    from tests import quarter_helpers as qh
    from workflows.engine import tx
    from workflows.quarter import reports

    subject, other = _demo_people(session, "member1", "member2")
    tx.run(session, reports.submit, qh.who(session, "member3"), subject_person_id=subject,
           text="10月8日值班期间擅自离岗约两小时，影响应急值守。")
    tx.run(session, reports.submit, qh.who(session, "office"), subject_person_id=other, text="群众来信反映该同志执法时态度生硬。",
           via_party_office=True, reporter_name="王先生", reporter_contact="138****0000")
    tx.run(session, reports.submit, qh.who(session, "member3"), subject_person_id=other, text="多次未参加支部主题党日活动。")


def print_links(session) -> None:
    """Print the pages of the current state (to pass to tools/shoot.py on the next run)."""
    from models.process import HumanTask, TaskState
    from webapp.tasks import registered

    pages = registered()
    for task in session.scalars(select(HumanTask).where(HumanTask.state == TaskState.OPEN,
                                                        HumanTask.form_key.in_(list(pages)))
                                .order_by(HumanTask.id).limit(400)):
        if task.form_key in ("quarter_notice", "filing_acceptance", "quarter_verification", "annual_review",
                             "annual_approval"):
            print("task", task.form_key, task.id)
    for q in session.scalars(select(Quarter)):
        print("quarter", q.label, q.id)
