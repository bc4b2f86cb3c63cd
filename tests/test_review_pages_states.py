"""States of a quarter the task pages need, built through the services the way the pages do.

Used by the tests (with the `org` fixture's people) and by screenshots on the demo bureau:

    .venv/bin/python tools/shoot.py --user rev1a --setup tests.test_review_pages_states:shoot_review /inbox/=/tmp/x.png

Each `shoot_*` function prints the task pages it prepared.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from models import clock
from models.evaluation import Evaluation, Evidence, Quarter
from models.process import HumanTask, TaskState
from tests import quarter_helpers as qh
from workflows.engine import jobs, tx
from workflows.quarter import appeals, branch, evaluation, reports
from workflows.quarter import opening as quarter


@dataclass(frozen=True)
class Cast:
    """Who plays which part: a member under review, a reporter, the branch's role holders."""

    member: str
    weak: str
    reporter: str
    reviewer: str
    secretary: str
    discipline: str
    office: str = "office"
    leader: str = "leader"


TEST_CAST = Cast(member="m1_a1", weak="m2_a1", reporter="m1_a2", reviewer="rev_a1", secretary="sec_a1",
                 discipline="disc_a1")
DEMO_CAST = Cast(member="member1", weak="dw0008", reporter="member2", reviewer="rev1a", secretary="sec1",
                 discipline="disc1")


def current_quarter(session: Any, *, deadline_days: int = 10) -> Quarter:
    """The open quarter (the demo's when it has one), else the current quarter opened now."""
    found = session.scalar(select(Quarter).where(Quarter.locked.is_(False))
                           .order_by(Quarter.year.desc(), Quarter.quarter.desc()).limit(1))
    if found is not None:
        return found
    today = clock.now()
    result = tx.run(session, quarter.open_quarter, qh.who(session, "office"), year=today.year,
                    quarter=(today.month - 1) // 3 + 1, self_eval_deadline=today + timedelta(days=deadline_days))
    return result.quarter


def _person(session: Any, username: str) -> int:
    return qh.who(session, username).person_id


def _evaluation(session: Any, q: Quarter, username: str) -> Evaluation:
    return qh.evaluation_of(session, q.id, _person(session, username))


def _quarter_day(q: Quarter, day: int) -> str:
    return date(q.year, 3 * (q.quarter - 1) + 1, day).isoformat()


def _standards(session: Any, ev: Evaluation) -> tuple[Any, Any, Any]:
    """A repeatable bonus, a deduction and a heavy deduction of the member's catalogue."""
    rules = evaluation.rules(session, ev)
    ordered = sorted(rules.standards.values(), key=lambda s: s.id)
    bonus = next(s for s in ordered if s.kind == "bonus" and s.honour_category is None and (s.max_occurrences or 99) >= 3)
    deduction = next(s for s in ordered if s.kind == "deduction" and (s.max_occurrences or 99) >= 2)
    heavy = max((s for s in ordered if s.kind == "deduction"), key=lambda s: (s.points, -s.id))
    return bonus, deduction, heavy


def declare_with_claims(session: Any, q: Quarter, username: str) -> Evaluation:
    """The member declares a bonus (with evidence) and, honestly, a deduction; then submits."""
    ev = _evaluation(session, q, username)
    bonus, deduction, _heavy = _standards(session, ev)
    member = qh.who(session, username)
    claim = tx.run(session, evaluation.save_claim, member, ev.id, {
        "standard_id": bonus.id, "occurrences": 2, "occurred_on": _quarter_day(q, 8),
        "description": "夜间执法检查两次，查处违规船舶"})
    tx.run(session, evaluation.save_claim, member, ev.id, {
        "standard_id": deduction.id, "occurrences": 1, "occurred_on": _quarter_day(q, 5),
        "description": "10月5日支部主题党日迟到"})
    session.add(Evidence(evaluation_id=ev.id, claim_id=claim.id, filename="夜间执法记录.pdf",
                         content_type="application/pdf", size=48213, sha256="0" * 64,
                         storage_key=uuid.uuid4().hex, uploaded_by=member.user_id))
    session.commit()
    [task] = qh.tasks(session, "self_evaluation", person_id=ev.person_id)
    tx.run(session, evaluation.submit_self_evaluation, member, task.id)
    return ev


def submit_report(session: Any, cast: Cast, subject: str, text: str = "上班期间多次脱岗，影响值班秩序。") -> Any:
    return tx.run(session, reports.submit, qh.who(session, cast.reporter), subject_person_id=_person(session, subject),
                  text=text, occurred_on=clock.now().date() - timedelta(days=1))


def report_deduction(session: Any, q: Quarter, cast: Cast) -> Any:
    """A substantiated supervision report: a deduction already in the member's evaluation."""
    report = submit_report(session, cast, cast.member)
    [task] = qh.tasks(session, "report_verification", person_id=report.subject_person_id)
    ev = _evaluation(session, q, cast.member)
    _bonus, deduction, _heavy = _standards(session, ev)
    tx.run(session, reports.verify, qh.who(session, cast.reviewer), task.id, decision="substantiated",
           reason="经调取考勤记录核实属实。", standard_id=deduction.id, occurrences=1)
    return report


def to_review(session: Any, cast: Cast) -> Quarter:
    """The member's review is waiting: claims with evidence, a report's deduction; everybody else declared."""
    q = current_quarter(session)
    declare_with_claims(session, q, cast.member)
    report_deduction(session, q, cast)
    qh.declare_all(session, q.id)
    return q


def review_task(session: Any, q: Quarter, username: str) -> HumanTask:
    [task] = qh.tasks(session, "branch_review", quarter_id=q.id, person_id=_person(session, username))
    return task


def review_everybody(session: Any, q: Quarter, cast: Cast) -> None:
    """Every review done; the weak member gets heavy deductions from the branch's records."""
    weak = _person(session, cast.weak)
    for task in qh.tasks(session, "branch_review", quarter_id=q.id):
        ev = session.scalar(select(Evaluation).where(Evaluation.instance_id == task.instance_id))
        decisions = [{"claim_id": c.id, "decision": "accept"} for c in evaluation.claims_of(session, ev.id)
                     if c.status == "submitted"]
        additions = []
        if ev.person_id == weak:
            rules = evaluation.rules(session, ev)
            items = sorted((i for i in rules.items.values() if i.kind == "deduction"), key=lambda i: -i.baseline)
            for item in items[:4]:
                standard = max((s for s in rules.standards.values() if s.item_id == item.id and s.kind == "deduction"),
                               key=lambda s: s.points)
                additions.append({"standard_id": standard.id, "occurrences": min(standard.max_occurrences or 10, 10),
                                  "occurred_on": _quarter_day(q, 10), "description": "三会一课缺席",
                                  "reason": "支部会议签到表"})
        tx.run(session, evaluation.review, qh.reviewer_for(session, task), task.id, decisions, additions)


def to_approval(session: Any, cast: Cast) -> Quarter:
    q = to_review(session, cast)
    review_everybody(session, q, cast)
    return q


def approve_all(session: Any, q: Quarter) -> None:
    for task in qh.tasks(session, "branch_approval", quarter_id=q.id):
        tx.run(session, branch.approve, qh.reviewer_for(session, task), task.id, decision="approved", comment="同意")


def meet_all(session: Any, q: Quarter) -> None:
    for task in qh.tasks(session, "branch_meeting", quarter_id=q.id):
        tx.run(session, branch.confirm_meeting, qh.reviewer_for(session, task), task.id,
               meeting_date=clock.now().date(), expected=10, present=9, resolution="全体党员逐一评议，同意审核结果。")


def to_meeting(session: Any, cast: Cast) -> Quarter:
    q = to_approval(session, cast)
    approve_all(session, q)
    return q


def to_posted(session: Any, cast: Cast) -> Quarter:
    q = to_meeting(session, cast)
    meet_all(session, q)
    return q


def to_appeal(session: Any, cast: Cast) -> tuple[Quarter, Any, Any]:
    """Posted; the member appeals their score and the reporter raises a concern about the weak one's."""
    q = to_posted(session, cast)
    ev = _evaluation(session, q, cast.member)
    appeal = tx.run(session, appeals.file_appeal, qh.who(session, cast.member), ev.id, kind="appeal",
                    text="我本季度10月12日参加了夜间海上搜救，未计加分，请复核。")
    weak = _evaluation(session, q, cast.weak)
    concern = tx.run(session, appeals.file_appeal, qh.who(session, cast.reporter), weak.id, kind="concern",
                     text="该同志本季度多次缺席支部活动，扣分是否已全部计入？")
    return q, appeal, concern


def appeal_task(session: Any, q: Quarter, username: str) -> HumanTask:
    [task] = qh.tasks(session, "appeal_decision", person_id=_person(session, username))
    return task


def to_re_review(session: Any, cast: Cast) -> Quarter:
    q, _appeal, _concern = to_appeal(session, cast)
    task = appeal_task(session, q, cast.member)
    tx.run(session, appeals.decide, qh.who(session, cast.discipline), task.id, decision="upheld",
           reason="经核实搜救记录，应予加分，退回重新审核。")
    return q


def to_follow_up(session: Any, cast: Cast, advance: Any) -> Quarter:
    """Filed: the notice started follow-ups for the weak member (under the pass line)."""
    q = to_posted(session, cast)
    advance(days=9)
    jobs.run_until_idle(session)
    qh.notice_and_file(session, q.id)
    return q


def follow_up_tasks(session: Any, q: Quarter, username: str) -> list[HumanTask]:
    return qh.tasks(session, "follow_up", quarter_id=q.id, person_id=_person(session, username))


# --- For tools/shoot.py on the demo bureau -----------------------------------------------------------------


def _print(session: Any, form_key: str, endpoint: str, **where: Any) -> None:
    query = select(HumanTask).where(HumanTask.form_key == form_key, HumanTask.state == TaskState.OPEN)
    for key, value in where.items():
        query = query.where(getattr(HumanTask, key) == value)
    for task in session.scalars(query.order_by(HumanTask.id).limit(3)):
        print(f"shoot-setup: {form_key} task {task.id} /review/{task.id}/{endpoint} ({task.bpmn_id}, {task.role}@{task.branch_id})")


def _advance(**kw: Any) -> None:
    clock.set_clock(clock.FrozenClock(clock.now() + timedelta(**kw)))


def shoot_review(session: Any) -> None:
    q = to_review(session, DEMO_CAST)
    submit_report(session, DEMO_CAST, "dw0009", "值班期间擅离岗位两小时。")
    _print(session, "branch_review", "review", subject_person_id=_person(session, DEMO_CAST.member), quarter_id=q.id)
    _print(session, "report_verification", "report")


def shoot_approval(session: Any) -> None:
    to_approval(session, DEMO_CAST)
    _print(session, "branch_approval", "approval")


def shoot_meeting(session: Any) -> None:
    to_meeting(session, DEMO_CAST)
    _print(session, "branch_meeting", "meeting")


def shoot_appeal(session: Any) -> None:
    to_appeal(session, DEMO_CAST)
    _print(session, "appeal_decision", "appeal")


def shoot_re_review(session: Any) -> None:
    to_re_review(session, DEMO_CAST)
    _print(session, "branch_review", "review", bpmn_id="re_review")


def shoot_follow_up(session: Any) -> None:
    to_follow_up(session, DEMO_CAST, _advance)
    _print(session, "follow_up", "follow-up")
