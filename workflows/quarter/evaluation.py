"""A member's quarter: declaring claims (报绩), one-click declaration, the branch recording on an
overdue member's behalf, the review (算绩) with its per-claim decisions, and scoring.

Every score is computed by the pure scoring engine (`models.scoring`) from the claims that count,
against the catalogue version the quarter was opened with; the explanation is stored with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, lazyload

from models import audit, scoring
from models.catalogue import CatalogueVersion, Standard
from models.clock import now
from models.evaluation import (
    COUNTING_CLAIM_STATUSES,
    Claim,
    ClaimSource,
    ClaimStatus,
    Evaluation,
    Evidence,
    Quarter,
)
from models.permissions import Principal, Target, can
from models.process import HumanTask, ProcessInstance, TaskState
from workflows.engine import user_tasks
from workflows.errors import NotAllowed, NotFound, ValidationFailed, WindowClosed
from workflows.i18n import N_
from workflows.quarter import locking

MAX_OCCURRENCES = 99
MAX_TEXT = 2000
DECISIONS = ("accept", "adjust", "reject")


def target(evaluation: Evaluation) -> Target:
    return Target(evaluation.branch_id, evaluation.person_id)


def get_evaluation(session: Session, actor: Principal, evaluation_id: int, action: str = "evaluation.view") -> Evaluation:
    """Load an evaluation the actor may `action` (NotFound / NotAllowed otherwise)."""
    evaluation = session.get(Evaluation, evaluation_id)
    if evaluation is None:
        raise NotFound()
    if not can(actor, action, target(evaluation)):
        raise NotAllowed()
    return evaluation


def rules(session: Session, evaluation: Evaluation) -> scoring.Rules:
    from workflows.catalogue.versions import rules_for

    quarter = session.get(Quarter, evaluation.quarter_id)
    assert quarter is not None
    return rules_for(session, quarter.catalogue_version_id, evaluation.unit_kind_id)


# The hot path of every quarter in one statement: the task, its instance, the evaluation, whether
# the quarter is locked, the catalogue version its rules come from and whether the evaluation has
# any claim at all (most declare nothing, in one click). Built once, bound per call.
_SUBMISSION_ROW = (
    select(HumanTask, ProcessInstance, Evaluation, Quarter.locked, Quarter.catalogue_version_id,
           CatalogueVersion.status, CatalogueVersion.fingerprint,
           select(Claim.id).where(Claim.evaluation_id == Evaluation.id).limit(1).scalar_subquery())
    .join(ProcessInstance, HumanTask.instance_id == ProcessInstance.id)
    .join(Evaluation, Evaluation.instance_id == HumanTask.instance_id)
    .join(Quarter, Quarter.id == Evaluation.quarter_id)
    .join(CatalogueVersion, CatalogueVersion.id == Quarter.catalogue_version_id)
    .where(HumanTask.id == bindparam("task_id")).options(lazyload(Evaluation.person))
    .execution_options(populate_existing=True)
)


def open_task(session: Session, evaluation: Evaluation, *form_keys: str) -> HumanTask | None:
    """The evaluation's open task with one of these forms, if any."""
    if evaluation.instance_id is None:
        return None
    return session.scalar(select(HumanTask).where(
        HumanTask.instance_id == evaluation.instance_id, HumanTask.state == TaskState.OPEN,
        HumanTask.form_key.in_(form_keys)).limit(1))


def _claim_inputs(claims: list[Claim], *, counting_only: bool, evidence: dict[int, list[int]]) -> list[scoring.ClaimInput]:
    out = []
    for claim in claims:
        if counting_only and claim.status not in COUNTING_CLAIM_STATUSES:
            continue
        if not counting_only and claim.status in (ClaimStatus.REJECTED, ClaimStatus.REVOKED):
            continue
        occurrences = claim.reviewed_occurrences if claim.reviewed_occurrences is not None else claim.occurrences
        out.append(scoring.ClaimInput(claim.id, claim.standard_id, occurrences, claim.reviewed_points,
                                      tuple(evidence.get(claim.id, ()))))
    return out


_CLAIMS_OF = select(Claim).where(Claim.evaluation_id == bindparam("evaluation_id")).order_by(Claim.id)


def claims_of(session: Session, evaluation_id: int) -> list[Claim]:
    return list(session.scalars(_CLAIMS_OF, {"evaluation_id": evaluation_id}))


def evidence_ids(session: Session, evaluation_id: int) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for claim_id, evidence_id in session.execute(select(Evidence.claim_id, Evidence.id).where(
            Evidence.evaluation_id == evaluation_id).order_by(Evidence.id)):
        if claim_id is not None:
            out.setdefault(claim_id, []).append(evidence_id)
    return out


def compute(session: Session, evaluation: Evaluation, *, counting_only: bool = True,
            claims: list[Claim] | None = None, evidence: dict[int, list[int]] | None = None,
            rule_set: scoring.Rules | None = None) -> scoring.ScoreResult:
    """Score an evaluation: the claims that count (review) or everything declared (self score)."""
    claims = claims if claims is not None else claims_of(session, evaluation.id)
    evidence = evidence if evidence is not None else evidence_ids(session, evaluation.id)
    return scoring.score(rule_set or rules(session, evaluation),
                         _claim_inputs(claims, counting_only=counting_only, evidence=evidence))


def rescore(session: Session, evaluation: Evaluation) -> scoring.ScoreResult:
    """Store the current score, grade and explanation of an evaluation."""
    result = compute(session, evaluation)
    evaluation.score = result.total
    evaluation.grade = result.grade
    evaluation.explanation = result.explanation
    return result


# --- Declaring ------------------------------------------------------------------------------------


def _parse_int(value: Any, field: str, errors: dict[str, list[str]], low: int, high: int) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors.setdefault(field, []).append(N_("Enter a whole number."))
        return None
    if not low <= number <= high:
        errors.setdefault(field, []).append(N_("Out of range."))
        return None
    return number


def _parse_points(value: Any, field: str, errors: dict[str, list[str]]) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        errors.setdefault(field, []).append(N_("Enter a number of points."))
        return None
    if not number.is_finite() or number < 0 or number > 1000 or number != number.quantize(Decimal("0.01")):
        errors.setdefault(field, []).append(N_("Points are between 0 and 1000, with at most two decimals."))
        return None
    return number


def _quarter_dates(quarter: Quarter) -> tuple[date, date]:
    first_month = 3 * (quarter.quarter - 1) + 1
    start = date(quarter.year, first_month, 1)
    end = date(quarter.year + (first_month + 3 > 12), (first_month + 3 - 1) % 12 + 1, 1)
    return start, end


def _editable_by(session: Session, actor: Principal, evaluation: Evaluation) -> str:
    """Who may edit claims now: "self" during the member's self-evaluation, "branch" during the
    branch's recording on their behalf; otherwise the window is closed."""
    locking.ensure_unlocked(session, evaluation.quarter_id)
    if open_task(session, evaluation, "self_evaluation") is not None and can(actor, "evaluation.declare", target(evaluation)):
        return ClaimSource.SELF.value
    if open_task(session, evaluation, "proxy_self_evaluation") is not None and can(
            actor, "evaluation.record_for_member", target(evaluation)):
        return ClaimSource.BRANCH.value
    if can(actor, "evaluation.declare", target(evaluation)) or can(actor, "evaluation.record_for_member", target(evaluation)):
        raise WindowClosed(N_("Claims can only be changed during the self-evaluation."))
    raise NotAllowed()


def validate_claim_fields(session: Session, evaluation: Evaluation, values: dict[str, Any],
                          errors: dict[str, list[str]], prefix: str = "") -> dict[str, Any]:
    """Check one claim's fields against the evaluation's catalogue; returns the clean values."""
    rule_set = rules(session, evaluation)
    standard_id = _parse_int(values.get("standard_id"), prefix + "standard_id", errors, 1, 2**31 - 1)
    standard = rule_set.standards.get(standard_id) if standard_id is not None else None
    if standard_id is not None and standard is None:
        errors.setdefault(prefix + "standard_id", []).append(N_("This standard is not in your catalogue."))
    high = min(standard.max_occurrences or MAX_OCCURRENCES, MAX_OCCURRENCES) if standard else MAX_OCCURRENCES
    occurrences = _parse_int(values.get("occurrences", 1), prefix + "occurrences", errors, 1, high)
    occurred_on = values.get("occurred_on")
    if isinstance(occurred_on, str) and occurred_on:
        try:
            occurred_on = date.fromisoformat(occurred_on)
        except ValueError:
            errors.setdefault(prefix + "occurred_on", []).append(N_("Enter a date as YYYY-MM-DD."))
            occurred_on = None
    elif not occurred_on:
        occurred_on = None
    if occurred_on is not None:
        quarter = session.get(Quarter, evaluation.quarter_id)
        assert quarter is not None
        start, end = _quarter_dates(quarter)
        if not start <= occurred_on < end:
            errors.setdefault(prefix + "occurred_on", []).append(N_("The date must fall within the quarter."))
    description = (values.get("description") or "").strip()
    if len(description) > MAX_TEXT:
        errors.setdefault(prefix + "description", []).append(N_("At most 2000 characters."))
    return {"standard": standard, "standard_id": standard_id, "occurrences": occurrences,
            "occurred_on": occurred_on, "description": description}


def save_claim(session: Session, actor: Principal, evaluation_id: int, values: dict[str, Any],
               claim_id: int | None = None) -> Claim:
    """Add or change a draft claim of the self-evaluation (or of the branch's recording)."""
    evaluation = get_evaluation(session, actor, evaluation_id)
    source = _editable_by(session, actor, evaluation)
    errors: dict[str, list[str]] = {}
    clean = validate_claim_fields(session, evaluation, values, errors)
    if errors:
        raise ValidationFailed(field_errors=errors)
    if claim_id is None:
        claim = Claim(evaluation_id=evaluation.id, standard_id=clean["standard_id"], source=source,
                      status=ClaimStatus.DRAFT.value, occurrences=clean["occurrences"],
                      occurred_on=clean["occurred_on"], description=clean["description"], created_by=actor.user_id)
        session.add(claim)
        session.flush()
        action = "claim.added"
    else:
        claim = session.get(Claim, claim_id)
        if claim is None or claim.evaluation_id != evaluation.id:
            raise NotFound()
        if claim.status != ClaimStatus.DRAFT or claim.source not in (ClaimSource.SELF, ClaimSource.BRANCH):
            raise WindowClosed(N_("Only draft claims can be changed."))
        claim.standard_id, claim.occurrences = clean["standard_id"], clean["occurrences"]
        claim.occurred_on, claim.description = clean["occurred_on"], clean["description"]
        action = "claim.changed"
    audit.record(session, action, actor_user_id=actor.user_id, object_type="claim", object_id=claim.id,
                 quarter_id=evaluation.quarter_id, branch_id=evaluation.branch_id,
                 data={"evaluation_id": evaluation.id, "standard_id": claim.standard_id,
                       "occurrences": claim.occurrences, "occurred_on": str(claim.occurred_on or ""),
                       "description": claim.description})
    return claim


def delete_claim(session: Session, actor: Principal, claim_id: int) -> None:
    claim = session.get(Claim, claim_id)
    if claim is None:
        raise NotFound()
    evaluation = get_evaluation(session, actor, claim.evaluation_id)
    _editable_by(session, actor, evaluation)
    if claim.status != ClaimStatus.DRAFT:
        raise WindowClosed(N_("Only draft claims can be removed."))
    for evidence in list(claim.evidence):
        evidence.claim_id = None
    audit.record(session, "claim.removed", actor_user_id=actor.user_id, object_type="claim", object_id=claim.id,
                 quarter_id=evaluation.quarter_id, branch_id=evaluation.branch_id,
                 data={"evaluation_id": evaluation.id, "standard_id": claim.standard_id})
    session.delete(claim)


def _check_submission(session: Session, evaluation: Evaluation, claims: list[Claim],
                      evidence: dict[int, list[int]]) -> None:
    if not claims:
        return
    errors: dict[str, list[str]] = {}
    standards = {s.id: s for s in session.scalars(select(Standard).where(
        Standard.id.in_([c.standard_id for c in claims] or [-1])))}
    for claim in claims:
        standard = standards.get(claim.standard_id)
        if standard is not None and standard.evidence_required and not evidence.get(claim.id):
            errors.setdefault(f"claim-{claim.id}", []).append(N_("This standard needs evidence: attach a file."))
    if errors:
        raise ValidationFailed(N_("Some claims need attention before you submit."), field_errors=errors)


def submit_self_evaluation(session: Session, actor: Principal, task_id: int, *, one_click: bool = False) -> user_tasks.Completion:
    """Submit the self-evaluation; one click (一键申报) when there is nothing to declare."""
    from workflows.catalogue.versions import rules_for

    row = session.execute(_SUBMISSION_ROW, {"task_id": task_id}).first()
    if row is None:
        raise NotFound()
    task, instance, evaluation, locked, version_id, version_status, fingerprint, any_claim = row
    if task.form_key not in ("self_evaluation", "proxy_self_evaluation"):
        raise NotFound()
    proxy = task.form_key == "proxy_self_evaluation"
    if not can(actor, "evaluation.record_for_member" if proxy else "evaluation.declare", target(evaluation)):
        raise NotAllowed()
    locking.note(session, evaluation.quarter_id, locked)
    locking.ensure_unlocked(session, evaluation.quarter_id)
    claims = claims_of(session, evaluation.id) if any_claim is not None else []
    drafts = [c for c in claims if c.status == ClaimStatus.DRAFT]
    if one_click and drafts:
        raise ValidationFailed(N_("You have claims in your draft: submit them, or remove them to declare nothing."))
    evidence = evidence_ids(session, evaluation.id) if claims else {}
    _check_submission(session, evaluation, drafts, evidence)
    for claim in drafts:
        claim.status = ClaimStatus.SUBMITTED.value
    rule_set = rules_for(session, version_id, evaluation.unit_kind_id, known=(version_status, fingerprint))
    self_score = (compute(session, evaluation, counting_only=False, claims=claims, evidence=evidence,
                          rule_set=rule_set).total if claims else rule_set.score_without_claims)
    evaluation.self_score = self_score
    evaluation.one_click = one_click
    evaluation.recorded_by_branch = proxy
    evaluation.declared_at = now()
    evaluation.declared_by = actor.user_id
    # No flush until commit: these, the claims and the diagram's new status go out together.
    with session.no_autoflush:
        return user_tasks.complete_task(session, task_id, actor, {
            "one_click": one_click, "claims": len(drafts), "self_score": str(self_score)},
            preloaded=(task, instance))


# --- Review ---------------------------------------------------------------------------------------


@dataclass
class Decision:
    claim_id: int
    decision: str  # accept | adjust | reject
    occurrences: int | None = None
    points: Decimal | None = None  # per occurrence, for an adjustment
    reason: str = ""


def review(session: Session, actor: Principal, task_id: int, decisions: list[dict[str, Any]],
           additions: list[dict[str, Any]] | None = None) -> user_tasks.Completion:
    """Decide every claim (accept / adjust / reject, each change with a reason), add claims from the
    branch's records, score, and complete the review (or the re-review after an upheld appeal)."""
    task = user_tasks.task_of_form(session, actor, task_id, "branch_review")
    evaluation = session.scalar(select(Evaluation).where(Evaluation.instance_id == task.instance_id))
    if evaluation is None:
        raise NotFound()
    locking.ensure_unlocked(session, evaluation.quarter_id)
    claims = {c.id: c for c in claims_of(session, evaluation.id)
              if c.status not in (ClaimStatus.DRAFT, ClaimStatus.REVOKED)}
    errors: dict[str, list[str]] = {}
    parsed = _parse_decisions(decisions, claims, errors)
    added = [_parse_addition(session, evaluation, i, raw, errors) for i, raw in enumerate(additions or [])]
    if errors:
        raise ValidationFailed(N_("Some decisions need attention."), field_errors=errors)
    moment = now()
    for decision in parsed.values():
        _decide(session, actor, evaluation, claims[decision.claim_id], decision, task.bpmn_id, moment)
    for clean in added:
        _add_from_records(session, actor, evaluation, clean, moment)
    session.flush()
    result = rescore(session, evaluation)
    evaluation.reviewed_at, evaluation.reviewed_by = moment, actor.user_id
    return user_tasks.complete_task(session, task_id, actor, {"score": str(result.total), "grade": result.grade},
                                    audit_data={"score": str(result.total), "grade": result.grade,
                                                "decisions": len(parsed), "added": len(added)})


def _parse_decisions(decisions: list[dict[str, Any]] | None, claims: dict[int, Claim],
                     errors: dict[str, list[str]]) -> dict[int, Decision]:
    """Each decision checked against its claim; every submitted claim of the member must be decided."""
    parsed: dict[int, Decision] = {}
    for i, raw in enumerate(decisions or []):
        claim_id = _parse_int(raw.get("claim_id"), f"decisions-{i}-claim_id", errors, 1, 2**31 - 1)
        if claim_id is None:
            continue
        where = f"claim-{claim_id}"
        if claim_id not in claims:
            errors.setdefault(where, []).append(N_("This claim is not part of this evaluation."))
            continue
        kind = raw.get("decision")
        reason = (raw.get("reason") or "").strip()
        if kind not in DECISIONS:
            errors.setdefault(where, []).append(N_("Choose accept, adjust or reject."))
            continue
        if kind in ("adjust", "reject") and not reason:
            errors.setdefault(where, []).append(N_("Give the reason for this decision."))
        if len(reason) > MAX_TEXT:
            errors.setdefault(where, []).append(N_("At most 2000 characters."))
        occurrences = points = None
        if kind == "adjust":
            standard = claims[claim_id].standard
            high = min(standard.max_occurrences or MAX_OCCURRENCES, MAX_OCCURRENCES)
            if raw.get("occurrences") not in (None, ""):
                occurrences = _parse_int(raw.get("occurrences"), where, errors, 0, high)
            points = _parse_points(raw.get("points"), where, errors)
            if occurrences is None and points is None and where not in errors:
                errors.setdefault(where, []).append(N_("An adjustment changes the occurrences or the points."))
        parsed[claim_id] = Decision(claim_id, kind, occurrences, points, reason)
    for cid, c in claims.items():
        if cid not in parsed and c.source in (ClaimSource.SELF, ClaimSource.BRANCH) and c.status == ClaimStatus.SUBMITTED:
            errors.setdefault(f"claim-{cid}", []).append(N_("Decide this claim."))
    return parsed


def _parse_addition(session: Session, evaluation: Evaluation, i: int, raw: dict[str, Any],
                    errors: dict[str, list[str]]) -> dict[str, Any]:
    """A claim the reviewer adds from the branch's records, with the record it rests on."""
    clean = validate_claim_fields(session, evaluation, raw, errors, prefix=f"additions-{i}-")
    reason = (raw.get("reason") or "").strip()
    if not reason:
        errors.setdefault(f"additions-{i}-reason", []).append(N_("Give the record this is based on."))
    elif len(reason) > MAX_TEXT:
        errors.setdefault(f"additions-{i}-reason", []).append(N_("At most 2000 characters."))
    clean["reason"] = reason
    return clean


def _decide(session: Session, actor: Principal, evaluation: Evaluation, claim: Claim, decision: Decision,
            step: str, moment: Any) -> None:
    claim.status = {"accept": ClaimStatus.ACCEPTED, "adjust": ClaimStatus.ADJUSTED,
                    "reject": ClaimStatus.REJECTED}[decision.decision].value
    claim.reviewed_occurrences = decision.occurrences if decision.decision == "adjust" else None
    claim.reviewed_points = decision.points if decision.decision == "adjust" else None
    claim.decision_reason = decision.reason
    claim.reviewed_by, claim.reviewed_at = actor.user_id, moment
    audit.record(session, "claim.reviewed", actor_user_id=actor.user_id, object_type="claim", object_id=claim.id,
                 quarter_id=evaluation.quarter_id, branch_id=evaluation.branch_id, at=moment,
                 data={"evaluation_id": evaluation.id, "decision": decision.decision,
                       "occurrences": decision.occurrences,
                       "points": str(decision.points) if decision.points is not None else None,
                       "reason": decision.reason, "step": step})


def _add_from_records(session: Session, actor: Principal, evaluation: Evaluation, clean: dict[str, Any],
                      moment: Any) -> None:
    claim = Claim(evaluation_id=evaluation.id, standard_id=clean["standard_id"], source=ClaimSource.REVIEW.value,
                  status=ClaimStatus.ACCEPTED.value, occurrences=clean["occurrences"],
                  occurred_on=clean["occurred_on"], description=clean["description"],
                  decision_reason=clean["reason"], reviewed_by=actor.user_id, reviewed_at=moment,
                  created_by=actor.user_id)
    session.add(claim)
    session.flush()
    audit.record(session, "claim.added_at_review", actor_user_id=actor.user_id, object_type="claim",
                 object_id=claim.id, quarter_id=evaluation.quarter_id, branch_id=evaluation.branch_id, at=moment,
                 data={"evaluation_id": evaluation.id, "standard_id": claim.standard_id,
                       "occurrences": claim.occurrences, "reason": clean["reason"]})
