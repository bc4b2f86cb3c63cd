"""Building a `Principal` (what the permission rules see) for a user, outside a web request too."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.people import Person, RoleAssignment, User
from models.permissions import Principal


def principal_for(session: Session, user_id: int) -> Principal:
    """The user's roles: assignments plus membership of their person's branch."""
    user = session.get(User, user_id)
    if user is None:
        raise LookupError(f"user {user_id} does not exist")
    person = session.get(Person, user.person_id) if user.person_id else None
    rows = session.execute(select(RoleAssignment.role, RoleAssignment.branch_id)
                           .where(RoleAssignment.user_id == user_id)).all()
    member_branch = person.branch_id if person is not None and person.evaluated else None
    return Principal.build(user.id, user.person_id, member_branch, [(r, b) for r, b in rows])


def principal_by_username(session: Session, username: str) -> Principal:
    user_id = session.scalar(select(User.id).where(User.username == username))
    if user_id is None:
        raise LookupError(f"no user {username!r}")
    return principal_for(session, user_id)
