"""Who may do what, on which object: the one authorisation rule table of pointsflow.

Pure rules, no database and no Flask: a `Principal` (the roles a user holds, each in a branch
or bureau-wide) asks `can(principal, action, target)` where the target says which branch an
object belongs to and which person it is about. Every web route and API endpoint goes through
the load-or-404/403 helpers in `webapp.authz`, which call this module; tests build the
authorisation matrix from `RULES`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from models.people import BUREAU_ROLES, Role

SYSTEM_USER_ID = 0  # the system's own principal: no account, never stored as a user id


class Scope(enum.StrEnum):
    SELF = "self"  # the object is about the principal's own person
    BRANCH = "branch"  # role held in the object's branch, or bureau-wide
    BUREAU = "bureau"  # role held bureau-wide
    ANYWHERE = "anywhere"  # role held in any branch or bureau-wide (lists filter by scope themselves)


@dataclass(frozen=True)
class Grant:
    role: Role
    scope: Scope
    not_own: bool = False  # never on an object about the principal themself


@dataclass(frozen=True)
class Principal:
    """A signed-in user as the rules see them (or the system itself, `Principal.system()`)."""

    user_id: int
    person_id: int | None
    branch_id: int | None  # the person's own branch: where they are a member
    grants: frozenset[tuple[str, int | None]] = field(default_factory=frozenset)

    @classmethod
    def system(cls) -> Principal:
        """The system itself (CLI commands, the demo loader, seeding): every bureau-wide role, no person.

        Its user id 0 is no account: services store `acting_user_id` (None here), never `user_id`.
        """
        return cls(SYSTEM_USER_ID, None, None, frozenset((r.value, None) for r in BUREAU_ROLES))

    @property
    def acting_user_id(self) -> int | None:
        """The user id to record as the actor (audit, created_by...): None for the system principal."""
        return None if self.user_id == SYSTEM_USER_ID else self.user_id

    @classmethod
    def build(
        cls,
        user_id: int,
        person_id: int | None,
        member_branch_id: int | None,
        assignments: Iterable[tuple[str, int | None]],
    ) -> Principal:
        grants = set(assignments)
        if member_branch_id is not None:
            grants.add((Role.MEMBER.value, member_branch_id))
        return cls(user_id, person_id, member_branch_id, frozenset(grants))

    def holds(self, role: Role | str, branch_id: int | None = None, *, anywhere: bool = False) -> bool:
        """Whether the role is held in `branch_id` (or bureau-wide); `anywhere` accepts any scope."""
        role = str(role)
        if anywhere:
            return any(r == role for r, _ in self.grants)
        return (role, None) in self.grants or (branch_id is not None and (role, branch_id) in self.grants)

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(r for r, _ in self.grants)

    def branches_for(self, role: Role | str) -> set[int | None]:
        """The scopes in which a role is held; None in the set means bureau-wide."""
        return {b for r, b in self.grants if r == str(role)}


@dataclass(frozen=True)
class Target:
    """What the rules need to know about an object: its branch and the person it concerns."""

    branch_id: int | None = None
    person_id: int | None = None


NOBODY = Target()

_BRANCH_WORK = (Role.REVIEWER, Role.SECRETARY, Role.DISCIPLINE)
_SUPERVISORS = (Role.PARTY_OFFICE, Role.LEADING_GROUP)


def _branch_roles(*roles: Role, not_own: bool = False) -> tuple[Grant, ...]:
    return tuple(Grant(r, Scope.BRANCH, not_own) for r in roles)


def _bureau(*roles: Role) -> tuple[Grant, ...]:
    return tuple(Grant(r, Scope.BUREAU) for r in roles)


def _anywhere(*roles: Role) -> tuple[Grant, ...]:
    return tuple(Grant(r, Scope.ANYWHERE) for r in roles)


ALL_ROLES = tuple(Role)

# action -> the grants that allow it. Keep names "<area>.<verb>"; tests enumerate this table.
RULES: dict[str, tuple[Grant, ...]] = {
    # Signed in at all (profile, language, own inbox, notices): any role anywhere.
    "signed_in": _anywhere(*ALL_ROLES),
    # Organisation and people.
    "admin.manage": _bureau(Role.ADMINISTRATOR),
    "org.view": _bureau(Role.ADMINISTRATOR, Role.PARTY_OFFICE, Role.LEADING_GROUP),
    "person.view": (Grant(Role.MEMBER, Scope.SELF),)
    + _branch_roles(*_BRANCH_WORK)
    + _bureau(*_SUPERVISORS, Role.ADMINISTRATOR),
    # Catalogue.
    "catalogue.view": _anywhere(*ALL_ROLES),
    "catalogue.edit": _bureau(Role.PARTY_OFFICE),
    # The quarter.
    "quarter.view": _anywhere(*ALL_ROLES),
    "quarter.open": _bureau(Role.PARTY_OFFICE),
    "quarter.notice": _bureau(Role.PARTY_OFFICE),
    "quarter.file": _bureau(Role.LEADING_GROUP),
    "quarter.verify": _bureau(Role.LEADING_GROUP),
    "evaluation.view": (Grant(Role.MEMBER, Scope.SELF),)
    + _branch_roles(*_BRANCH_WORK)
    + _bureau(*_SUPERVISORS),
    "evaluation.declare": (Grant(Role.MEMBER, Scope.SELF),),
    "evaluation.record_for_member": _branch_roles(Role.REVIEWER, Role.SECRETARY, not_own=True),
    "evaluation.review": _branch_roles(Role.REVIEWER, not_own=True),
    "evaluation.appeal": (Grant(Role.MEMBER, Scope.SELF),),
    "evaluation.concern": _anywhere(Role.MEMBER),
    "appeal.decide": _branch_roles(Role.DISCIPLINE, not_own=True),
    "branch.view": _branch_roles(*_BRANCH_WORK) + _bureau(*_SUPERVISORS),
    "branch.approve": _branch_roles(Role.SECRETARY),
    "branch.meeting": _branch_roles(Role.SECRETARY),
    "ranking.view": _anywhere(Role.MEMBER, *_SUPERVISORS),
    # Supervision reports.
    "report.submit": _anywhere(Role.MEMBER, Role.PARTY_OFFICE),
    "report.verify": _branch_roles(Role.REVIEWER, not_own=True),
    "report.list": _branch_roles(Role.REVIEWER, Role.DISCIPLINE) + _bureau(Role.PARTY_OFFICE),
    "report.reporter_identity": _branch_roles(Role.DISCIPLINE) + _bureau(Role.PARTY_OFFICE),
    # Follow-up, annual assessment.
    "followup.manage": _bureau(Role.PARTY_OFFICE),
    "annual.view": _bureau(*_SUPERVISORS) + _branch_roles(Role.SECRETARY),
    "annual.review": _bureau(Role.PARTY_OFFICE),
    "annual.approve": _bureau(Role.LEADING_GROUP),
    # Tasks, monitor, designer.
    "task.reassign": _bureau(Role.PARTY_OFFICE),
    "monitor.view": _bureau(*_SUPERVISORS) + _branch_roles(Role.SECRETARY, Role.DISCIPLINE),
    "process.design": _bureau(Role.PROCESS_DESIGNER),
    "audit.view": _bureau(Role.LEADING_GROUP, Role.PARTY_OFFICE, Role.ADMINISTRATOR),
}


def _grant_allows(p: Principal, g: Grant, t: Target) -> bool:
    if g.not_own and t.person_id is not None and t.person_id == p.person_id:
        return False
    if g.scope is Scope.SELF:
        return t.person_id is not None and t.person_id == p.person_id and p.holds(g.role, anywhere=True)
    if g.scope is Scope.BRANCH:
        return p.holds(g.role, t.branch_id)
    if g.scope is Scope.BUREAU:
        return p.holds(g.role, None)
    return p.holds(g.role, anywhere=True)


def can(principal: Principal | None, action: str, target: Target = NOBODY) -> bool:
    """May this principal do `action` on an object described by `target`?"""
    if principal is None:
        return False
    try:
        grants = RULES[action]
    except KeyError:
        raise KeyError(f"unknown action {action!r}: add it to models.permissions.RULES") from None
    return any(_grant_allows(principal, g, target) for g in grants)


def may_ever(principal: Principal | None, action: str) -> bool:
    """Whether some object exists on which the principal could do `action` (menus, coarse route checks)."""
    if principal is None:
        return False
    for g in RULES[action]:
        if g.scope is Scope.BUREAU:
            if principal.holds(g.role, None):
                return True
        elif principal.holds(g.role, anywhere=True):
            return True
    return False


def visible_branch_ids(principal: Principal, action: str) -> set[int] | None:
    """Branches whose objects the principal may see for `action`; None means all of them.

    Lists use this to filter in SQL, so a page never loads what it must not show.
    """
    branches: set[int] = set()
    for g in RULES[action]:
        if g.scope is Scope.BUREAU and principal.holds(g.role, None):
            return None
        if g.scope is Scope.ANYWHERE and principal.holds(g.role, anywhere=True):
            return None
        if g.scope is Scope.BRANCH:
            scopes = principal.branches_for(g.role)
            if None in scopes:
                return None
            branches |= {b for b in scopes if b is not None}
    return branches
