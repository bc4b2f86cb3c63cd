"""Driving a quarter through the services, the way the pages and the API do (each step committed
through `workflows.tx.run`, which also delivers the messages it threw)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from models.evaluation import Evaluation, Quarter
from models.people import User
from models.process import HumanTask, TaskState
from workflows.engine import deploy, jobs, tx
from workflows.org import principals
from workflows.quarter import branch, evaluation, notices
from workflows.quarter import opening as quarter

ROOT = Path(__file__).resolve().parent.parent


def deploy_shipped(session) -> None:
    from workflows import setup

    setup.configure()
    deploy.deploy_shipped(session, str(ROOT / "bpmn"), actor_user_id=None)
    session.commit()


def load_catalogue(session) -> None:
    from demo import catalogue as demo_catalogue

    demo_catalogue.load(session)
    session.commit()


def who(session, username: str):
    return principals.principal_by_username(session, username)


def open_quarter(session, clock, *, deadline_days: int = 10, publicity_days: int = 5, year: int = 2026,
                 q: int = 4) -> Quarter:
    result = tx.run(session, quarter.open_quarter, who(session, "office"), year=year, quarter=q,
                    self_eval_deadline=clock.now() + timedelta(days=deadline_days), publicity_days=publicity_days)
    return result.quarter


def tasks(session, form_key: str | None = None, *, quarter_id: int | None = None, person_id: int | None = None,
          branch_id: int | None = None, state: str = TaskState.OPEN) -> list[HumanTask]:
    query = select(HumanTask).where(HumanTask.state == state)
    if form_key:
        query = query.where(HumanTask.form_key == form_key)
    if quarter_id is not None:
        query = query.where(HumanTask.quarter_id == quarter_id)
    if person_id is not None:
        query = query.where(HumanTask.subject_person_id == person_id)
    if branch_id is not None:
        query = query.where(HumanTask.branch_id == branch_id)
    return list(session.scalars(query.order_by(HumanTask.id).execution_options(populate_existing=True)))


def evaluation_of(session, quarter_id: int, person_id: int) -> Evaluation:
    return session.scalar(select(Evaluation).where(Evaluation.quarter_id == quarter_id, Evaluation.person_id == person_id)
                          .execution_options(populate_existing=True))


def username_of(session, user_id: int) -> str:
    return session.get(User, user_id).username


def declare_all(session, quarter_id: int, *, except_person_ids: set[int] = frozenset()) -> int:
    """Every member declares with one click (those in except_person_ids do nothing)."""
    n = 0
    for task in tasks(session, "self_evaluation", quarter_id=quarter_id):
        if task.subject_person_id in except_person_ids:
            continue
        actor = principals.principal_for(session, task.assignee_id)
        tx.run(session, evaluation.submit_self_evaluation, actor, task.id, one_click=True)
        n += 1
    return n


def reviewer_for(session, task: HumanTask) -> Any:
    """A user of the task's pool who is not its subject (prefers branch reviewers)."""
    from models.people import RoleAssignment

    candidates = session.scalars(select(RoleAssignment.user_id).where(
        RoleAssignment.role == task.role,
        (RoleAssignment.branch_id == task.branch_id) if task.branch_id is not None else RoleAssignment.branch_id.is_(None),
    ).order_by(RoleAssignment.id)).all()
    for user_id in candidates:
        if f" {user_id} " not in task.excluded_users:
            return principals.principal_for(session, user_id)
    raise AssertionError(f"nobody can do task {task.id} ({task.role}@{task.branch_id})")


def review_all(session, quarter_id: int, *, decide: Any = None) -> int:
    """Review every open review: accept every claim unless `decide(claim)` says otherwise."""
    n = 0
    for task in tasks(session, "branch_review", quarter_id=quarter_id):
        ev = session.scalar(select(Evaluation).where(Evaluation.instance_id == task.instance_id))
        decisions = []
        for claim in evaluation.claims_of(session, ev.id):
            if claim.status in ("submitted", "accepted", "adjusted", "rejected") and claim.source in ("self", "branch"):
                decisions.append(decide(claim) if decide else {"claim_id": claim.id, "decision": "accept"})
        tx.run(session, evaluation.review, reviewer_for(session, task), task.id, decisions)
        n += 1
    return n


def approve_and_meet(session, quarter_id: int, clock) -> int:
    n = 0
    for task in tasks(session, "branch_approval", quarter_id=quarter_id):
        tx.run(session, branch.approve, reviewer_for(session, task), task.id, decision="approved", comment="同意")
        n += 1
    for task in tasks(session, "branch_meeting", quarter_id=quarter_id):
        tx.run(session, branch.confirm_meeting, reviewer_for(session, task), task.id,
               meeting_date=clock.now().date(), expected=10, present=9, resolution="全体党员逐一评议，同意审核结果。")
    return n


def end_publicity(session, clock, days: int = 9) -> None:
    clock.advance(days=days)
    jobs.run_until_idle(session)


def notice_and_file(session, quarter_id: int) -> None:
    [task] = tasks(session, "quarter_notice", quarter_id=quarter_id)
    lists = notices.compose(session, quarter_id)
    follow = {u["person_id"]: ["reminder_talk", "award_disqualification"] for u in lists["under_pass"]}
    tx.run(session, notices.save_notice, who(session, "office"), task.id, title="第四季度党员积分通报",
           body="总体情况良好。", commended_person_ids=[c["person_id"] for c in lists["commendations"]],
           person_follow_ups=follow, branch_follow_ups={})
    [task] = tasks(session, "filing_acceptance", quarter_id=quarter_id)
    tx.run(session, notices.accept_filing, who(session, "leader"), task.id, decision="accepted")
