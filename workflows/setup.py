"""Wiring the engine to the quarter, in one explicit call: `configure()` (made by `create_app`, and
so by every `flask --app webapp` command) gives the engine the forms user tasks may name, the
service-task operators the diagrams call by name and the messages services send from outside, and
installs the session hooks (the locked-quarter guard, evidence files following the transaction,
the API token's pending last use). Nothing is registered by importing a module."""

from __future__ import annotations

from models.evaluation import AnnualAssessment, BranchQuarter, Evaluation, FollowUp, SupervisionReport
from workflows.engine import registry
from workflows.org import tokens
from workflows.quarter import annual, appeals, branch, evidence, followups, forms, locking, notices, reports

# Service-task operators by the name a diagram gives in its spiffworkflow:serviceTaskOperator.
OPERATORS = {
    "start_publicity": branch.start_publicity,
    "notify_appellant": appeals.notify_appellant,
    "publish_notice": notices.publish_notice,
    "start_follow_ups": notices.start_follow_ups,
    "lock_quarter": notices.lock_quarter,
    "flag_overdue": followups.flag_overdue,
    "notify_member": followups.notify_member,
    "record_report_deduction": reports.record_report_deduction,
    "revoke_report_deduction": reports.revoke_report_deduction,
    "close_report": reports.close_report,
    "compute_annual": annual.compute_annual,
    "publish_annual": annual.publish_annual,
}

# Business objects whose `status` follows the diagram's "status" of the step their instance waits at.
STATUS_MODELS = {
    "evaluation": Evaluation,
    "branch_quarter": BranchQuarter,
    "report": SupervisionReport,
    "follow_up": FollowUp,
    "annual": AnnualAssessment,
}


# A form -> who a task of it decides on, when that is more than its instance's subject: they are
# left out of its pool (`workflows.engine.access.pool_for`).
SUBJECTS = {
    "appeal_decision": appeals.decision_subjects,
    "follow_up": followups.subjects,
}


def configure() -> None:
    """Make the engine know the quarter's forms, operators and external messages; install the
    session hooks. Idempotent."""
    registry.configure(forms=forms.FORMS, operators=OPERATORS, external_messages=forms.EXTERNAL_MESSAGES,
                       status_models=STATUS_MODELS, subjects=SUBJECTS)
    locking.install()
    evidence.install()
    tokens.install()
