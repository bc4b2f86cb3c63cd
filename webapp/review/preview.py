"""The reviewed score as it would be if the reviewer submitted the form now. Nothing is saved: the
decisions and additions on the form are turned into the scoring engine's inputs and scored by the
same engine the review uses (`models.scoring`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from models import scoring
from models.evaluation import ClaimStatus, Evaluation
from webapp.extensions import db
from webapp.review.context import ClaimView
from workflows.quarter import evaluation as evaluations

# An added claim has no id yet: it scores after every existing claim, in the order of the rows.
NEW_CLAIM_IDS = 2**40

CURRENT = {ClaimStatus.ACCEPTED: "accept", ClaimStatus.ADJUSTED: "adjust", ClaimStatus.REJECTED: "reject",
           ClaimStatus.SUBMITTED: "accept"}


@dataclass
class Preview:
    result: scoring.ScoreResult
    errors: dict[str, list[str]] = field(default_factory=dict)  # same keys as the review's ValidationFailed

    @property
    def explanation(self) -> dict[str, Any]:
        return self.result.explanation


def current_decision(claim: Any) -> str | None:
    """What the claim's status says was decided (a submitted claim is taken as accepted)."""
    return CURRENT.get(claim.status)


def review_preview(ev: Evaluation, claims: list[ClaimView], decisions: list[dict[str, Any]],
                   additions: list[dict[str, Any]]) -> Preview:
    """Score the evaluation with the form's decisions and additions applied."""
    rules = evaluations.rules(db.session, ev)
    errors: dict[str, list[str]] = {}
    by_claim = {str(d.get("claim_id")): d for d in decisions}
    inputs: list[scoring.ClaimInput] = []
    for view in claims:
        claim = view.claim
        if claim.status == ClaimStatus.REVOKED or claim.standard_id not in rules.standards:
            continue
        decision = by_claim.get(str(claim.id))
        kind = decision.get("decision") if decision else current_decision(claim)
        if kind == "reject" or kind is None:
            continue
        occurrences, points = claim.occurrences, None
        if kind == "adjust" and decision is not None:
            key = f"claim-{claim.id}"
            high = min(rules.standards[claim.standard_id].max_occurrences or evaluations.MAX_OCCURRENCES,
                       evaluations.MAX_OCCURRENCES)
            # The review's own readers, so the preview flags exactly what submitting would.
            adjusted = None
            if decision.get("occurrences") not in (None, ""):
                adjusted = evaluations._parse_int(decision.get("occurrences"), key, errors, 0, high)
            occurrences = adjusted if adjusted is not None else claim.occurrences
            points = evaluations._parse_points(decision.get("points"), key, errors)
        elif kind == "adjust":
            occurrences = claim.reviewed_occurrences if claim.reviewed_occurrences is not None else claim.occurrences
            points = claim.reviewed_points
        inputs.append(scoring.ClaimInput(claim.id, claim.standard_id, occurrences, points))
    for i, raw in enumerate(additions):
        clean = evaluations.validate_claim_fields(db.session, ev, raw, errors, prefix=f"additions-{i}-")
        if clean["standard"] is not None and clean["occurrences"] is not None:
            inputs.append(scoring.ClaimInput(NEW_CLAIM_IDS + i, clean["standard_id"], clean["occurrences"]))
    return Preview(scoring.score(rules, inputs), {k: [_(m) for m in v] for k, v in errors.items()})
