"""Human labels of every code the domain uses (roles, statuses, kinds), translated per request."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from models.db import db
from models.org import Branch

LABELS = {
    "role": {
        "member": _l("Member"),
        "reviewer": _l("Points reviewer"),
        "secretary": _l("Branch secretary"),
        "discipline": _l("Discipline member"),
        "party_office": _l("Party-Masses Department"),
        "leading_group": _l("Leading Group"),
        "process_designer": _l("Process designer"),
        "administrator": _l("Administrator"),
    },
    "membership": {
        "full": _l("Full member"),
        "probationary": _l("Probationary member"),
        "activist": _l("Activist"),
        "none": _l("Not evaluated"),
    },
    "quarter_status": {"open": _l("Open"), "notified": _l("Notified"), "filed": _l("Filed (locked)")},
    "evaluation_status": {
        "self_evaluation": _l("Self-evaluation"),
        "review": _l("Under review"),
        "reviewed": _l("Reviewed"),
        "posted": _l("Under publicity"),
        "appeal": _l("Appeal being decided"),
        "confirmed": _l("Confirmed"),
        "filed": _l("Filed"),
    },
    "grade": {"excellent": _l("Excellent"), "pass": _l("Pass"), "fail": _l("Below the pass line")},
    "claim_status": {
        "draft": _l("Draft"),
        "submitted": _l("Submitted"),
        "accepted": _l("Accepted"),
        "adjusted": _l("Adjusted"),
        "rejected": _l("Rejected"),
        "revoked": _l("Revoked"),
    },
    "claim_source": {
        "self": _l("Self-declared"),
        "branch": _l("Recorded by the branch"),
        "review": _l("Added at review"),
        "report": _l("Supervision report"),
    },
    "standard_kind": {"bonus": _l("Bonus"), "deduction": _l("Deduction")},
    "branch_status": {
        "reviewing": _l("Reviewing"),
        "approval": _l("Awaiting approval"),
        "meeting": _l("Awaiting the general meeting"),
        "publicity": _l("Under publicity"),
        "appeals": _l("Waiting for appeals"),
        "reported": _l("Reported to the bureau"),
        "filed": _l("Filed"),
    },
    "appeal_kind": {"appeal": _l("Appeal"), "concern": _l("Concern")},
    "appeal_status": {"open": _l("Open"), "upheld": _l("Upheld"), "dismissed": _l("Dismissed")},
    "report_status": {
        "verifying": _l("Being verified"),
        "substantiated": _l("Substantiated"),
        "unsubstantiated": _l("Unsubstantiated"),
        "appealed": _l("Appealed"),
        "revoked": _l("Revoked on appeal"),
        "closed": _l("Closed"),
    },
    "followup_kind": {
        "reminder_talk": _l("Reminder talk"),
        "criticism": _l("Criticism and education"),
        "award_disqualification": _l("Loss of award eligibility"),
        "secretary_interview": _l("Interview of the branch secretary"),
        "criticism_notice": _l("Notice of criticism"),
    },
    "followup_status": {"open": _l("Open"), "done": _l("Done")},
    "catalogue_status": {"draft": _l("Draft"), "published": _l("Published"), "retired": _l("Retired")},
    "instance_status": {
        "running": _l("Running"),
        "completed": _l("Completed"),
        "error": _l("Error"),
        "cancelled": _l("Cancelled"),
    },
    "task_state": {"open": _l("Waiting"), "completed": _l("Done"), "cancelled": _l("Withdrawn")},
    "annual_status": {"computed": _l("Computed"), "reviewed": _l("Reviewed"), "approved": _l("Approved")},
}


def label(kind: str, code: str | None) -> str:
    """The translated label of a code, or the code itself when unknown."""
    if code is None:
        return "—"
    value = LABELS.get(kind, {}).get(str(code))
    return str(value) if value is not None else str(code)


def role_label(code: str) -> str:
    return label("role", code)


def status_label(code: str) -> str:
    return label("membership", code)


def branch_name(branch_id: int | None) -> str:
    from flask_babel import gettext as _

    if branch_id is None:
        return _("Bureau-wide")
    branch = db.session.get(Branch, branch_id)  # identity map: one query per request at most
    return branch.name if branch else f"#{branch_id}"


def register(app: object) -> None:
    app.jinja_env.globals.update(  # type: ignore[attr-defined]
        label=label, role_label=role_label, status_label=status_label, branch_name=branch_name
    )
