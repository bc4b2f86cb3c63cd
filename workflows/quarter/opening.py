"""Opening a quarter (一季一考评): evaluations for everybody in scope, a person-quarter instance
each, a branch-quarter instance per branch and the bureau-quarter instance.

Person instances of one quarter start identically but for their ids, so the engine runs the
start once and the rest are stamped from that state with fresh task ids (`batch.start_many`):
opening a quarter for 20,000 people is a few bulk inserts, not 20,000 engine runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from models import audit
from models.catalogue import CatalogueStatus, CatalogueVersion
from models.clock import now
from models.evaluation import BranchQuarter, Evaluation, EvaluationStatus, Quarter, QuarterStatus
from models.org import Branch, Unit
from models.people import EVALUATED_STATUSES, Person, Role
from models.permissions import Principal
from models.process import ProcessInstance
from workflows.engine import batch, instances
from workflows.errors import NotAllowed, ValidationFailed
from workflows.i18n import N_


@dataclass
class OpenResult:
    quarter: Quarter
    evaluations: int
    branches: int


def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(field_errors={field: [message]})


def open_quarter(
    session: Session,
    actor: Principal,
    *,
    year: int,
    quarter: int,
    self_eval_deadline: datetime,
    publicity_days: int = 5,
    unit_id: int | None = None,
    catalogue_version_id: int | None = None,
    reminder_days: int = 2,
    review_days: int = 7,
    title: str = "",
) -> OpenResult:
    """The party office opens quarter `quarter` of `year` for the bureau (or one unit)."""
    if not actor.holds(Role.PARTY_OFFICE, None):
        raise NotAllowed()
    moment = now()
    _check_values(year, quarter, self_eval_deadline, publicity_days, moment)
    scope_key = "bureau" if unit_id is None else f"u{unit_id}"
    if unit_id is not None and session.get(Unit, unit_id) is None:
        raise _fail("unit_id", N_("Unknown unit."))
    _check_not_open(session, year, quarter, scope_key)
    version = _catalogue_version(session, year, catalogue_version_id)
    people = _evaluated_people(session, unit_id)

    q = Quarter(year=year, quarter=quarter, unit_id=unit_id, scope_key=scope_key,
                title=title or f"{year}年第{quarter}季度党员积分考评", catalogue_version_id=version.id,
                status=QuarterStatus.OPEN.value, self_eval_deadline=self_eval_deadline,
                reminder_at=max(self_eval_deadline - timedelta(days=reminder_days), moment + timedelta(minutes=1)),
                review_deadline=self_eval_deadline + timedelta(days=review_days), publicity_days=publicity_days,
                opened_at=moment, opened_by=actor.user_id)
    session.add(q)
    session.flush()
    counts = _start_instances(session, q, people, actor)
    _link_instances(session, q.id)
    audit.record(session, "quarter.opened", actor_user_id=actor.user_id, object_type="quarter", object_id=q.id,
                 quarter_id=q.id, data={"year": year, "quarter": quarter, "scope": scope_key,
                                        "catalogue_version_id": version.id, "people": len(people),
                                        "branches": len(counts), "deadline": self_eval_deadline.isoformat(),
                                        "publicity_days": publicity_days})
    return OpenResult(q, len(people), len(counts))


def _check_values(year: int, quarter: int, deadline: datetime, publicity_days: int, moment: datetime) -> None:
    if quarter not in (1, 2, 3, 4):
        raise _fail("quarter", N_("The quarter is 1, 2, 3 or 4."))
    if not 2000 <= year <= 2100:
        raise _fail("year", N_("Enter a year between 2000 and 2100."))
    if deadline.tzinfo is None:
        raise _fail("self_eval_deadline", N_("The deadline needs a time zone."))
    if deadline <= moment:
        raise _fail("self_eval_deadline", N_("The self-evaluation deadline must be in the future."))
    if not 1 <= publicity_days <= 30:
        raise _fail("publicity_days", N_("Publicity lasts 1 to 30 working days."))


def _check_not_open(session: Session, year: int, quarter: int, scope_key: str) -> None:
    same_quarter = select(Quarter.id).where(Quarter.year == year, Quarter.quarter == quarter)
    if scope_key != "bureau":  # a unit's quarter clashes with itself and with a bureau-wide one
        same_quarter = same_quarter.where(Quarter.scope_key.in_((scope_key, "bureau")))
    if session.scalar(same_quarter.limit(1)) is not None:
        raise _fail("quarter", N_("This quarter is already open for this scope (or for the whole bureau)."))


def _catalogue_version(session: Session, year: int, version_id: int | None) -> CatalogueVersion:
    """The version asked for, or the year's published one; refused unless published."""
    if version_id is None:
        version = session.scalar(select(CatalogueVersion).where(
            CatalogueVersion.year == year, CatalogueVersion.status == CatalogueStatus.PUBLISHED)
            .order_by(CatalogueVersion.published_at.desc()).limit(1))
    else:
        version = session.get(CatalogueVersion, version_id)
    if version is None or version.status != CatalogueStatus.PUBLISHED:
        raise _fail("catalogue_version_id", N_("There is no published catalogue for this year: publish one first."))
    return version


def _evaluated_people(session: Session, unit_id: int | None) -> list[Any]:
    """Everybody evaluated in scope: (id, branch, membership, unit kind), by branch."""
    query = (select(Person.id, Person.branch_id, Person.status, Unit.kind_id)
             .join(Branch, Person.branch_id == Branch.id).join(Unit, Branch.unit_id == Unit.id)
             .where(Person.active.is_(True), Person.status.in_([s.value for s in EVALUATED_STATUSES]),
                    Branch.active.is_(True)))
    if unit_id is not None:
        query = query.where(Branch.unit_id == unit_id)
    people = list(session.execute(query.order_by(Person.branch_id, Person.id)).all())
    if not people:
        raise _fail("unit_id", N_("Nobody in this scope is evaluated."))
    return people


def _start_instances(session: Session, q: Quarter, people: list[Any], actor: Principal) -> dict[int, int]:
    """The evaluations and branch quarters in bulk, a person-quarter instance each (stamped from one
    engine run), a branch-quarter instance per branch and the bureau-quarter instance. The number
    of members per branch."""
    ev_rows = [{"quarter_id": q.id, "person_id": p.id, "branch_id": p.branch_id, "unit_kind_id": p.kind_id,
                "member_status": p.status, "status": EvaluationStatus.SELF_EVALUATION.value,
                "one_click": False, "recorded_by_branch": False} for p in people]
    ev_ids = list(session.scalars(insert(Evaluation.__table__).returning(
        Evaluation.__table__.c.id, sort_by_parameter_order=True), ev_rows))
    counts: dict[int, int] = {}
    for p in people:
        counts[p.branch_id] = counts.get(p.branch_id, 0) + 1
    bq_rows = [{"quarter_id": q.id, "branch_id": b, "member_count": n, "status": "reviewing",
                "approval_comment": "", "meeting_resolution": ""} for b, n in counts.items()]
    bq_ids = list(session.scalars(insert(BranchQuarter.__table__).returning(
        BranchQuarter.__table__.c.id, sort_by_parameter_order=True), bq_rows))

    common = {"quarter_id": q.id, "deadline": q.self_eval_deadline.isoformat(),
              "reminder_at": q.reminder_at.isoformat(), "review_due": q.review_deadline.isoformat()}
    batch.start_many(session, "person_quarter", common, [
        batch.StartItem(data={"person_id": p.id, "branch_id": p.branch_id},
                        quarter_id=q.id, branch_id=p.branch_id, subject_person_id=p.id,
                        object_type="evaluation", object_id=ev_id)
        for p, ev_id in zip(people, ev_ids, strict=True)
    ], actor_user_id=actor.user_id)
    for (branch_id, n), bq_id in zip(counts.items(), bq_ids, strict=True):
        instances.start_process(session, "branch_quarter", {"quarter_id": q.id, "branch_id": branch_id,
                                                            "member_count": n, "reviewed": 0, "closed": 0},
                                quarter_id=q.id, branch_id=branch_id, object_type="branch_quarter",
                                object_id=bq_id, actor_user_id=actor.user_id)
    instances.start_process(session, "bureau_quarter", {"quarter_id": q.id, "branch_count": len(counts), "reported": 0},
                            quarter_id=q.id, object_type="quarter", object_id=q.id, actor_user_id=actor.user_id)
    return counts


def _link_instances(session: Session, quarter_id: int) -> None:
    """Point every evaluation and branch quarter at its instance (one statement each)."""
    pi = ProcessInstance.__table__
    for table, object_type in ((Evaluation.__table__, "evaluation"), (BranchQuarter.__table__, "branch_quarter")):
        session.execute(update(table).where(table.c.quarter_id == quarter_id).values(
            instance_id=select(pi.c.id).where(pi.c.object_type == object_type, pi.c.object_id == table.c.id)
            .scalar_subquery()))


def current_quarters(session: Session) -> list[Quarter]:
    return list(session.scalars(select(Quarter).order_by(Quarter.year.desc(), Quarter.quarter.desc(), Quarter.id)))


def open_quarter_for_person(session: Session, person_id: int) -> Evaluation | None:
    """The person's evaluation in a quarter that is not filed yet (the newest)."""
    return session.scalar(select(Evaluation).join(Quarter, Evaluation.quarter_id == Quarter.id)
                          .where(Evaluation.person_id == person_id, Quarter.locked.is_(False))
                          .order_by(Quarter.year.desc(), Quarter.quarter.desc()).limit(1))


def quarter_counts(session: Session, quarter_id: int) -> dict[str, int]:
    rows = session.execute(select(Evaluation.status, func.count()).where(Evaluation.quarter_id == quarter_id)
                           .group_by(Evaluation.status)).all()
    return {status: n for status, n in rows}
