"""The task inbox: which open human tasks a user may act on (`workflows.engine.access.may_act`),
read from the `human_task` mirror only.

A task is the user's when it is assigned to them, or when it is unclaimed and sits in one of their
pools (`access.pools`): the holders of `task.role` in `task.branch_id`, or bureau-wide holders of
the role (a grant with no branch). Nobody a task decides on (`excluded_users`) sees it;
a member's own tasks are assigned to them. The statements below are that rule laid out along the
indexes; `tests/test_task_access.py` checks that they list exactly what the rule allows.

A page of the inbox is ONE statement and its counts ONE more. Each pool is a range of the index
`ix_human_task_pool (state, role, branch_id, due_at)` and "assigned to me" a range of
`ix_human_task_assignee (assignee_id, state, due_at)`. Every pool contributes only its first
`offset + per_page` rows in the inbox's order (read in index order), so a page costs the same with
a thousand task rows or a million; the counts read at most `COUNT_CAP` rows per pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from models.clock import now
from models.evaluation import Quarter
from models.org import Branch
from models.people import Person, Role
from models.permissions import Principal
from models.process import HumanTask, TaskState
from workflows.engine.access import excluded_ids, excluded_pattern, pools
from workflows.reading.paging import Page

HT = HumanTask.__table__
# The order of the groups on the page: one's own tasks first, then the branch's work, then the bureau's.
ROLE_ORDER = (Role.MEMBER, Role.REVIEWER, Role.SECRETARY, Role.DISCIPLINE, Role.PARTY_OFFICE, Role.LEADING_GROUP,
              Role.PROCESS_DESIGNER, Role.ADMINISTRATOR)
COUNT_CAP = 1000  # per pool: a badge says "1000+" rather than counting a backlog nobody will page through
MAX_PAGE = 10_000
SHOW = ("all", "mine", "pool")


@dataclass(frozen=True)
class Filters:
    """What the user narrowed the inbox to; every field is optional."""

    quarter_id: int | None = None
    step: str | None = None  # the BPMN id of the step
    branch_id: int | None = None
    overdue: bool = False
    show: str = "all"  # "all" | "mine" (assigned to me) | "pool" (my groups', unclaimed)
    role: str | None = None

    @property
    def active(self) -> bool:
        return any((self.quarter_id, self.step, self.branch_id, self.overdue, self.show != "all", self.role))


@dataclass(frozen=True)
class InboxRow:
    """One task as the inbox shows it (flat: no lazy loads in the template)."""

    id: int
    instance_id: int
    process_key: str
    bpmn_id: str
    name: str
    form_key: str
    role: str
    branch_id: int | None
    quarter_id: int | None
    subject_person_id: int | None
    assignee_id: int | None
    escalated: bool
    due_at: datetime | None
    created_at: datetime
    mine: bool
    overdue: bool
    subject_name: str | None
    branch_name: str | None
    quarter_label: str | None

    @property
    def state(self) -> str:
        return TaskState.OPEN.value  # the inbox lists open tasks only


@dataclass
class GroupCount:
    mine: int = 0
    pool: int = 0
    overdue: int = 0

    @property
    def total(self) -> int:
        return self.mine + self.pool


@dataclass
class Counts:
    """Open tasks per role: assigned to me, unclaimed in my pools, overdue among them."""

    by_role: dict[str, GroupCount] = field(default_factory=dict)
    capped: bool = False  # some pool has more than COUNT_CAP tasks: the numbers are lower bounds

    @property
    def total(self) -> int:
        return sum(g.total for g in self.by_role.values())

    @property
    def mine(self) -> int:
        return sum(g.mine for g in self.by_role.values())

    @property
    def overdue(self) -> int:
        return sum(g.overdue for g in self.by_role.values())


@dataclass(frozen=True)
class InboxPage(Page):
    """A page of the inbox with its counts per role (its total is theirs)."""

    counts: Counts = field(default_factory=Counts)


def roles_of(principal: Principal) -> list[str]:
    """The inbox groups a user can have, in page order."""
    held = principal.roles | {Role.MEMBER.value}
    return [r.value for r in ROLE_ORDER if r.value in held] + sorted(held - {r.value for r in ROLE_ORDER})


def branch_ids(principal: Principal) -> set[int] | None:
    """The branches whose tasks the user's pools hold; None when some pool is bureau-wide."""
    found: set[int] = set()
    for pool in pools(principal):
        if pool.bureau:
            return None
        if pool.branch_id is not None:
            found.add(pool.branch_id)
    return found


# --- The two queries ---------------------------------------------------------------------------------
#
# A statement is built once per *shape* (how many pools of which kind, which filters are set, which
# database) with every value a bound parameter, and kept: each request only binds its values. The
# values that pick index ranges (state, role, branch, limits) are rendered into the SQL at
# execution (`_inline`), so PostgreSQL plans them like literals and never settles on a generic plan.


def _inline(name: str, type_: Any = None, **kw: Any) -> Any:
    return bindparam(name, type_=type_, literal_execute=True, **kw)


@dataclass(frozen=True)
class _Shape:
    postgres: bool
    pools: tuple[bool, ...]  # per pool asked: True when it is bureau-wide and read branch by branch
    mine: bool  # the tasks assigned to the user are asked
    quarter: bool
    step: bool
    branch: bool
    overdue: bool
    role: bool


def _ask(session: Session, principal: Principal, filters: Filters) -> tuple[_Shape, dict[str, Any]]:
    """The shape of the question and the values to bind."""
    f = filters
    params: dict[str, Any] = {"user_id": principal.user_id, "excluded_pattern": excluded_pattern(principal), "open": TaskState.OPEN.value, "moment": now(),
                              "quarter_id": f.quarter_id, "step": f.step, "branch_filter": f.branch_id,
                              "role_filter": f.role}
    kinds: list[bool] = []
    if f.show != "mine":
        for pool in pools(principal):
            if f.role and f.role != pool.role:
                continue
            if not pool.bureau and f.branch_id is not None and f.branch_id != pool.branch_id:
                continue
            i = len(kinds)
            params[f"role_{i}"] = pool.role
            params[f"branch_{i}"] = pool.branch_id
            kinds.append(pool.bureau and f.branch_id is None)
    shape = _Shape(session.get_bind().dialect.name == "postgresql", tuple(kinds), f.show != "pool",
                   f.quarter_id is not None, bool(f.step), f.branch_id is not None, f.overdue, bool(f.role))
    return shape, params


def _filter_conditions(h: Any, shape: _Shape) -> list[ColumnElement[bool]]:
    # `access.not_excluded`, bound once per shape.
    conditions: list[ColumnElement[bool]] = [
        h.c.state == _inline("open", String()), ~h.c.excluded_users.like(bindparam("excluded_pattern"))]
    if shape.quarter:
        conditions.append(h.c.quarter_id == bindparam("quarter_id"))
    if shape.step:
        conditions.append(h.c.bpmn_id == bindparam("step"))
    if shape.overdue:
        conditions.append(h.c.due_at < bindparam("moment"))
    return conditions


def _pool_conditions(shape: _Shape, i: int, h: Any = HT) -> list[ColumnElement[bool]]:
    """The WHERE of the unclaimed tasks of the i-th pool asked."""
    # SQLite answers "assignee_id IS NULL" from the assignee index, i.e. every unclaimed task of the
    # table; as an expression no index serves, the pool's own range is read instead.
    unclaimed = h.c.assignee_id.is_(None) if shape.postgres else func.coalesce(h.c.assignee_id, 0) == 0
    conditions = [h.c.role == _inline(f"role_{i}", String()), unclaimed] + _filter_conditions(h, shape)
    if shape.branch:
        conditions.append(h.c.branch_id == bindparam("branch_filter"))
    elif not shape.pools[i]:
        conditions.append(h.c.branch_id == _inline(f"branch_{i}", Integer()))
    return conditions


def _mine_conditions(shape: _Shape) -> list[ColumnElement[bool]]:
    """The WHERE of the open tasks assigned to the user (any role: the party office may hand one over)."""
    conditions = [HT.c.assignee_id == bindparam("user_id")] + _filter_conditions(HT, shape)
    if shape.role:
        conditions.append(HT.c.role == bindparam("role_filter"))
    if shape.branch:
        conditions.append(HT.c.branch_id == bindparam("branch_filter"))
    return conditions


LIST_COLUMNS = (HT.c.id, HT.c.role, HT.c.due_at)
LIMIT = _inline("first", Integer())


def _first(query: Select[Any], *order: Any) -> Select[Any]:
    """`query` ordered and limited, wrapped so it can be one arm of a UNION ALL on every database."""
    inner = query.order_by(*order).limit(LIMIT).subquery()
    return select(*inner.c)


def _ranges(base: Select[Any], shape: _Shape, *lead: Any) -> list[Select[Any]]:
    """The first rows of `base` in inbox order (due first, no due date last) read as index ranges.

    PostgreSQL's ascending index already puts NULL last: one range. SQLite's puts NULL first: the
    dated range, then (unless only overdue tasks are wanted) the undated one. `lead` are index
    columns the WHERE holds constant, named so PostgreSQL sees the index order (it does not count
    `branch_id IS NULL` as a constant)."""
    if shape.postgres:
        return [_first(base, *lead, HT.c.due_at, HT.c.id)]
    arms = [_first(base.where(HT.c.due_at.is_not(None)), *lead, HT.c.due_at, HT.c.id)]
    if not shape.overdue:
        arms.append(_first(base.where(HT.c.due_at.is_(None)), *lead, HT.c.id))
    return arms


def _per_branch(shape: _Shape, i: int) -> list[Select[Any]]:
    """A bureau-wide pool, branch by branch: each branch's first rows read from its own index
    range (the index orders by branch before due date). A LATERAL join on PostgreSQL; a correlated
    `id IN (...)` per branch on SQLite, which has no LATERAL."""
    br = Branch.__table__
    h = HT.alias("h")
    conditions = _pool_conditions(shape, i, h) + [h.c.branch_id == br.c.id]
    unclaimed = literal(1, Integer).label("unclaimed")
    if shape.postgres:  # one range: an ascending index puts NULL due dates last already
        inner = (select(h.c.id, h.c.role, h.c.due_at).where(*conditions)
                 .order_by(h.c.due_at, h.c.id).limit(LIMIT).lateral("per_branch"))
        return [select(inner.c.id, inner.c.role, inner.c.due_at, unclaimed).select_from(br.join(inner, true()))]
    o = HT.alias("o")
    arms = []
    for dated in (True,) if shape.overdue else (True, False):
        due = h.c.due_at.is_not(None) if dated else h.c.due_at.is_(None)
        first = select(h.c.id).where(*conditions, due).order_by(*((h.c.due_at, h.c.id) if dated else (h.c.id,)))
        arms.append(select(o.c.id, o.c.role, o.c.due_at, unclaimed)
                    .select_from(br.join(o, o.c.id.in_(first.limit(LIMIT)))))
    return arms


def _role_rank(column: Any) -> Any:
    return case({r.value: i for i, r in enumerate(ROLE_ORDER)}, value=column, else_=len(ROLE_ORDER))


@lru_cache(maxsize=512)
def _list_statement(shape: _Shape) -> Select[Any] | None:
    """The tasks assigned to the user, most urgent first, then each pool's unclaimed tasks, pool by
    pool in role order, most urgent first: every range contributes its first rows (enough to fill
    the page), the page is chosen among them and only then joined to what a row shows. Neither
    database sorts a pool or reads past what the page needs."""
    arms: list[Select[Any]] = []
    if shape.mine:
        arms += _ranges(select(*LIST_COLUMNS, literal(0, Integer).label("unclaimed")).where(*_mine_conditions(shape)),
                        shape)
    for i, per_branch in enumerate(shape.pools):
        base = select(*LIST_COLUMNS, literal(1, Integer).label("unclaimed")).where(*_pool_conditions(shape, i))
        if per_branch:
            arms += _ranges(base.where(HT.c.branch_id.is_(None)), shape, HT.c.branch_id)
            arms += _per_branch(shape, i)
        else:
            arms += _ranges(base, shape, HT.c.branch_id)
    if not arms:
        return None
    c = (arms[0] if len(arms) == 1 else union_all(*arms)).subquery("candidate")
    # Assigned to me: one group; unclaimed: a group per role.
    group = case((c.c.unclaimed == 0, -1), else_=_role_rank(c.c.role))
    group_role = case((c.c.unclaimed == 0, ""), else_=c.c.role)
    undated = c.c.due_at.is_(None)
    ranked = (select(c.c.id, c.c.unclaimed, group.label("grp"), group_role.label("grp_role"), undated.label("undated"),
                     c.c.due_at)
              .order_by(group, group_role, undated, c.c.due_at, c.c.id)
              .offset(_inline("offset", Integer())).limit(_inline("per_page", Integer()))
              .subquery("ranked"))
    return (
        select(HT, ranked.c.unclaimed, Person.name.label("subject_name"), Branch.name.label("branch_name"),
               Quarter.year, Quarter.quarter.label("quarter_number"))
        .select_from(ranked.join(HT, HT.c.id == ranked.c.id)
                     .outerjoin(Person, Person.id == HT.c.subject_person_id)
                     .outerjoin(Branch, Branch.id == HT.c.branch_id)
                     .outerjoin(Quarter, Quarter.id == HT.c.quarter_id))
        .order_by(ranked.c.grp, ranked.c.grp_role, ranked.c.undated, ranked.c.due_at, ranked.c.id)
    )


@lru_cache(maxsize=512)
def _count_statement(shape: _Shape) -> Select[Any] | None:
    """Per role: assigned to me, unclaimed, overdue; at most COUNT_CAP rows read per pool."""
    wheres = [(1, _pool_conditions(shape, i)) for i in range(len(shape.pools))]
    if shape.mine:
        wheres.append((0, _mine_conditions(shape)))
    arms = []
    for unclaimed, conditions in wheres:
        inner = select(HT.c.role, HT.c.due_at, literal(unclaimed, Integer).label("unclaimed")).where(*conditions)
        arms.append(select(*inner.limit(COUNT_CAP).subquery().c))
    if not arms:
        return None
    c = (arms[0] if len(arms) == 1 else union_all(*arms)).subquery("counted")
    return (select(c.c.role, c.c.unclaimed, func.count().label("n"),
                   func.sum(case((c.c.due_at < bindparam("moment"), 1), else_=0)).label("overdue"))
            .group_by(c.c.role, c.c.unclaimed))


def list_tasks(session: Session, principal: Principal, filters: Filters = Filters(), *, page: int = 1,
               per_page: int = 25) -> list[InboxRow]:
    """One page of the user's open tasks: those assigned to them, then their groups' unclaimed
    ones role by role; the most urgent first (no due date last) in each. One statement."""
    page = min(max(page, 1), MAX_PAGE)
    per_page = min(max(per_page, 1), 200)
    shape, params = _ask(session, principal, filters)
    statement = _list_statement(shape)
    if statement is None:
        return []
    offset = (page - 1) * per_page
    params.update(first=offset + per_page, offset=offset, per_page=per_page)
    moment = params["moment"]
    rows = []
    for r in session.execute(statement, params):
        rows.append(InboxRow(
            id=r.id, instance_id=r.instance_id, process_key=r.process_key, bpmn_id=r.bpmn_id, name=r.name,
            form_key=r.form_key, role=r.role, branch_id=r.branch_id, quarter_id=r.quarter_id,
            subject_person_id=r.subject_person_id, assignee_id=r.assignee_id, escalated=bool(r.escalated),
            due_at=r.due_at, created_at=r.created_at, mine=not r.unclaimed,
            overdue=r.due_at is not None and r.due_at < moment, subject_name=r.subject_name,
            branch_name=r.branch_name,
            quarter_label=f"{r.year}Q{r.quarter_number}" if r.year is not None else None))
    return rows


def count_tasks(session: Session, principal: Principal, filters: Filters = Filters()) -> Counts:
    """How many open tasks the user has per role (mine, unclaimed, overdue). One statement."""
    shape, params = _ask(session, principal, filters)
    statement = _count_statement(shape)
    counts = Counts()
    if statement is None:
        return counts
    for role, unclaimed, n, overdue in session.execute(statement, params):
        group = counts.by_role.setdefault(role, GroupCount())
        if unclaimed:
            group.pool += n
        else:
            group.mine += n
        group.overdue += int(overdue or 0)
        counts.capped = counts.capped or n >= COUNT_CAP
    counts.by_role = {r: counts.by_role[r] for r in sorted(counts.by_role, key=_rank_key)}
    return counts


def _rank_key(role: str) -> tuple[int, str]:
    order = [r.value for r in ROLE_ORDER]
    return (order.index(role) if role in order else len(order), role)


def inbox_page(session: Session, principal: Principal, filters: Filters = Filters(), *, page: int = 1,
               per_page: int = 25) -> InboxPage:
    """A page of the inbox with its counts (two statements)."""
    counts = count_tasks(session, principal, filters)
    pages = max(1, -(-counts.total // per_page))
    page = min(max(page, 1), pages, MAX_PAGE)
    return InboxPage(list_tasks(session, principal, filters, page=page, per_page=per_page), counts.total, page, per_page,
                     counts)


def badge(session: Session, principal: Principal) -> int:
    """The number in the navigation: every open task waiting for the user."""
    return count_tasks(session, principal).total


# --- What the filters offer ----------------------------------------------------------------------------


def steps(session: Session, principal: Principal) -> list[tuple[str, str]]:
    """(bpmn id, name) of the user-task steps of the deployed processes the user's roles do."""
    from models.process import ProcessVersion

    newest = (select(ProcessVersion.process_key, func.max(ProcessVersion.version).label("v"))
              .group_by(ProcessVersion.process_key).subquery())
    metas = session.scalars(select(ProcessVersion.meta).join(
        newest, (ProcessVersion.process_key == newest.c.process_key) & (ProcessVersion.version == newest.c.v)))
    held = set(roles_of(principal))
    found: dict[str, str] = {}
    for meta in metas:
        for bpmn_id, task in ((meta or {}).get("user_tasks") or {}).items():
            if task.get("role") in held or Role.PARTY_OFFICE.value in held:
                found.setdefault(bpmn_id, task.get("name") or bpmn_id)
    return sorted(found.items(), key=lambda kv: kv[0])


def quarters(session: Session) -> list[tuple[int, str]]:
    rows = session.execute(select(Quarter.id, Quarter.year, Quarter.quarter, Quarter.title)
                           .order_by(Quarter.year.desc(), Quarter.quarter.desc(), Quarter.id.desc()).limit(40))
    return [(r.id, f"{r.year}Q{r.quarter}" + (f" {r.title}" if r.title else "")) for r in rows]


def branches(session: Session, principal: Principal) -> list[tuple[int, str]]:
    """The branches the user's pools reach (every branch for a bureau-wide holder)."""
    scope = branch_ids(principal)
    query = select(Branch.id, Branch.name).order_by(Branch.sort, Branch.id)
    if scope is not None:
        if not scope:
            return []
        query = query.where(Branch.id.in_(scope))
    else:
        query = query.where(Branch.active.is_(True))
    return [(r.id, r.name) for r in session.execute(query)]


def reassign_candidates(session: Session, task: Any) -> list[tuple[int, str, str]]:
    """Who the party office may hand a task to: active holders of its role in its branch or
    bureau-wide, and the party office itself; never the subject, never the current assignee.
    (user id, name, what they hold)"""
    from models.people import RoleAssignment, User

    scope = RoleAssignment.branch_id.is_(None)
    if task.branch_id is not None:
        scope = or_(scope, RoleAssignment.branch_id == task.branch_id)
    query = (select(User.id, User.username, User.display_name, Person.name, RoleAssignment.role, RoleAssignment.branch_id)
             .join(RoleAssignment, RoleAssignment.user_id == User.id)
             .outerjoin(Person, Person.id == User.person_id)
             .where(User.active.is_(True),
                    or_(and_(RoleAssignment.role == task.role, scope),
                        and_(RoleAssignment.role == Role.PARTY_OFFICE.value, RoleAssignment.branch_id.is_(None))))
             .order_by(RoleAssignment.role != task.role, Person.name, User.username))
    if task.role == Role.MEMBER:
        return []
    out: dict[int, tuple[int, str, str]] = {}
    for r in session.execute(query):
        if r.id in excluded_ids(task.excluded_users) or r.id == task.assignee_id or r.id in out:
            continue
        out[r.id] = (r.id, r.name or r.display_name or r.username, r.role)
    return list(out.values())
