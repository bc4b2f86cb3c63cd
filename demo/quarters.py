"""Demo quarters for `demo load`: 2026 Q3 run to filing with a realistic history
(one-click and detailed declarations, adjustments and rejections with reasons, a member recorded
by the branch after the deadline, appeals upheld and dismissed, a substantiated report, notice,
follow-ups, filing, verification), and 2026 Q4 open now with work waiting in every inbox.

Past quarters run on a frozen clock set to their dates; the open quarter runs on the real clock.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import clock
from models.evaluation import Evaluation
from models.people import RoleAssignment
from models.process import HumanTask, TaskState
from workflows.engine import deploy, jobs, tx
from workflows.org import principals
from workflows.quarter import appeals, branch, evaluation, followups, notices, reports
from workflows.quarter import opening as quarter

SHANGHAI = ZoneInfo("Asia/Shanghai")
YEAR = 2026
REASONS_ADJUST = ["佐证材料只能证明一次", "与支部记录核对后调整次数", "按评分标准折算"]
REASONS_REJECT = ["无佐证材料，不予认定", "不属于本季度", "与评分标准不符"]


def _open_tasks(session: Session, form_key: str, quarter_id: int | None = None) -> list[HumanTask]:
    query = select(HumanTask).where(HumanTask.state == TaskState.OPEN, HumanTask.form_key == form_key)
    if quarter_id is not None:
        query = query.where(HumanTask.quarter_id == quarter_id)
    return list(session.scalars(query.order_by(HumanTask.id).execution_options(populate_existing=True)))


def _actor_for(session: Session, task: HumanTask, rng: random.Random) -> Any:
    """Somebody of the task's pool (or its assignee) who is not its subject."""
    if task.assignee_id is not None:
        return principals.principal_for(session, task.assignee_id)
    query = select(RoleAssignment.user_id).where(RoleAssignment.role == task.role)
    query = query.where(RoleAssignment.branch_id == task.branch_id) if task.branch_id is not None else query.where(
        RoleAssignment.branch_id.is_(None))
    users = [u for u in session.scalars(query.order_by(RoleAssignment.id)) if f" {u} " not in task.excluded_users]
    return principals.principal_for(session, rng.choice(users))


def _declare(session: Session, q_id: int, rng: random.Random, *, skip: set[int], detailed_share: float) -> None:
    for task in _open_tasks(session, "self_evaluation", q_id):
        if task.subject_person_id in skip:
            continue
        actor = principals.principal_for(session, task.assignee_id)
        ev = session.scalar(select(Evaluation).where(Evaluation.instance_id == task.instance_id))
        if rng.random() < detailed_share:
            rules = evaluation.rules(session, ev)
            bonuses = [s for s in rules.standards.values() if s.kind == "bonus"]
            deductions = [s for s in rules.standards.values() if s.kind == "deduction"]
            picks = rng.sample(bonuses, rng.randint(1, 3))
            if rng.random() < 0.15:
                picks.append(rng.choice(deductions))  # 诚信申报: a deduction declared honestly
            start = datetime(YEAR, 3 * (ev.quarter.quarter - 1) + 1, 3).date()
            for standard in picks:
                try:
                    tx.run(session, evaluation.save_claim, actor, ev.id, {
                        "standard_id": standard.id, "occurrences": 1,
                        "occurred_on": (start + timedelta(days=rng.randint(0, 55))).isoformat(),
                        "description": rng.choice(["参加夜间执法", "完成专项整治任务", "获得表彰", "参与应急处置",
                                                   "撰写理论学习心得", "志愿服务", "未按时参加组织生活"]),
                    })
                except Exception:  # noqa: BLE001 - a demo pick that the rules refuse is simply skipped
                    session.rollback()
            try:
                tx.run(session, evaluation.submit_self_evaluation, actor, task.id, one_click=False)
            except Exception:  # noqa: BLE001 - e.g. evidence required: fall back to removing the drafts
                session.rollback()
                for claim in evaluation.claims_of(session, ev.id):
                    tx.run(session, evaluation.delete_claim, actor, claim.id)
                tx.run(session, evaluation.submit_self_evaluation, actor, task.id, one_click=True)
        else:
            tx.run(session, evaluation.submit_self_evaluation, actor, task.id, one_click=True)


def _review(session: Session, q_id: int, rng: random.Random, *, limit: int | None = None) -> None:
    for n, task in enumerate(_open_tasks(session, "branch_review", q_id)):
        if limit is not None and n >= limit:
            return
        ev = session.scalar(select(Evaluation).where(Evaluation.instance_id == task.instance_id))
        decisions = []
        for claim in evaluation.claims_of(session, ev.id):
            if claim.status != "submitted":
                continue
            roll = rng.random()
            if roll < 0.1:
                decisions.append({"claim_id": claim.id, "decision": "reject", "reason": rng.choice(REASONS_REJECT)})
            elif roll < 0.2 and (claim.standard.max_occurrences or 9) >= 1:
                decisions.append({"claim_id": claim.id, "decision": "adjust", "occurrences": 1,
                                  "points": str(claim.standard.points / 2), "reason": rng.choice(REASONS_ADJUST)})
            else:
                decisions.append({"claim_id": claim.id, "decision": "accept"})
        tx.run(session, evaluation.review, _actor_for(session, task, rng), task.id, decisions)


def _approve_and_meet(session: Session, q_id: int, rng: random.Random, day: datetime) -> None:
    for task in _open_tasks(session, "branch_approval", q_id):
        tx.run(session, branch.approve, _actor_for(session, task, rng), task.id, decision="approved",
               comment="审核结果客观公正，同意提交支部党员大会。")
    for task in _open_tasks(session, "branch_meeting", q_id):
        expected = rng.randint(15, 20)
        tx.run(session, branch.confirm_meeting, _actor_for(session, task, rng), task.id,
               meeting_date=day.astimezone(SHANGHAI).date(), expected=expected, present=expected - rng.randint(0, 3),
               resolution="支部党员大会逐一评议，一致同意本季度积分结果，予以张榜公示。")


def _run_quarter_to_filing(session: Session, q: int, opened: datetime, rng: random.Random) -> None:
    frozen = clock.FrozenClock(opened)
    previous = clock.set_clock(frozen)
    try:
        office = principals.principal_by_username(session, "office")
        result = tx.run(session, quarter.open_quarter, office, year=YEAR, quarter=q,
                        self_eval_deadline=opened + timedelta(days=14), publicity_days=5)
        q_id = result.quarter.id
        evaluations = list(session.scalars(select(Evaluation).where(Evaluation.quarter_id == q_id)))
        late = {e.person_id for e in rng.sample(evaluations, 2)}
        frozen.advance(days=3)
        _declare(session, q_id, rng, skip=late, detailed_share=0.35)
        frozen.advance(days=12)  # past the deadline: the branch records for the late members
        jobs.run_until_idle(session)
        for task in _open_tasks(session, "proxy_self_evaluation", q_id):
            tx.run(session, evaluation.submit_self_evaluation, _actor_for(session, task, rng), task.id, one_click=True)
        # A supervision report, substantiated during the review.
        subject = rng.choice(evaluations)
        reporter = next(e for e in evaluations if e.branch_id != subject.branch_id)
        report = tx.run(session, reports.submit, principals.principal_for(session, _user(session, reporter.person_id)),
                        subject_person_id=subject.person_id, text="该同志在值班期间擅自离岗约两小时。")
        [verify] = [t for t in _open_tasks(session, "report_verification") if t.subject_person_id == subject.person_id]
        rules = evaluation.rules(session, subject)
        standard = next(s for s in rules.standards.values() if s.kind == "deduction")
        tx.run(session, reports.verify, _actor_for(session, verify, rng), verify.id, decision="substantiated",
               reason="经调取值班记录核实属实。", standard_id=standard.id, occurrences=1)
        del report
        frozen.advance(days=2)
        _review(session, q_id, rng)
        frozen.advance(days=2)
        _approve_and_meet(session, q_id, rng, frozen.now())
        frozen.advance(days=1)
        posted = [e for e in session.scalars(select(Evaluation).where(Evaluation.quarter_id == q_id)
                                             .execution_options(populate_existing=True)) if e.status == "posted"]
        appellant, concerned = rng.sample(posted, 2)
        tx.run(session, appeals.file_appeal, principals.principal_for(session, _user(session, appellant.person_id)),
               appellant.id, kind="appeal", text="本季度参加了台风应急值守，未计入加分，请复核。")
        other = next(e for e in posted if e.person_id not in (concerned.person_id,))
        tx.run(session, appeals.file_appeal, principals.principal_for(session, _user(session, other.person_id)),
               concerned.id, kind="concern", text="该同志本季度两次未参加主题党日活动，积分是否偏高？")
        for task in _open_tasks(session, "appeal_decision", q_id):
            upheld = task.subject_person_id == appellant.person_id
            tx.run(session, appeals.decide, _actor_for(session, task, rng), task.id,
                   decision="upheld" if upheld else "dismissed",
                   reason="经核实值守记录，申诉成立，退回重新审核。" if upheld else "经核对考勤，该同志有请假手续，积分无误。")
        for task in _open_tasks(session, "branch_review", q_id):
            ev = session.scalar(select(Evaluation).where(Evaluation.instance_id == task.instance_id))
            bonus = next(s for s in evaluation.rules(session, ev).standards.values()
                         if s.kind == "bonus" and s.honour_category is None)
            day = datetime(YEAR, 3 * (q - 1) + 1, 20).date().isoformat()
            tx.run(session, evaluation.review, _actor_for(session, task, rng), task.id, [],
                   [{"standard_id": bonus.id, "occurrences": 1, "occurred_on": day, "reason": "台风应急值守记录"}])
        frozen.advance(days=9)
        jobs.run_until_idle(session)
        [notice_task] = _open_tasks(session, "quarter_notice", q_id)
        lists = notices.compose(session, q_id)
        tx.run(session, notices.save_notice, office, notice_task.id,
               title=f"关于{YEAR}年第{q}季度党员积分量化考评情况的通报",
               body="本季度全局党员积分量化考评工作顺利完成。各支部严格落实“党员自评、支部审核、确认公示、反映申诉”"
                    "流程，总体情况良好。对积分较高的同志予以表扬；对未达到合格标准的同志，由所在支部约谈提醒。",
               commended_person_ids=[c["person_id"] for c in lists["commendations"][:10]],
               person_follow_ups={u["person_id"]: ["reminder_talk", "award_disqualification"] for u in lists["under_pass"]},
               branch_follow_ups={b: "secretary_interview" for b in lists["low_branches"]})
        frozen.advance(days=3)
        for task in _open_tasks(session, "follow_up", q_id):
            tx.run(session, followups.complete, _actor_for(session, task, rng), task.id,
                   record="已按要求完成，谈话记录已归档。")
        [filing] = _open_tasks(session, "filing_acceptance", q_id)
        tx.run(session, notices.accept_filing, principals.principal_by_username(session, "leader"), filing.id,
               decision="accepted", comment="同意备案。")
        jobs.run_until_idle(session)
        [verification] = _open_tasks(session, "quarter_verification", q_id)
        sample = notices.sample(session, q_id, 5)
        tx.run(session, notices.record_verification, principals.principal_by_username(session, "leader"),
               verification.id, [{"evaluation_id": e.id, "result": "consistent", "finding": "佐证材料齐全，积分准确。"}
                                 for e in sample])
    finally:
        clock.set_clock(previous)


def _user(session: Session, person_id: int) -> int:
    from models.people import User

    return session.scalar(select(User.id).where(User.person_id == person_id))


def _open_current_quarter(session: Session, rng: random.Random) -> None:
    """2026 Q4, open on the real clock: some have declared, some reviews done, work everywhere."""
    now = clock.now()
    office = principals.principal_by_username(session, "office")
    deadline = max(now + timedelta(days=14), datetime(YEAR, 12, 20, 18, tzinfo=SHANGHAI).astimezone(UTC)) \
        if now.year <= YEAR else now + timedelta(days=14)
    result = tx.run(session, quarter.open_quarter, office, year=YEAR, quarter=4, self_eval_deadline=deadline,
                    publicity_days=5)
    q_id = result.quarter.id
    evaluations = list(session.scalars(select(Evaluation).where(Evaluation.quarter_id == q_id)))
    undeclared = {e.person_id for e in evaluations if rng.random() < 0.55}
    for name in ("member1", "member2", "member3", "sec1", "rev1a", "disc1", "office"):
        undeclared.add(principals.principal_by_username(session, name).person_id)
    _declare(session, q_id, rng, skip=undeclared, detailed_share=0.4)
    _review(session, q_id, rng, limit=20)


def load(session: Session) -> None:
    """Q3 filed, Q4 open."""
    from flask import current_app

    tx.run(session, deploy.deploy_shipped, current_app.config["BPMN_DIR"], actor_user_id=None)
    rng = random.Random(2026)
    _run_quarter_to_filing(session, 3, datetime(YEAR, 7, 6, 9, tzinfo=SHANGHAI), rng)
    _open_current_quarter(session, rng)
