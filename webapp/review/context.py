"""What each task page shows around its form: the member, the quarter, the claims with their
standards and evidence, appeals, the branch's members, the report, the follow-up. Each loader
reads what its page needs in a few queries (no lazy loads per row)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased, joinedload, selectinload

from models import scoring
from models.catalogue import Content, Standard
from models.evaluation import (
    Appeal,
    BranchQuarter,
    Claim,
    ClaimStatus,
    Evaluation,
    FollowUp,
    Notice,
    Quarter,
    SupervisionReport,
)
from models.people import Person, User
from models.process import HumanTask, ProcessInstance
from webapp.extensions import db


@dataclass
class ClaimView:
    claim: Claim
    standard: Standard
    item: str
    evidence: list[Any]
    reviewer: str = ""

    @property
    def id(self) -> int:
        return self.claim.id

    @property
    def bonus(self) -> bool:
        return self.standard.kind == "bonus"


def user_names(ids: set[int | None]) -> dict[int, str]:
    """Names of several users in one query."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = db.session.execute(select(User.id, User.username, User.display_name, Person.name)
                              .outerjoin(Person, Person.id == User.person_id).where(User.id.in_(wanted)))
    return {r.id: r.name or r.display_name or r.username for r in rows}


def instance_of(task: HumanTask) -> ProcessInstance:
    instance = db.session.get(ProcessInstance, task.instance_id)
    assert instance is not None
    return instance


def evaluation_of(task: HumanTask) -> Evaluation | None:
    """The evaluation a person-quarter task is about."""
    return db.session.scalar(select(Evaluation).options(joinedload(Evaluation.quarter))
                             .where(Evaluation.instance_id == task.instance_id))


def claims_of(evaluation_id: int, *, with_drafts: bool = False) -> list[ClaimView]:
    """The evaluation's claims with standard, item, evidence and reviewer (three queries)."""
    query = (select(Claim).where(Claim.evaluation_id == evaluation_id)
             .options(joinedload(Claim.standard).joinedload(Standard.content).joinedload(Content.item),
                      selectinload(Claim.evidence))
             .order_by(Claim.id))
    if not with_drafts:
        query = query.where(Claim.status != ClaimStatus.DRAFT)
    claims = list(db.session.scalars(query).unique())
    names = user_names({c.reviewed_by for c in claims})
    return [ClaimView(c, c.standard, c.standard.content.item.name, list(c.evidence), names.get(c.reviewed_by or 0, ""))
            for c in claims]


def appeals_of(evaluation_id: int) -> list[tuple[Appeal, str, str]]:
    """Every appeal and concern about an evaluation, with who filed and who decided it."""
    appeals = list(db.session.scalars(select(Appeal).where(Appeal.evaluation_id == evaluation_id).order_by(Appeal.id)))
    names = user_names({a.submitted_by for a in appeals} | {a.decided_by for a in appeals})
    return [(a, names.get(a.submitted_by, ""), names.get(a.decided_by or 0, "")) for a in appeals]


def person(person_id: int | None) -> Person | None:
    return db.session.get(Person, person_id) if person_id is not None else None


def quarter(quarter_id: int | None) -> Quarter | None:
    return db.session.get(Quarter, quarter_id) if quarter_id is not None else None


# --- The standards a reviewer can pick ---------------------------------------------------------------


def standard_choices(rules: scoring.Rules, kind: str | None = None) -> dict[str, list[tuple[str, str]]]:
    """The catalogue's standards grouped by dimension and item, for a <select> with optgroups."""
    groups: dict[str, list[tuple[str, str]]] = {}
    items = rules.items
    for standard in sorted(rules.standards.values(), key=lambda s: (items[s.item_id].dimension, s.item_id, s.code)):
        if kind is not None and standard.kind != kind:
            continue
        item = items[standard.item_id]
        sign = "+" if standard.kind == "bonus" else "−"
        text = standard.text if len(standard.text) <= 60 else standard.text[:58] + "…"
        groups.setdefault(f"{item.dimension} · {item.name}", []).append(
            (str(standard.id), f"{standard.code} {text} ({sign}{scoring.money(standard.points)})"))
    return groups


# --- A branch's quarter ----------------------------------------------------------------------------------


@dataclass
class MemberRow:
    evaluation: Evaluation
    name: str
    status: str
    reviewer: str


def branch_quarter_of(task: HumanTask) -> BranchQuarter | None:
    return db.session.scalar(select(BranchQuarter).where(BranchQuarter.instance_id == task.instance_id))


def members_of(bq: BranchQuarter) -> list[MemberRow]:
    """The branch's members in the quarter: scores, grade, who reviewed (one query)."""
    reviewer = aliased(User)
    reviewer_person = aliased(Person)
    rows = db.session.execute(
        select(Evaluation, Person.name, Person.status, reviewer.username, reviewer_person.name.label("reviewer_name"))
        .join(Person, Person.id == Evaluation.person_id)
        .outerjoin(reviewer, reviewer.id == Evaluation.reviewed_by)
        .outerjoin(reviewer_person, reviewer_person.id == reviewer.person_id)
        .where(Evaluation.quarter_id == bq.quarter_id, Evaluation.branch_id == bq.branch_id)
        .order_by(Evaluation.score.is_(None), Evaluation.score.desc(), Person.name)).all()
    return [MemberRow(r.Evaluation, r.name, r.status, r.reviewer_name or r.username or "") for r in rows]


# --- Reports, follow-ups --------------------------------------------------------------------------------


def report_of(task: HumanTask) -> SupervisionReport | None:
    instance = instance_of(task)
    return db.session.get(SupervisionReport, instance.object_id) if instance.object_id is not None else None


@dataclass
class FollowUpFacts:
    follow_up: FollowUp
    evaluation: Evaluation | None = None
    notice: Notice | None = None
    done_by: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def follow_up_of(task: HumanTask) -> FollowUpFacts | None:
    instance = instance_of(task)
    item = db.session.get(FollowUp, instance.object_id) if instance.object_id is not None else None
    if item is None:
        return None
    ev = None
    if item.person_id is not None:
        ev = db.session.scalar(select(Evaluation).where(Evaluation.quarter_id == item.quarter_id,
                                                        Evaluation.person_id == item.person_id))
    notice = db.session.scalar(select(Notice).where(Notice.quarter_id == item.quarter_id)
                               .order_by(Notice.id.desc()).limit(1))
    return FollowUpFacts(item, ev, notice, user_names({item.done_by}).get(item.done_by or 0, ""))
