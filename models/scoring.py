"""The scoring engine: a person's quarter score from the catalogue rules and their accepted claims.

Pure and side-effect free (no database, no Flask): `score(rules, claims)` returns the total, the
grade and a JSON-serialisable explanation of every point.

The rules (SPEC §2, after the article's 主要做法 二):
- a deduction item starts at its baseline (full score without special circumstances, 无特殊情况均
  评定为满分); its deductions lower it, never below zero for that item;
- a bonus adds its points; bonuses are uncapped (上不封顶);
- within one honour category only one honour counts, the highest (同类荣誉取最高级别积分): the
  one worth most, then the higher level, then the lower claim id. The catalogue requires a higher
  level of a category to be worth more, so "worth most" is the highest level; ranking by worth
  first means that taking a bonus away can never raise a score;
- an honour counts once; other standards count up to their maximum number of occurrences;
- total = baselines − bounded deductions + bonuses; graded against the pass and excellent lines.

Claims are processed in claim-id order whatever order they come in, so the order never matters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import Any

from models.values import money

ENGINE_VERSION = 1
ZERO = Decimal("0")
CENT = Decimal("0.01")

EXCELLENT, PASS, FAIL = "excellent", "pass", "fail"
BONUS, DEDUCTION = "bonus", "deduction"


@dataclass(frozen=True)
class ItemRule:
    id: int
    code: str
    name: str
    kind: str  # "deduction" (starts at baseline) | "bonus"
    baseline: Decimal
    dimension: str


@dataclass(frozen=True)
class StandardRule:
    id: int
    item_id: int
    code: str
    text: str
    kind: str  # "bonus" | "deduction"
    points: Decimal  # per occurrence, positive
    max_occurrences: int | None
    honour_category: str | None
    honour_level: int | None


@dataclass(frozen=True)
class Rules:
    """What one unit kind's member is scored against: the common part plus their own part."""

    version_id: int
    unit_kind_id: int
    pass_line: Decimal
    excellent_line: Decimal
    items: Mapping[int, ItemRule]
    standards: Mapping[int, StandardRule]

    @property
    def baseline_total(self) -> Decimal:
        return sum((i.baseline for i in self.items.values() if i.kind == DEDUCTION), ZERO)

    @cached_property
    def score_without_claims(self) -> Decimal:
        """The total of somebody who claims nothing (a one-click declaration), scored once per rules."""
        return score(self, ()).total


@dataclass(frozen=True)
class ClaimInput:
    claim_id: int
    standard_id: int
    occurrences: int
    points_per_occurrence: Decimal | None = None  # None: the standard's points; a reviewer's adjustment sets it
    evidence_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class ScoreResult:
    total: Decimal
    grade: str  # "excellent" | "pass" | "fail"
    explanation: dict[str, Any]




def grade_for(total: Decimal, pass_line: Decimal, excellent_line: Decimal) -> str:
    """excellent at or above the excellent line, pass at or above the pass line, else fail."""
    if total >= excellent_line:
        return EXCELLENT
    if total >= pass_line:
        return PASS
    return FAIL


@dataclass
class _Entry:
    claim: ClaimInput
    standard: StandardRule
    counted_occurrences: int
    cap: int | None  # the cap that applied, when the claim asked for more
    per_occurrence: Decimal
    value: Decimal
    dropped_for: int | None = None  # the claim id of the honour that counts instead

    def as_json(self) -> dict[str, Any]:
        s = self.standard
        return {
            "claim_id": self.claim.claim_id,
            "standard_id": s.id,
            "standard_code": s.code,
            "standard_text": s.text,
            "kind": s.kind,
            "occurrences": self.claim.occurrences,
            "occurrences_counted": self.counted_occurrences,
            "capped_at": self.cap,
            "points_per_occurrence": money(self.per_occurrence),
            "standard_points": money(s.points),
            "adjusted": self.claim.points_per_occurrence is not None and self.per_occurrence != s.points,
            "points": money(self.value),
            "evidence_ids": sorted(self.claim.evidence_ids),
            "honour_category": s.honour_category,
            "honour_level": s.honour_level,
            "counted": self.dropped_for is None,
            "dropped": None if self.dropped_for is None else {
                "reason": "lower_in_honour_category", "kept_claim_id": self.dropped_for},
        }


def _entry(rules: Rules, claim: ClaimInput) -> _Entry:
    standard = rules.standards.get(claim.standard_id)
    if standard is None:
        raise ValueError(f"claim {claim.claim_id}: standard {claim.standard_id} is not in catalogue "
                         f"version {rules.version_id} for unit kind {rules.unit_kind_id}")
    if standard.item_id not in rules.items:
        raise ValueError(f"standard {standard.id} belongs to item {standard.item_id}, which is not in the rules")
    if claim.occurrences < 0:
        raise ValueError(f"claim {claim.claim_id}: occurrences must not be negative")
    per = standard.points if claim.points_per_occurrence is None else claim.points_per_occurrence
    if per < 0:
        raise ValueError(f"claim {claim.claim_id}: points per occurrence must not be negative")
    limit = standard.max_occurrences
    if standard.honour_category:
        limit = 1  # an honour counts once
    counted = claim.occurrences if limit is None else min(claim.occurrences, limit)
    cap = limit if counted < claim.occurrences else None
    return _Entry(claim, standard, counted, cap, per, per * counted)


def _apply_honour_rule(entries: list[_Entry]) -> list[dict[str, Any]]:
    """Within each honour category keep the one honour worth most; mark the others dropped."""
    by_category: dict[str, list[_Entry]] = {}
    for e in entries:
        if e.standard.kind == BONUS and e.standard.honour_category:
            by_category.setdefault(e.standard.honour_category, []).append(e)
    summary = []
    for category in sorted(by_category):
        group = by_category[category]
        kept = max(group, key=lambda e: (e.value, e.standard.honour_level or 0, -e.claim.claim_id))
        for e in group:
            if e is not kept:
                e.dropped_for = kept.claim.claim_id
        summary.append({
            "category": category,
            "kept_claim_id": kept.claim.claim_id,
            "kept_level": kept.standard.honour_level,
            "points": money(kept.value),
            "dropped_claim_ids": sorted(e.claim.claim_id for e in group if e is not kept),
        })
    return summary


def score(rules: Rules, claims: Iterable[ClaimInput]) -> ScoreResult:
    """The quarter score of one person and the full explanation of it."""
    ordered = sorted(claims, key=lambda c: c.claim_id)
    ids = [c.claim_id for c in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError("a claim id appears twice")
    entries = [_entry(rules, c) for c in ordered]
    honours = _apply_honour_rule(entries)

    per_item: dict[int, list[_Entry]] = {}
    for e in entries:
        per_item.setdefault(e.standard.item_id, []).append(e)

    items_json = []
    baseline_total = deductions_total = bonuses_total = ZERO
    for item in rules.items.values():
        mine = per_item.get(item.id, [])
        baseline = item.baseline if item.kind == DEDUCTION else ZERO
        claimed = sum((e.value for e in mine if e.standard.kind == DEDUCTION), ZERO)
        applied = min(claimed, baseline)  # never below zero for this item
        bonus = sum((e.value for e in mine if e.standard.kind == BONUS and e.dropped_for is None), ZERO)
        baseline_total += baseline
        deductions_total += applied
        bonuses_total += bonus
        items_json.append({
            "item_id": item.id,
            "code": item.code,
            "name": item.name,
            "dimension": item.dimension,
            "kind": item.kind,
            "baseline": money(baseline),
            "deductions_claimed": money(claimed),
            "deductions_applied": money(applied),
            "floored": claimed > baseline,
            "bonuses": money(bonus),
            "score": money(baseline - applied + bonus),
            "entries": [e.as_json() for e in mine],
        })

    total = (baseline_total - deductions_total + bonuses_total).quantize(CENT, rounding=ROUND_HALF_UP)
    grade = grade_for(total, rules.pass_line, rules.excellent_line)
    explanation = {
        "engine": ENGINE_VERSION,
        "version_id": rules.version_id,
        "unit_kind_id": rules.unit_kind_id,
        "pass_line": money(rules.pass_line),
        "excellent_line": money(rules.excellent_line),
        "baseline_total": money(baseline_total),
        "deductions": money(deductions_total),
        "bonuses": money(bonuses_total),
        "total": money(total),
        "grade": grade,
        "items": items_json,
        "honours": honours,
        "capped_claim_ids": [e.claim.claim_id for e in entries if e.cap is not None],
        "dropped_claim_ids": [e.claim.claim_id for e in entries if e.dropped_for is not None],
    }
    return ScoreResult(total, grade, explanation)
