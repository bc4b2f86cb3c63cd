"""Services for the shape of the bureau: the bureau itself, kinds of unit, units and party branches."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import audit
from models.org import Branch, Bureau, Unit, UnitKind
from models.people import Person
from models.permissions import Principal
from workflows.errors import Conflict
from workflows.i18n import N_
from workflows.org.common import Errors, apply_changes, flip, get, raise_if, require, require_admin, taken

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
KIND_CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def bureau(session: Session) -> Bureau:
    """The one bureau (created on first use)."""
    found = session.scalar(select(Bureau).order_by(Bureau.id).limit(1))
    if found is None:
        found = Bureau(name="Bureau", short_name="")
        session.add(found)
        session.flush()
    return found


def unit_kinds(session: Session) -> list[UnitKind]:
    return list(session.scalars(select(UnitKind).order_by(UnitKind.sort, UnitKind.id)))


def units(session: Session) -> list[Unit]:
    return list(session.scalars(select(Unit).order_by(Unit.sort, Unit.id)))


def branches(session: Session) -> list[Branch]:
    return list(session.scalars(select(Branch).join(Unit).order_by(Unit.sort, Branch.sort, Branch.id)))


# --- Unit kinds ---------------------------------------------------------------------------------

def _kind_errors(session: Session, name: str, kind_id: int | None) -> Errors:
    errors: Errors = {}
    require(errors, name=name)
    if name and taken(session, UnitKind, "name", name, kind_id):
        errors.setdefault("name", []).append(N_("Another kind has this name."))
    return errors


def create_unit_kind(session: Session, actor: Principal, *, code: str, name: str, name_en: str = "") -> UnitKind:
    """Add a kind of unit (each kind has its own evaluation form in the catalogue)."""
    require_admin(actor)
    code, name, name_en = (code or "").strip(), (name or "").strip(), (name_en or "").strip()
    errors = _kind_errors(session, name, None)
    if not KIND_CODE_PATTERN.match(code):
        errors.setdefault("code", []).append(N_("Use 2 to 40 lower-case letters, digits and _; start with a letter."))
    elif taken(session, UnitKind, "code", code, None):
        errors.setdefault("code", []).append(N_("This code is taken."))
    raise_if(errors)
    sort = (session.scalar(select(func.max(UnitKind.sort))) or 0) + 1
    kind = UnitKind(code=code, name=name, name_en=name_en, sort=sort)
    session.add(kind)
    session.flush()
    audit.record(session, "unit_kind.created", actor_user_id=actor.acting_user_id, object_type="unit_kind",
                 object_id=kind.id, data={"code": code, "name": name})
    return kind


def rename_unit_kind(session: Session, actor: Principal, kind_id: int, *, name: str, name_en: str = "") -> UnitKind:
    """Change the names of a kind (its code, which the catalogue refers to, stays)."""
    require_admin(actor)
    kind = get(session, UnitKind, kind_id)
    name, name_en = (name or "").strip(), (name_en or "").strip()
    raise_if(_kind_errors(session, name, kind.id))
    changes = apply_changes(kind, {"name": name, "name_en": name_en})
    if changes:
        audit.record(session, "unit_kind.renamed", actor_user_id=actor.acting_user_id, object_type="unit_kind",
                     object_id=kind.id, data=changes)
    return kind


def delete_unit_kind(session: Session, actor: Principal, kind_id: int) -> None:
    """Remove a kind that no unit uses (a kind in use cannot go: its units would have no form)."""
    require_admin(actor)
    kind = get(session, UnitKind, kind_id)
    if session.scalar(select(func.count()).select_from(Unit).where(Unit.kind_id == kind.id)):
        raise Conflict(N_("Units of this kind exist. Give them another kind first."))
    audit.record(session, "unit_kind.deleted", actor_user_id=actor.acting_user_id, object_type="unit_kind",
                 object_id=kind.id, data={"code": kind.code, "name": kind.name})
    session.delete(kind)
    session.flush()


# --- Units and branches -------------------------------------------------------------------------

def _named_errors(session: Session, model: type, name: str, code: str, obj_id: int | None) -> Errors:
    """Name and code of a unit or branch: required, code well-formed, both unique."""
    errors: Errors = {}
    require(errors, name=name, code=code)
    if name and taken(session, model, "name", name, obj_id):
        errors.setdefault("name", []).append(N_("This name is taken."))
    if code and not CODE_PATTERN.match(code):
        errors.setdefault("code", []).append(N_("Use letters, digits and _ . - only (at most 40)."))
    elif code and taken(session, model, "code", code, obj_id):
        errors.setdefault("code", []).append(N_("This code is taken."))
    return errors


def _next_sort(session: Session, column: Any, *where: Any) -> int:
    return (session.scalar(select(func.max(column)).where(*where)) or 0) + 1


def create_unit(session: Session, actor: Principal, *, name: str, code: str, kind_id: int | None) -> Unit:
    """Add a unit of a kind to the bureau."""
    require_admin(actor)
    name, code = (name or "").strip(), (code or "").strip()
    errors = _named_errors(session, Unit, name, code, None)
    if kind_id is None or session.get(UnitKind, kind_id) is None:
        errors.setdefault("kind_id", []).append(N_("Choose a kind."))
    raise_if(errors)
    unit = Unit(bureau_id=bureau(session).id, kind_id=kind_id, name=name, code=code,
                sort=_next_sort(session, Unit.sort))
    session.add(unit)
    session.flush()
    audit.record(session, "unit.created", actor_user_id=actor.acting_user_id, object_type="unit", object_id=unit.id,
                 data={"name": name, "code": code, "kind_id": kind_id})
    return unit


def update_unit(session: Session, actor: Principal, unit_id: int, *, name: str, code: str,
                kind_id: int | None) -> Unit:
    """Rename a unit, change its code or its kind."""
    require_admin(actor)
    unit = get(session, Unit, unit_id)
    name, code = (name or "").strip(), (code or "").strip()
    errors = _named_errors(session, Unit, name, code, unit.id)
    if kind_id is None or session.get(UnitKind, kind_id) is None:
        errors.setdefault("kind_id", []).append(N_("Choose a kind."))
    raise_if(errors)
    changes = apply_changes(unit, {"name": name, "code": code, "kind_id": kind_id})
    if changes:
        audit.record(session, "unit.updated", actor_user_id=actor.acting_user_id, object_type="unit", object_id=unit.id,
                     data=changes)
    return unit


def set_unit_active(session: Session, actor: Principal, unit_id: int, active: bool) -> Unit:
    """(De)activate a unit; a unit with active branches stays active."""
    require_admin(actor)
    unit = get(session, Unit, unit_id)
    if not active:
        busy = session.scalar(select(func.count()).select_from(Branch).where(
            Branch.unit_id == unit.id, Branch.active.is_(True)))
        if busy:
            raise Conflict(N_("This unit still has active branches. Deactivate them or move them first."))
    flip(session, actor, unit, "unit", active)
    return unit


def _active_unit(session: Session, unit_id: int | None, errors: Errors) -> Unit | None:
    unit = session.get(Unit, unit_id) if unit_id is not None else None
    if unit is None:
        errors.setdefault("unit_id", []).append(N_("Choose a unit."))
    elif not unit.active:
        errors.setdefault("unit_id", []).append(N_("This unit is inactive."))
    return unit


def create_branch(session: Session, actor: Principal, *, unit_id: int | None, name: str, code: str) -> Branch:
    """Add a party branch to a unit."""
    require_admin(actor)
    name, code = (name or "").strip(), (code or "").strip()
    errors = _named_errors(session, Branch, name, code, None)
    _active_unit(session, unit_id, errors)
    raise_if(errors)
    branch = Branch(unit_id=unit_id, name=name, code=code, sort=_next_sort(session, Branch.sort,
                                                                           Branch.unit_id == unit_id))
    session.add(branch)
    session.flush()
    audit.record(session, "branch.created", actor_user_id=actor.acting_user_id, object_type="branch",
                 object_id=branch.id, data={"name": name, "code": code, "unit_id": unit_id}, branch_id=branch.id)
    return branch


def rename_branch(session: Session, actor: Principal, branch_id: int, *, name: str, code: str) -> Branch:
    """Change a branch's name or code."""
    require_admin(actor)
    branch = get(session, Branch, branch_id)
    name, code = (name or "").strip(), (code or "").strip()
    raise_if(_named_errors(session, Branch, name, code, branch.id))
    changes = apply_changes(branch, {"name": name, "code": code})
    if changes:
        audit.record(session, "branch.renamed", actor_user_id=actor.acting_user_id, object_type="branch",
                     object_id=branch.id, data=changes, branch_id=branch.id)
    return branch


def move_branch(session: Session, actor: Principal, branch_id: int, unit_id: int | None) -> Branch:
    """Move a branch (with its people and role holders) to another unit."""
    require_admin(actor)
    branch = get(session, Branch, branch_id)
    errors: Errors = {}
    _active_unit(session, unit_id, errors)
    raise_if(errors)
    if branch.unit_id != unit_id:
        old = branch.unit_id
        branch.unit_id = unit_id  # type: ignore[assignment]
        branch.sort = _next_sort(session, Branch.sort, Branch.unit_id == unit_id)
        session.flush()
        session.expire(branch, ["unit"])
        audit.record(session, "branch.moved", actor_user_id=actor.acting_user_id, object_type="branch",
                     object_id=branch.id, data={"unit_id": [old, unit_id]}, branch_id=branch.id)
    return branch


def set_branch_active(session: Session, actor: Principal, branch_id: int, active: bool) -> Branch:
    """(De)activate a branch; a branch whose people are still active stays active."""
    require_admin(actor)
    branch = get(session, Branch, branch_id)
    if not active:
        people = session.scalar(select(func.count()).select_from(Person).where(
            Person.branch_id == branch.id, Person.active.is_(True)))
        if people:
            raise Conflict(N_("Active people still belong to this branch. Move them to another branch first."))
    elif not branch.unit.active:
        raise Conflict(N_("The unit of this branch is inactive. Activate the unit first."))
    flip(session, actor, branch, "branch", active, branch.id)
    return branch
