"""The deployed processes and their versions, with who deployed each and how many instances run on it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.people import Person, User
from models.process import InstanceStatus, ProcessInstance, ProcessVersion


@dataclass
class VersionInfo:
    version: ProcessVersion
    deployed_by: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def live(self) -> int:
        return self.counts.get(InstanceStatus.RUNNING, 0) + self.counts.get(InstanceStatus.ERROR, 0)

@dataclass
class ProcessInfo:
    process_key: str
    name: str
    versions: list[VersionInfo]

    @property
    def latest(self) -> VersionInfo:
        return self.versions[0]

def user_names(session: Session, user_ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.username, User.display_name, Person.name)
                           .outerjoin(Person, Person.id == User.person_id).where(User.id.in_(ids)))
    return {uid: name or display or username for uid, username, display, name in rows}

def versions_overview(session: Session) -> list[ProcessInfo]:
    """Every deployed process with its versions, newest first, and how many instances each runs."""
    versions = list(session.scalars(select(ProcessVersion).order_by(ProcessVersion.process_key,
                                                                    ProcessVersion.version.desc())))
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for version_id, status, n in session.execute(select(ProcessInstance.process_version_id, ProcessInstance.status,
                                                        func.count()).group_by(ProcessInstance.process_version_id,
                                                                               ProcessInstance.status)):
        counts[version_id][status] = n
    names = user_names(session, {v.deployed_by for v in versions})
    out: dict[str, ProcessInfo] = {}
    for v in versions:
        info = out.setdefault(v.process_key, ProcessInfo(v.process_key, v.name, []))
        info.versions.append(VersionInfo(v, names.get(v.deployed_by or 0, ""), counts.get(v.id, {})))
    return sorted(out.values(), key=lambda p: p.process_key)
