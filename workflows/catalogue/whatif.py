"""What-if: re-score a closed quarter under another catalogue version (next year's draft, say) and
show who moves up or down, and why.

Nothing is written. Each person's counted claims (accepted or adjusted) are scored twice with the
engine: under the version the quarter was opened with, and under the other version, where each
claim finds its standard by code. A claim whose standard code the other version lacks (or does
not show to the person's unit kind) is reported as unmatched and left out. A reviewer's adjusted
points carry over in proportion: half the points of the old standard become half of the new one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.catalogue import CatalogueVersion
from models.evaluation import COUNTING_CLAIM_STATUSES, Claim, Evaluation, Evidence, Quarter, QuarterStatus
from models.org import Branch
from models.people import Person
from models.scoring import ClaimInput, Rules, ScoreResult, score
from workflows.catalogue import versions as catalogue
from workflows.errors import NotFound, ValidationFailed
from workflows.i18n import N_

CLOSED = (QuarterStatus.NOTIFIED, QuarterStatus.FILED)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Unmatched:
    claim_id: int
    standard_code: str
    standard_text: str
    points: Decimal  # what it counted for under the quarter's version


@dataclass(frozen=True)
class ItemChange:
    """One item of a person's score that is worth something else under the other version."""

    code: str
    name: str
    before: Decimal
    after: Decimal
    claims: tuple[tuple[int, str, Decimal | None, Decimal | None], ...]  # (claim id, standard code, before, after)

    @property
    def delta(self) -> Decimal:
        return self.after - self.before


@dataclass(frozen=True)
class Move:
    evaluation_id: int
    person_id: int
    name: str
    branch: str
    unit_kind_id: int
    recorded: Decimal | None  # the score on file
    before: Decimal  # re-scored under the quarter's version
    after: Decimal
    grade_before: str
    grade_after: str
    rank_before: int
    rank_after: int
    items: tuple[ItemChange, ...]
    unmatched: tuple[Unmatched, ...]

    @property
    def delta(self) -> Decimal:
        return self.after - self.before

    @property
    def direction(self) -> str:
        return "up" if self.delta > 0 else "down" if self.delta < 0 else "same"


@dataclass
class WhatIf:
    quarter: Quarter
    original: CatalogueVersion
    target: CatalogueVersion
    moves: list[Move] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        return Counter(m.direction for m in self.moves)

    @property
    def grade_changes(self) -> Counter[tuple[str, str]]:
        return Counter((m.grade_before, m.grade_after) for m in self.moves if m.grade_before != m.grade_after)

    @property
    def unmatched_codes(self) -> Counter[str]:
        return Counter(u.standard_code for m in self.moves for u in m.unmatched)

    def as_json(self) -> dict[str, Any]:
        return {
            "quarter": {"id": self.quarter.id, "label": self.quarter.label, "status": self.quarter.status},
            "original_version_id": self.original.id,
            "target_version_id": self.target.id,
            "counts": dict(self.counts),
            "grade_changes": [{"from": a, "to": b, "people": n} for (a, b), n in sorted(self.grade_changes.items())],
            "unmatched_standard_codes": dict(self.unmatched_codes),
            "moves": [_move_json(m) for m in self.moves],
        }


def _s(value: Decimal | None) -> str | None:
    return None if value is None else format(value.quantize(CENT), "f")


def _move_json(m: Move) -> dict[str, Any]:
    return {
        "evaluation_id": m.evaluation_id, "person_id": m.person_id, "name": m.name, "branch": m.branch,
        "recorded": _s(m.recorded), "before": _s(m.before), "after": _s(m.after), "delta": _s(m.delta),
        "grade_before": m.grade_before, "grade_after": m.grade_after,
        "rank_before": m.rank_before, "rank_after": m.rank_after,
        "items": [{"code": i.code, "name": i.name, "before": _s(i.before), "after": _s(i.after),
                   "claims": [{"claim_id": c, "standard_code": code, "before": _s(b), "after": _s(a)}
                              for c, code, b, a in i.claims]} for i in m.items],
        "unmatched": [{"claim_id": u.claim_id, "standard_code": u.standard_code, "points": _s(u.points)}
                      for u in m.unmatched],
    }


def closed_quarters(session: Session) -> list[Quarter]:
    """Quarters that can be re-scored (notified or filed), newest first."""
    return list(session.scalars(select(Quarter).where(Quarter.status.in_(CLOSED))
                                .order_by(Quarter.year.desc(), Quarter.quarter.desc(), Quarter.id)))


def find_quarter(session: Session, ref: str) -> Quarter:
    """A quarter by id or by label ("2026Q3", the bureau-wide one first)."""
    ref = ref.strip().upper()
    quarter = None
    if ref.isdigit():
        quarter = session.get(Quarter, int(ref))
    elif len(ref) == 6 and ref[4] == "Q" and ref[:4].isdigit() and ref[5].isdigit():
        quarter = session.scalar(select(Quarter).where(Quarter.year == int(ref[:4]), Quarter.quarter == int(ref[5]))
                                 .order_by((Quarter.scope_key == "bureau").desc(), Quarter.id).limit(1))
    if quarter is None:
        raise NotFound(N_("This quarter does not exist."))
    return quarter


def _entries(result: ScoreResult) -> dict[str, dict[str, Any]]:
    return {i["code"]: i for i in result.explanation["items"]}


def _counted(item: dict[str, Any] | None) -> dict[int, tuple[str, Decimal]]:
    if item is None:
        return {}
    return {e["claim_id"]: (e["standard_code"], Decimal(e["points"]) if e["counted"] else Decimal("0"))
            for e in item["entries"]}


def _item_changes(before: ScoreResult, after: ScoreResult) -> tuple[ItemChange, ...]:
    """The items whose score differs, each with its claims' points under both versions."""
    old, new = _entries(before), _entries(after)
    changes = []
    for code in list(old) + [c for c in new if c not in old]:
        a, b = old.get(code), new.get(code)
        va = Decimal(a["score"]) if a else Decimal("0")
        vb = Decimal(b["score"]) if b else Decimal("0")
        if va == vb:
            continue
        ca, cb = _counted(a), _counted(b)
        claims = tuple(sorted(
            (cid, (ca.get(cid) or cb.get(cid))[0], ca[cid][1] if cid in ca else None,
             cb[cid][1] if cid in cb else None)
            for cid in set(ca) | set(cb)))
        changes.append(ItemChange(code, (b or a)["name"], va, vb, claims))  # type: ignore[index]
    return tuple(sorted(changes, key=lambda c: (abs(c.delta) * -1, c.code)))


def _ranks(values: dict[int, Decimal]) -> dict[int, int]:
    """Competition ranking (1, 2, 2, 4...) by score, highest first."""
    ordered = sorted(values.values(), reverse=True)
    first = {}
    for n, v in enumerate(ordered, start=1):
        first.setdefault(v, n)
    return {k: first[v] for k, v in values.items()}


def rescore(session: Session, quarter_id: int, version_id: int) -> WhatIf:
    """Re-score closed quarter `quarter_id` under catalogue version `version_id` (writes nothing)."""
    quarter = session.get(Quarter, quarter_id)
    if quarter is None:
        raise NotFound(N_("This quarter does not exist."))
    if quarter.status not in CLOSED:
        raise ValidationFailed(N_("Only a closed quarter (notified or filed) can be re-scored."),
                               field_errors={"quarter_id": [N_("Only a closed quarter (notified or filed) can be re-scored.")]})
    original = catalogue.get_version(session, quarter.catalogue_version_id)
    target = catalogue.get_version(session, version_id)
    rows = session.execute(
        select(Evaluation, Person.name, Branch.name).join(Person, Evaluation.person_id == Person.id)
        .join(Branch, Evaluation.branch_id == Branch.id).where(Evaluation.quarter_id == quarter.id)
        .order_by(Evaluation.id)
    ).all()
    ids = [ev.id for ev, _, _ in rows]
    claims: dict[int, list[Claim]] = {}
    for claim in session.scalars(select(Claim).where(Claim.evaluation_id.in_(ids),
                                                     Claim.status.in_(COUNTING_CLAIM_STATUSES)).order_by(Claim.id)):
        claims.setdefault(claim.evaluation_id, []).append(claim)
    evidence: dict[int, list[int]] = {}
    for claim_id, evidence_id in session.execute(
            select(Evidence.claim_id, Evidence.id).join(Claim, Evidence.claim_id == Claim.id)
            .where(Claim.evaluation_id.in_(ids))):
        evidence.setdefault(claim_id, []).append(evidence_id)

    rules: dict[tuple[int, int], Rules] = {}

    def rules_of(version: int, kind: int) -> Rules:
        if (version, kind) not in rules:
            rules[(version, kind)] = catalogue.rules_for(session, version, kind)
        return rules[(version, kind)]

    scored = []
    for ev, name, branch in rows:
        old_rules, new_rules = rules_of(original.id, ev.unit_kind_id), rules_of(target.id, ev.unit_kind_id)
        by_code = {s.code: s for s in new_rules.standards.values()}
        old_inputs, new_inputs, unmatched = [], [], []
        for claim in claims.get(ev.id, []):
            occurrences = claim.reviewed_occurrences if claim.reviewed_occurrences is not None else claim.occurrences
            inputs = ClaimInput(claim.id, claim.standard_id, occurrences, claim.reviewed_points,
                                tuple(evidence.get(claim.id, ())))
            old_inputs.append(inputs)
            old_standard = old_rules.standards.get(claim.standard_id)
            new_standard = by_code.get(claim.standard.code)
            if new_standard is None or old_standard is None:
                per = claim.reviewed_points if claim.reviewed_points is not None else claim.standard.points
                unmatched.append(Unmatched(claim.id, claim.standard.code, claim.standard.text, per * occurrences))
                continue
            points = None
            if claim.reviewed_points is not None and old_standard.points > 0:
                points = (claim.reviewed_points * new_standard.points / old_standard.points).quantize(
                    CENT, rounding=ROUND_HALF_UP)
            new_inputs.append(ClaimInput(claim.id, new_standard.id, occurrences, points, inputs.evidence_ids))
        before, after = score(old_rules, old_inputs), score(new_rules, new_inputs)
        scored.append((ev, name, branch, before, after, tuple(unmatched)))

    rank_before = _ranks({ev.id: b.total for ev, _, _, b, _, _ in scored})
    rank_after = _ranks({ev.id: a.total for ev, _, _, _, a, _ in scored})
    result = WhatIf(quarter, original, target)
    for ev, name, branch, before, after, unmatched in scored:
        result.moves.append(Move(
            ev.id, ev.person_id, name, branch, ev.unit_kind_id, ev.score, before.total, after.total,
            before.grade, after.grade, rank_before[ev.id], rank_after[ev.id], _item_changes(before, after), unmatched))
    result.moves.sort(key=lambda m: (-abs(m.delta), -m.after, m.evaluation_id))
    return result
