"""Starting many alike instances at once (opening a quarter for 20,000 people).

The start of every item differs only in integer ids, so the engine runs the start once with
placeholder ids, and its state is stamped for every item with that item's ids and fresh task ids:
a few bulk inserts instead of one engine run per person. The mirrors come from the same
`mirrors.compute` / `mirrors.task_row` as a single instance's save.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from models import audit
from models.clock import now
from models.db import chunks
from models.people import User
from models.process import HumanTask, InstanceStatus, ProcessInstance, ProcessVersion, Timer
from workflows.engine import access, deploy, instances, mirrors, registry, spiff

PI = ProcessInstance.__table__
_PLACEHOLDER_BASE = -(10**15)  # fixed-width negative integers no real id can equal


@dataclass
class StartItem:
    """One instance of a batch: its own (integer) start data and what it is about."""

    data: dict[str, int]
    quarter_id: int | None = None
    branch_id: int | None = None
    subject_person_id: int | None = None
    object_type: str = ""
    object_id: int | None = None


class _NoInstance:
    def __getattr__(self, name: str) -> Any:
        raise _TemplateUnsafe(name)


class _TemplateUnsafe(Exception):
    """A service task ran while stamping a template: each instance must start on its own."""


@dataclass
class _Template:
    state: str  # the state's JSON with placeholder ids
    pattern: re.Pattern[str]  # matches every task id and placeholder of it
    task_ids: list[str]
    placeholders: dict[str, int]  # start-data key -> its placeholder
    seen: mirrors.Mirrors

    def stamp(self, item: StartItem) -> tuple[bytes, dict[str, str]]:
        """The item's compressed state, and its fresh task ids by the template's."""
        mapping = {t: str(uuid.uuid4()) for t in self.task_ids}
        values = {str(v): str(item.data[k]) for k, v in self.placeholders.items()}

        def swap(match: re.Match[str]) -> str:
            text = match.group(0)
            return mapping.get(text) or values[text]

        return spiff.compress_state(self.pattern.sub(swap, self.state)), mapping


def _template(session: Session, parsed: spiff.ParsedProcess, common: dict[str, Any], keys: list[str],
              actor_user_id: int | None) -> _Template | None:
    """Run the start once with placeholder ids; None when it runs a service task (which needs a
    real instance) and each instance must start on its own."""
    placeholders = {k: _PLACEHOLDER_BASE - i for i, k in enumerate(keys)}
    workflow = spiff.new_workflow(parsed)
    workflow.get_next_task(spec_name="Start").data.update({**common, **placeholders})
    try:
        with spiff.running(spiff.RunContext(session, _NoInstance(), actor_user_id)):
            workflow.do_engine_steps()
    except Exception:  # noqa: BLE001 - includes _TemplateUnsafe wrapped by Spiff
        return None
    if workflow.get_events():
        raise RuntimeError(f"{parsed.process_key} throws messages while starting; start_many cannot stamp it")
    task_ids = [str(t) for t in workflow.tasks]
    for sub in workflow.subprocesses.values():
        task_ids += [str(t) for t in sub.tasks]
    pattern = re.compile("|".join(re.escape(t) for t in task_ids) + "|" +
                         "|".join(re.escape(str(v)) + r"(?![0-9])" for v in placeholders.values()))
    return _Template(spiff.state_json(workflow), pattern, task_ids, placeholders, mirrors.compute(workflow))


def start_many(session: Session, process_key: str, common: dict[str, Any], items: list[StartItem], *,
               actor_user_id: int | None) -> int:
    """Start one instance per item, running the engine once (see the module's docstring); falls
    back to starting each instance on its own when the start runs a service task."""
    if not items:
        return 0
    version = deploy.latest_version(session, process_key)
    template = _template(session, deploy.parsed(version), common, sorted(items[0].data), actor_user_id)
    if template is None:
        for item in items:
            instances.start_process(session, process_key, {**common, **item.data}, quarter_id=item.quarter_id,
                                    branch_id=item.branch_id, subject_person_id=item.subject_person_id,
                                    object_type=item.object_type, object_id=item.object_id,
                                    actor_user_id=actor_user_id)
        return len(items)
    moment = now()
    users = _subject_users(session, items)
    stamped = [template.stamp(item) for item in items]
    seen = template.seen
    rows = [{
        "process_version_id": version.id, "process_key": process_key, "quarter_id": item.quarter_id,
        "branch_id": item.branch_id, "subject_person_id": item.subject_person_id,
        "subject_user_id": users.get(item.subject_person_id), "object_type": item.object_type,
        "object_id": item.object_id, "status": InstanceStatus.RUNNING.value, "state": state,
        "serializer_version": spiff.STATE_FORMAT, "lock_version": 1, "current_steps": seen.current_steps,
        "open_tasks": " ".join(mapping[u] for u in seen.ready),
        "timer_tasks": " ".join(mapping[u] for u in seen.timers),
        "waiting_messages": seen.waiting_messages, "step_status": seen.step_status,
        "created_at": moment, "updated_at": moment,
    } for item, (state, mapping) in zip(items, stamped, strict=True)]
    ids = list(session.scalars(insert(PI).returning(PI.c.id, sort_by_parameter_order=True), rows))
    _insert_mirrors(session, version, template, items, ids, [m for _, m in stamped], users, moment)
    _mirror_statuses(session, items, seen.step_status)
    audit.record(session, "process.started_many", actor_user_id=actor_user_id, object_type="process_version",
                 object_id=version.id, quarter_id=items[0].quarter_id,
                 data={"process": process_key, "version": version.version, "count": len(items)})
    return len(items)


def _subject_users(session: Session, items: list[StartItem]) -> dict[int, int]:
    """The active account of each item's person."""
    users: dict[int, int] = {}
    subjects = [i.subject_person_id for i in items if i.subject_person_id]
    for chunk in chunks(subjects):
        users.update(session.execute(select(User.person_id, User.id).where(
            User.person_id.in_(chunk), User.active.is_(True))).all())
    return users


def _insert_mirrors(session: Session, version: ProcessVersion, template: _Template, items: list[StartItem],
                    ids: list[int], maps: list[dict[str, str]], users: dict[int, int], moment: Any) -> None:
    """The human-task and timer rows of every new instance (pools computed once per lane, branch
    and subject)."""
    task_rows, timer_rows = [], []
    pools: dict[tuple[str | None, int | None, int | None], dict[str, Any]] = {}
    for instance_id, item, mapping in zip(ids, items, maps, strict=True):
        for uuid_, task in template.seen.ready.items():
            key = (task.task_spec.lane, item.branch_id, item.subject_person_id)
            if key not in pools:
                stub = ProcessInstance(branch_id=item.branch_id, subject_person_id=item.subject_person_id,
                                       subject_user_id=users.get(item.subject_person_id))
                pools[key] = access.pool_for(session, task.task_spec.lane, stub)
            task_rows.append(mirrors.task_row(task, task_uuid=mapping[uuid_], instance_id=instance_id,
                                              process_key=version.process_key, quarter_id=item.quarter_id,
                                              subject_person_id=item.subject_person_id, pool=pools[key],
                                              moment=moment))
        for uuid_, (bpmn_id, due) in template.seen.timers.items():
            timer_rows.append({"instance_id": instance_id, "task_uuid": mapping[uuid_], "bpmn_id": bpmn_id,
                               "due_at": due})
    if task_rows:
        session.execute(insert(HumanTask.__table__), task_rows)
    if timer_rows:
        session.execute(insert(Timer.__table__), timer_rows)


def _mirror_statuses(session: Session, items: list[StartItem], step_status: str) -> None:
    """The business objects' status follows the step the new instances wait at."""
    if not step_status:
        return
    by_type: dict[str, list[int]] = {}
    for item in items:
        if item.object_id is not None and registry.status_model(item.object_type) is not None:
            by_type.setdefault(item.object_type, []).append(item.object_id)
    for object_type, object_ids in by_type.items():
        table = registry.status_model(object_type).__table__
        for chunk in chunks(object_ids):
            session.execute(update(table).where(table.c.id.in_(chunk)).values(status=step_status))
