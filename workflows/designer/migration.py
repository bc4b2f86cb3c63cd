"""Moving running instances onto a newer version of their process when it is safe.

Migration follows SpiffWorkflow's diff (`SpiffWorkflow.bpmn.util.diff`): the instance's state is
loaded on its own version, diffed against the new spec, and moved with the library's
`migrate_workflow` when nothing it has already done (or is doing) was removed or structurally
changed. Steps where it waits are reset and predicted again from the new spec, keeping their task
ids, so the inbox rows stay theirs. Each move runs under the instance's compare-and-set lock and is
recorded in the audit log; a dry run says, per instance, what would move and why not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, diff_dependencies, migrate_workflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from models import audit
from models.permissions import Principal, can
from models.process import HumanTask, InstanceStatus, ProcessInstance, ProcessVersion, Timer
from models.process import TaskState as RowState
from workflows.designer import replay
from workflows.engine import access, deploy, instances, mirrors, spiff
from workflows.errors import NotAllowed, NotFound, ValidationFailed
from workflows.i18n import N_

# --- Migrating instances -----------------------------------------------------------------------------------

# Attributes of a finished step that say nothing about where an instance goes next.
DESCRIPTIVE = {"bpmn_name", "description", "documentation", "extensions", "lane"}
DONE = TaskState.COMPLETED | TaskState.STARTED
CURRENT = TaskState.READY | TaskState.WAITING
DEFINITE = DONE | CURRENT | TaskState.ERROR


@dataclass
class Reason:
    """Why an instance cannot move (a code the page explains) and about which step."""

    code: str
    step: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class MigrationCheck:
    instance_id: int
    from_version: int
    to_version: int
    reasons: list[Reason] = field(default_factory=list)
    steps_before: list[str] = field(default_factory=list)
    steps_after: list[str] = field(default_factory=list)

    @property
    def movable(self) -> bool:
        return not self.reasons


def _step_name(spec: Any) -> str:
    return getattr(spec, "bpmn_id", None) or spec.name


class _Planner:
    """Diffs of the specs are computed once per pair of versions; instances are checked one by one."""

    def __init__(self, session: Session, target: ProcessVersion) -> None:
        self.session = session
        self.target = target
        self.new = deploy.parsed(target)
        self._diffs: dict[int, tuple[SpecDiff, dict[str, SpecDiff | None]]] = {}

    def spec_diffs(self, old: spiff.ParsedProcess, version_id: int) -> tuple[SpecDiff, dict[str, SpecDiff | None]]:
        if version_id not in self._diffs:
            top = SpecDiff(spiff.REGISTRY, old.spec, self.new.spec)
            deps, _added = diff_dependencies(spiff.REGISTRY, old.subprocess_specs, self.new.subprocess_specs)
            self._diffs[version_id] = (top, deps)
        return self._diffs[version_id]

    def prepare(self, instance: ProcessInstance) -> tuple[MigrationCheck, Any]:
        """Check one instance and, when it can move, return its workflow already moved (in memory)."""
        version = self.session.get(ProcessVersion, instance.process_version_id)
        assert version is not None
        check = MigrationCheck(instance.id, version.version, self.target.version,
                               steps_before=(instance.current_steps or "").split())
        if instance.process_key != self.target.process_key:
            check.reasons.append(Reason("other_process"))
        elif version.id == self.target.id:
            check.reasons.append(Reason("same_version"))
        elif version.version > self.target.version:
            check.reasons.append(Reason("older_target"))
        if instance.status not in (InstanceStatus.RUNNING, InstanceStatus.ERROR):
            check.reasons.append(Reason("not_running", params={"status": instance.status}))
        if check.reasons:
            return check, None
        old = deploy.parsed(version)
        workflow = spiff.load_state(instance.state, old)
        top, deps = self.spec_diffs(old, version.id)
        top_diff = WorkflowDiff(workflow, top)
        sub_diffs: dict[Any, WorkflowDiff | None] = {}
        for sp_id, sub in workflow.subprocesses.items():
            dep = deps.get(sub.spec.name)
            sub_diffs[sp_id] = WorkflowDiff(sub, dep) if dep is not None else None
            if dep is None:
                check.reasons.append(Reason("subprocess_removed", sub.spec.name))
        for diff, spec_diff in [(top_diff, top)] + [(d, deps.get(workflow.subprocesses[i].spec.name))
                                                   for i, d in sub_diffs.items() if d is not None]:
            check.reasons += _blockers(diff, spec_diff)
        if check.reasons:
            return check, None
        migrate_workflow(top_diff, workflow, self.new.spec)
        for sp_id, sub in workflow.subprocesses.items():
            migrate_workflow(sub_diffs[sp_id], sub, self.new.subprocess_specs[sub.spec.name])
        workflow.subprocess_specs = self.new.subprocess_specs
        specs = {id(s) for s in self.new.spec.task_specs.values()}
        for sub in self.new.subprocess_specs.values():
            specs |= {id(s) for s in sub.task_specs.values()}
        for task in workflow.get_tasks():
            if id(task.task_spec) not in specs:
                check.reasons.append(Reason("unaligned", _step_name(task.task_spec)))
                return check, None
        try:
            spiff.load_state(spiff.dump_state(workflow), self.new)
        except Exception as e:  # noqa: BLE001 - a state the new spec cannot read must never be saved
            check.reasons.append(Reason("would_fail", params={"error": instances.engine_message(e)}))
            return check, None
        return check, workflow


def _blockers(diff: WorkflowDiff, spec_diff: SpecDiff) -> list[Reason]:
    """SpiffWorkflow's rule of thumb, slightly relaxed: a step the instance has done, is doing or
    waits at must still exist; a step it has done may change only in what it is called, its
    lane and its properties; a step where it waits may change anything but its kind."""
    reasons = []
    for task in diff.removed:
        if task.state & DEFINITE:
            reasons.append(Reason("removed_step", _step_name(task.task_spec),
                                  {"state": TaskState.get_name(task.state)}))
    changed = spec_diff.changed
    for task in diff.changed:
        fields = set(changed.get(task.task_spec, ()))
        if task.state & DONE and fields - DESCRIPTIVE:
            reasons.append(Reason("changed_done_step", _step_name(task.task_spec),
                                  {"fields": ", ".join(sorted(fields - DESCRIPTIVE))}))
        elif task.state & CURRENT and "typename" in fields:
            reasons.append(Reason("changed_kind", _step_name(task.task_spec)))
    seen: set[tuple[str, str | None]] = set()
    unique = []
    for r in reasons:
        if (r.code, r.step) not in seen:
            seen.add((r.code, r.step))
            unique.append(r)
    return unique


def _target(session: Session, version_id: int) -> ProcessVersion:
    target = session.get(ProcessVersion, version_id)
    if target is None:
        raise NotFound()
    return target


def candidates(session: Session, process_key: str, target: ProcessVersion, *, from_version_id: int | None = None,
               quarter_id: int | None = None, limit: int = 1000) -> list[ProcessInstance]:
    """Running (or failed) instances of a process on versions older than `target`."""
    query = (select(ProcessInstance).join(ProcessVersion, ProcessVersion.id == ProcessInstance.process_version_id)
             .where(ProcessInstance.process_key == process_key, ProcessVersion.version < target.version,
                    ProcessInstance.status.in_((InstanceStatus.RUNNING.value, InstanceStatus.ERROR.value))))
    if from_version_id is not None:
        query = query.where(ProcessInstance.process_version_id == from_version_id)
    if quarter_id is not None:
        query = query.where(ProcessInstance.quarter_id == quarter_id)
    return list(session.scalars(query.order_by(ProcessInstance.id).limit(limit)))


def dry_run(session: Session, actor: Principal, instance_ids: list[int], to_version_id: int) -> list[MigrationCheck]:
    """What would move and what cannot (with the reason), without changing anything. A movable
    instance is also run one step on the new version with stubbed service tasks, to say where it
    would then stand."""
    if not can(actor, "process.design"):
        raise NotAllowed()
    planner = _Planner(session, _target(session, to_version_id))
    checks = []
    by_id = {i.id: i for i in session.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(instance_ids)))}
    for instance_id in instance_ids:
        instance = by_id.get(instance_id)
        if instance is None:
            continue
        check, workflow = planner.prepare(instance)
        if workflow is not None:
            workflow.script_engine = replay.StubEngine({})
            try:
                workflow.do_engine_steps()
            except Exception as e:  # noqa: BLE001
                check.reasons.append(Reason("would_fail", params={"error": instances.engine_message(e)}))
            else:
                check.steps_after = replay.current_steps(workflow)
                if not check.steps_after and not workflow.is_completed():
                    check.reasons.append(Reason("would_stick"))
        checks.append(check)
    return checks


class MigrationRefused(ValidationFailed):
    """This instance cannot move to that version."""

    def __init__(self, check: MigrationCheck) -> None:
        super().__init__(N_("This instance cannot move to that version."))
        self.check = check


def migrate_instance(session: Session, actor: Principal, instance_id: int, to_version_id: int) -> MigrationCheck:
    """Move one instance onto a newer version of its process, under its lock; audited."""
    if not can(actor, "process.design"):
        raise NotAllowed()
    target = _target(session, to_version_id)
    instance = instances.get_instance(session, instance_id)
    from_version_id = instance.process_version_id
    check, workflow = _Planner(session, target).prepare(instance)
    if workflow is None:
        raise MigrationRefused(check)
    workflow.script_engine = spiff.SCRIPT_ENGINE
    instances.run(session, instance, actor.user_id, workflow.do_engine_steps)
    # Timers are re-predicted from the new spec: write their rows afresh.
    session.execute(delete(Timer.__table__).where(Timer.__table__.c.instance_id == instance.id))
    instance.__dict__["timer_tasks"] = ""
    instances.save(session, instance, workflow)
    moved = session.execute(update(instances.PI).where(instances.PI.c.id == instance.id,
                                                     instances.PI.c.lock_version == instance.lock_version)
                            .values(process_version_id=target.id))
    if moved.rowcount != 1:
        raise instances.StaleInstance()
    instance.__dict__["process_version_id"] = target.id
    session.expire(instance, ["version"])
    _refresh_open_tasks(session, instance, workflow)
    check.steps_after = (instance.current_steps or "").split()
    old = session.get(ProcessVersion, from_version_id)
    audit.record(session, "process.migrated", actor_user_id=actor.user_id, object_type="process_instance",
                 object_id=instance.id, instance_id=instance.id, quarter_id=instance.quarter_id,
                 branch_id=instance.branch_id,
                 data={"process": instance.process_key, "from": old.version if old else None, "to": target.version,
                       "from_id": from_version_id, "to_id": target.id, "steps": instance.current_steps})
    return check


def _refresh_open_tasks(session: Session, instance: ProcessInstance, workflow: Any) -> None:
    """Open inbox rows take the new version's name, form, due date and (if the lane moved) pool."""
    for row in session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                       HumanTask.state == RowState.OPEN.value)):
        spiff_task = workflow.get_task_from_id(UUID(row.task_uuid))
        if spiff_task is None:
            continue
        spec = spiff_task.task_spec
        values: dict[str, Any] = {
            "name": spec.bpmn_name or spec.bpmn_id, "bpmn_id": spec.bpmn_id,
            "form_key": mirrors.properties(spec).get("formKey") or spec.bpmn_id, "due_at": mirrors.due_at(spiff_task),
        }
        pool = access.pool_for(session, spec.lane, instance)
        if pool["role"] != row.role:  # the step moved to another lane: its pool changes with it
            values.update(pool)
        for key, value in values.items():
            setattr(row, key, value)
