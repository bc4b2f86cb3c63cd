"""What every task page shares: loading a task the user may see, its step's name, its history,
and running a task's service at the boundary with each domain error turned into an answer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import abort, current_app, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import aliased

from models.audit import AuditEvent
from models.clock import now
from models.people import Person, Role, User
from models.permissions import Principal, Target, can
from models.process import HumanTask, ProcessInstance, TaskState
from webapp.authz import current_principal
from webapp.extensions import db
from workflows.engine import access

# English names of the shipped steps (the diagrams name them in Chinese, which the Chinese UI shows).
STEP_NAMES = {
    "self_evaluation": _l("Self-evaluation"),
    "proxy_self_evaluation": _l("Record the self-evaluation for the member"),
    "branch_review": _l("Branch review"),
    "re_review": _l("Review again after an upheld appeal"),
    "branch_approval": _l("Secretary's approval"),
    "branch_meeting": _l("Branch general meeting"),
    "appeal_decision": _l("Decide an appeal or concern"),
    "report_appeal_decision": _l("Decide an appeal against a report's deduction"),
    "report_verification": _l("Verify a supervision report"),
    "quarter_notice": _l("Notice and comment"),
    "filing_acceptance": _l("Accept the filing"),
    "quarter_verification": _l("Quarterly verification"),
    "reminder_talk": _l("Reminder talk"),
    "criticism": _l("Criticism and education"),
    "award_disqualification": _l("Loss of award eligibility"),
    "secretary_interview": _l("Interview of the branch secretary or notice of criticism"),
    "annual_review": _l("Review the annual assessment"),
    "annual_approval": _l("Approve the annual assessment"),
}

# What the history says for each kind of event of an instance.
ACTIONS = {
    "process.started": _l("Started"),
    "task.completed": _l("Done"),
    "task.claimed": _l("Taken"),
    "task.released": _l("Given back"),
    "task.reassigned": _l("Reassigned"),
    "process.message": _l("Message"),
    "process.timer": _l("Time limit reached"),
    "process.error": _l("The engine failed"),
    "process.retried": _l("Run again"),
}

# What the processes tell each other, as the history says it.
MESSAGES = {
    "member_reviewed": _l("a member's review is done"),
    "review_returned": _l("returned for review"),
    "branch_posted": _l("the branch's scores are posted"),
    "member_window_closed": _l("a member's publicity has closed"),
    "branch_reported": _l("the branch reported to the bureau"),
    "quarter_notified": _l("the quarter's notice is out"),
    "quarter_filed": _l("the quarter is filed"),
    "appeal_filed": _l("an appeal or concern was filed"),
    "report_appeal": _l("the deduction was appealed"),
}

# Values of a step's data worth showing in the history, with their labels.
HISTORY_FIELDS = {
    "decision": _l("Decision"),
    "approval": _l("Decision"),
    "verification": _l("Decision"),
    "score": _l("Score"),
    "self_score": _l("Self score"),
    "grade": _l("Grade"),
    "one_click": _l("One-click declaration"),
    "claims": _l("Claims"),
    "decisions": _l("Claims decided"),
    "added": _l("Claims added"),
    "meeting_date": _l("Meeting date"),
    "reason": _l("Reason"),
}


def step_name(bpmn_id: str, name: str) -> str:
    """The step's name in the reader's language: the diagram's own in Chinese, ours in English."""
    from webapp import _select_locale

    if _select_locale() != "zh" and bpmn_id in STEP_NAMES:
        return str(STEP_NAMES[bpmn_id])
    return name or bpmn_id


def principal() -> Principal:
    p = current_principal()
    if p is None:  # every view is guarded; this only satisfies the type checker
        abort(401)
    return p


def is_office(p: Principal) -> bool:
    return p.holds(Role.PARTY_OFFICE, None)


def can_act(p: Principal, task: HumanTask) -> bool:
    return task.state == TaskState.OPEN and access.may_act(p, task)


def name_of_user(user_id: int | None) -> str:
    if user_id is None:
        return ""
    user = db.session.get(User, user_id)
    return user.name if user is not None else f"#{user_id}"


def is_overdue(task: Any) -> bool:
    return task.state == TaskState.OPEN and task.due_at is not None and task.due_at < now()


# --- History ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    who: str
    action: str
    step: str
    details: list[tuple[str, str]]


def _details(data: dict[str, Any]) -> list[tuple[str, str]]:
    inner = data.get("data") if isinstance(data.get("data"), dict) else data
    out = []
    for key, label in HISTORY_FIELDS.items():
        value = inner.get(key)
        if value in (None, "", []):
            continue
        if key == "grade":
            from webapp.labels import label as code_label

            value = code_label("grade", value)
        elif key in ("decision", "approval", "verification"):
            value = decision_label(str(value))
        elif isinstance(value, bool):
            value = _("yes") if value else _("no")
        out.append((str(label), str(value)[:300]))
    return out


def may_know_authors(p: Principal, task: HumanTask) -> bool:
    """Who reported a member, or raised a concern about their score, is told only to the branch's
    discipline member and the party office (SPEC §3)."""
    instance = db.session.get(ProcessInstance, task.instance_id)
    branch_id = instance.branch_id if instance is not None else task.branch_id
    return can(p, "report.reporter_identity", Target(branch_id, task.subject_person_id))


def history(instance_id: int, *, private: bool = False) -> list[HistoryEntry]:
    """Who did what, when, in this instance (the audit log's rows of it), oldest first.

    `private`: those who reported the member (who started a report's process) or raised an appeal or
    concern (who sent "appeal_filed") stay unnamed; see `may_know_authors`."""
    actor = aliased(User)
    rows = db.session.execute(
        select(AuditEvent.at, AuditEvent.action, AuditEvent.data, actor.username, actor.display_name, Person.name)
        .outerjoin(actor, actor.id == AuditEvent.actor_user_id)
        .outerjoin(Person, Person.id == actor.person_id)
        .where(AuditEvent.instance_id == instance_id)
        .order_by(AuditEvent.id)).all()
    out: list[HistoryEntry] = []
    repeats: list[int] = []
    for r in rows:
        try:
            data = json.loads(r.data or "{}")
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        who = r.name or r.display_name or r.username or _("the system")
        if private and (r.action == "process.started" or data.get("message") == "appeal_filed"):
            who = _("(not shown)")
        step = data.get("step") or ""
        label = ACTIONS.get(r.action)
        action = str(label) if label else r.action
        if r.action == "process.message":
            message = MESSAGES.get(data.get("message") or "")
            action = f"{action}: {message if message else data.get('message', '')}"
        if r.action == "task.reassigned":
            data = {"reason": data.get("reason")}
        entry = HistoryEntry(r.at, who, action, step_name(step, data.get("name") or "") if step else "", _details(data))
        if out and not entry.details and (out[-1].who, out[-1].action, out[-1].step, out[-1].details) == (
                entry.who, entry.action, entry.step, entry.details):
            repeats[-1] += 1  # the same event again (a message per member): one line, counted
            continue
        out.append(entry)
        repeats.append(1)
    return [HistoryEntry(e.at, e.who, e.action if n == 1 else f"{e.action} ×{n}", e.step, e.details)
            for e, n in zip(out, repeats, strict=True)]


DECISIONS = {
    "accept": _l("Accept"),
    "adjust": _l("Adjust"),
    "reject": _l("Reject"),
    "approved": _l("Approved"),
    "returned": _l("Returned for review"),
    "upheld": _l("Upheld"),
    "dismissed": _l("Dismissed"),
    "substantiated": _l("Substantiated"),
    "unsubstantiated": _l("Not substantiated"),
    "accepted": _l("Accepted for filing"),
}


def decision_label(code: str) -> str:
    value = DECISIONS.get(code)
    return str(value) if value is not None else code


EVIDENCE_ENDPOINTS = ("member.evidence", "member.evidence_file")


def evidence_url(evidence_id: int) -> str | None:
    """The member area serves evidence files (to whoever may see the evaluation); link to it."""
    for endpoint in EVIDENCE_ENDPOINTS:
        if endpoint in current_app.view_functions:
            return url_for(endpoint, evidence_id=evidence_id)
    return None


def register_globals(state: Any) -> None:
    """Template helpers the task pages of every area may use."""
    state.app.jinja_env.globals.update(task_step_name=step_name, decision_label=decision_label,
                                       evidence_url=evidence_url, task_overdue=is_overdue)
