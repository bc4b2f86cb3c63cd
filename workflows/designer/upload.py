"""An uploaded or modelled BPMN file before it becomes a version: the file's problems (the one
check of `workflows.engine.checks`) and, per process in it, the version it would follow and what
changes; then its deployment by the designer."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.permissions import Principal, can
from models.process import ProcessVersion
from workflows.designer.compare import Comparison, compare
from workflows.engine import checks, deploy, spiff
from workflows.errors import NotAllowed, ValidationFailed
from workflows.i18n import N_


@dataclass
class ProcessCheck:
    """One process of an uploaded file, next to what is deployed."""

    process_key: str
    name: str
    latest: ProcessVersion | None
    same_as: ProcessVersion | None  # this exact content is already deployed as that version
    comparison: Comparison | None
    parsed: spiff.ParsedProcess | None
    names: dict[str, str] = field(default_factory=dict)  # element id -> name, in this file

@dataclass
class UploadCheck:
    digest: str
    filename: str
    raw: bytes
    problems: list[checks.Problem]
    processes: list[ProcessCheck]
    normalized: bool = False

    @property
    def errors(self) -> list[checks.Problem]:
        return [p for p in self.problems if not p.warning]

    @property
    def warnings(self) -> list[checks.Problem]:
        return [p for p in self.problems if p.warning]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def deployable(self) -> bool:
        return self.ok and any(p.same_as is None for p in self.processes)


def check_upload(session: Session, raw: bytes, filename: str = "process.bpmn") -> UploadCheck:
    """Everything the designer needs to decide before a deployment: the file's problems (each
    naming its element), and per process the version it would follow and what changes."""
    result = checks.check(raw, filename, known_messages=deploy.thrown_messages(session))
    fixed = result.raw
    digest = deploy.content_hash(fixed)
    found = []
    for pid, meta in result.processes.items():
        latest = session.scalar(select(ProcessVersion).where(ProcessVersion.process_key == pid)
                                .order_by(ProcessVersion.version.desc()).limit(1))
        same = session.scalar(select(ProcessVersion).where(ProcessVersion.process_key == pid,
                                                           ProcessVersion.content_hash == digest))
        comparison = compare(latest.bpmn_xml, fixed, pid) if latest is not None else None
        found.append(ProcessCheck(pid, meta["name"], latest, same, comparison, result.parsed.get(pid),
                                  dict(meta.get("names", {}))))
    return UploadCheck(digest, filename, fixed, result.problems, found, normalized=fixed != raw)


def deploy_upload(session: Session, actor: Principal, raw: bytes, filename: str, comment: str = "") -> list[ProcessVersion]:
    """Deploy a file as new versions (the designer's "Deploy"). Refuses with the file's problems
    when it does not pass the check."""
    if not can(actor, "process.design"):
        raise NotAllowed()
    versions, result = deploy.deploy(session, raw, filename, actor_user_id=actor.user_id, comment=comment.strip()[:500])
    if not versions:
        raise ValidationFailed(N_("The file has problems; nothing was deployed."),
                               field_errors={"file": [str(p) for p in result.errors]})
    return versions
