"""What supervisors watch: instances by current step, overdue tasks and who holds them, failed or
stuck instances (and retrying them), one instance's history, and the data behind the charts.

Lists and counts read the mirrors only (`process_instance.current_steps`, `status`, `human_task`
rows) and the business tables (evaluations, claims); nothing here deserialises a workflow except
the instance page, which shows the task data as the engine sees it, and a retry, which runs it.
Every query takes `visible`: the branch ids the viewer may see (None: the whole bureau).
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from SpiffWorkflow.util.task import TaskState as SpiffState
from sqlalchemy import Select, case, func, literal, select
from sqlalchemy.orm import Session

from models import audit
from models.audit import AuditEvent
from models.clock import now
from models.evaluation import Claim, ClaimSource, ClaimStatus, Evaluation, Quarter
from models.org import Branch, Unit
from models.people import Person, Role, User
from models.permissions import Principal
from models.process import (
    HumanTask,
    InstanceStatus,
    Message,
    ProcessInstance,
    ProcessVersion,
    TaskState,
    Timer,
)
from models.values import plain
from workflows.engine import instances as process_instances
from workflows.engine import spiff
from workflows.errors import Conflict, NotAllowed
from workflows.i18n import N_

PI = ProcessInstance
HT = HumanTask
COMPLETED_STEP = "__completed__"


@dataclass
class Filters:
    """What the supervisor narrowed the view to."""

    quarter_id: int | None = None
    unit_id: int | None = None
    branch_id: int | None = None
    process_key: str | None = None
    status: str | None = None


def _branches_of_unit(unit_id: int) -> Any:
    return select(Branch.id).where(Branch.unit_id == unit_id).scalar_subquery()


def scope_instances(query: Select[Any], visible: set[int] | None, f: Filters) -> Select[Any]:
    """Restrict a query over process_instance to what the viewer may see and asked for."""
    if visible is not None:
        query = query.where(PI.branch_id.in_(visible or {-1}))
    if f.quarter_id is not None:
        query = query.where(PI.quarter_id == f.quarter_id)
    if f.branch_id is not None:
        query = query.where(PI.branch_id == f.branch_id)
    if f.unit_id is not None:
        query = query.where(PI.branch_id.in_(_branches_of_unit(f.unit_id)))
    if f.process_key:
        query = query.where(PI.process_key == f.process_key)
    if f.status:
        query = query.where(PI.status == f.status)
    return query


def step_names(session: Session, process_keys: Iterable[str] | None = None) -> dict[str, dict[str, str]]:
    """process key -> {bpmn id: name}, from the deployed versions (newest names win), in diagram order."""
    query = select(ProcessVersion.process_key, ProcessVersion.meta).order_by(ProcessVersion.version)
    if process_keys is not None:
        query = query.where(ProcessVersion.process_key.in_(list(process_keys)))
    names: dict[str, dict[str, str]] = defaultdict(dict)
    for key, meta in session.execute(query):
        names[key].update((meta or {}).get("names", {}))
    return names


def process_names(session: Session) -> dict[str, str]:
    rows = session.execute(select(ProcessVersion.process_key, ProcessVersion.name).order_by(ProcessVersion.version))
    return {key: name for key, name in rows}


# --- Counts by step -----------------------------------------------------------------------------------


@dataclass
class StepCount:
    step: str  # bpmn id, or COMPLETED_STEP
    name: str
    instances: int = 0
    errors: int = 0
    open_tasks: int = 0
    overdue: int = 0


@dataclass
class ProcessSummary:
    process_key: str
    name: str
    total: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    steps: list[StepCount] = field(default_factory=list)


@dataclass
class BranchRow:
    branch_id: int | None
    name: str
    unit: str
    by_status: Counter[str] = field(default_factory=Counter)
    by_step: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))  # process -> step -> n
    open_tasks: int = 0
    overdue: int = 0
    overdue_by: Counter[str] = field(default_factory=Counter)  # process -> overdue tasks

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


@dataclass
class Overview:
    processes: list[ProcessSummary]
    branches: list[BranchRow]
    by_status: Counter[str]
    overdue: int
    open_tasks: int
    stuck: int

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def _task_counts(session: Session, visible: set[int] | None, f: Filters) -> list[Any]:
    """Open tasks per (process, step, instance branch), with how many are past due."""
    moment = now()
    overdue = func.sum(case((HT.due_at < moment, 1), else_=0))
    query = select(HT.process_key, HT.bpmn_id, PI.branch_id, func.count(), overdue).join(PI, PI.id == HT.instance_id) \
        .where(HT.state == TaskState.OPEN.value).group_by(HT.process_key, HT.bpmn_id, PI.branch_id)
    return list(session.execute(scope_instances(query, visible, f)))


def overview(session: Session, visible: set[int] | None, f: Filters) -> Overview:
    """Instances counted by process, current step, status and branch; open and overdue tasks."""
    query = select(PI.process_key, PI.branch_id, PI.current_steps, PI.status, func.count()).group_by(
        PI.process_key, PI.branch_id, PI.current_steps, PI.status)
    rows = list(session.execute(scope_instances(query, visible, f)))
    names = step_names(session)
    titles = process_names(session)
    processes: dict[str, ProcessSummary] = {}
    steps: dict[tuple[str, str], StepCount] = {}
    branches = _branch_rows(session, visible)
    by_status: Counter[str] = Counter()
    for process_key, branch_id, current, status, n in rows:
        summary = processes.setdefault(process_key, ProcessSummary(process_key, titles.get(process_key, process_key)))
        summary.total += n
        summary.by_status[status] += n
        by_status[status] += n
        row = branches.get(branch_id)
        if row is None:
            row = branches[branch_id] = BranchRow(branch_id, "", "")
        row.by_status[status] += n
        ids = [COMPLETED_STEP] if status == InstanceStatus.COMPLETED else (current or "").split() or [""]
        for step in ids:
            count = steps.setdefault((process_key, step), StepCount(step, names[process_key].get(step, step)))
            count.instances += n
            if status == InstanceStatus.ERROR:
                count.errors += n
            row.by_step[process_key][step] += n
    open_total = overdue_total = 0
    for process_key, bpmn_id, branch_id, n, late in _task_counts(session, visible, f):
        late = int(late or 0)
        count = steps.get((process_key, bpmn_id))
        if count is not None:
            count.open_tasks += n
            count.overdue += late
        row = branches.get(branch_id)
        if row is not None:
            row.open_tasks += n
            row.overdue += late
            row.overdue_by[process_key] += late
        open_total += n
        overdue_total += late
    for (process_key, _step), count in steps.items():
        processes[process_key].steps.append(count)
    for summary in processes.values():
        order = list(names[summary.process_key])
        summary.steps.sort(key=lambda c: (c.step == COMPLETED_STEP, order.index(c.step) if c.step in order else 999, c.step))
    stuck = stuck_count(session, visible, f)
    shown = [r for r in branches.values() if r.total or r.open_tasks]
    shown.sort(key=lambda r: (r.branch_id is None, r.unit, r.name))
    return Overview(sorted(processes.values(), key=lambda p: p.process_key), shown, by_status, overdue_total,
                    open_total, stuck)


def _branch_rows(session: Session, visible: set[int] | None) -> dict[int | None, BranchRow]:
    query = select(Branch.id, Branch.name, Unit.name).join(Unit, Unit.id == Branch.unit_id).order_by(Unit.sort, Branch.sort)
    if visible is not None:
        query = query.where(Branch.id.in_(visible or {-1}))
    rows: dict[int | None, BranchRow] = {bid: BranchRow(bid, name, unit) for bid, name, unit in session.execute(query)}
    if visible is None:
        rows[None] = BranchRow(None, "", "")
    return rows


def step_matrix(overview_: Overview, process_key: str) -> tuple[list[StepCount], list[tuple[BranchRow, Counter[str]]]]:
    """Columns (the process's steps) and rows (branches with instances of it, and their counts by
    step) for a branch × step table."""
    summary = next((p for p in overview_.processes if p.process_key == process_key), None)
    if summary is None:
        return [], []
    rows = [(r, r.by_step[process_key]) for r in overview_.branches if r.by_step.get(process_key)]
    return summary.steps, rows


# --- Lists -------------------------------------------------------------------------------------------------


def _user_name() -> Any:
    return func.coalesce(Person.name, func.nullif(User.display_name, ""), User.username)


@dataclass
class TaskRow:
    task: HumanTask
    instance: ProcessInstance
    subject: str | None
    holder: str | None  # the assignee's name; None: anybody of the pool


def overdue_tasks(session: Session, visible: set[int] | None, f: Filters, *, limit: int = 50,
                  offset: int = 0) -> tuple[list[TaskRow], int]:
    """Open tasks past their due date, longest overdue first, with who holds them."""
    subject = select(Person.name).where(Person.id == HT.subject_person_id).scalar_subquery()
    holder = select(_user_name()).select_from(User).outerjoin(Person, Person.id == User.person_id) \
        .where(User.id == HT.assignee_id).scalar_subquery()
    base = select(HT, PI, subject, holder).join(PI, PI.id == HT.instance_id).where(
        HT.state == TaskState.OPEN.value, HT.due_at < now())
    base = scope_instances(base, visible, f)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.execute(base.order_by(HT.due_at, HT.id).limit(limit).offset(offset)).all()
    return [TaskRow(t, i, s, h) for t, i, s, h in rows], total


def _stuck(query: Select[Any]) -> Select[Any]:
    return query.where(PI.status == InstanceStatus.RUNNING.value, func.coalesce(PI.open_tasks, "") == "",
                       func.coalesce(PI.timer_tasks, "") == "", func.coalesce(PI.waiting_messages, "") == "")


def stuck_instances(session: Session, visible: set[int] | None, f: Filters, *, limit: int = 100) -> list[ProcessInstance]:
    """Running instances that nothing can move: no open task, no timer, no message awaited."""
    return list(session.scalars(scope_instances(_stuck(select(PI)), visible, f).order_by(PI.id).limit(limit)))


def stuck_count(session: Session, visible: set[int] | None, f: Filters) -> int:
    return session.scalar(scope_instances(_stuck(select(func.count()).select_from(PI)), visible, f)) or 0


def failed_instances(session: Session, visible: set[int] | None, f: Filters, *, limit: int = 100) -> list[ProcessInstance]:
    """Instances whose last engine step failed (the error is on the row, never lost)."""
    query = select(PI).where(PI.status == InstanceStatus.ERROR.value)
    return list(session.scalars(scope_instances(query, visible, f).order_by(PI.error_at.desc(), PI.id).limit(limit)))


def failing_messages(session: Session, visible: set[int] | None, f: Filters, *, limit: int = 100) -> list[tuple[Message, ProcessInstance]]:
    """Messages that could not be delivered and are still queued, with their target."""
    query = select(Message, PI).join(PI, PI.id == Message.target_instance_id).where(
        Message.delivered_at.is_(None), Message.last_error.is_not(None))
    return [(m, i) for m, i in session.execute(scope_instances(query, visible, f).order_by(Message.id).limit(limit))]


@dataclass
class InstanceRow:
    instance: ProcessInstance
    subject: str | None
    steps: list[tuple[str, str]]  # (bpmn id, name)


def instances(session: Session, visible: set[int] | None, f: Filters, *, step: str | None = None, limit: int = 50,
              offset: int = 0) -> tuple[list[InstanceRow], int]:
    """Instances (newest first), optionally only those at one step."""
    subject = select(Person.name).where(Person.id == PI.subject_person_id).scalar_subquery()
    query = scope_instances(select(PI, subject), visible, f)
    if step == COMPLETED_STEP:
        query = query.where(PI.status == InstanceStatus.COMPLETED.value)
    elif step:
        padded = literal(" ") + PI.current_steps + literal(" ")
        query = query.where(PI.status != InstanceStatus.COMPLETED.value, padded.contains(f" {step} ", autoescape=True))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by(PI.id.desc()).limit(limit).offset(offset)).all()
    names = step_names(session, {i.process_key for i, _ in rows})
    out = [InstanceRow(i, s, [(x, names[i.process_key].get(x, x)) for x in (i.current_steps or "").split()])
           for i, s in rows]
    return out, total


# --- One instance -------------------------------------------------------------------------------------------


@dataclass
class HistoryRow:
    at: datetime
    action: str
    actor: str | None
    step: str | None
    data: dict[str, Any]


@dataclass
class EngineTask:
    """A task of the instance's state as the engine sees it (READY, WAITING...)."""

    id: str
    step: str
    name: str
    state: str
    data: dict[str, Any]
    internal: dict[str, Any]


@dataclass
class InstanceDetail:
    instance: ProcessInstance
    version: ProcessVersion
    subject: str | None
    history: list[HistoryRow]
    tasks: list[tuple[HumanTask, str | None, str | None]]  # (row, assignee name, completed-by name)
    completed_steps: list[str]
    current_steps: list[str]
    names: dict[str, str]
    engine_tasks: list[EngineTask]
    workflow_data: dict[str, Any]
    timers: list[Timer]
    messages: list[Message]


def instance_detail(session: Session, instance: ProcessInstance) -> InstanceDetail:
    """Everything the instance page shows (the caller has checked the viewer may see it)."""
    version = session.get(ProcessVersion, instance.process_version_id)
    assert version is not None
    events = list(session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance.id).order_by(AuditEvent.id)))
    rows = list(session.scalars(select(HT).where(HT.instance_id == instance.id).order_by(HT.id)))
    names = _names(session, {e.actor_user_id for e in events} | {t.assignee_id for t in rows} | {t.completed_by for t in rows})
    history = []
    if not any(e.action == "process.started" for e in events):
        # Instances started in bulk (a quarter's person instances) share one audit row for the batch.
        history.append(HistoryRow(instance.created_at, "process.started", None, None,
                                  {"process": instance.process_key, "version": version.version}))
    for e in events:
        data = json.loads(e.data or "{}")
        history.append(HistoryRow(e.at, e.action, names.get(e.actor_user_id or 0), data.get("step"), data))
    step_name = dict(step_names(session, [instance.process_key]).get(instance.process_key, {}))
    step_name.update((version.meta or {}).get("names", {}))
    engine_tasks, completed, workflow_data = _engine_view(instance, step_name)
    completed |= {t.bpmn_id for t in rows if t.state == TaskState.COMPLETED}
    completed |= {h.step for h in history if h.action == "task.completed" and h.step}
    subject = session.scalar(select(Person.name).where(Person.id == instance.subject_person_id)) \
        if instance.subject_person_id else None
    timers = list(session.scalars(select(Timer).where(Timer.instance_id == instance.id).order_by(Timer.due_at)))
    messages = list(session.scalars(select(Message).where(Message.target_instance_id == instance.id,
                                                          Message.delivered_at.is_(None)).order_by(Message.id)))
    return InstanceDetail(instance, version, subject, history,
                          [(t, names.get(t.assignee_id or 0), names.get(t.completed_by or 0)) for t in rows],
                          sorted(completed), (instance.current_steps or "").split(), step_name, engine_tasks,
                          workflow_data, timers, messages)


def _names(session: Session, user_ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in user_ids if i}
    if not ids:
        return {}
    rows = session.execute(select(User.id, _user_name()).outerjoin(Person, Person.id == User.person_id)
                           .where(User.id.in_(ids)))
    return {uid: name for uid, name in rows}


def _engine_view(instance: ProcessInstance, names: dict[str, str]) -> tuple[list[EngineTask], set[str], dict[str, Any]]:
    """Read the stored state as plain JSON: tasks not finished, steps completed, the data."""
    if not instance.state:
        return [], set(), {}
    dct = spiff.state_dict(instance.state)
    tasks = list(dct.get("tasks", {}).values())
    for sub in dct.get("subprocesses", {}).values():
        tasks += list(sub.get("tasks", {}).values())
    by_id = {t.get("id"): t for t in tasks}

    def data_of(task: dict[str, Any]) -> dict[str, Any]:
        # A waiting task gets its parent's data when it runs: show what it will see.
        seen = 0
        while task is not None and not task.get("data") and seen < 10_000:
            task, seen = by_id.get(task.get("parent")), seen + 1  # type: ignore[assignment]
        return dict(task.get("data") or {}) if task is not None else {}

    shown: list[EngineTask] = []
    completed: set[str] = set()
    last_done: dict[str, Any] | None = None
    for t in sorted(tasks, key=lambda x: x.get("last_state_change") or 0):
        spec = t.get("task_spec", "")
        state = t.get("state", 0)
        if state == SpiffState.COMPLETED:
            completed.add(spec)
            last_done = t
        if state in (SpiffState.READY, SpiffState.WAITING, SpiffState.STARTED, SpiffState.ERROR) and spec in names:
            shown.append(EngineTask(t.get("id", ""), spec, names.get(spec, spec), SpiffState.get_name(state),
                                    data_of(t), t.get("internal_data") or {}))
    data = dict(dct.get("data") or {})
    if not data:
        data = shown[0].data if shown else data_of(last_done) if last_done is not None else {}
    return shown, completed, data


# --- Retry after an engine error ----------------------------------------------------------------------------


def retry(session: Session, actor: Principal, instance_id: int) -> ProcessInstance:
    """Run a failed instance again (after the cause was fixed): its ready engine steps and due
    timers run, it is running again, and `workflows.tx` then redelivers its queued messages.
    A new failure raises EngineError; the caller records it on the instance."""
    if not actor.holds(Role.PARTY_OFFICE, None):
        raise NotAllowed()
    instance = process_instances.get_instance(session, instance_id)
    if instance.status != InstanceStatus.ERROR:
        raise Conflict(N_("This instance has no error to retry."))
    previous = instance.error
    workflow = process_instances.load_workflow(session, instance)

    def step() -> None:
        workflow.refresh_timers()
        workflow.do_engine_steps()

    process_instances.run(session, instance, actor.user_id, step)
    process_instances.save(session, instance, workflow)
    audit.record(session, "process.retried", actor_user_id=actor.user_id, object_type="process_instance",
                 object_id=instance.id, instance_id=instance.id, quarter_id=instance.quarter_id,
                 branch_id=instance.branch_id, data={"error": (previous or "")[:1000], "steps": instance.current_steps})
    return instance


# --- Charts' data ------------------------------------------------------------------------------------------


@dataclass
class Series:
    """A chart's data: labels along the x axis and one list of values per dataset."""

    title: str
    labels: list[str]
    datasets: dict[str, list[float | int | None]]
    unit: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "labels": self.labels, "unit": self.unit,
                "datasets": [{"label": k, "data": v} for k, v in self.datasets.items()], **self.extra}

    def rows(self) -> list[list[Any]]:
        """The same data as a table: one row per label (CSV)."""
        header = [""] + list(self.datasets)
        return [header] + [[label] + [self.datasets[k][i] for k in self.datasets] for i, label in enumerate(self.labels)]


def _scope_evaluations(query: Select[Any], visible: set[int] | None, unit_id: int | None = None) -> Select[Any]:
    if visible is not None:
        query = query.where(Evaluation.branch_id.in_(visible or {-1}))
    if unit_id is not None:
        query = query.where(Evaluation.branch_id.in_(_branches_of_unit(unit_id)))
    return query


def completion_by_step(session: Session, visible: set[int] | None, quarter_id: int, zone: tzinfo,
                       process_key: str = "person_quarter") -> Series:
    """Per step of a quarter's process: tasks completed so far, day by day (cumulative)."""
    query = select(HT.bpmn_id, HT.state, HT.completed_at).join(PI, PI.id == HT.instance_id).where(
        HT.quarter_id == quarter_id, HT.process_key == process_key, HT.state != TaskState.CANCELLED.value)
    rows = list(session.execute(scope_instances(query, visible, Filters())))
    names = step_names(session, [process_key]).get(process_key, {})
    per_day: dict[str, Counter[date]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    for bpmn_id, state, completed_at in rows:
        totals[bpmn_id] += 1
        if state == TaskState.COMPLETED and completed_at is not None:
            per_day[bpmn_id][completed_at.astimezone(zone).date()] += 1
    days = sorted({d for c in per_day.values() for d in c})
    if days:
        span = (days[-1] - days[0]).days
        days = [days[0] + timedelta(days=i) for i in range(span + 1)]
    order = [s for s in names if s in totals] + sorted(s for s in totals if s not in names)
    datasets: dict[str, list[float | int | None]] = {}
    for step in order:
        running, values = 0, []
        for day in days:
            running += per_day[step].get(day, 0)
            values.append(running)
        datasets[names.get(step, step)] = values
    return Series("completion_by_step", [d.isoformat() for d in days], datasets, unit="tasks",
                  extra={"totals": {names.get(s, s): totals[s] for s in order}})


def _nice_width(low: float, high: float, bins: int = 12) -> float:
    raw = max((high - low) / bins, 0.5)
    magnitude = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 5, 10):
        if raw <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def _quarter_labels(session: Session, ids: Iterable[int]) -> dict[int, str]:
    return {q.id: q.label + ("" if q.unit_id is None else f" #{q.unit_id}")
            for q in session.scalars(select(Quarter).where(Quarter.id.in_(list(ids))))}


def score_distribution(session: Session, visible: set[int] | None, quarter_ids: list[int],
                       unit_id: int | None = None) -> Series:
    """How many members scored in each band, one dataset per quarter."""
    query = _scope_evaluations(select(Evaluation.quarter_id, Evaluation.score).where(
        Evaluation.quarter_id.in_(quarter_ids or [-1]), Evaluation.score.is_not(None)), visible, unit_id)
    rows = [(q, float(s)) for q, s in session.execute(query)]
    labels = _quarter_labels(session, quarter_ids)
    if not rows:
        return Series("score_distribution", [], {labels.get(q, str(q)): [] for q in quarter_ids}, unit="members")
    low, high = min(s for _, s in rows), max(s for _, s in rows)
    width = _nice_width(low, high)
    start = math.floor(low / width) * width
    count = max(1, int(math.floor((high - start) / width)) + 1)
    bands = [start + i * width for i in range(count)]
    datasets: dict[str, list[float | int | None]] = {}
    for q in quarter_ids:
        hist = [0] * count
        for qid, score in rows:
            if qid == q:
                hist[min(int((score - start) // width), count - 1)] += 1
        datasets[labels.get(q, str(q))] = hist
    return Series("score_distribution", [f"{plain(b)}–{plain(b + width)}" for b in bands], datasets, unit="members",
                  extra={"width": width})




@dataclass
class BranchStats:
    branch_id: int
    name: str
    unit: str
    count: int
    mean: float | None
    spread: float | None  # population standard deviation
    low: float | None
    high: float | None
    median: float | None
    excellent: int = 0
    passed: int = 0
    failed: int = 0


def branch_stats(session: Session, visible: set[int] | None, quarter_id: int, unit_id: int | None = None) -> list[BranchStats]:
    """Per branch of a quarter: how many scored, mean and spread of their scores, grades."""
    query = _scope_evaluations(select(Evaluation.branch_id, Evaluation.score, Evaluation.grade).where(
        Evaluation.quarter_id == quarter_id), visible, unit_id)
    scores: dict[int, list[float]] = defaultdict(list)
    grades: dict[int, Counter[str]] = defaultdict(Counter)
    for branch_id, score, grade in session.execute(query):
        if score is not None:
            scores[branch_id].append(float(score))
        if grade:
            grades[branch_id][grade] += 1
    branches = {b: (n, u) for b, n, u in session.execute(select(Branch.id, Branch.name, Unit.name).join(
        Unit, Unit.id == Branch.unit_id).where(Branch.id.in_(set(scores) | set(grades) or {-1})))}
    out = []
    for branch_id in sorted(branches, key=lambda b: (branches[b][1], branches[b][0])):
        values = scores.get(branch_id, [])
        out.append(BranchStats(
            branch_id, branches[branch_id][0], branches[branch_id][1], len(values),
            round(statistics.fmean(values), 2) if values else None,
            round(statistics.pstdev(values), 2) if values else None,
            min(values) if values else None, max(values) if values else None,
            round(statistics.median(values), 2) if values else None,
            grades[branch_id].get("excellent", 0), grades[branch_id].get("pass", 0), grades[branch_id].get("fail", 0)))
    return out


def branch_comparison(stats: list[BranchStats]) -> Series:
    """Mean score per branch with its spread (± one standard deviation) and range."""
    return Series("branch_comparison", [s.name for s in stats], {
        "mean": [s.mean for s in stats], "spread": [s.spread for s in stats],
        "low": [s.low for s in stats], "high": [s.high for s in stats], "members": [s.count for s in stats]},
        unit="points")


def grade_counts(stats: list[BranchStats]) -> Series:
    """Excellent, pass and below-the-line counts per branch."""
    return Series("grade_counts", [s.name for s in stats], {
        "excellent": [s.excellent for s in stats], "pass": [s.passed for s in stats],
        "fail": [s.failed for s in stats]}, unit="members")


def grade_trend(session: Session, visible: set[int] | None, quarter_ids: list[int], unit_id: int | None = None) -> Series:
    """Excellent, pass and below-the-line counts per quarter."""
    query = _scope_evaluations(select(Evaluation.quarter_id, Evaluation.grade, func.count()).where(
        Evaluation.quarter_id.in_(quarter_ids or [-1]), Evaluation.grade.is_not(None)).group_by(
        Evaluation.quarter_id, Evaluation.grade), visible, unit_id)
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for q, grade, n in session.execute(query):
        counts[q][grade] = n
    labels = _quarter_labels(session, quarter_ids)
    ordered = sorted(quarter_ids, key=lambda q: labels.get(q, ""))
    return Series("grade_trend", [labels.get(q, str(q)) for q in ordered], {
        g: [counts[q].get(g, 0) for q in ordered] for g in ("excellent", "pass", "fail")}, unit="members")


# --- Reviewer consistency (统一标准、统一尺度) -------------------------------------------------------------------

REVIEWED_CLAIMS = (ClaimStatus.ACCEPTED.value, ClaimStatus.ADJUSTED.value, ClaimStatus.REJECTED.value)
MIN_REVIEWED = 3  # branches with fewer reviewed members are shown but never flagged


@dataclass
class Consistency:
    branch_id: int
    name: str
    unit: str
    reviewed: int = 0  # evaluations with a self score and a reviewed score
    mean_change: float | None = None  # mean of (reviewed − self)
    mean_abs_change: float | None = None
    moved: int = 0  # evaluations whose score changed at review
    claims: int = 0  # claims declared by members (or recorded for them) and decided
    adjusted: int = 0
    rejected: int = 0
    added: int = 0  # deductions or bonuses added by reviewers
    flag: str = ""  # "harsh" | "lenient" | ""

    @property
    def adjusted_rate(self) -> float | None:
        return round(self.adjusted / self.claims, 3) if self.claims else None

    @property
    def rejected_rate(self) -> float | None:
        return round(self.rejected / self.claims, 3) if self.claims else None

    @property
    def change_rate(self) -> float | None:
        return round((self.adjusted + self.rejected) / self.claims, 3) if self.claims else None


@dataclass
class ConsistencyReport:
    rows: list[Consistency]
    mean_change: float | None
    change_rate: float | None
    tolerance_change: float
    tolerance_rate: float


def reviewer_consistency(session: Session, visible: set[int] | None, quarter_id: int) -> ConsistencyReport:
    """Per branch: how far reviewed scores move from self scores and how often claims are adjusted
    or rejected; a branch more than one spread (at least 1 point / 10 points of rate) away from the
    others is flagged harsher or more lenient."""
    ev_query = _scope_evaluations(select(Evaluation.branch_id, Evaluation.self_score, Evaluation.score).where(
        Evaluation.quarter_id == quarter_id, Evaluation.self_score.is_not(None), Evaluation.score.is_not(None)), visible)
    claim_query = _scope_evaluations(select(Evaluation.branch_id, Claim.source, Claim.status, func.count()).join(
        Claim, Claim.evaluation_id == Evaluation.id).where(Evaluation.quarter_id == quarter_id).group_by(
        Evaluation.branch_id, Claim.source, Claim.status), visible)
    changes: dict[int, list[float]] = defaultdict(list)
    for branch_id, self_score, score in session.execute(ev_query):
        changes[branch_id].append(float(Decimal(score) - Decimal(self_score)))
    claims: dict[int, Counter[str]] = defaultdict(Counter)
    for branch_id, source, status, n in session.execute(claim_query):
        if source in (ClaimSource.SELF.value, ClaimSource.BRANCH.value) and status in REVIEWED_CLAIMS:
            claims[branch_id]["claims"] += n
            claims[branch_id][status] += n
        elif source == ClaimSource.REVIEW.value and status != ClaimStatus.REVOKED.value:
            claims[branch_id]["added"] += n
    ids = set(changes) | set(claims)
    branches = {b: (n, u) for b, n, u in session.execute(select(Branch.id, Branch.name, Unit.name).join(
        Unit, Unit.id == Branch.unit_id).where(Branch.id.in_(ids or {-1})))}
    rows = []
    for branch_id in sorted(branches, key=lambda b: (branches[b][1], branches[b][0])):
        values, c = changes.get(branch_id, []), claims.get(branch_id, Counter())
        rows.append(Consistency(
            branch_id, branches[branch_id][0], branches[branch_id][1], len(values),
            round(statistics.fmean(values), 2) if values else None,
            round(statistics.fmean(abs(v) for v in values), 2) if values else None,
            sum(1 for v in values if v), c["claims"], c[ClaimStatus.ADJUSTED.value], c[ClaimStatus.REJECTED.value],
            c["added"]))
    all_changes = [v for vs in changes.values() for v in vs]
    total_claims = sum(r.claims for r in rows)
    pooled_change = round(statistics.fmean(all_changes), 2) if all_changes else None
    pooled_rate = round(sum(r.adjusted + r.rejected for r in rows) / total_claims, 3) if total_claims else None
    means = [r.mean_change for r in rows if r.mean_change is not None and r.reviewed >= MIN_REVIEWED]
    rates = [r.change_rate for r in rows if r.change_rate is not None and r.reviewed >= MIN_REVIEWED]
    tol_change = max(statistics.pstdev(means) if len(means) > 1 else 0.0, 1.0)
    tol_rate = max(statistics.pstdev(rates) if len(rates) > 1 else 0.0, 0.1)
    for r in rows:
        if r.reviewed < MIN_REVIEWED or len(rows) < 2:
            continue
        harsh = (pooled_change is not None and r.mean_change is not None and r.mean_change < pooled_change - tol_change) \
            or (pooled_rate is not None and r.change_rate is not None and r.change_rate > pooled_rate + tol_rate)
        lenient = (pooled_change is not None and r.mean_change is not None and r.mean_change > pooled_change + tol_change) \
            or (pooled_rate is not None and r.change_rate is not None and r.change_rate < pooled_rate - tol_rate)
        r.flag = "harsh" if harsh else "lenient" if lenient else ""
    return ConsistencyReport(rows, pooled_change, pooled_rate, round(tol_change, 2), round(tol_rate, 3))


def consistency_series(report: ConsistencyReport) -> Series:
    rows = report.rows
    return Series("reviewer_consistency", [r.name for r in rows], {
        "mean_change": [r.mean_change for r in rows], "mean_abs_change": [r.mean_abs_change for r in rows],
        "adjusted_rate": [r.adjusted_rate for r in rows], "rejected_rate": [r.rejected_rate for r in rows],
        "reviewed": [r.reviewed for r in rows], "claims": [r.claims for r in rows], "added": [r.added for r in rows]},
        unit="points", extra={"flags": [r.flag for r in rows], "bureau_mean_change": report.mean_change,
                              "bureau_change_rate": report.change_rate})


def quarters(session: Session) -> list[Quarter]:
    return list(session.scalars(select(Quarter).order_by(Quarter.year.desc(), Quarter.quarter.desc(), Quarter.id)))


def visible_branches(session: Session, visible: set[int] | None) -> list[tuple[int, str, int, str]]:
    """(branch id, name, unit id, unit name) the viewer may pick."""
    query = select(Branch.id, Branch.name, Unit.id, Unit.name).join(Unit, Unit.id == Branch.unit_id).order_by(
        Unit.sort, Unit.id, Branch.sort, Branch.id)
    if visible is not None:
        query = query.where(Branch.id.in_(visible or {-1}))
    return [tuple(r) for r in session.execute(query)]  # type: ignore[misc]

