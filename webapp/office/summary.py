"""What the quarter pages show, read in a few grouped queries: progress by step, appeals, reports,
follow-ups, the notice, the bureau's open tasks. Every read takes the branches the viewer may see
(None: all of them) and filters by them in SQL."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from models.clock import now
from models.evaluation import (
    Appeal,
    BranchQuarter,
    BranchQuarterStatus,
    Evaluation,
    EvaluationStatus,
    FollowUp,
    FollowUpStatus,
    Grade,
    Notice,
    Quarter,
    SupervisionReport,
    VerificationFinding,
)
from models.org import Branch, Unit
from models.people import Person
from models.process import HumanTask, TaskState

EVALUATION_ORDER = [s.value for s in EvaluationStatus]
BRANCH_ORDER = [s.value for s in BranchQuarterStatus]
GRADE_ORDER = [Grade.EXCELLENT.value, Grade.PASS.value, Grade.FAIL.value]


def _in(column: Any, ids: Collection[int] | None) -> Any:
    return True if ids is None else column.in_(list(ids) or [-1])


def _ordered(counts: dict[str, int], order: list[str]) -> list[tuple[str, int]]:
    known = [(k, counts[k]) for k in order if counts.get(k)]
    return known + [(k, n) for k, n in counts.items() if k not in order and n]


@dataclass
class Progress:
    quarter: Quarter
    evaluations: list[tuple[str, int]]
    evaluation_total: int
    grades: list[tuple[str, int]]
    ungraded: int
    branch_statuses: list[tuple[str, int]]
    branches: list[Any]
    appeals: dict[tuple[str, str], int]
    reports: list[tuple[str, int]]
    follow_ups: dict[str, dict[str, int]] = field(default_factory=dict)
    overdue_follow_ups: int = 0
    notices: list[Notice] = field(default_factory=list)
    tasks: list[HumanTask] = field(default_factory=list)
    findings: dict[str, int] = field(default_factory=dict)

    @property
    def notice(self) -> Notice | None:
        return self.notices[0] if self.notices else None

    @property
    def share_done(self) -> int:
        done = sum(n for s, n in self.evaluations if s in ("posted", "appeal", "confirmed", "filed"))
        return round(100 * done / self.evaluation_total) if self.evaluation_total else 0


def progress(session: Session, quarter: Quarter, branch_ids: Collection[int] | None) -> Progress:
    """A quarter's progress by step, for the branches in `branch_ids` (None: all)."""
    ev_scope = [Evaluation.quarter_id == quarter.id, _in(Evaluation.branch_id, branch_ids)]
    by_status = dict(session.execute(select(Evaluation.status, func.count()).where(*ev_scope)
                                     .group_by(Evaluation.status)).all())
    by_grade = dict(session.execute(select(Evaluation.grade, func.count()).where(*ev_scope)
                                    .group_by(Evaluation.grade)).all())
    branches = session.execute(
        select(BranchQuarter, Branch.name, Unit.name.label("unit"))
        .join(Branch, Branch.id == BranchQuarter.branch_id).join(Unit, Unit.id == Branch.unit_id)
        .where(BranchQuarter.quarter_id == quarter.id, _in(BranchQuarter.branch_id, branch_ids))
        .order_by(Unit.sort, Unit.id, Branch.sort, Branch.id)).all()
    branch_counts: dict[str, int] = {}
    for row in branches:
        branch_counts[row.BranchQuarter.status] = branch_counts.get(row.BranchQuarter.status, 0) + 1
    appeals = {(k, s): n for k, s, n in session.execute(
        select(Appeal.kind, Appeal.status, func.count()).join(Evaluation, Evaluation.id == Appeal.evaluation_id)
        .where(*ev_scope).group_by(Appeal.kind, Appeal.status)).all()}
    reports = dict(session.execute(
        select(SupervisionReport.status, func.count())
        .join(Evaluation, Evaluation.id == SupervisionReport.evaluation_id)
        .where(*ev_scope).group_by(SupervisionReport.status)).all())
    moment = now()
    follow_ups: dict[str, dict[str, int]] = {}
    overdue = 0
    for kind, status, late, n in session.execute(
            select(FollowUp.kind, FollowUp.status,
                   case((FollowUp.due_at < moment, 1), else_=0).label("late"), func.count())
            .where(FollowUp.quarter_id == quarter.id, _in(FollowUp.branch_id, branch_ids))
            .group_by(FollowUp.kind, FollowUp.status, "late")).all():
        entry = follow_ups.setdefault(kind, {"open": 0, "done": 0})
        entry[status] = entry.get(status, 0) + n
        if status == FollowUpStatus.OPEN and late:
            overdue += n
    notices = list(session.scalars(select(Notice).where(Notice.quarter_id == quarter.id,
                                                        Notice.published_at.is_not(None))
                                   .order_by(Notice.published_at.desc(), Notice.id.desc())))
    tasks = list(session.scalars(select(HumanTask).where(
        HumanTask.quarter_id == quarter.id, HumanTask.process_key == "bureau_quarter",
        HumanTask.state == TaskState.OPEN).order_by(HumanTask.id)))
    findings = {}
    if branch_ids is None:
        findings = dict(session.execute(select(VerificationFinding.result, func.count())
                                        .where(VerificationFinding.quarter_id == quarter.id)
                                        .group_by(VerificationFinding.result)).all())
    total = sum(by_status.values())
    return Progress(
        quarter=quarter, evaluations=_ordered(by_status, EVALUATION_ORDER), evaluation_total=total,
        grades=_ordered({k: v for k, v in by_grade.items() if k}, GRADE_ORDER), ungraded=by_grade.get(None, 0),
        branch_statuses=_ordered(branch_counts, BRANCH_ORDER), branches=branches, appeals=appeals,
        reports=list(reports.items()), follow_ups=follow_ups, overdue_follow_ups=overdue, notices=notices,
        tasks=tasks, findings=findings)


def quarter_rows(session: Session, branch_ids: Collection[int] | None) -> list[tuple[Quarter, int, int]]:
    """Every quarter with how many evaluations it has and how many are posted or further (in scope)."""
    done = case((Evaluation.status.in_(["posted", "appeal", "confirmed", "filed"]), 1), else_=0)
    counts = {q: (n, d) for q, n, d in session.execute(
        select(Evaluation.quarter_id, func.count(), func.sum(done))
        .where(_in(Evaluation.branch_id, branch_ids)).group_by(Evaluation.quarter_id)).all()}
    quarters = session.scalars(select(Quarter).order_by(Quarter.year.desc(), Quarter.quarter.desc(), Quarter.id.desc()))
    return [(q, *(int(x or 0) for x in counts.get(q.id, (0, 0)))) for q in quarters]


def appeals_list(session: Session, quarter_id: int, limit: int = 300) -> list[Any]:
    """The quarter's appeals and concerns with their outcomes (newest first)."""
    return list(session.execute(
        select(Appeal, Person.name, Branch.name.label("branch"))
        .join(Evaluation, Evaluation.id == Appeal.evaluation_id)
        .join(Person, Person.id == Evaluation.person_id).join(Branch, Branch.id == Evaluation.branch_id)
        .where(Evaluation.quarter_id == quarter_id).order_by(Appeal.submitted_at.desc(), Appeal.id.desc())
        .limit(limit)).all())
