"""The publicity board (晒绩): a posted quarter's rankings, read straight from the indexed scores.

Every party member of the bureau may see the branch ranking (one branch's members), the bureau
ranking (every member) and the branches ranked by their collective score — but only for branches
whose publicity has started. Ranks are computed by the database with a window function
(`RANK() OVER (ORDER BY score DESC)`) over the index on evaluation(quarter_id, score), one page at
a time: a page of the bureau ranking is one ranked query for its rows, one count, and nothing per
row, whatever the size of the bureau. Ties share a rank (competition ranking: 1, 1, 3); within a
tie rows are in a stable order (by evaluation id) so pages never overlap.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from models.catalogue import CatalogueVersion
from models.clock import now
from models.evaluation import BranchQuarter, Evaluation, Quarter
from models.org import Branch, Unit
from models.people import Person
from workflows.reading.paging import Page

PER_PAGE = 100
MAX_PER_PAGE = 500
CENT = Decimal("0.01")

E = Evaluation.__table__
BQ = BranchQuarter.__table__


@dataclass(frozen=True)
class PostedBranch:
    """A branch of the quarter whose scores have been posted."""

    branch_id: int
    name: str
    unit: str
    status: str
    members: int
    publicity_start: datetime
    publicity_end: datetime | None

    def window_open(self, moment: datetime | None = None) -> bool:
        """Whether concerns about this branch's scores are accepted now (the publicity window)."""
        moment = moment or now()
        return self.publicity_end is not None and self.publicity_start <= moment < self.publicity_end


@dataclass(frozen=True)
class Board:
    """What of a quarter is on the board: its posted branches (in the bureau's order)."""

    quarter: Quarter
    branches: dict[int, PostedBranch]
    all_posted: bool  # every branch of the quarter is posted: no branch filter is needed

    def scope(self, branch_id: int | None = None) -> Collection[int] | None:
        """The branch filter of a ranking: one branch, the posted ones, or None for all."""
        if branch_id is not None:
            return [branch_id] if branch_id in self.branches else []
        return None if self.all_posted else list(self.branches)


@dataclass(frozen=True)
class Row:
    rank: int
    position: int  # 1-based place in the ranking's order (ties by evaluation id)
    evaluation_id: int
    person_id: int
    name: str
    employee_no: str
    branch_id: int
    branch: str
    member_status: str
    score: Decimal
    grade: str | None


def posted_quarters(session: Session) -> list[Quarter]:
    """Quarters with at least one posted branch, newest first."""
    posted = select(BQ.c.quarter_id).where(BQ.c.publicity_start.is_not(None)).distinct()
    return list(session.scalars(select(Quarter).where(Quarter.id.in_(posted))
                                .order_by(Quarter.year.desc(), Quarter.quarter.desc(), Quarter.id.desc())))


def board(session: Session, quarter_id: int) -> Board | None:
    """The quarter's board, or None when the quarter does not exist."""
    quarter = session.get(Quarter, quarter_id)
    if quarter is None:
        return None
    rows = session.execute(
        select(BQ.c.branch_id, BQ.c.status, BQ.c.member_count, BQ.c.publicity_start, BQ.c.publicity_end,
               Branch.name, Unit.name.label("unit"))
        .join(Branch, Branch.id == BQ.c.branch_id).join(Unit, Unit.id == Branch.unit_id)
        .where(BQ.c.quarter_id == quarter_id)
        .order_by(Unit.sort, Unit.id, Branch.sort, Branch.id)).all()
    posted = {r.branch_id: PostedBranch(r.branch_id, r.name, r.unit, r.status, r.member_count,
                                        r.publicity_start, r.publicity_end)
              for r in rows if r.publicity_start is not None}
    return Board(quarter, posted, all_posted=bool(rows) and len(posted) == len(rows))


def _where(quarter_id: int, branch_ids: Collection[int] | None) -> list[Any]:
    clauses: list[Any] = [E.c.quarter_id == quarter_id, E.c.score.is_not(None)]
    if branch_ids is not None:
        clauses.append(E.c.branch_id.in_(list(branch_ids) or [-1]))
    return clauses


# The ranking's order: score descending, ties by evaluation id descending — exactly the backward
# order of the index on evaluation(quarter_id, score, id), so a page is read from the index alone.
ORDER = (E.c.score.desc(), E.c.id.desc())


def _named(keys: Any) -> Any:
    """Names and facts for the evaluations of `keys` (a subquery of id and score), in order."""
    return (select(keys.c.id, keys.c.score, E.c.person_id, E.c.branch_id, E.c.member_status, E.c.grade,
                   Person.name, Person.employee_no, Branch.name.label("branch"))
            .select_from(keys).join(E, E.c.id == keys.c.id)
            .join(Person, Person.id == E.c.person_id).join(Branch, Branch.id == E.c.branch_id)
            .order_by(keys.c.score.desc(), keys.c.id.desc()))


def _row(r: Any, position: int, rank: int) -> Row:
    return Row(rank=rank, position=position, evaluation_id=r.id, person_id=r.person_id, name=r.name,
               employee_no=r.employee_no, branch_id=r.branch_id, branch=r.branch, member_status=r.member_status,
               score=Decimal(r.score).quantize(CENT), grade=r.grade)


def count(session: Session, quarter_id: int, branch_ids: Collection[int] | None) -> int:
    return int(session.scalar(select(func.count()).select_from(E).where(*_where(quarter_id, branch_ids))) or 0)


def ranking_page(session: Session, quarter_id: int, branch_ids: Collection[int] | None, *, page: int = 1,
                 per_page: int = PER_PAGE) -> Page:
    """One page of the ranking of the evaluations in scope (None: the whole quarter).

    Three indexed statements whatever the page: the count; the page's keys, read off the index from
    whichever end of the ranking is nearer (so no page skips more than half of it), then names for
    those rows only; and how many scored above the page's first score (counted on the smaller side of
    it). Competition ranks follow: the rows tied with the first share its rank, and a row that starts
    a new score within the page is ranked by its position.
    """
    per_page = max(1, min(int(per_page), MAX_PER_PAGE))
    total = count(session, quarter_id, branch_ids)
    pages = max(1, math.ceil(total / per_page))
    page = max(1, min(int(page), pages))
    offset = (page - 1) * per_page
    from_bottom = offset > total // 2
    keys = select(E.c.id, E.c.score).where(*_where(quarter_id, branch_ids))
    if from_bottom:  # the same rows, read upwards from the last one
        size = min(per_page, total - offset)
        keys = keys.order_by(E.c.score, E.c.id).limit(size).offset(total - offset - size)
    else:
        keys = keys.order_by(*ORDER).limit(per_page).offset(offset)
    rows = session.execute(_named(keys.subquery("page_keys"))).all()
    if not rows:
        return Page([], total, page, per_page)
    top = rows[0].score
    if from_bottom:
        ahead = total - _count(session, quarter_id, branch_ids, E.c.score <= top)
    else:
        ahead = _count(session, quarter_id, branch_ids, E.c.score > top)
    out: list[Row] = []
    rank = ahead + 1
    for i, r in enumerate(rows):
        position = offset + i + 1
        if i and r.score != rows[i - 1].score:
            rank = position
        out.append(_row(r, position, rank))
    return Page(out, total, page, per_page)


def _count(session: Session, quarter_id: int, branch_ids: Collection[int] | None, condition: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(E).where(
        *_where(quarter_id, branch_ids), condition)) or 0)


def position_of(session: Session, quarter_id: int, person_id: int, branch_ids: Collection[int] | None) -> int | None:
    """Where a person stands in the ranking's order (1-based), or None when not on it."""
    me = session.execute(select(E.c.id, E.c.score).where(*_where(quarter_id, branch_ids),
                                                         E.c.person_id == person_id)).first()
    if me is None:
        return None
    ahead = session.scalar(select(func.count()).select_from(E).where(
        *_where(quarter_id, branch_ids),
        or_(E.c.score > me.score, and_(E.c.score == me.score, E.c.id > me.id))))
    return int(ahead or 0) + 1


def iter_ranking(session: Session, quarter_id: int, branch_ids: Collection[int] | None,
                 chunk: int = 2000) -> Iterator[Row]:
    """Every row of the ranking in order, streamed in chunks (for the Excel export).

    Here the database ranks every row in one pass with RANK() OVER (ORDER BY score DESC); the ROWS
    frame spares PostgreSQL 15 a scan of each row's peers (a large tie made it quadratic).
    """
    rank = func.rank().over(order_by=E.c.score.desc(), rows=(None, 0)).label("rank")
    keys = select(E.c.id, E.c.score, rank).where(*_where(quarter_id, branch_ids)).subquery("ranked")
    query = _named(keys).add_columns(keys.c.rank)
    result = session.execute(query.execution_options(yield_per=chunk, stream_results=True))
    for position, r in enumerate(result, start=1):
        yield _row(r, position, int(r.rank))


def collective(session: Session, quarter_id: int, branch_ids: Collection[int] | None) -> list[dict[str, Any]]:
    """Each branch's collective score (mean, spread, extremes, excellent and failed counts), ranked by
    the mean (ties share a rank). One aggregate query over the (quarter, branch, score) index: the
    excellent and failed counts compare scores with the quarter's lines (what the grade is made of),
    and the spread is the population standard deviation, from the mean of the squares."""
    quarter = session.get(Quarter, quarter_id)
    version = session.get(CatalogueVersion, quarter.catalogue_version_id) if quarter else None
    if version is None:
        return []
    clauses: list[Any] = [E.c.quarter_id == quarter_id]
    if branch_ids is not None:
        clauses.append(E.c.branch_id.in_(list(branch_ids) or [-1]))
    rows = session.execute(
        select(E.c.branch_id, func.count().label("members"), func.count(E.c.score).label("scored"),
               func.avg(E.c.score).label("mean"), func.avg(E.c.score * E.c.score).label("mean_sq"),
               func.min(E.c.score).label("min"), func.max(E.c.score).label("max"),
               func.sum(case((E.c.score >= version.excellent_line, 1), else_=0)).label("excellent"),
               func.sum(case((E.c.score < version.pass_line, 1), else_=0)).label("failed"))
        .where(*clauses).group_by(E.c.branch_id)).all()
    names = dict(session.execute(select(Branch.id, Branch.name).where(
        Branch.id.in_([r.branch_id for r in rows] or [-1]))).all())
    table = []
    for r in rows:
        mean = None if r.mean is None else Decimal(str(r.mean))
        spread = None
        if mean is not None:
            variance = max(Decimal(0), Decimal(str(r.mean_sq)) - mean * mean)
            spread = Decimal(math.sqrt(variance)).quantize(CENT) if r.scored > 1 else Decimal("0.00")
        table.append({
            "branch_id": r.branch_id, "branch": names.get(r.branch_id, str(r.branch_id)),
            "members": int(r.members), "scored": int(r.scored),
            "mean": None if mean is None else mean.quantize(CENT, rounding=ROUND_HALF_UP), "stdev": spread,
            "min": None if r.min is None else Decimal(r.min).quantize(CENT),
            "max": None if r.max is None else Decimal(r.max).quantize(CENT),
            "excellent": int(r.excellent or 0), "failed": int(r.failed or 0),
        })
    table.sort(key=lambda t: (t["mean"] is None, -(t["mean"] or 0), t["branch"]))
    previous: Decimal | None = None
    rank = 0
    for i, row in enumerate(table, start=1):
        if row["mean"] is None:
            row["rank"] = None
            continue
        if row["mean"] != previous:
            rank, previous = i, row["mean"]
        row["rank"] = rank
    return table
