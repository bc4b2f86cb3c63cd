"""Services for people: adding and editing them, their branch, their membership status and its dates."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import audit
from models.clock import now
from models.people import MembershipStatus, Person, RoleAssignment, User
from models.permissions import Principal
from workflows.errors import Conflict, ValidationFailed
from workflows.i18n import N_
from workflows.org import accounts
from workflows.org.common import (
    Errors,
    apply_changes,
    branch_errors,
    flip,
    get,
    raise_if,
    require,
    require_admin,
    taken,
)

# The Communist Party of China was founded in July 1921: no membership date can be earlier.
EARLIEST_PARTY_DATE = date(1921, 7, 1)
GENDERS = ("M", "F")


def _today() -> date:
    """Today, with a day of slack so that no time zone makes today's date look like the future."""
    return (now() + timedelta(days=1)).date()


def membership_errors(
    status: str, joined_party_on: date | None, full_member_on: date | None, activist_since: date | None
) -> Errors:
    """What is wrong with a membership status and its dates (入党时间, 转正时间, 确定为积极分子时间)."""
    errors: Errors = {}

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


def create_person(
    session: Session,
    actor: Principal,
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
) -> Person:
    """Add a person (and, with `username`, their account)."""
    require_admin(actor)
    errors: Errors = {}
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
    branch_errors(session, branch_id, errors)
    if gender not in ("", *GENDERS):
        errors.setdefault("gender", []).append(N_("Unknown gender."))
    if employee_no and session.scalar(select(Person.id).where(Person.employee_no == employee_no)):
        errors.setdefault("employee_no", []).append(N_("A person with this employee number already exists."))
    if username:
        username = username.strip().lower()
        if problems := accounts.username_errors(session, username):
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
        user = User(username=username, password_hash=password_hash or accounts.UNUSABLE_PASSWORD, person=person,
                    must_change_password=password_hash is None)
        session.add(user)
        session.flush()
        audit.record(session, "user.created", actor_user_id=actor.acting_user_id, object_type="user", object_id=user.id,
                     data={"username": username, "person_id": person.id}, branch_id=branch_id)
    audit.record(session, "person.created", actor_user_id=actor.acting_user_id, object_type="person", object_id=person.id,
                 data={"employee_no": employee_no, "branch_id": branch_id, "status": str(status)},
                 branch_id=branch_id)
    return person


def update_person(
    session: Session,
    actor: Principal,
    person_id: int,
    *,
    employee_no: str,
    name: str,
    gender: str = "",
    position: str = "",
    phone: str = "",
) -> Person:
    """Edit a person's particulars (branch and membership status have their own actions)."""
    require_admin(actor)
    person = get(session, Person, person_id)
    values = {"employee_no": (employee_no or "").strip(), "name": (name or "").strip(),
              "gender": (gender or "").strip(), "position": (position or "").strip(), "phone": (phone or "").strip()}
    errors: Errors = {}
    require(errors, employee_no=values["employee_no"], name=values["name"])
    if values["gender"] not in ("", *GENDERS):
        errors.setdefault("gender", []).append(N_("Unknown gender."))
    if values["employee_no"] and taken(session, Person, "employee_no", values["employee_no"], person.id):
        errors.setdefault("employee_no", []).append(N_("A person with this employee number already exists."))
    raise_if(errors)
    changes = apply_changes(person, values)
    if changes:
        audit.record(session, "person.updated", actor_user_id=actor.acting_user_id, object_type="person",
                     object_id=person.id, data=changes, branch_id=person.branch_id)
    return person


def move_person(session: Session, actor: Principal, person_id: int, branch_id: int | None) -> list[RoleAssignment]:
    """Move a person to another branch; returns the roles they still hold in the old one."""
    require_admin(actor)
    person = get(session, Person, person_id)
    errors: Errors = {}
    if branch_id is None and person.status != MembershipStatus.NONE:
        errors.setdefault("branch_id", []).append(N_("A member, probationary member or activist needs a branch."))
    branch_errors(session, branch_id, errors)
    raise_if(errors)
    old = person.branch_id
    if old == branch_id:
        return []
    person.branch_id = branch_id
    session.flush()
    session.expire(person, ["branch"])
    audit.record(session, "person.moved", actor_user_id=actor.acting_user_id, object_type="person", object_id=person.id,
                 data={"branch_id": [old, branch_id]}, branch_id=branch_id)
    if person.user is None or old is None:
        return []
    return [a for a in person.user.roles if a.branch_id == old]


def change_membership(
    session: Session,
    actor: Principal,
    person_id: int,
    *,
    status: str,
    joined_party_on: date | None,
    full_member_on: date | None,
    activist_since: date | None,
) -> Person:
    """Change a person's membership status and its dates (e.g. 转正: probationary → full)."""
    require_admin(actor)
    person = get(session, Person, person_id)
    try:
        status = MembershipStatus(status).value
    except ValueError:
        raise ValidationFailed(field_errors={"status": [N_("Unknown membership status.")]}) from None
    errors = membership_errors(status, joined_party_on, full_member_on, activist_since)
    if status != MembershipStatus.NONE and person.branch_id is None:
        errors.setdefault("status", []).append(N_("Give the person a branch first."))
    raise_if(errors)
    changes = apply_changes(person, {"status": status, "joined_party_on": joined_party_on,
                                     "full_member_on": full_member_on, "activist_since": activist_since})
    if changes:
        audit.record(session, "person.status_changed", actor_user_id=actor.acting_user_id, object_type="person",
                     object_id=person.id, data=changes, branch_id=person.branch_id)
    return person


def set_person_active(session: Session, actor: Principal, person_id: int, active: bool) -> Person:
    """(De)activate a person, e.g. on leaving the bureau. Deactivation also closes their account."""
    require_admin(actor)
    person = get(session, Person, person_id)
    if active and person.branch_id is not None and not person.branch.active:  # type: ignore[union-attr]
        raise Conflict(N_("The branch of this person is inactive. Move the person to an active branch first."))
    if not active and person.user is not None and person.user.active:
        accounts.set_account_active(session, actor, person.user.id, False)
    flip(session, actor, person, "person", active, person.branch_id)
    return person
