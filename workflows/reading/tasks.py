"""What a task's page or API answer reads besides the task: the objects it is about, the
caller's done and withdrawn tasks, and the answer to a completion — read queries only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, bindparam, false, func, or_, select
from sqlalchemy.orm import Session, aliased

from models.clock import now
from models.evaluation import (
    AnnualAssessment,
    Appeal,
    BranchQuarter,
    Evaluation,
    FollowUp,
    Quarter,
    SupervisionReport,
)
from models.org import Branch
from models.people import Person, User
from models.permissions import Principal
from models.process import HumanTask, ProcessInstance, TaskState
from workflows.engine import access
from workflows.quarter import appeals, notices
from workflows.reading import inbox


@dataclass
class TaskContext:
    """The objects a task is about, by what its instance drives and its form."""

    instance: ProcessInstance
    evaluation: Evaluation | None = None
    branch_quarter: BranchQuarter | None = None
    report: SupervisionReport | None = None
    follow_up: FollowUp | None = None
    annual: AnnualAssessment | None = None
    asks_appeal: bool = False  # an appeal decision: `appeal` is the one to decide (None when decided)
    appeal: Appeal | None = None
    quarter: Quarter | None = None  # the bureau's steps: notice, filing, verification
    notice_lists: dict[str, Any] | None = None
    sample: list[Evaluation] | None = None


_OBJECTS = {"evaluation": Evaluation, "branch_quarter": BranchQuarter, "report": SupervisionReport,
            "follow_up": FollowUp, "annual": AnnualAssessment}
_BUREAU_FORMS = ("quarter_notice", "filing_acceptance", "quarter_verification")


def context_of(session: Session, task: HumanTask) -> TaskContext:
    """What the person doing the task needs to see."""
    instance = session.get(ProcessInstance, task.instance_id)
    assert instance is not None
    out = TaskContext(instance)
    model = _OBJECTS.get(instance.object_type)
    obj = session.get(model, instance.object_id) if model is not None and instance.object_id is not None else None
    if obj is not None:
        setattr(out, instance.object_type, obj)
    if task.form_key == "appeal_decision" and instance.object_type in ("evaluation", "report"):
        out.asks_appeal = True
        out.appeal = appeals.open_appeal_for(session, instance)
    if task.quarter_id is not None and task.form_key in _BUREAU_FORMS:
        out.quarter = session.get(Quarter, task.quarter_id)
        if out.quarter is not None:
            out.notice_lists = notices.compose(session, out.quarter.id)
            if task.form_key == "quarter_verification":
                out.sample = notices.sample(session, out.quarter.id)
    return out


def history_query(principal: Principal, state: str, filters: inbox.Filters) -> Any:
    """Done or withdrawn tasks the caller may see (`access.may_see`): their own and their pools',
    most recent first."""
    uid = principal.user_id
    h = HumanTask.__table__
    mine = [h.c.assignee_id == uid, h.c.completed_by == uid]
    pools = [access.pool_condition(p) for p in access.pools(principal)]
    if filters.show == "mine":
        pools = []
    elif filters.show == "pool":
        mine = []
    query = select(HumanTask).where(HumanTask.state == state, access.not_excluded(principal),
                                    or_(*(mine + pools) or [false()]))
    if filters.role:
        query = query.where(HumanTask.role == filters.role)
    if filters.quarter_id is not None:
        query = query.where(HumanTask.quarter_id == filters.quarter_id)
    if filters.step:
        query = query.where(HumanTask.bpmn_id == filters.step)
    if filters.branch_id is not None:
        query = query.where(HumanTask.branch_id == filters.branch_id)
    if filters.overdue:
        query = query.where(HumanTask.due_at < func.coalesce(HumanTask.completed_at, now()))
    return query.order_by(HumanTask.completed_at.desc(), HumanTask.id.desc())




def _answer_query() -> Select[Any]:
    subject, assignee, assignee_person = aliased(Person), aliased(User), aliased(Person)
    doer, doer_person = aliased(User), aliased(Person)
    return (
        select(HumanTask, ProcessInstance.id, ProcessInstance.process_key, ProcessInstance.status,
               ProcessInstance.current_steps, ProcessInstance.step_status,
               Branch.name.label("branch_name"), subject.name.label("subject_name"),
               assignee.username.label("assignee_username"), assignee.display_name.label("assignee_display"),
               assignee_person.name.label("assignee_person"),
               doer.username.label("doer_username"), doer.display_name.label("doer_display"),
               doer_person.name.label("doer_person"))
        .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
        .outerjoin(Branch, Branch.id == HumanTask.branch_id)
        .outerjoin(subject, subject.id == HumanTask.subject_person_id)
        .outerjoin(assignee, assignee.id == HumanTask.assignee_id)
        .outerjoin(assignee_person, assignee_person.id == assignee.person_id)
        .outerjoin(doer, doer.id == HumanTask.completed_by)
        .outerjoin(doer_person, doer_person.id == doer.person_id)
        .where(or_(HumanTask.id == bindparam("task_id"),
                   and_(HumanTask.instance_id == bindparam("instance_id"), HumanTask.state == TaskState.OPEN.value)))
        .order_by(HumanTask.id).execution_options(populate_existing=True)
    )


_COMPLETION_ANSWER = _answer_query()


def completion_rows(session: Session, task_id: int, instance_id: int) -> list[Any]:
    """The completed task and its instance's open tasks, with every name an answer shows: one statement."""
    return list(session.execute(_COMPLETION_ANSWER, {"task_id": task_id, "instance_id": instance_id}).all())
