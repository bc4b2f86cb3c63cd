"""Services for the organisation: units, branches, people, accounts and role assignments."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from models import audit
from models.clock import now
from models.org import Branch, Bureau, Unit, UnitKind
from models.people import (
    ASSIGNABLE_ROLES,
    BUREAU_ROLES,
    EVALUATED_STATUSES,
    MembershipStatus,
    Person,
    Role,
    RoleAssignment,
    User,
)
from workflows.errors import Conflict, NotFound, ValidationFailed
from workflows.i18n import N_
from workflows.org import accounts

_M = TypeVar("_M")


def bureau(session: Session) -> Bureau:
    """The one bureau (created on first use)."""
    found = session.scalar(select(Bureau).order_by(Bureau.id).limit(1))
    if found is None:
        found = Bureau(name="Bureau", short_name="")
        session.add(found)
        session.flush()
    return found


def assign_role(
    session: Session, user: User, role: Role | str, branch_id: int | None, *, actor_user_id: int | None
) -> RoleAssignment:
    """Give a user a role in a branch (or bureau-wide, branch_id None)."""
    try:
        role = Role(role)
    except ValueError:
        raise ValidationFailed(field_errors={"role": [N_("Unknown role.")]}) from None
    if role not in ASSIGNABLE_ROLES:
        raise ValidationFailed(field_errors={"role": [N_("Membership comes from the person's branch and is not assigned.")]})
    if role in BUREAU_ROLES and branch_id is not None:
        raise ValidationFailed(field_errors={"branch_id": [N_("This role is held bureau-wide, not in a branch.")]})
    branch_errors: dict[str, list[str]] = {}
    _branch_errors(session, branch_id, branch_errors)
    _raise_if(branch_errors)
    if not user.active:
        raise ValidationFailed(N_("This account is inactive. Activate it first."))
    key = RoleAssignment.scope_key_for(branch_id)
    existing = session.scalar(
        select(RoleAssignment).where(
            RoleAssignment.user_id == user.id, RoleAssignment.role == role, RoleAssignment.scope_key == key
        )
    )
    if existing is not None:
        raise Conflict(N_("This person already holds this role there."))
    assignment = RoleAssignment(user_id=user.id, role=role.value, branch_id=branch_id, scope_key=key,
                                created_by=actor_user_id)
    session.add(assignment)
    session.flush()
    audit.record(session, "role.assigned", actor_user_id=actor_user_id, object_type="user", object_id=user.id,
                 data={"role": role.value, "branch_id": branch_id}, branch_id=branch_id)
    return assignment


def revoke_role(session: Session, assignment_id: int, *, actor_user_id: int | None) -> None:
    """Take a role away; the last active administrator keeps theirs, so nobody is locked out."""
    assignment = session.get(RoleAssignment, assignment_id)
    if assignment is None:
        raise NotFound()
    if (assignment.role == Role.ADMINISTRATOR.value and assignment.branch_id is None
            and assignment.user.active and not _active_administrators(session, assignment.user_id)):
        raise Conflict(N_("This is the last active administrator."))
    audit.record(session, "role.revoked", actor_user_id=actor_user_id, object_type="user",
                 object_id=assignment.user_id, data={"role": assignment.role, "branch_id": assignment.branch_id},
                 branch_id=assignment.branch_id)
    session.delete(assignment)


def create_person(
    session: Session,
    *,
    employee_no: str,
    name: str,
    branch_id: int | None,
    status: MembershipStatus | str = MembershipStatus.FULL,
    gender: str = "",
    joined_party_on: date | None = None,
    full_member_on: date | None = None,
    activist_since: date | None = None,
    position: str = "",
    phone: str = "",
    username: str | None = None,
    password_hash: str | None = None,
    actor_user_id: int | None = None,
) -> Person:
    """Add a person (and, with `username`, their account)."""
    errors: dict[str, list[str]] = {}
    employee_no, name = (employee_no or "").strip(), (name or "").strip()
    if not employee_no:
        errors.setdefault("employee_no", []).append(N_("Required."))
    if not name:
        errors.setdefault("name", []).append(N_("Required."))
    try:
        status = MembershipStatus(status)
    except ValueError:
        errors.setdefault("status", []).append(N_("Unknown membership status."))
    else:
        for name_, messages in membership_errors(status, joined_party_on, full_member_on, activist_since).items():
            errors.setdefault(name_, []).extend(messages)
        if status != MembershipStatus.NONE and branch_id is None:
            errors.setdefault("branch_id", []).append(N_("A member, probationary member or activist needs a branch."))
    _branch_errors(session, branch_id, errors)
    if gender not in ("", *GENDERS):
        errors.setdefault("gender", []).append(N_("Unknown gender."))
    if employee_no and session.scalar(select(Person.id).where(Person.employee_no == employee_no)):
        errors.setdefault("employee_no", []).append(N_("A person with this employee number already exists."))
    if username:
        username = username.strip().lower()
        if problems := username_errors(session, username):
            errors.setdefault("username", []).extend(problems)
    if errors:
        raise ValidationFailed(field_errors=errors)
    person = Person(
        employee_no=employee_no, name=name, branch_id=branch_id, status=str(status), gender=gender,
        joined_party_on=joined_party_on, full_member_on=full_member_on, activist_since=activist_since,
        position=position, phone=phone,
    )
    session.add(person)
    session.flush()
    if username:
        user = User(username=username, password_hash=password_hash or UNUSABLE_PASSWORD, person=person,
                    must_change_password=password_hash is None)
        session.add(user)
        session.flush()
        audit.record(session, "user.created", actor_user_id=actor_user_id, object_type="user", object_id=user.id,
                     data={"username": username, "person_id": person.id}, branch_id=branch_id)
    audit.record(session, "person.created", actor_user_id=actor_user_id, object_type="person", object_id=person.id,
                 data={"employee_no": employee_no, "branch_id": branch_id, "status": str(status)},
                 branch_id=branch_id)
    return person


def unit_kinds(session: Session) -> list[UnitKind]:
    return list(session.scalars(select(UnitKind).order_by(UnitKind.sort, UnitKind.id)))


def units(session: Session) -> list[Unit]:
    return list(session.scalars(select(Unit).order_by(Unit.sort, Unit.id)))


def branches(session: Session) -> list[Branch]:
    return list(session.scalars(select(Branch).join(Unit).order_by(Unit.sort, Branch.sort, Branch.id)))


# --- Validation shared by the forms and the roster import -------------------------------------

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
KIND_CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,79}$")
# The Communist Party of China was founded in July 1921: no membership date can be earlier.
EARLIEST_PARTY_DATE = date(1921, 7, 1)
GENDERS = ("M", "F")


def _today() -> date:
    """Today, with a day of slack so that no time zone makes today's date look like the future."""
    return (now() + timedelta(days=1)).date()


def membership_errors(
    status: str, joined_party_on: date | None, full_member_on: date | None, activist_since: date | None
) -> dict[str, list[str]]:
    """What is wrong with a membership status and its dates (入党时间, 转正时间, 确定为积极分子时间)."""
    errors: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    dates = {"joined_party_on": joined_party_on, "full_member_on": full_member_on, "activist_since": activist_since}
    for name, value in dates.items():
        if value is not None and value > _today():
            add(name, N_("The date is in the future."))
        elif value is not None and value < EARLIEST_PARTY_DATE:
            add(name, N_("The date is before 1921."))
    if status in (MembershipStatus.FULL, MembershipStatus.PROBATIONARY) and joined_party_on is None:
        add("joined_party_on", N_("Required for full and probationary members."))
    if status == MembershipStatus.PROBATIONARY and full_member_on is not None:
        add("full_member_on", N_("A probationary member has no date of full membership yet."))
    if status == MembershipStatus.ACTIVIST:
        if activist_since is None:
            add("activist_since", N_("Required for an activist."))
        if joined_party_on is not None:
            add("joined_party_on", N_("An activist has not joined the party yet."))
        if full_member_on is not None:
            add("full_member_on", N_("An activist has no date of full membership."))
    if joined_party_on and full_member_on and full_member_on < joined_party_on:
        add("full_member_on", N_("Full membership cannot come before joining the party."))
    if activist_since and joined_party_on and joined_party_on < activist_since:
        add("joined_party_on", N_("Joining the party cannot come before becoming an activist."))
    return errors


def username_errors(session: Session, username: str, *, except_user_id: int | None = None) -> list[str]:
    """Problems with a new username: its form, and whether somebody else has it."""
    if not USERNAME_PATTERN.match(username):
        return [N_("Use lower-case letters, digits and . _ @ - only (at most 80).")]
    taken = session.scalar(select(User.id).where(User.username == username))
    if taken is not None and taken != except_user_id:
        return [N_("This username is taken.")]
    return []


def _taken(session: Session, model: type, column: str, value: str, except_id: int | None) -> bool:
    found = session.scalar(select(model.id).where(getattr(model, column) == value))
    return found is not None and found != except_id


def _raise_if(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationFailed(field_errors=errors)


def _require(errors: dict[str, list[str]], **values: str) -> None:
    for name, value in values.items():
        if not value:
            errors.setdefault(name, []).append(N_("Required."))


def _get(session: Session, model: type[_M], ident: int | None) -> _M:
    found = session.get(model, ident) if ident is not None else None
    if found is None:
        raise NotFound()
    return found


def _flip(session: Session, obj: Any, kind: str, active: bool, actor_user_id: int | None,
          branch_id: int | None = None) -> None:
    """Set `active` and audit it as "<kind>.activated" / "<kind>.deactivated" (nothing when unchanged)."""
    if obj.active != active:
        obj.active = active
        audit.record(session, f"{kind}.{'activated' if active else 'deactivated'}", actor_user_id=actor_user_id,
                     object_type=kind, object_id=obj.id, branch_id=branch_id)


def _apply(obj: object, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Set attributes; returns {field: [old, new]} for those that changed (what the audit keeps)."""
    changes: dict[str, list[Any]] = {}
    for name, value in values.items():
        old = getattr(obj, name)
        if old != value:
            changes[name] = [old, value]
            setattr(obj, name, value)
    return changes


# --- Unit kinds ---------------------------------------------------------------------------------

def _kind_errors(session: Session, name: str, kind_id: int | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    _require(errors, name=name)
    if name and _taken(session, UnitKind, "name", name, kind_id):
        errors.setdefault("name", []).append(N_("Another kind has this name."))
    return errors


def create_unit_kind(
    session: Session, *, code: str, name: str, name_en: str = "", actor_user_id: int | None
) -> UnitKind:
    """Add a kind of unit (each kind has its own evaluation form in the catalogue)."""
    code, name, name_en = (code or "").strip(), (name or "").strip(), (name_en or "").strip()
    errors = _kind_errors(session, name, None)
    if not KIND_CODE_PATTERN.match(code):
        errors.setdefault("code", []).append(N_("Use 2 to 40 lower-case letters, digits and _; start with a letter."))
    elif _taken(session, UnitKind, "code", code, None):
        errors.setdefault("code", []).append(N_("This code is taken."))
    _raise_if(errors)
    sort = (session.scalar(select(func.max(UnitKind.sort))) or 0) + 1
    kind = UnitKind(code=code, name=name, name_en=name_en, sort=sort)
    session.add(kind)
    session.flush()
    audit.record(session, "unit_kind.created", actor_user_id=actor_user_id, object_type="unit_kind",
                 object_id=kind.id, data={"code": code, "name": name})
    return kind


def rename_unit_kind(session: Session, kind_id: int, *, name: str, name_en: str = "",
                     actor_user_id: int | None) -> UnitKind:
    """Change the names of a kind (its code, which the catalogue refers to, stays)."""
    kind = _get(session, UnitKind, kind_id)
    name, name_en = (name or "").strip(), (name_en or "").strip()
    _raise_if(_kind_errors(session, name, kind.id))
    changes = _apply(kind, {"name": name, "name_en": name_en})
    if changes:
        audit.record(session, "unit_kind.renamed", actor_user_id=actor_user_id, object_type="unit_kind",
                     object_id=kind.id, data=changes)
    return kind


def delete_unit_kind(session: Session, kind_id: int, *, actor_user_id: int | None) -> None:
    """Remove a kind that no unit uses (a kind in use cannot go: its units would have no form)."""
    kind = _get(session, UnitKind, kind_id)
    if session.scalar(select(func.count()).select_from(Unit).where(Unit.kind_id == kind.id)):
        raise Conflict(N_("Units of this kind exist. Give them another kind first."))
    audit.record(session, "unit_kind.deleted", actor_user_id=actor_user_id, object_type="unit_kind",
                 object_id=kind.id, data={"code": kind.code, "name": kind.name})
    session.delete(kind)
    session.flush()


# --- Units and branches -------------------------------------------------------------------------

def _named_errors(session: Session, model: type, name: str, code: str, obj_id: int | None) -> dict[str, list[str]]:
    """Name and code of a unit or branch: required, code well-formed, both unique."""
    errors: dict[str, list[str]] = {}
    _require(errors, name=name, code=code)
    if name and _taken(session, model, "name", name, obj_id):
        errors.setdefault("name", []).append(N_("This name is taken."))
    if code and not CODE_PATTERN.match(code):
        errors.setdefault("code", []).append(N_("Use letters, digits and _ . - only (at most 40)."))
    elif code and _taken(session, model, "code", code, obj_id):
        errors.setdefault("code", []).append(N_("This code is taken."))
    return errors


def _next_sort(session: Session, column: Any, *where: Any) -> int:
    return (session.scalar(select(func.max(column)).where(*where)) or 0) + 1


def create_unit(session: Session, *, name: str, code: str, kind_id: int | None,
                actor_user_id: int | None) -> Unit:
    """Add a unit of a kind to the bureau."""
    name, code = (name or "").strip(), (code or "").strip()
    errors = _named_errors(session, Unit, name, code, None)
    if kind_id is None or session.get(UnitKind, kind_id) is None:
        errors.setdefault("kind_id", []).append(N_("Choose a kind."))
    _raise_if(errors)
    unit = Unit(bureau_id=bureau(session).id, kind_id=kind_id, name=name, code=code,
                sort=_next_sort(session, Unit.sort))
    session.add(unit)
    session.flush()
    audit.record(session, "unit.created", actor_user_id=actor_user_id, object_type="unit", object_id=unit.id,
                 data={"name": name, "code": code, "kind_id": kind_id})
    return unit


def update_unit(session: Session, unit_id: int, *, name: str, code: str, kind_id: int | None,
                actor_user_id: int | None) -> Unit:
    """Rename a unit, change its code or its kind."""
    unit = _get(session, Unit, unit_id)
    name, code = (name or "").strip(), (code or "").strip()
    errors = _named_errors(session, Unit, name, code, unit.id)
    if kind_id is None or session.get(UnitKind, kind_id) is None:
        errors.setdefault("kind_id", []).append(N_("Choose a kind."))
    _raise_if(errors)
    changes = _apply(unit, {"name": name, "code": code, "kind_id": kind_id})
    if changes:
        audit.record(session, "unit.updated", actor_user_id=actor_user_id, object_type="unit", object_id=unit.id,
                     data=changes)
    return unit


def set_unit_active(session: Session, unit_id: int, active: bool, *, actor_user_id: int | None) -> Unit:
    """(De)activate a unit; a unit with active branches stays active."""
    unit = _get(session, Unit, unit_id)
    if not active:
        busy = session.scalar(select(func.count()).select_from(Branch).where(
            Branch.unit_id == unit.id, Branch.active.is_(True)))
        if busy:
            raise Conflict(N_("This unit still has active branches. Deactivate them or move them first."))
    _flip(session, unit, "unit", active, actor_user_id)
    return unit


def _active_unit(session: Session, unit_id: int | None, errors: dict[str, list[str]]) -> Unit | None:
    unit = session.get(Unit, unit_id) if unit_id is not None else None
    if unit is None:
        errors.setdefault("unit_id", []).append(N_("Choose a unit."))
    elif not unit.active:
        errors.setdefault("unit_id", []).append(N_("This unit is inactive."))
    return unit


def create_branch(session: Session, *, unit_id: int | None, name: str, code: str,
                  actor_user_id: int | None) -> Branch:
    """Add a party branch to a unit."""
    name, code = (name or "").strip(), (code or "").strip()
    errors = _named_errors(session, Branch, name, code, None)
    _active_unit(session, unit_id, errors)
    _raise_if(errors)
    branch = Branch(unit_id=unit_id, name=name, code=code, sort=_next_sort(session, Branch.sort,
                                                                           Branch.unit_id == unit_id))
    session.add(branch)
    session.flush()
    audit.record(session, "branch.created", actor_user_id=actor_user_id, object_type="branch",
                 object_id=branch.id, data={"name": name, "code": code, "unit_id": unit_id}, branch_id=branch.id)
    return branch


def rename_branch(session: Session, branch_id: int, *, name: str, code: str,
                  actor_user_id: int | None) -> Branch:
    """Change a branch's name or code."""
    branch = _get(session, Branch, branch_id)
    name, code = (name or "").strip(), (code or "").strip()
    _raise_if(_named_errors(session, Branch, name, code, branch.id))
    changes = _apply(branch, {"name": name, "code": code})
    if changes:
        audit.record(session, "branch.renamed", actor_user_id=actor_user_id, object_type="branch",
                     object_id=branch.id, data=changes, branch_id=branch.id)
    return branch


def move_branch(session: Session, branch_id: int, unit_id: int | None, *, actor_user_id: int | None) -> Branch:
    """Move a branch (with its people and role holders) to another unit."""
    branch = _get(session, Branch, branch_id)
    errors: dict[str, list[str]] = {}
    _active_unit(session, unit_id, errors)
    _raise_if(errors)
    if branch.unit_id != unit_id:
        old = branch.unit_id
        branch.unit_id = unit_id  # type: ignore[assignment]
        branch.sort = _next_sort(session, Branch.sort, Branch.unit_id == unit_id)
        session.flush()
        session.expire(branch, ["unit"])
        audit.record(session, "branch.moved", actor_user_id=actor_user_id, object_type="branch",
                     object_id=branch.id, data={"unit_id": [old, unit_id]}, branch_id=branch.id)
    return branch


def set_branch_active(session: Session, branch_id: int, active: bool, *, actor_user_id: int | None) -> Branch:
    """(De)activate a branch; a branch whose people are still active stays active."""
    branch = _get(session, Branch, branch_id)
    if not active:
        people = session.scalar(select(func.count()).select_from(Person).where(
            Person.branch_id == branch.id, Person.active.is_(True)))
        if people:
            raise Conflict(N_("Active people still belong to this branch. Move them to another branch first."))
    elif not branch.unit.active:
        raise Conflict(N_("The unit of this branch is inactive. Activate the unit first."))
    _flip(session, branch, "branch", active, actor_user_id, branch.id)
    return branch


# --- People -------------------------------------------------------------------------------------

def _branch_errors(session: Session, branch_id: int | None, errors: dict[str, list[str]]) -> None:
    if branch_id is None:
        return
    branch = session.get(Branch, branch_id)
    if branch is None:
        errors.setdefault("branch_id", []).append(N_("Unknown branch."))
    elif not branch.active:
        errors.setdefault("branch_id", []).append(N_("This branch is inactive."))


def update_person(
    session: Session,
    person_id: int,
    *,
    employee_no: str,
    name: str,
    gender: str = "",
    position: str = "",
    phone: str = "",
    actor_user_id: int | None,
) -> Person:
    """Edit a person's particulars (branch and membership status have their own actions)."""
    person = _get(session, Person, person_id)
    values = {"employee_no": (employee_no or "").strip(), "name": (name or "").strip(),
              "gender": (gender or "").strip(), "position": (position or "").strip(), "phone": (phone or "").strip()}
    errors: dict[str, list[str]] = {}
    _require(errors, employee_no=values["employee_no"], name=values["name"])
    if values["gender"] not in ("", *GENDERS):
        errors.setdefault("gender", []).append(N_("Unknown gender."))
    if values["employee_no"] and _taken(session, Person, "employee_no", values["employee_no"], person.id):
        errors.setdefault("employee_no", []).append(N_("A person with this employee number already exists."))
    _raise_if(errors)
    changes = _apply(person, values)
    if changes:
        audit.record(session, "person.updated", actor_user_id=actor_user_id, object_type="person",
                     object_id=person.id, data=changes, branch_id=person.branch_id)
    return person


def move_person(session: Session, person_id: int, branch_id: int | None, *,
                actor_user_id: int | None) -> list[RoleAssignment]:
    """Move a person to another branch; returns the roles they still hold in the old one."""
    person = _get(session, Person, person_id)
    errors: dict[str, list[str]] = {}
    if branch_id is None and person.status != MembershipStatus.NONE:
        errors.setdefault("branch_id", []).append(N_("A member, probationary member or activist needs a branch."))
    _branch_errors(session, branch_id, errors)
    _raise_if(errors)
    old = person.branch_id
    if old == branch_id:
        return []
    person.branch_id = branch_id
    session.flush()
    session.expire(person, ["branch"])
    audit.record(session, "person.moved", actor_user_id=actor_user_id, object_type="person", object_id=person.id,
                 data={"branch_id": [old, branch_id]}, branch_id=branch_id)
    if person.user is None or old is None:
        return []
    return [a for a in person.user.roles if a.branch_id == old]


def change_membership(
    session: Session,
    person_id: int,
    *,
    status: str,
    joined_party_on: date | None,
    full_member_on: date | None,
    activist_since: date | None,
    actor_user_id: int | None,
) -> Person:
    """Change a person's membership status and its dates (e.g. 转正: probationary → full)."""
    person = _get(session, Person, person_id)
    try:
        status = MembershipStatus(status).value
    except ValueError:
        raise ValidationFailed(field_errors={"status": [N_("Unknown membership status.")]}) from None
    errors = membership_errors(status, joined_party_on, full_member_on, activist_since)
    if status != MembershipStatus.NONE and person.branch_id is None:
        errors.setdefault("status", []).append(N_("Give the person a branch first."))
    _raise_if(errors)
    changes = _apply(person, {"status": status, "joined_party_on": joined_party_on,
                              "full_member_on": full_member_on, "activist_since": activist_since})
    if changes:
        audit.record(session, "person.status_changed", actor_user_id=actor_user_id, object_type="person",
                     object_id=person.id, data=changes, branch_id=person.branch_id)
    return person


def set_person_active(session: Session, person_id: int, active: bool, *, actor_user_id: int | None) -> Person:
    """(De)activate a person, e.g. on leaving the bureau. Deactivation also closes their account."""
    person = _get(session, Person, person_id)
    if active and person.branch_id is not None and not person.branch.active:  # type: ignore[union-attr]
        raise Conflict(N_("The branch of this person is inactive. Move the person to an active branch first."))
    if not active and person.user is not None and person.user.active:
        set_account_active(session, person.user.id, False, actor_user_id=actor_user_id)
    _flip(session, person, "person", active, actor_user_id, person.branch_id)
    return person


# --- Accounts -----------------------------------------------------------------------------------

UNUSABLE_PASSWORD = "!"
# Issued passwords are random (about 71 bits), so a slow hash adds nothing against guessing;
# a lighter scrypt keeps issuing thousands of them within one request. They must be changed
# at first sign-in, which stores a hash of the usual cost.
_ISSUED_HASH_METHOD = "scrypt:2048:8:1"
ISSUE_BATCH = 2000  # initial passwords per request: about 10 s of hashing at most
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"


def has_usable_password(user: User) -> bool:
    return user.password_hash.startswith(("scrypt:", "pbkdf2:"))


def generate_password(length: int = 12) -> str:
    """A random password without look-alike characters (no 0/O, 1/l/I), easy to type from paper."""
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))


def default_username(employee_no: str) -> str:
    return (employee_no or "").strip().lower()


def create_account(session: Session, person_id: int, *, username: str | None = None,
                   actor_user_id: int | None) -> User:
    """Open a sign-in account for a person: no usable password until one is issued or reset."""
    person = _get(session, Person, person_id)
    if person.user is not None:
        raise Conflict(N_("This person already has an account."))
    username = (username or "").strip().lower() or default_username(person.employee_no)
    _raise_if({"username": errors} if (errors := username_errors(session, username)) else {})
    user = User(username=username, password_hash=UNUSABLE_PASSWORD, person=person,
                must_change_password=True, active=person.active)
    session.add(user)
    session.flush()
    audit.record(session, "user.created", actor_user_id=actor_user_id, object_type="user", object_id=user.id,
                 data={"username": username, "person_id": person.id}, branch_id=person.branch_id)
    return user


def _active_administrators(session: Session, except_user_id: int) -> int:
    return session.scalar(
        select(func.count(func.distinct(RoleAssignment.user_id))).join(User, User.id == RoleAssignment.user_id)
        .where(RoleAssignment.role == Role.ADMINISTRATOR.value, RoleAssignment.branch_id.is_(None),
               User.active.is_(True), User.id != except_user_id)
    ) or 0


def _is_administrator(user: User) -> bool:
    return any(a.role == Role.ADMINISTRATOR.value and a.branch_id is None for a in user.roles)


def set_account_active(session: Session, user_id: int, active: bool, *, actor_user_id: int | None) -> User:
    """(De)activate an account; deactivation signs it out everywhere. Nobody locks out the last administrator."""
    user = _get(session, User, user_id)
    if not active:
        if user.id == actor_user_id:
            raise Conflict(N_("You cannot deactivate your own account."))
        if _is_administrator(user) and not _active_administrators(session, user.id):
            raise Conflict(N_("This is the last active administrator."))
    if user.active and not active:
        user.session_epoch += 1
    _flip(session, user, "user", active, actor_user_id)
    return user


def reset_password(session: Session, user_id: int, *, actor_user_id: int | None) -> str:
    """Give an account a new random password, shown once; it must be changed at next sign-in."""
    user = _get(session, User, user_id)
    password = generate_password()
    accounts.set_password(session, user, password, actor_user_id=actor_user_id, must_change=True)
    return password


def require_password_change(session: Session, user_id: int, *, actor_user_id: int | None) -> User:
    """Make the user choose a new password at their next sign-in."""
    user = _get(session, User, user_id)
    if not user.must_change_password:
        user.must_change_password = True
        audit.record(session, "user.must_change_password", actor_user_id=actor_user_id, object_type="user",
                     object_id=user.id)
    return user


def accounts_without_password(session: Session, user_ids: Iterable[int] | None = None) -> list[int]:
    """Active accounts that have no usable password yet (all of them, or those among `user_ids`)."""
    query = select(User.id).where(User.active.is_(True), User.password_hash == UNUSABLE_PASSWORD).order_by(User.id)
    if user_ids is None:
        return list(session.scalars(query))
    wanted = sorted(set(user_ids))
    return [i for chunk in _chunks(wanted, 500) for i in session.scalars(query.where(User.id.in_(chunk)))]


def issue_initial_passwords(session: Session, user_ids: Iterable[int], *, actor_user_id: int | None,
                            limit: int = ISSUE_BATCH) -> list[tuple[User, str]]:
    """Initial passwords for active accounts that have none yet (e.g. just imported), `limit` at a time.

    Accounts that already have a password are left alone: a reset is a separate, deliberate act.
    The plain passwords are returned to be handed over once and are never stored.
    """
    ids = accounts_without_password(session, user_ids)[:limit]
    users = [u for chunk in _chunks(ids, 500) for u in session.scalars(
        select(User).where(User.id.in_(chunk)).order_by(User.id))]
    issued = []
    for user in users:
        password = generate_password()
        user.password_hash = generate_password_hash(password, method=_ISSUED_HASH_METHOD)
        user.must_change_password = True
        user.session_epoch += 1
        issued.append((user, password))
        audit.record(session, "user.initial_password_issued", actor_user_id=actor_user_id, object_type="user",
                     object_id=user.id)
    return issued


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# --- Who holds what -----------------------------------------------------------------------------

@dataclass
class BranchCoverage:
    """The role holders of one branch and what is missing there."""

    branch: Branch
    holders: dict[str, list[RoleAssignment]] = field(default_factory=dict)
    members: int = 0

    @property
    def problems(self) -> list[str]:
        found = []
        if not self.holders.get(Role.SECRETARY.value):
            found.append(N_("No branch secretary."))
        if not self.holders.get(Role.DISCIPLINE.value):
            found.append(N_("No discipline member."))
        reviewers = len(self.holders.get(Role.REVIEWER.value, []))
        if reviewers == 0:
            found.append(N_("No points reviewer."))
        elif reviewers < MIN_REVIEWERS:
            found.append(N_("Only one points reviewer: nobody could review that reviewer's own score."))
        return found


MIN_REVIEWERS = 2


def role_coverage(session: Session) -> tuple[list[BranchCoverage], dict[str, list[RoleAssignment]]]:
    """Per active branch, who holds each branch role (active accounts only); and the bureau-wide holders."""
    by_branch = {b.id: BranchCoverage(b) for b in session.scalars(
        select(Branch).join(Unit).where(Branch.active.is_(True)).order_by(Unit.sort, Branch.sort, Branch.id))}
    bureau_wide: dict[str, list[RoleAssignment]] = {r.value: [] for r in ASSIGNABLE_ROLES}
    rows = session.execute(
        select(RoleAssignment, User).join(User, User.id == RoleAssignment.user_id)
        .where(User.active.is_(True)).order_by(RoleAssignment.role, User.username)
    ).all()
    for assignment, _user in rows:
        if assignment.branch_id is None:
            bureau_wide.setdefault(assignment.role, []).append(assignment)
        elif assignment.branch_id in by_branch:
            by_branch[assignment.branch_id].holders.setdefault(assignment.role, []).append(assignment)
    counts = session.execute(
        select(Person.branch_id, func.count()).where(Person.active.is_(True), Person.status.in_(
            [s.value for s in EVALUATED_STATUSES])).group_by(Person.branch_id)
    ).all()
    for branch_id, count in counts:
        if branch_id in by_branch:
            by_branch[branch_id].members = count
    return list(by_branch.values()), bureau_wide
