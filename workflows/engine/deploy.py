"""Deploying BPMN files as immutable, hashed process versions.

A file is deployed only when `checks.check` finds no error in it (the same check the designer and
`flask bpmn validate` run); then each process in the file is stored once per content hash as a new
version, and its parsed spec is kept in memory for every instance of it. Running instances stay on
their version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import audit
from models.process import ProcessVersion
from workflows.engine import checks, spiff

# Parsed specs by (content hash, process id): versions never change, so neither do these.
_cache: dict[tuple[str, str], spiff.ParsedProcess] = {}


def content_hash(xml: bytes | str) -> str:
    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    return hashlib.sha256(raw).hexdigest()


def thrown_messages(session: Session) -> set[str]:
    """Messages thrown by the latest version of every deployed process."""
    names: set[str] = set()
    for version in latest_versions(session).values():
        names |= set((version.meta or {}).get("throws", {}).values())
    return names


def deploy(session: Session, xml: bytes | str, filename: str, *, actor_user_id: int | None,
           comment: str = "", also_thrown: Iterable[str] = ()) -> tuple[list[ProcessVersion], checks.Validation]:
    """Validate and store each process of the file as a new version (or return the existing one
    when the same content is already deployed). Nothing is stored when validation fails.

    `also_thrown`: messages thrown by files deployed together with this one (the shipped set).
    """
    result = checks.check(xml, filename, known_messages=thrown_messages(session) | set(also_thrown))
    if not result.ok:
        return [], result
    raw = result.raw
    digest = content_hash(raw)
    text = raw.decode("utf-8")
    versions = []
    for pid, meta in result.processes.items():
        existing = session.scalar(
            select(ProcessVersion).where(ProcessVersion.process_key == pid, ProcessVersion.content_hash == digest)
        )
        if existing is not None:
            versions.append(existing)
            continue
        number = (session.scalar(select(func.max(ProcessVersion.version)).where(ProcessVersion.process_key == pid)) or 0) + 1
        version = ProcessVersion(process_key=pid, name=meta["name"], version=number, content_hash=digest,
                                 filename=Path(filename).name, bpmn_xml=text, meta=meta,
                                 deployed_by=actor_user_id, comment=comment)
        session.add(version)
        session.flush()
        _cache[(digest, pid)] = result.parsed[pid]
        audit.record(session, "process.deployed", actor_user_id=actor_user_id, object_type="process_version",
                     object_id=version.id, data={"process": pid, "version": number, "hash": digest, "file": filename})
        versions.append(version)
    return versions, result


def deploy_shipped(session: Session, directory: str, actor_user_id: int | None) -> list[ProcessVersion]:
    """Deploy every bpmn/*.bpmn file whose content is not deployed yet (at start-up, `bpmn deploy`).

    The shipped files are one set: they wait for each other's messages, so each is validated
    knowing what the others throw. Any file that does not validate stops the whole deployment.
    """
    files = sorted(Path(directory).glob("*.bpmn"))
    contents = {path.name: path.read_bytes() for path in files}
    thrown: set[str] = set()
    for name, raw in contents.items():
        for meta in checks.validate(raw, name).processes.values():
            thrown |= set(meta["throws"].values())
    deployed: list[ProcessVersion] = []
    failures = []
    for name, raw in contents.items():
        versions, result = deploy(session, raw, name, actor_user_id=actor_user_id, comment="shipped",
                                  also_thrown=thrown)
        if not versions:
            failures.append(f"{name}: " + ", ".join(str(x) for x in result.errors))
        deployed.extend(versions)
    if failures:
        raise ValueError("shipped BPMN files do not validate: " + "; ".join(failures))
    return deployed


def latest_versions(session: Session) -> dict[str, ProcessVersion]:
    newest = select(ProcessVersion.process_key, func.max(ProcessVersion.version).label("v")).group_by(
        ProcessVersion.process_key).subquery()
    rows = session.scalars(select(ProcessVersion).join(
        newest, (ProcessVersion.process_key == newest.c.process_key) & (ProcessVersion.version == newest.c.v)))
    return {v.process_key: v for v in rows}


def latest_version(session: Session, process_key: str) -> ProcessVersion:
    version = session.scalar(select(ProcessVersion).where(ProcessVersion.process_key == process_key)
                             .order_by(ProcessVersion.version.desc()).limit(1))
    if version is None:
        raise LookupError(f"process {process_key!r} is not deployed (run `flask --app webapp bpmn deploy`)")
    return version


def parsed(version: ProcessVersion) -> spiff.ParsedProcess:
    """The parsed spec of a version, parsed once per process and kept (versions never change)."""
    key = (version.content_hash, version.process_key)
    found = _cache.get(key)
    if found is None:
        for pid, parsed_process in spiff.parse(version.bpmn_xml, version.filename or "process.bpmn").items():
            _cache[(version.content_hash, pid)] = parsed_process
        found = _cache[key]
    return found


def clear_cache() -> None:
    _cache.clear()
