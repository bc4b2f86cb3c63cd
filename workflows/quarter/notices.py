"""Notice and comment (通报点评), filing (上报备案) and quarterly verification (一季一核查).

The notice is composed from generated lists — commendations, members under the pass line, branches
whose overall level is low, every branch's collective score — which the party office edits before
it is published to all; follow-up processes start from it.
"""

from __future__ import annotations

import random
import statistics
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import audit
from models.catalogue import CatalogueVersion
from models.clock import now
from models.evaluation import (
    BranchQuarter,
    BranchQuarterStatus,
    Evaluation,
    EvaluationStatus,
    FollowUpKind,
    Grade,
    Notice,
    Quarter,
    QuarterStatus,
    VerificationFinding,
)
from models.org import Branch
from models.people import Person, Role, User
from models.permissions import Principal
from models.values import points_text
from workflows.engine import spiff, user_tasks
from workflows.errors import NotAllowed, NotFound, ValidationFailed
from workflows.i18n import N_
from workflows.quarter import fields, locking, notify

PERSON_FOLLOW_UPS = (FollowUpKind.REMINDER_TALK, FollowUpKind.CRITICISM, FollowUpKind.AWARD_DISQUALIFICATION)
BRANCH_FOLLOW_UPS = (FollowUpKind.SECRETARY_INTERVIEW, FollowUpKind.CRITICISM_NOTICE)
LOW_BRANCH_FAIL_SHARE = Decimal("0.2")


def branch_table(session: Session, quarter_id: int) -> list[dict[str, Any]]:
    """Every branch's collective score: members, mean, spread, extremes, excellent and failed counts, rank."""
    rows = session.execute(select(Evaluation.branch_id, Evaluation.score, Evaluation.grade)
                           .where(Evaluation.quarter_id == quarter_id)).all()
    names = dict(session.execute(select(Branch.id, Branch.name)).all())
    groups: dict[int, list[tuple[Decimal | None, str | None]]] = {}
    for branch_id, score, grade in rows:
        groups.setdefault(branch_id, []).append((score, grade))
    table = []
    for branch_id, items in groups.items():
        scores = [float(s) for s, _ in items if s is not None]
        table.append({
            "branch_id": branch_id, "branch": names.get(branch_id, str(branch_id)), "members": len(items),
            "scored": len(scores),
            "mean": points_text(statistics.fmean(scores)) if scores else None,
            "stdev": points_text(statistics.pstdev(scores)) if len(scores) > 1 else ("0.00" if scores else None),
            "min": points_text(min(scores)) if scores else None, "max": points_text(max(scores)) if scores else None,
            "excellent": sum(1 for _, g in items if g == Grade.EXCELLENT),
            "failed": sum(1 for _, g in items if g == Grade.FAIL),
        })
    table.sort(key=lambda r: (-(float(r["mean"]) if r["mean"] is not None else -1e9), r["branch"]))
    for row, rank in zip(table, competition_ranks([r["mean"] for r in table]), strict=True):
        row["rank"] = rank
    return table


def competition_ranks(values: list[Any]) -> list[int]:
    """Ranks of values already sorted best first, ties sharing a rank: 1, 1, 3 (as on the board)."""
    ranks: list[int] = []
    for position, value in enumerate(values, start=1):
        ranks.append(ranks[-1] if ranks and value == values[position - 2] else position)
    return ranks


def compose(session: Session, quarter_id: int) -> dict[str, Any]:
    """The generated lists a notice starts from."""
    quarter = session.get(Quarter, quarter_id)
    if quarter is None:
        raise NotFound()
    version = session.get(CatalogueVersion, quarter.catalogue_version_id)
    assert version is not None
    people = session.execute(select(Evaluation.person_id, Person.name, Evaluation.branch_id, Branch.name,
                                    Evaluation.score, Evaluation.grade)
                             .join(Person, Evaluation.person_id == Person.id)
                             .join(Branch, Evaluation.branch_id == Branch.id)
                             .where(Evaluation.quarter_id == quarter_id).order_by(Evaluation.score.desc(), Person.name)).all()
    commend = [{"person_id": p, "name": n, "branch_id": b, "branch": bn, "score": points_text(s)}
               for p, n, b, bn, s, g in people if g == Grade.EXCELLENT]
    under = [{"person_id": p, "name": n, "branch_id": b, "branch": bn, "score": points_text(s)}
             for p, n, b, bn, s, g in people if g == Grade.FAIL]
    table = branch_table(session, quarter_id)
    low = [r for r in table if r["mean"] is not None and (
        Decimal(r["mean"]) < version.pass_line or Decimal(r["failed"]) >= LOW_BRANCH_FAIL_SHARE * r["members"])]
    return {"pass_line": str(version.pass_line), "excellent_line": str(version.excellent_line),
            "commendations": commend, "under_pass": under, "low_branches": [r["branch_id"] for r in low],
            "branches": table}


def _task_quarter(session: Session, actor: Principal, task_id: int, form_key: str) -> tuple[Any, Quarter]:
    task = user_tasks.task_of_form(session, actor, task_id, form_key)
    quarter = session.get(Quarter, task.quarter_id)
    if quarter is None:
        raise NotFound()
    return task, quarter


def save_notice(session: Session, actor: Principal, task_id: int, *, title: str, body: str,
                commended_person_ids: list[int], person_follow_ups: dict[int, list[str]],
                branch_follow_ups: dict[int, str]) -> user_tasks.Completion:
    """Compose the notice: the party office edits the generated lists and the comment."""
    task, quarter = _task_quarter(session, actor, task_id, "quarter_notice")
    locking.ensure_unlocked(session, quarter.id)
    lists = compose(session, quarter.id)
    errors: dict[str, list[str]] = {}
    title = fields.text(errors, "title", title, limit=300, missing=N_("The notice needs a title."))
    body = fields.text(errors, "body", body, limit=fields.LONG)
    all_people = set(session.scalars(select(Evaluation.person_id).where(Evaluation.quarter_id == quarter.id)))
    commended = [int(p) for p in commended_person_ids if int(p) in all_people]
    under_ids = {u["person_id"] for u in lists["under_pass"]}
    if set(commended) & under_ids:
        errors["commended_person_ids"] = [N_("A member under the pass line cannot be commended.")]
    follow_ups: list[dict[str, Any]] = []
    for person_id, kinds in (person_follow_ups or {}).items():
        if int(person_id) not in under_ids:
            errors.setdefault("person_follow_ups", []).append(N_("Follow-ups are for members under the pass line."))
            continue
        for kind in kinds:
            if kind not in [k.value for k in PERSON_FOLLOW_UPS]:
                errors.setdefault("person_follow_ups", []).append(N_("Unknown follow-up."))
                continue
            follow_ups.append({"kind": kind, "person_id": int(person_id)})
    missing = under_ids - {f["person_id"] for f in follow_ups}
    if missing:
        errors.setdefault("person_follow_ups", []).append(N_("Every member under the pass line needs a follow-up."))
    branch_ids = set(session.scalars(select(Evaluation.branch_id).where(Evaluation.quarter_id == quarter.id)))
    for branch_id, kind in (branch_follow_ups or {}).items():
        if int(branch_id) not in branch_ids or kind not in [k.value for k in BRANCH_FOLLOW_UPS]:
            errors.setdefault("branch_follow_ups", []).append(N_("Unknown branch or follow-up."))
            continue
        follow_ups.append({"kind": kind, "branch_id": int(branch_id)})
    if errors:
        raise ValidationFailed(field_errors=errors)
    notice = session.scalar(select(Notice).where(Notice.quarter_id == quarter.id, Notice.published_at.is_(None)))
    if notice is None:
        notice = Notice(quarter_id=quarter.id, title=title)
        session.add(notice)
    names = {p["person_id"]: p for p in lists["commendations"] + lists["under_pass"]}
    extra = {e.person_id: e for e in session.scalars(select(Evaluation).where(
        Evaluation.quarter_id == quarter.id, Evaluation.person_id.in_(commended or [-1])))}
    notice.title, notice.body = title, body
    notice.data = {
        **lists,
        "commendations": [names.get(p) or {"person_id": p, "name": extra[p].person.name, "branch_id": extra[p].branch_id,
                                           "score": points_text(extra[p].score)} for p in commended],
        "low_branches": sorted({f["branch_id"] for f in follow_ups if "branch_id" in f}),
        "follow_ups": follow_ups,
    }
    session.flush()
    audit.record(session, "notice.composed", actor_user_id=actor.user_id, object_type="notice", object_id=notice.id,
                 quarter_id=quarter.id, data={"title": title, "commended": commended, "follow_ups": follow_ups})
    return user_tasks.complete_task(session, task_id, actor, {"notice_id": notice.id})


def publish_notice(ctx: spiff.RunContext, data: dict[str, Any]) -> dict[str, Any]:
    """Publish the composed notice to everybody; the quarter is now notified."""
    session = ctx.session
    quarter = session.get(Quarter, ctx.instance.quarter_id)
    notice = session.get(Notice, data.get("notice_id")) if data.get("notice_id") else None
    if notice is None:
        notice = session.scalar(select(Notice).where(Notice.quarter_id == quarter.id).order_by(Notice.id.desc()).limit(1))
    moment = now()
    notice.published_at, notice.published_by = moment, ctx.actor_user_id
    quarter.status, quarter.notified_at = QuarterStatus.NOTIFIED.value, moment
    users = session.scalars(select(User.id).join(Person, User.person_id == Person.id).join(
        Evaluation, (Evaluation.person_id == Person.id) & (Evaluation.quarter_id == quarter.id)))
    notify.notify(session, users, "notice_published", data={"title": notice.title, "quarter": quarter.label},
                  link=f"/notices/{notice.id}")
    audit.record(session, "notice.published", actor_user_id=ctx.actor_user_id, object_type="notice",
                 object_id=notice.id, quarter_id=quarter.id, data={"title": notice.title})
    return {"notice_id": notice.id}


def start_follow_ups(ctx: spiff.RunContext, data: dict[str, Any]) -> dict[str, Any]:
    """Start a follow-up process for every follow-up the notice decided (once)."""
    from workflows.quarter import followups

    session = ctx.session
    notice = session.get(Notice, data.get("notice_id"))
    started = followups.start_for_notice(session, notice, actor_user_id=ctx.actor_user_id)
    return {"started": started}


# --- Filing and verification -------------------------------------------------------------------------


def accept_filing(session: Session, actor: Principal, task_id: int, *, decision: str, comment: str = "") -> user_tasks.Completion:
    """The leading group accepts the quarter for filing (it is then locked) or returns it."""
    task, quarter = _task_quarter(session, actor, task_id, "filing_acceptance")
    locking.ensure_unlocked(session, quarter.id)
    errors: dict[str, list[str]] = {}
    fields.decision(errors, "decision", decision, ("accepted", "returned"), N_("Accept or return."))
    comment = fields.text(errors, "comment", comment, limit=fields.MEDIUM,
                          missing=N_("Say what must be done before filing.") if decision == "returned" else None)
    if errors:
        raise ValidationFailed(field_errors=errors)
    audit.record(session, "quarter.filing", actor_user_id=actor.user_id, object_type="quarter", object_id=quarter.id,
                 quarter_id=quarter.id, data={"decision": decision, "comment": comment})
    return user_tasks.complete_task(session, task_id, actor, {"filing": decision, "filing_comment": comment})


def lock_quarter(ctx: spiff.RunContext, data: dict[str, Any]) -> dict[str, Any]:
    """File the quarter: everything of it is locked from now on, and the audit log is sealed."""
    session = ctx.session
    quarter = session.get(Quarter, ctx.instance.quarter_id)
    moment = now()
    session.execute(update(Evaluation.__table__).where(Evaluation.__table__.c.quarter_id == quarter.id)
                    .values(status=EvaluationStatus.FILED.value))
    session.execute(update(BranchQuarter.__table__).where(BranchQuarter.__table__.c.quarter_id == quarter.id)
                    .values(status=BranchQuarterStatus.FILED.value))
    quarter.status, quarter.filed_at, quarter.filed_by, quarter.locked = QuarterStatus.FILED.value, moment, ctx.actor_user_id, True
    locking.note(session, quarter.id, True)
    audit.record(session, "quarter.locked", actor_user_id=ctx.actor_user_id, object_type="quarter",
                 object_id=quarter.id, quarter_id=quarter.id, data={"filed_at": moment.isoformat()})
    session.flush()
    audit.seal_pending(session)
    return {"locked": True}


def sample(session: Session, quarter_id: int, size: int = 10) -> list[Evaluation]:
    """A reproducible random sample of a quarter's evaluations for verification."""
    ids = sorted(session.scalars(select(Evaluation.id).where(Evaluation.quarter_id == quarter_id)))
    chosen = sorted(random.Random(quarter_id).sample(ids, min(size, len(ids))))
    return list(session.scalars(select(Evaluation).where(Evaluation.id.in_(chosen or [-1])).order_by(Evaluation.id)))


def record_verification(session: Session, actor: Principal, task_id: int, findings: list[dict[str, Any]]) -> user_tasks.Completion:
    """Record the check of sampled, filed evaluations against their evidence (findings only: the
    quarter itself stays locked)."""
    task, quarter = _task_quarter(session, actor, task_id, "quarter_verification")
    if not actor.holds(Role.LEADING_GROUP, None):
        raise NotAllowed()
    errors: dict[str, list[str]] = {}
    evaluation_ids = set(session.scalars(select(Evaluation.id).where(Evaluation.quarter_id == quarter.id)))
    clean = []
    for i, finding in enumerate(findings or []):
        try:
            evaluation_id = int(finding.get("evaluation_id"))
        except (TypeError, ValueError):
            evaluation_id = -1
        result = finding.get("result")
        if evaluation_id not in evaluation_ids:
            errors.setdefault(f"findings-{i}", []).append(N_("Not an evaluation of this quarter."))
        fields.decision(errors, f"findings-{i}", result, ("consistent", "issue"), N_("Consistent, or an issue."))
        text = fields.text(errors, f"findings-{i}", finding.get("finding"), limit=fields.MEDIUM,
                           missing=N_("Describe the issue.") if result == "issue" else None)
        clean.append((evaluation_id, result, text))
    if not clean:
        errors["findings"] = [N_("Record at least one checked evaluation.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    for evaluation_id, result, text in clean:
        session.add(VerificationFinding(quarter_id=quarter.id, evaluation_id=evaluation_id, result=result,
                                        finding=text, checked_by=actor.user_id, checked_at=now()))
    audit.record(session, "quarter.verified", actor_user_id=actor.user_id, object_type="quarter", object_id=quarter.id,
                 quarter_id=quarter.id, data={"findings": [list(c) for c in clean]})
    return user_tasks.complete_task(session, task_id, actor, {"checked": len(clean),
                                                           "issues": sum(1 for c in clean if c[1] == "issue")})
