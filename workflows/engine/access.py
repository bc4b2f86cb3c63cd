"""Who may see or act on a human task: the one rule, as Python predicates with their SQL twins.

A task is made for a **pool** (`pool_for`): the holders of its lane's role in the instance's
branch, or bureau-wide holders of a bureau role; never anybody the task decides on (the person
the instance is about, or the people its form's `subjects` hook names: the raiser of a concern,
a secretary of the branch whose secretary is interviewed, a leader whose own evaluation is in the
verified sample...; they are `excluded_users`), and when nobody else holds the role there, one
level up (the party office, then the leading group: `escalated`). A member's own task is assigned
to the member.

- `in_pool`: the actor holds the task's role in its branch (or bureau-wide) and is not excluded;
  a member's own task has no pool.
- `may_act`: the task's assignee, or — while nobody has taken it — anyone in its pool.
- `may_see`: its assignee, whoever completed it, or anyone in its pool (taken or not).

The inbox, the API and every task page ask these (pages through `webapp.authz.load_task_or_404`);
`see_clause` / `act_clause` are the same rules as SQL conditions on `human_task`, for lists.
`tests/test_task_access.py` checks that each predicate and its clause agree on every kind of task.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, false, or_, select
from sqlalchemy.orm import Session

from models.people import BUREAU_ROLES, Role, RoleAssignment, User
from models.permissions import Principal
from models.process import HumanTask
from workflows.engine import checks

HT = HumanTask.__table__
_RA = RoleAssignment.__table__
_U = User.__table__
_HOLDERS = (select(_RA.c.user_id, _U.c.person_id).join(_U, _U.c.id == _RA.c.user_id)
            .where(_RA.c.role == bindparam("role"), _U.c.active.is_(True)))
_BRANCH_HOLDERS = _HOLDERS.where(or_(_RA.c.branch_id.is_(None), _RA.c.branch_id == bindparam("branch_id")))
_BUREAU_HOLDERS = _HOLDERS.where(_RA.c.branch_id.is_(None))
# Where a task goes when nobody else in its role may do it: one level up, then the level above that.
ESCALATION = (Role.PARTY_OFFICE.value, Role.LEADING_GROUP.value)


# --- Making a task's pool ---------------------------------------------------------------------------


def subject_user(session: Session, instance: Any) -> int | None:
    """The active account of the person an instance is about."""
    if instance.subject_user_id is not None:
        return int(instance.subject_user_id)
    if instance.subject_person_id is None:
        return None
    return session.scalar(select(User.id).where(User.person_id == instance.subject_person_id, User.active.is_(True)))


def excluded_text(user_ids: Iterable[int | None]) -> str:
    """The `excluded_users` column: " 3 17 " (empty when nobody is)."""
    ids = sorted({int(u) for u in user_ids if u is not None})
    return f" {' '.join(map(str, ids))} " if ids else ""


def excluded_ids(text: str | None) -> set[int]:
    return {int(x) for x in (text or "").split()}


def _holders(session: Session, role: str, branch_id: int | None) -> list[tuple[int, int | None]]:
    connection = session.connection()
    if branch_id is not None:
        return list(connection.execute(_BRANCH_HOLDERS, {"role": role, "branch_id": branch_id}).all())
    return list(connection.execute(_BUREAU_HOLDERS, {"role": role}).all())


def pool_for(session: Session, lane: str | None, instance: Any, *, subjects: set[int] | None = None) -> dict[str, Any]:
    """Who may do a task in `lane` of this instance: its role in the instance's branch (or the
    bureau), never anybody the task decides on (`subjects`: person ids, by default the instance's
    subject); with nobody else there, one level up (the party office, then the leading group).
    The columns of the task's `human_task` row that say so."""
    role = checks.lane_role(lane) or Role.PARTY_OFFICE.value
    subject = subject_user(session, instance)
    if role == Role.MEMBER.value:
        return {"role": role, "branch_id": instance.branch_id, "assignee_id": subject,
                "excluded_users": "", "escalated": False}
    people = subjects if subjects is not None else (
        {instance.subject_person_id} if instance.subject_person_id is not None else set())
    excluded: set[int] = {subject} if subject is not None and subjects is None else set()
    branch_id = None if Role(role) in BUREAU_ROLES else instance.branch_id
    for level, (pool_role, pool_branch) in enumerate([(role, branch_id)] + [(r, None) for r in ESCALATION if r != role]):
        holders = _holders(session, pool_role, pool_branch)
        left_out = {u for u, person in holders if person is not None and person in people} | (
            excluded & {u for u, _ in holders})
        excluded |= left_out
        if {u for u, _ in holders} - left_out:
            return {"role": pool_role, "branch_id": pool_branch, "assignee_id": None,
                    "excluded_users": excluded_text(excluded), "escalated": level > 0}
    # Nobody at all: the party office's pool (the monitor shows it has nobody).
    return {"role": Role.PARTY_OFFICE.value, "branch_id": None, "assignee_id": None,
            "excluded_users": excluded_text(excluded), "escalated": True}


# --- The predicates -----------------------------------------------------------------------------------


def _excluded(actor: Principal, task: Any) -> bool:
    return f" {actor.user_id} " in (task.excluded_users or "")


def in_pool(actor: Principal, task: Any) -> bool:
    """Whether `actor` belongs to the task's pool, whoever has taken it."""
    if _excluded(actor, task) or task.role == Role.MEMBER.value:
        return False
    return actor.holds(task.role, task.branch_id)


def may_act(actor: Principal, task: Any) -> bool:
    """Whether `actor` may act on the task: its assignee, or (while unclaimed) anyone in its pool."""
    if _excluded(actor, task):
        return False
    if task.assignee_id is not None:
        return bool(task.assignee_id == actor.user_id)
    return in_pool(actor, task)


def may_see(actor: Principal, task: Any) -> bool:
    """Whether the task is the actor's to see: assigned to them, done by them, or in their pool."""
    if _excluded(actor, task):
        return False
    return task.assignee_id == actor.user_id or task.completed_by == actor.user_id or in_pool(actor, task)


# --- Their SQL twins ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pool:
    """A group of holders a task can be waiting for: a role in one branch, or bureau-wide."""

    role: str
    branch_id: int | None
    bureau: bool = False


def pools(principal: Principal) -> list[Pool]:
    """The actor's pools: one per role held bureau-wide, else one per branch the role is held in
    (a member's own tasks are assigned to them, so membership makes no pool)."""
    out: list[Pool] = []
    for role in sorted({r for r, _ in principal.grants if r != Role.MEMBER}):
        scopes = principal.branches_for(role)
        if None in scopes:
            out.append(Pool(role, None, bureau=True))
        else:
            out.extend(Pool(role, b) for b in sorted(b for b in scopes if b is not None))
    return out


def excluded_pattern(principal: Principal) -> str:
    """The LIKE pattern of the principal in `excluded_users`."""
    return f"% {principal.user_id} %"


def not_excluded(principal: Principal, h: Any = HT) -> ColumnElement[bool]:
    return ~h.c.excluded_users.like(excluded_pattern(principal))


def pool_condition(pool: Pool, h: Any = HT) -> ColumnElement[bool]:
    """The tasks a pool holds (taken or not)."""
    if pool.bureau:
        return h.c.role == pool.role
    return and_(h.c.role == pool.role, h.c.branch_id == pool.branch_id)


def in_pool_clause(principal: Principal, h: Any = HT) -> ColumnElement[bool]:
    """`in_pool` as SQL."""
    terms = [pool_condition(p, h) for p in pools(principal)]
    return and_(not_excluded(principal, h), or_(*terms) if terms else false())


def act_clause(principal: Principal, h: Any = HT) -> ColumnElement[bool]:
    """`may_act` as SQL."""
    uid = principal.user_id
    return and_(not_excluded(principal, h),
                or_(h.c.assignee_id == uid, and_(h.c.assignee_id.is_(None), in_pool_clause(principal, h))))


def see_clause(principal: Principal, h: Any = HT) -> ColumnElement[bool]:
    """`may_see` as SQL."""
    uid = principal.user_id
    return and_(not_excluded(principal, h),
                or_(h.c.assignee_id == uid, h.c.completed_by == uid, in_pool_clause(principal, h)))
