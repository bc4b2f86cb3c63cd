"""The annual assessment (一年一评估): four quarters make an annual score and grade per person and
per branch, reviewed by the party office and approved by the leading group; used for democratic
evaluation, awards, promotion references and the annual appraisal."""

from __future__ import annotations

import statistics
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models import audit, scoring
from models.catalogue import CatalogueVersion
from models.clock import now
from models.evaluation import (
    AnnualAssessment,
    AnnualBranchResult,
    AnnualResult,
    AnnualStatus,
    Evaluation,
    Quarter,
    QuarterStatus,
)
from models.people import Role
from models.permissions import Principal
from workflows.engine import instances, spiff, user_tasks
from workflows.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from workflows.i18n import N_
from workflows.quarter import fields, notify
from workflows.quarter.notices import competition_ranks

CENT = Decimal("0.01")


def start(session: Session, actor: Principal, year: int) -> AnnualAssessment:
    """The party office starts the year's assessment (once the year's quarters are notified or filed)."""
    if not actor.holds(Role.PARTY_OFFICE, None):
        raise NotAllowed()
    if session.scalar(select(AnnualAssessment).where(AnnualAssessment.year == year)) is not None:
        raise Conflict(N_("The assessment of this year has already been started."))
    quarters = list(session.scalars(select(Quarter).where(Quarter.year == year)))
    if not quarters:
        raise ValidationFailed(field_errors={"year": [N_("No quarter of this year has been evaluated.")]})
    if any(q.status == QuarterStatus.OPEN for q in quarters):
        raise ValidationFailed(field_errors={"year": [N_("A quarter of this year is still open.")]})
    assessment = AnnualAssessment(year=year, status=AnnualStatus.COMPUTED.value)
    session.add(assessment)
    session.flush()
    instance = instances.start_process(session, "annual_assessment", {"year": year, "assessment_id": assessment.id},
                                     object_type="annual", object_id=assessment.id, actor_user_id=actor.user_id)
    assessment.instance_id = instance.id
    audit.record(session, "annual.started", actor_user_id=actor.user_id, object_type="annual",
                 object_id=assessment.id, data={"year": year})
    return assessment


def _q(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def compute_annual(ctx: spiff.RunContext, data: dict[str, Any]) -> dict[str, Any]:
    """Annual score = mean of the quarters a person was evaluated in; graded against the lines of
    the year's latest catalogue; branch results are the mean and spread of their members."""
    session = ctx.session
    assessment = session.get(AnnualAssessment, ctx.instance.object_id)
    year = assessment.year
    session.execute(delete(AnnualResult.__table__).where(AnnualResult.__table__.c.assessment_id == assessment.id))
    session.execute(delete(AnnualBranchResult.__table__).where(AnnualBranchResult.__table__.c.assessment_id == assessment.id))
    rows = session.execute(select(Evaluation.person_id, Evaluation.branch_id, Quarter.quarter, Evaluation.score,
                                  Quarter.catalogue_version_id)
                           .join(Quarter, Evaluation.quarter_id == Quarter.id)
                           .where(Quarter.year == year, Quarter.status != QuarterStatus.OPEN)
                           .order_by(Quarter.quarter)).all()
    latest_version = max((r.catalogue_version_id for r in rows), default=None)
    version = session.get(CatalogueVersion, latest_version) if latest_version else None
    people: dict[int, dict[str, Any]] = {}
    for person_id, branch_id, q, score, _ in rows:
        entry = people.setdefault(person_id, {"branch_id": branch_id, "scores": {}})
        entry["branch_id"] = branch_id  # the branch of the latest quarter
        if score is not None:
            entry["scores"][str(q)] = str(score)
    results = []
    for person_id, entry in people.items():
        values = [Decimal(v) for v in entry["scores"].values()]
        mean = _q(sum(values) / len(values)) if values else None
        grade = scoring.grade_for(mean, version.pass_line, version.excellent_line) if mean is not None and version else None
        results.append(AnnualResult(assessment_id=assessment.id, person_id=person_id, branch_id=entry["branch_id"],
                                    quarter_scores=entry["scores"], quarters_counted=len(values), score=mean, grade=grade))
    results.sort(key=lambda r: (-(r.score or Decimal(-10**6)), r.person_id))
    for result, rank in zip(results, competition_ranks([r.score for r in results]), strict=True):
        result.rank = rank
    session.add_all(results)
    by_branch: dict[int, list[AnnualResult]] = {}
    for result in results:
        by_branch.setdefault(result.branch_id, []).append(result)
    branch_rows = []
    for branch_id, members in by_branch.items():
        scores = [float(m.score) for m in members if m.score is not None]
        branch_rows.append(AnnualBranchResult(
            assessment_id=assessment.id, branch_id=branch_id, members=len(members),
            mean_score=_q(statistics.fmean(scores)) if scores else None,
            stdev=_q(statistics.pstdev(scores)) if len(scores) > 1 else (_q(0) if scores else None),
            excellent=sum(1 for m in members if m.grade == scoring.EXCELLENT),
            failed=sum(1 for m in members if m.grade == scoring.FAIL)))
    branch_rows.sort(key=lambda b: (-(b.mean_score or Decimal(-10**6)), b.branch_id))
    for row, rank in zip(branch_rows, competition_ranks([b.mean_score for b in branch_rows]), strict=True):
        row.rank = rank
    session.add_all(branch_rows)
    assessment.status, assessment.computed_at = AnnualStatus.COMPUTED.value, now()
    audit.record(session, "annual.computed", actor_user_id=ctx.actor_user_id, object_type="annual",
                 object_id=assessment.id, data={"people": len(results), "branches": len(branch_rows)})
    return {"people": len(results), "branches": len(branch_rows)}


def _task_assessment(session: Session, actor: Principal, task_id: int, form_key: str) -> tuple[Any, AnnualAssessment]:
    task = user_tasks.task_of_form(session, actor, task_id, form_key)
    instance = instances.get_instance(session, task.instance_id)
    assessment = session.get(AnnualAssessment, instance.object_id)
    if assessment is None:
        raise NotFound()
    return task, assessment


def review(session: Session, actor: Principal, task_id: int, *, comment: str) -> user_tasks.Completion:
    task, assessment = _task_assessment(session, actor, task_id, "annual_review")
    errors: dict[str, list[str]] = {}
    comment = fields.text(errors, "comment", comment, limit=fields.MEDIUM)
    if errors:
        raise ValidationFailed(field_errors=errors)
    assessment.status, assessment.reviewed_by, assessment.reviewed_at = AnnualStatus.REVIEWED.value, actor.user_id, now()
    assessment.review_comment = comment
    audit.record(session, "annual.reviewed", actor_user_id=actor.user_id, object_type="annual",
                 object_id=assessment.id, data={"comment": comment})
    return user_tasks.complete_task(session, task_id, actor, {"reviewed": True})


def approve(session: Session, actor: Principal, task_id: int, *, decision: str, comment: str = "") -> user_tasks.Completion:
    task, assessment = _task_assessment(session, actor, task_id, "annual_approval")
    errors: dict[str, list[str]] = {}
    fields.decision(errors, "decision", decision, ("approved", "returned"), N_("Approve or return."))
    comment = fields.text(errors, "comment", comment, limit=fields.MEDIUM,
                          missing=N_("Say what must change.") if decision == "returned" else None)
    if errors:
        raise ValidationFailed(field_errors=errors)
    assessment.approval_comment = comment
    audit.record(session, "annual.approval", actor_user_id=actor.user_id, object_type="annual",
                 object_id=assessment.id, data={"decision": decision, "comment": comment})
    return user_tasks.complete_task(session, task_id, actor, {"annual_decision": decision})


def publish_annual(ctx: spiff.RunContext, data: dict[str, Any]) -> dict[str, Any]:
    session = ctx.session
    assessment = session.get(AnnualAssessment, ctx.instance.object_id)
    assessment.status, assessment.approved_by, assessment.approved_at = (
        AnnualStatus.APPROVED.value, ctx.actor_user_id, now())
    audit.record(session, "annual.published", actor_user_id=ctx.actor_user_id, object_type="annual",
                 object_id=assessment.id, data={"year": assessment.year})
    users = notify.holders(session, Role.PARTY_OFFICE) + notify.holders(session, Role.LEADING_GROUP)
    notify.notify(session, users, "annual_published", data={"year": assessment.year}, link=f"/annual/{assessment.year}")
    return {"year": assessment.year}
