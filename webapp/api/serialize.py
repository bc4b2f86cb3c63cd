"""What the API answers: plain JSON shapes of tasks, evaluations, quarters... (their schemas are in
`webapp.api.openapi`; the walk test validates every answer against them).

Times are ISO 8601 in UTC; points are strings with two decimals ("98.50"), as in the score
explanation, so no client ever sees a binary rounding of a score.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import literal, null, select, union_all
from sqlalchemy.orm import Session

from models.api import ApiToken
from models.catalogue import CatalogueVersion
from models.clock import now
from models.evaluation import (
    Appeal,
    BranchQuarter,
    Claim,
    Evaluation,
    Evidence,
    FollowUp,
    Quarter,
    SupervisionReport,
)
from models.org import Branch
from models.people import Person, User
from models.permissions import Principal, Target, can
from models.process import HumanTask, ProcessInstance, TaskState
from models.values import iso
from models.values import points_text as points
from workflows.org import tokens
from workflows.quarter import appeals, evaluation, reports, task_actions
from workflows.quarter.forms import FORMS
from workflows.reading import explain

Json = dict[str, Any]


class Names:
    """Names of people, users and branches, each looked up once per answer."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._people: dict[int, str] = {}
        self._users: dict[int, str] = {}
        self._branches: dict[int, str] = {}

    def load(self, people: set[int | None] = frozenset(), users: set[int | None] = frozenset(),  # type: ignore[assignment]
             branches: set[int | None] = frozenset()) -> Names:  # type: ignore[assignment]
        """Look up the names not known yet, all kinds in one statement."""
        parts = []
        wanted = {i for i in users if i is not None and i not in self._users}
        if wanted:
            parts.append(select(literal("u"), User.id, Person.name, User.display_name, User.username)
                         .outerjoin(Person, Person.id == User.person_id).where(User.id.in_(wanted)))
        wanted = {i for i in people if i is not None and i not in self._people}
        if wanted:
            parts.append(select(literal("p"), Person.id, Person.name, null(), null()).where(Person.id.in_(wanted)))
        wanted = {i for i in branches if i is not None and i not in self._branches}
        if wanted:
            parts.append(select(literal("b"), Branch.id, Branch.name, null(), null()).where(Branch.id.in_(wanted)))
        if not parts:
            return self
        tables = {"u": self._users, "p": self._people, "b": self._branches}
        for kind, ident, name, display_name, username in self.session.execute(
                parts[0] if len(parts) == 1 else union_all(*parts)):
            tables[kind][ident] = User.shown_name(name, display_name, username) if kind == "u" else name
        return self

    def known(self, people: dict[int | None, str | None] | None = None, users: dict[int | None, str] | None = None,
              branches: dict[int | None, str | None] | None = None) -> Names:
        """Names the caller read already (with the rows that show them): no lookup for these."""
        for table, given in ((self._people, people), (self._users, users), (self._branches, branches)):
            table.update((k, v) for k, v in (given or {}).items() if k is not None and v is not None)
        return self

    def _ref(self, table: dict[int, str], ident: int | None, loader: str) -> Json | None:
        if ident is None:
            return None
        if ident not in table:
            self.load(**{loader: {ident}})
        return {"id": ident, "name": table.get(ident, f"#{ident}")}

    def person(self, ident: int | None) -> Json | None:
        return self._ref(self._people, ident, "people")

    def user(self, ident: int | None) -> Json | None:
        return self._ref(self._users, ident, "users")

    def branch(self, ident: int | None) -> Json | None:
        return self._ref(self._branches, ident, "branches")


# --- Tasks ---------------------------------------------------------------------------------------


def task(t: HumanTask, names: Names) -> Json:
    moment = now()
    return {
        "id": t.id, "process": t.process_key, "step": t.bpmn_id, "name": t.name, "form": t.form_key,
        "role": t.role, "branch": names.branch(t.branch_id), "quarter_id": t.quarter_id,
        "subject": names.person(t.subject_person_id), "assignee": names.user(t.assignee_id),
        "escalated": bool(t.escalated), "due_at": iso(t.due_at),
        "overdue": t.state == TaskState.OPEN and t.due_at is not None and t.due_at < moment,
        "state": t.state, "instance_id": t.instance_id, "created_at": iso(t.created_at),
        "completed_at": iso(t.completed_at), "completed_by": names.user(t.completed_by),
    }


def tasks(session: Session, rows: list[HumanTask]) -> list[Json]:
    names = Names(session).load(people={t.subject_person_id for t in rows},
                                users={t.assignee_id for t in rows} | {t.completed_by for t in rows},
                                branches={t.branch_id for t in rows})
    return [task(t, names) for t in rows]


def form(form_key: str) -> Json:
    """The form a task takes: its fields as FORMS lists them, and the JSON Schema of its data."""
    f = FORMS.get(form_key)
    if f is None or form_key not in task_actions.ACTIONS:
        return {"key": form_key, "title": form_key, "fields": [], "schema": None}
    return {
        "key": f.key, "title": f.title,
        "fields": [{"name": x.name, "type": x.type, "required": x.required, "choices": list(x.choices),
                    "description": x.description} for x in f.fields],
        "schema": task_actions.form_schema(form_key),
    }


def instance(i: ProcessInstance) -> Json:
    return {"id": i.id, "process": i.process_key, "status": i.status,
            "steps": (i.current_steps or "").split(), "step_status": i.step_status or None}


# --- Evaluations ---------------------------------------------------------------------------------


def evidence_item(e: Evidence) -> Json:
    return {"id": e.id, "claim_id": e.claim_id, "filename": e.filename, "content_type": e.content_type,
            "size": e.size, "sha256": e.sha256, "uploaded_at": iso(e.uploaded_at)}


def claim(c: Claim, evidence: list[Evidence] | None = None) -> Json:
    s = c.standard
    return {
        "id": c.id, "evaluation_id": c.evaluation_id,
        "standard": {"id": s.id, "code": s.code, "text": s.text, "kind": s.kind, "points": points(s.points),
                     "max_occurrences": s.max_occurrences, "evidence_required": bool(s.evidence_required)},
        "source": c.source, "status": c.status, "occurrences": c.occurrences, "occurred_on": iso(c.occurred_on),
        "description": c.description, "reviewed_occurrences": c.reviewed_occurrences,
        "reviewed_points": points(c.reviewed_points), "decision_reason": c.decision_reason,
        "reviewed_at": iso(c.reviewed_at), "report_id": c.report_id,
        "evidence": [evidence_item(e) for e in (evidence or [])],
    }


def appeal(a: Appeal, actor: Principal, names: Names, evaluation_: Evaluation | None = None) -> Json:
    """An appeal or concern; a concern's author is shown as the member pages show it: to themselves and to
    those who may know a reporter (the branch's discipline member, the party office)."""
    ev = evaluation_ or a.evaluation
    shown = a.kind == "appeal" or a.submitted_by == actor.user_id or can(
        actor, "report.reporter_identity", Target(ev.branch_id, ev.person_id))
    return {
        "id": a.id, "evaluation_id": a.evaluation_id, "kind": a.kind, "claim_id": a.claim_id, "text": a.text,
        "status": a.status, "submitted_at": iso(a.submitted_at), "mine": a.submitted_by == actor.user_id,
        "submitted_by": names.user(a.submitted_by) if shown else None,
        "decided_at": iso(a.decided_at), "decision_reason": a.decision_reason,
    }


def evaluation_summary(e: Evaluation, names: Names) -> Json:
    quarter = e.quarter
    return {
        "id": e.id, "quarter": {"id": quarter.id, "label": quarter.label, "title": quarter.title},
        "person": names.person(e.person_id), "branch": names.branch(e.branch_id), "member_status": e.member_status,
        "status": e.status, "self_score": points(e.self_score), "score": points(e.score), "grade": e.grade,
        "one_click": bool(e.one_click), "recorded_by_branch": bool(e.recorded_by_branch),
        "declared_at": iso(e.declared_at), "reviewed_at": iso(e.reviewed_at),
    }


def evaluation_full(session: Session, e: Evaluation, actor: Principal) -> Json:
    """An evaluation with every claim and its evidence (flat, for declaring and reviewing) and the
    member pages' explanation of every point (standard → claim → evidence → decision → appeal)."""
    names = Names(session).load(people={e.person_id}, branches={e.branch_id})
    out = evaluation_summary(e, names)
    files: dict[int | None, list[Evidence]] = {}
    for item in session.scalars(select(Evidence).where(Evidence.evaluation_id == e.id).order_by(Evidence.id)):
        files.setdefault(item.claim_id, []).append(item)
    out["catalogue_version_id"] = e.quarter.catalogue_version_id
    out["unit_kind_id"] = e.unit_kind_id
    out["claims"] = [claim(c, files.get(c.id)) for c in evaluation.claims_of(session, e.id)]
    out["explanation"] = explain.build(session, e, viewer=actor)
    window = appeals.window(session, e)
    out["appeal_window_until"] = iso(window.publicity_end) if window is not None else None
    return out


# --- Quarters, branches, reports, follow-ups ----------------------------------------------------------


def quarter(q: Quarter) -> Json:
    return {
        "id": q.id, "year": q.year, "quarter": q.quarter, "label": q.label, "title": q.title, "status": q.status,
        "unit_id": q.unit_id, "catalogue_version_id": q.catalogue_version_id,
        "self_eval_deadline": iso(q.self_eval_deadline), "review_deadline": iso(q.review_deadline),
        "publicity_days": q.publicity_days, "opened_at": iso(q.opened_at), "notified_at": iso(q.notified_at),
        "filed_at": iso(q.filed_at), "locked": bool(q.locked),
    }


def branch_quarter(session: Session, bq: BranchQuarter) -> Json:
    names = Names(session)
    members = session.scalars(select(Evaluation).where(Evaluation.quarter_id == bq.quarter_id,
                                                       Evaluation.branch_id == bq.branch_id)).all()
    names.load(people={m.person_id for m in members}, branches={bq.branch_id})
    ordered = sorted(members, key=lambda m: (m.score is None, -(m.score or 0), m.person_id))
    return {
        "id": bq.id, "quarter_id": bq.quarter_id, "branch": names.branch(bq.branch_id), "status": bq.status,
        "member_count": bq.member_count, "approved_at": iso(bq.approved_at), "approval_comment": bq.approval_comment,
        "meeting_date": iso(bq.meeting_date), "meeting_expected": bq.meeting_expected,
        "meeting_present": bq.meeting_present, "meeting_resolution": bq.meeting_resolution,
        "publicity_start": iso(bq.publicity_start), "publicity_end": iso(bq.publicity_end),
        "mean_score": points(bq.mean_score),
        "members": [evaluation_summary(m, names) for m in ordered],
    }


def report(r: SupervisionReport, actor: Principal, names: Names) -> Json:
    out: Json = {
        "id": r.id, "subject": names.person(r.subject_person_id), "branch": names.branch(r.branch_id),
        "text": r.text, "occurred_on": iso(r.occurred_on), "status": r.status,
        "suggested_standard_id": r.suggested_standard_id, "occurrences": r.occurrences,
        "decision_reason": r.decision_reason, "verified_at": iso(r.verified_at), "evaluation_id": r.evaluation_id,
        "claim_id": r.claim_id, "created_at": iso(r.created_at), "reporter": None,
    }
    if reports.may_see_reporter(actor, r):
        out["reporter"] = {"user": names.user(r.reporter_user_id), "name": r.reporter_name,
                           "contact": r.reporter_contact, "via_party_office": bool(r.via_party_office)}
    return out


def follow_up(f: FollowUp, names: Names) -> Json:
    return {"id": f.id, "quarter_id": f.quarter_id, "kind": f.kind, "person": names.person(f.person_id),
            "branch": names.branch(f.branch_id), "reason": f.reason, "due_at": iso(f.due_at), "status": f.status,
            "record": f.record, "done_at": iso(f.done_at)}


def catalogue_version(v: CatalogueVersion) -> Json:
    return {"id": v.id, "year": v.year, "name": v.name, "status": v.status, "pass_line": points(v.pass_line),
            "excellent_line": points(v.excellent_line), "description": v.description,
            "published_at": iso(v.published_at)}


def token(record: ApiToken, user: User | None = None, current_id: int | None = None) -> Json:
    return {"id": record.id, "name": record.name, "created_at": iso(record.created_at),
            "expires_at": iso(record.expires_at), "last_used_at": iso(record.last_used_at),
            "revoked_at": iso(record.revoked_at), "state": tokens.state_of(record, user),
            "current": record.id == current_id}


def catalogue_tree(version: CatalogueVersion, kinds: dict[int, str], unit_kind: str | None) -> Json:
    """A version's tree: dimensions → items → contents → standards (a unit kind's view when given)."""
    dimensions = []
    for d in version.dimensions:
        items = []
        for item in d.items:
            item_kind = kinds.get(item.unit_kind_id) if item.unit_kind_id is not None else None
            if unit_kind is not None and item_kind not in (None, unit_kind):
                continue
            items.append({
                "id": item.id, "code": item.code, "name": item.name, "kind": item.kind,
                "baseline": points(item.baseline), "unit_kind": item_kind,
                "contents": [{"id": c.id, "code": c.code, "text": c.text, "standards": [{
                    "id": s.id, "code": s.code, "text": s.text, "kind": s.kind, "points": points(s.points),
                    "max_occurrences": s.max_occurrences, "honour_category": s.honour_category,
                    "honour_level": s.honour_level, "evidence_required": bool(s.evidence_required),
                } for s in c.standards]} for c in item.contents],
            })
        dimensions.append({"id": d.id, "code": d.code, "name": d.name, "items": items})
    return {"version": catalogue_version(version), "unit_kind": unit_kind,
            "bases": [{"id": b.id, "code": b.code, "title": b.title, "kind": b.kind} for b in version.bases],
            "dimensions": dimensions}
