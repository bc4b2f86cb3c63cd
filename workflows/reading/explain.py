"""The "why" of every point (全程透明): an evaluation's score traced from each catalogue standard to
the claim that used it (who declared it, when), its evidence, the review decision (accept, adjust,
reject: reason, who, when) and the appeal decisions, with the process history around it.

Everything returned is plain JSON-ready data (dicts, lists, strings, numbers, booleans, None):
points are decimal strings ("2.00"), moments ISO 8601 in UTC, dates ISO. The member pages render
it and the JSON API returns it as is. Reads only; the caller has checked `evaluation.view`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.audit import AuditEvent
from models.catalogue import HONOUR_LEVELS, Content, Item, Standard
from models.evaluation import (
    AnnualAssessment,
    AnnualResult,
    AnnualStatus,
    Appeal,
    AppealKind,
    BranchQuarter,
    Claim,
    ClaimSource,
    ClaimStatus,
    Evaluation,
    Evidence,
    Quarter,
    SupervisionReport,
)
from models.org import Branch
from models.people import Person, User
from models.permissions import Principal, Target, can
from models.values import iso, money
from models.values import points_text as pts
from workflows.quarter import evaluation as evaluations

# How a claim's review is described, by its status (and source for claims that start accepted).
_DECISION = {ClaimStatus.ACCEPTED.value: "accept", ClaimStatus.ADJUSTED.value: "adjust", ClaimStatus.REJECTED.value: "reject",
             ClaimStatus.REVOKED.value: "revoked"}
# Audit actions that belong to a claim's story.
CLAIM_EVENTS = ("claim.added", "claim.changed", "claim.reviewed", "claim.added_at_review", "report.deduction")


class _People:
    """User id -> {"id", "name"}, fetched in one query for a whole page."""

    def __init__(self, session: Session, user_ids: Iterable[int | None]) -> None:
        ids = {u for u in user_ids if u is not None}
        self._names: dict[int, str] = {}
        if ids:
            rows = session.execute(select(User.id, User.username, User.display_name, Person.name)
                                   .outerjoin(Person, User.person_id == Person.id).where(User.id.in_(ids))).all()
            self._names = {r.id: r.name or r.display_name or r.username for r in rows}

    def __call__(self, user_id: int | None) -> dict[str, Any] | None:
        if user_id is None:
            return None
        return {"id": user_id, "name": self._names.get(user_id, f"#{user_id}")}


def _honour_level_name(level: int | None) -> str | None:
    return HONOUR_LEVELS.get(level) if level is not None else None


def _standards(session: Session, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Standard id -> the standard with its content, item and dimension, in one query."""
    from models.catalogue import Dimension

    ids = set(ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Standard, Content.text, Item.id, Item.code, Item.name, Dimension.name)
        .join(Content, Standard.content_id == Content.id).join(Item, Content.item_id == Item.id)
        .join(Dimension, Item.dimension_id == Dimension.id).where(Standard.id.in_(ids))).all()
    out = {}
    for s, content, item_id, item_code, item_name, dimension in rows:
        out[s.id] = {
            "id": s.id, "code": s.code, "text": s.text, "kind": s.kind, "points": pts(s.points),
            "max_occurrences": s.max_occurrences, "honour_category": s.honour_category,
            "honour_level": s.honour_level, "honour_level_name": _honour_level_name(s.honour_level),
            "evidence_required": bool(s.evidence_required), "content": content,
            "item_id": item_id, "item_code": item_code, "item": item_name, "dimension": dimension,
        }
    return out


def _audit_data(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _appeal(appeal: Appeal, people: _People, viewer: Principal | None, evaluation: Evaluation) -> dict[str, Any]:
    # A concern's author is shown to themselves and to those who may know a reporter (discipline
    # member, party office), like a supervision report's; the member it is about sees the concern.
    shown = (appeal.kind == AppealKind.APPEAL or (viewer is not None and (
        viewer.user_id == appeal.submitted_by or can(viewer, "report.reporter_identity",
                                                     Target(evaluation.branch_id, evaluation.person_id)))))
    return {
        "id": appeal.id, "kind": appeal.kind, "claim_id": appeal.claim_id, "text": appeal.text,
        "submitted_by": people(appeal.submitted_by) if shown else None, "submitted_at": iso(appeal.submitted_at),
        "mine": viewer is not None and viewer.user_id == appeal.submitted_by,
        "status": appeal.status, "decided_by": people(appeal.decided_by), "decided_at": iso(appeal.decided_at),
        "reason": appeal.decision_reason or "",
    }


def _review(claim: Claim, people: _People) -> dict[str, Any] | None:
    """The decision that made the claim count or not: a reviewer's, or the verification of a report."""
    if claim.status in (ClaimStatus.DRAFT, ClaimStatus.SUBMITTED):
        return None
    if claim.source == ClaimSource.REVIEW:
        decision = "added"  # added by the reviewer from the branch's records
    elif claim.source == ClaimSource.REPORT:
        decision = "report"  # a substantiated supervision report (a revocation is in its appeals)
    else:
        decision = _DECISION.get(claim.status, claim.status)
    return {
        "decision": decision, "reason": claim.decision_reason or "", "by": people(claim.reviewed_by),
        "at": iso(claim.reviewed_at), "occurrences": claim.reviewed_occurrences,
        "points_per_occurrence": pts(claim.reviewed_points),
    }


@dataclass
class _Facts:
    """Everything the explanation of one evaluation shows, each kind read once."""

    evaluation: Evaluation
    viewer: Principal | None
    claims: list[Claim]
    evidence: dict[int, list[Evidence]]
    appeals: list[Appeal]
    reports: dict[int, SupervisionReport]
    history: dict[int, list[dict[str, Any]]]
    steps: list[AuditEvent]
    branch_quarter: BranchQuarter | None
    people: _People
    standards: dict[int, dict[str, Any]]


def _gather(session: Session, evaluation: Evaluation, viewer: Principal | None, claims: list[Claim]) -> _Facts:
    evidence: dict[int, list[Evidence]] = {}
    for item in session.scalars(select(Evidence).where(Evidence.evaluation_id == evaluation.id).order_by(Evidence.id)):
        if item.claim_id is not None:
            evidence.setdefault(item.claim_id, []).append(item)
    appeals = list(session.scalars(select(Appeal).where(Appeal.evaluation_id == evaluation.id).order_by(Appeal.id)))
    report_ids = [c.report_id for c in claims if c.report_id is not None]
    reports = {r.id: r for r in session.scalars(select(SupervisionReport).where(SupervisionReport.id.in_(report_ids)))} \
        if report_ids else {}
    # A claim's history is its evaluation's: every claim event names its evaluation, and only
    # those of this one count (an id alone once matched other members' deleted claims).
    events = [e for e in session.scalars(select(AuditEvent).where(
        AuditEvent.object_type == "claim", AuditEvent.object_id.in_([str(c.id) for c in claims]),
        AuditEvent.quarter_id == evaluation.quarter_id, AuditEvent.action.in_(CLAIM_EVENTS)).order_by(AuditEvent.id))
        if _audit_data(e.data).get("evaluation_id") == evaluation.id] if claims else []
    steps = list(session.scalars(select(AuditEvent).where(
        AuditEvent.instance_id == evaluation.instance_id, AuditEvent.action == "task.completed")
        .order_by(AuditEvent.id))) if evaluation.instance_id else []
    bq = session.scalar(select(BranchQuarter).where(BranchQuarter.quarter_id == evaluation.quarter_id,
                                                    BranchQuarter.branch_id == evaluation.branch_id))
    people = _People(session, [
        evaluation.declared_by, evaluation.reviewed_by, bq.approved_by if bq else None,
        *(c.created_by for c in claims), *(c.reviewed_by for c in claims),
        *(e.uploaded_by for items in evidence.values() for e in items),
        *(a.submitted_by for a in appeals), *(a.decided_by for a in appeals),
        *(r.verified_by for r in reports.values()), *(r.reporter_user_id for r in reports.values()),
        *(e.actor_user_id for e in events), *(e.actor_user_id for e in steps),
    ])
    history: dict[int, list[dict[str, Any]]] = {}
    for event in events:
        data = _audit_data(event.data)
        history.setdefault(int(event.object_id), []).append({
            "action": event.action, "at": iso(event.at), "by": people(event.actor_user_id),
            "data": {k: v for k, v in data.items() if k in (
                "occurrences", "occurred_on", "description", "decision", "points", "reason", "step")}})
    return _Facts(evaluation, viewer, claims, evidence, appeals, reports, history, steps, bq, people,
                  _standards(session, [c.standard_id for c in claims]))


def _report_part(f: _Facts, report: SupervisionReport | None) -> dict[str, Any] | None:
    """A report's deduction behind a claim; who reported only for those who may know it."""
    if report is None:
        return None
    out = {"id": report.id, "status": report.status, "reason": report.decision_reason or "",
           "verified_by": f.people(report.verified_by), "verified_at": iso(report.verified_at),
           "occurred_on": iso(report.occurred_on)}
    if f.viewer is not None and can(f.viewer, "report.reporter_identity",
                                    Target(report.branch_id, report.subject_person_id)):
        out["reporter"] = (f.people(report.reporter_user_id) if report.reporter_user_id
                           else {"id": None, "name": report.reporter_name})
    return out


def _claim_part(f: _Facts, claim: Claim) -> dict[str, Any]:
    """A claim with its standard, who declared it, its files, the review, report and appeals, its history."""
    people = f.people
    return {
        "claim_id": claim.id,
        "standard": f.standards.get(claim.standard_id),
        "source": claim.source, "status": claim.status,
        "occurrences": claim.occurrences, "occurred_on": iso(claim.occurred_on),
        "description": claim.description or "",
        "declared_by": people(claim.created_by), "declared_at": iso(claim.created_at),
        "evidence": [{"id": e.id, "filename": e.filename, "content_type": e.content_type, "size": e.size,
                      "sha256": e.sha256, "uploaded_by": people(e.uploaded_by), "uploaded_at": iso(e.uploaded_at)}
                     for e in f.evidence.get(claim.id, [])],
        "review": _review(claim, people),
        "report": _report_part(f, f.reports.get(claim.report_id) if claim.report_id else None),
        "appeals": [_appeal(a, people, f.viewer, f.evaluation) for a in f.appeals if a.claim_id == claim.id],
        "history": f.history.get(claim.id, []),
    }


def _dimensions(f: _Facts, engine: dict[str, Any]) -> list[dict[str, Any]]:
    """The scoring engine's items grouped by dimension, each entry with its claim's facts; claims
    that do not count at all (rejected, revoked) are part of the why too."""
    by_id = {c.id: c for c in f.claims}
    seen: set[int] = set()
    dimensions: list[dict[str, Any]] = []
    by_item: dict[int, dict[str, Any]] = {}
    for item in engine.get("items", []):
        entries = []
        for entry in item.get("entries", []):
            claim = by_id.get(entry["claim_id"])
            seen.add(entry["claim_id"])
            entries.append({**(_claim_part(f, claim) if claim else {"claim_id": entry["claim_id"]}),
                            "occurrences_counted": entry["occurrences_counted"], "capped_at": entry["capped_at"],
                            "points_per_occurrence": entry["points_per_occurrence"], "adjusted": entry["adjusted"],
                            "points": entry["points"], "counted": entry["counted"], "dropped": entry["dropped"],
                            "not_counted": None if entry["counted"] else "lower_in_honour_category"})
        row = {k: item[k] for k in ("item_id", "code", "name", "kind", "baseline", "deductions_claimed",
                                     "deductions_applied", "floored", "bonuses", "score")}
        row["entries"] = entries
        by_item[item["item_id"]] = row
        if not dimensions or dimensions[-1]["name"] != item["dimension"]:
            dimensions.append({"name": item["dimension"], "items": []})
        dimensions[-1]["items"].append(row)
    for claim in f.claims:
        if claim.id in seen:
            continue
        part = _claim_part(f, claim)
        row = by_item.get((part["standard"] or {}).get("item_id", -1))
        if row is not None:
            row["entries"].append({**part, "occurrences_counted": 0, "capped_at": None, "points_per_occurrence": None,
                                   "adjusted": False, "points": money(Decimal(0)), "counted": False, "dropped": None,
                                   "not_counted": claim.status})
    for row in by_item.values():
        row["changed"] = bool(row["entries"])
        row["entries"].sort(key=lambda e: e["claim_id"])
    return dimensions


def _branch_quarter_part(f: _Facts) -> dict[str, Any] | None:
    bq = f.branch_quarter
    if bq is None:
        return None
    return {"status": bq.status, "approved_by": f.people(bq.approved_by), "approved_at": iso(bq.approved_at),
            "approval_comment": bq.approval_comment or "", "meeting_date": iso(bq.meeting_date),
            "meeting_expected": bq.meeting_expected, "meeting_present": bq.meeting_present,
            "meeting_resolution": bq.meeting_resolution or "",
            "publicity_start": iso(bq.publicity_start), "publicity_end": iso(bq.publicity_end)}


def build(session: Session, evaluation: Evaluation, *, viewer: Principal | None = None) -> dict[str, Any]:
    """The whole explanation of one evaluation, for someone allowed to view it."""
    quarter = session.get(Quarter, evaluation.quarter_id)
    assert quarter is not None
    claims = evaluations.claims_of(session, evaluation.id)
    provisional = evaluation.explanation is None
    engine = (evaluations.compute(session, evaluation, counting_only=False, claims=claims).explanation
              if provisional else evaluation.explanation)
    assert engine is not None
    f = _gather(session, evaluation, viewer, claims)
    people = f.people
    return {
        "evaluation": {
            "id": evaluation.id, "status": evaluation.status, "member_status": evaluation.member_status,
            "self_score": pts(evaluation.self_score), "score": pts(evaluation.score), "grade": evaluation.grade,
            "one_click": evaluation.one_click, "recorded_by_branch": evaluation.recorded_by_branch,
            "declared_by": people(evaluation.declared_by), "declared_at": iso(evaluation.declared_at),
            "reviewed_by": people(evaluation.reviewed_by), "reviewed_at": iso(evaluation.reviewed_at),
        },
        "quarter": {"id": quarter.id, "label": quarter.label, "year": quarter.year, "quarter": quarter.quarter,
                    "title": quarter.title, "status": quarter.status, "locked": quarter.locked,
                    "self_eval_deadline": iso(quarter.self_eval_deadline)},
        "person": {"id": evaluation.person_id, "name": evaluation.person.name},
        "branch": {"id": evaluation.branch_id, "name": _branch_name(session, evaluation.branch_id)},
        "provisional": provisional,
        "totals": {k: engine.get(k) for k in ("baseline_total", "deductions", "bonuses", "total", "grade",
                                              "pass_line", "excellent_line")},
        "honours": engine.get("honours", []),
        "dimensions": _dimensions(f, engine),
        "appeals": [_appeal(a, people, viewer, evaluation) for a in f.appeals],
        "branch_quarter": _branch_quarter_part(f),
        "steps": [_step(e, people) for e in f.steps],
    }


def _step(event: AuditEvent, people: _People) -> dict[str, Any]:
    data = _audit_data(event.data)
    details = data.get("data") if isinstance(data.get("data"), dict) else {}
    return {"step": data.get("step"), "name": data.get("name"), "at": iso(event.at), "by": people(event.actor_user_id),
            "data": {k: v for k, v in details.items() if k in (
                "one_click", "claims", "self_score", "score", "grade", "decision", "decisions", "added")}}


def _branch_name(session: Session, branch_id: int) -> str:
    branch = session.get(Branch, branch_id)
    return branch.name if branch else f"#{branch_id}"


def preview(session: Session, evaluation: Evaluation, claims: list[Claim] | None = None) -> dict[str, Any]:
    """The self score of what is declared so far (drafts included) and the items it changes."""
    result = evaluations.compute(session, evaluation, counting_only=False, claims=claims)
    engine = result.explanation
    changed = []
    for item in engine["items"]:
        if item["entries"]:
            changed.append({k: item[k] for k in ("item_id", "code", "name", "kind", "baseline", "deductions_claimed",
                                                 "deductions_applied", "floored", "bonuses", "score")}
                           | {"entries": [{k: e[k] for k in ("claim_id", "standard_code", "standard_text", "kind",
                                                              "occurrences", "occurrences_counted", "capped_at",
                                                              "points", "counted", "dropped")}
                                          for e in item["entries"]]})
    return {k: engine[k] for k in ("baseline_total", "deductions", "bonuses", "total", "grade", "pass_line",
                                   "excellent_line")} | {"items": changed, "honours": engine["honours"]}


# --- A person's record --------------------------------------------------------------------------------


def _evaluation_row(evaluation: Evaluation, quarter: Quarter) -> dict[str, Any]:
    return {"id": evaluation.id, "quarter_id": quarter.id, "label": quarter.label, "year": quarter.year,
            "quarter": quarter.quarter, "title": quarter.title, "quarter_status": quarter.status,
            "status": evaluation.status, "self_score": pts(evaluation.self_score), "score": pts(evaluation.score),
            "grade": evaluation.grade, "member_status": evaluation.member_status, "branch_id": evaluation.branch_id,
            "one_click": evaluation.one_click, "declared_at": iso(evaluation.declared_at),
            "instance_id": evaluation.instance_id}


def quarters_of(session: Session, person_id: int, *, year: int | None = None,
                since: date | None = None) -> list[dict[str, Any]]:
    """A person's evaluations, newest quarter first (optionally of one year, or since a date)."""
    query = (select(Evaluation, Quarter).join(Quarter, Evaluation.quarter_id == Quarter.id)
             .where(Evaluation.person_id == person_id).order_by(Quarter.year.desc(), Quarter.quarter.desc()))
    if year is not None:
        query = query.where(Quarter.year == year)
    rows = [_evaluation_row(e, q) for e, q in session.execute(query).all()]
    if since is not None:
        first = (since.year, (since.month - 1) // 3 + 1)
        rows = [r for r in rows if (r["year"], r["quarter"]) >= first]
    return rows


def annual_of(session: Session, person_id: int, year: int) -> dict[str, Any] | None:
    """The person's published (approved) annual result of a year, if any."""
    row = session.execute(select(AnnualResult, AnnualAssessment).join(
        AnnualAssessment, AnnualResult.assessment_id == AnnualAssessment.id).where(
        AnnualAssessment.year == year, AnnualResult.person_id == person_id,
        AnnualAssessment.status == AnnualStatus.APPROVED)).first()
    if row is None:
        return None
    result, assessment = row
    return {"year": year, "score": pts(result.score), "grade": result.grade, "rank": result.rank,
            "quarters_counted": result.quarters_counted,
            "quarter_scores": {str(k): pts(v) for k, v in (result.quarter_scores or {}).items()},
            "approved_at": iso(assessment.approved_at)}


def year_view(session: Session, person_id: int, year: int) -> dict[str, Any]:
    """The four quarters of a year (None where there was no evaluation) and the annual result."""
    rows = {r["quarter"]: r for r in quarters_of(session, person_id, year=year)}
    return {"year": year, "quarters": [rows.get(q) for q in (1, 2, 3, 4)], "annual": annual_of(session, person_id, year)}


def probation_record(session: Session, person: Person) -> dict[str, Any]:
    """预备党员转正: every quarter since admission as a probationary member, with score and grade."""
    since = person.joined_party_on
    rows = quarters_of(session, person.id, since=since)
    rows.reverse()  # oldest first, as the record reads
    scored = [Decimal(r["score"]) for r in rows if r["score"] is not None and r["quarter_status"] != "open"]
    return {"person": {"id": person.id, "name": person.name, "employee_no": person.employee_no,
                       "status": person.status, "joined_party_on": iso(person.joined_party_on),
                       "full_member_on": iso(person.full_member_on), "position": person.position,
                       "branch": _branch_name(session, person.branch_id) if person.branch_id else None},
            "due_on": iso(_one_year_after(since)) if since else None,
            "quarters": rows,
            "counted": len(scored),
            "mean": money(sum(scored, Decimal(0)) / len(scored)) if scored else None}


def _one_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)
