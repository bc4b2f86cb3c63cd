"""The publicity board (晒绩): a posted quarter's branch ranking, bureau ranking and the branches
ranked by collective score, for every party member of the bureau (`ranking.view`), with a print
view for posting (张榜) and an Excel export. Only branches whose publicity has started are shown;
while a branch's window is open each of its rows links to the page where a concern is raised."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from models.clock import now
from models.org import Bureau
from webapp.arguments import int_arg, optional_int
from webapp.authz import current_principal, guard
from webapp.extensions import db
from webapp.labels import label
from webapp.nav import register
from webapp.office.web import in_range, xlsx_response
from webapp.publicity import bp
from workflows.reading import ranking

register(_l("Publicity board"), "publicity.index", "ranking.view", order=50)

ACTION = "ranking.view"
PRINT_PER_PAGE = 500
VIEWS = ("branches", "branch", "bureau")


def _board(quarter_id: int) -> ranking.Board:
    board = ranking.board(db.session, in_range(quarter_id))
    if board is None or not board.branches:
        abort(404)
    return board


def _me() -> int | None:
    principal = current_principal()
    return principal.person_id if principal else None


def _concern_url(row: ranking.Row, board: ranking.Board, moment: Any, me: int | None) -> str | None:
    """The concern page of a posted score, while its branch's window is open (not for one's own)."""
    branch = board.branches.get(row.branch_id)
    if branch is None or row.person_id == me or not branch.window_open(moment):
        return None
    return f"/evaluations/{row.evaluation_id}/concern"


def _chosen_branch(board: ranking.Board) -> int:
    """The branch asked for, else the viewer's own (when posted), else the first posted one."""
    asked = optional_int(request.args.get("branch"))
    if asked is not None:
        if asked not in board.branches:
            abort(404)
        return asked
    principal = current_principal()
    own = principal.branch_id if principal else None
    return own if own in board.branches else next(iter(board.branches))


def _context(board: ranking.Board, view: str, **extra: Any) -> dict[str, Any]:
    moment = now()
    me = _me()
    return {"board": board, "quarter": board.quarter, "view": view, "me": me, "now": moment,
            "concern": lambda row: _concern_url(row, board, moment, me),
            "open_windows": [b for b in board.branches.values() if b.window_open(moment)], **extra}


@bp.route("/")
@guard(ACTION)
def index():
    """The quarters with posted scores, newest first."""
    quarters = ranking.posted_quarters(db.session)
    return render_template("publicity/index.html", quarters=quarters)


@bp.route("/<int:quarter_id>/")
@guard(ACTION)
def board(quarter_id: int):
    """A quarter's board opens on the viewer's own branch when it is posted, else on the branches."""
    b = _board(quarter_id)
    principal = current_principal()
    if principal and principal.branch_id in b.branches:
        return redirect(url_for("publicity.branch", quarter_id=quarter_id))
    return redirect(url_for("publicity.branches", quarter_id=quarter_id))


@bp.route("/<int:quarter_id>/branches")
@guard(ACTION)
def branches(quarter_id: int):
    """The posted branches ranked by their collective score."""
    b = _board(quarter_id)
    table = ranking.collective(db.session, quarter_id, b.scope())
    return render_template("publicity/branches.html", table=table, **_context(b, "branches"))


@bp.route("/<int:quarter_id>/branch")
@guard(ACTION)
def branch(quarter_id: int):
    """The members of one posted branch, ranked."""
    b = _board(quarter_id)
    branch_id = _chosen_branch(b)
    page = ranking.ranking_page(db.session, quarter_id, b.scope(branch_id), page=int_arg("page", 1))
    return render_template("publicity/ranking.html", page=page, branch=b.branches[branch_id],
                           **_context(b, "branch"))


@bp.route("/<int:quarter_id>/bureau")
@guard(ACTION)
def bureau(quarter_id: int):
    """Every member of the posted branches, ranked (a page at a time)."""
    b = _board(quarter_id)
    page = ranking.ranking_page(db.session, quarter_id, b.scope(), page=int_arg("page", 1))
    return render_template("publicity/ranking.html", page=page, branch=None, **_context(b, "bureau"))


@bp.route("/<int:quarter_id>/bureau/me")
@guard(ACTION)
def find_me(quarter_id: int):
    """Jump to the page of the bureau ranking (or of one branch's) where the viewer stands."""
    b = _board(quarter_id)
    me = _me()
    branch_id = optional_int(request.args.get("branch"))
    scope = b.scope(branch_id) if branch_id is not None else b.scope()
    position = ranking.position_of(db.session, quarter_id, me, scope) if me is not None else None
    endpoint = "publicity.branch" if branch_id is not None else "publicity.bureau"
    args = {"branch": branch_id} if branch_id is not None else {}
    if position is None:
        flash(_("You are not on this ranking: your score is not posted here."), "info")
        return redirect(url_for(endpoint, quarter_id=quarter_id, **args))
    page = (position - 1) // ranking.PER_PAGE + 1
    return redirect(url_for(endpoint, quarter_id=quarter_id, page=page, **args) + "#me")


def _bureau_name() -> str:
    return db.session.scalar(select(Bureau.name).limit(1)) or ""


@bp.route("/<int:quarter_id>/print")
@guard(ACTION)
def print_view(quarter_id: int):
    """A page to print and post on the board (张榜): one branch, the branches, or a page of the bureau."""
    b = _board(quarter_id)
    view = request.args.get("view", "branch")
    view = view if view in VIEWS else "branch"
    context = _context(b, view, bureau_name=_bureau_name(), printed_at=now())
    if view == "branches":
        return render_template("publicity/print.html", table=ranking.collective(db.session, quarter_id, b.scope()),
                               **context)
    if view == "branch":
        branch_id = _chosen_branch(b)
        page = ranking.ranking_page(db.session, quarter_id, b.scope(branch_id), page=int_arg("page", 1),
                                    per_page=PRINT_PER_PAGE)
        return render_template("publicity/print.html", page=page, branch=b.branches[branch_id], **context)
    page = ranking.ranking_page(db.session, quarter_id, b.scope(), page=int_arg("page", 1), per_page=PRINT_PER_PAGE)
    return render_template("publicity/print.html", page=page, branch=None, **context)


def _ranking_rows(rows: Any) -> Any:
    for row in rows:
        yield [row.rank, row.name, row.branch, label("membership", row.member_status), float(row.score),
               label("grade", row.grade)]


def _collective_rows(table: list[dict[str, Any]]) -> Any:
    for t in table:
        yield [t["rank"], t["branch"], t["members"], *(None if t[k] is None else float(t[k])
                                                       for k in ("mean", "stdev", "min", "max")),
               t["excellent"], t["failed"]]


@bp.route("/<int:quarter_id>/export.xlsx")
@guard(ACTION)
def export(quarter_id: int):
    """The ranking as a workbook: the bureau ranking and the branches (view=bureau), or one branch."""
    b = _board(quarter_id)
    view = request.args.get("view", "bureau")
    heads = [_("Rank"), _("Full name"), _("Party branch"), _("Membership"), _("Score (points)"), _("Grade")]
    collective_heads = [_("Rank"), _("Party branch"), _("Members"), _("Mean"), _("Spread"), _("Lowest"), _("Highest"),
                        _("Excellent"), _("Below the pass line")]
    title = f"{b.quarter.title}（{b.quarter.label}）"
    if view == "branch":
        branch_id = _chosen_branch(b)
        name = b.branches[branch_id].name
        sheets = [(name, heads, _ranking_rows(ranking.iter_ranking(db.session, quarter_id, b.scope(branch_id))))]
        return xlsx_response(sheets, f"ranking-{b.quarter.label}-{branch_id}.xlsx", title_rows=[title, name])
    sheets = [
        (_("Bureau ranking"), heads, _ranking_rows(ranking.iter_ranking(db.session, quarter_id, b.scope()))),
        (_("Party branches"), collective_heads, _collective_rows(ranking.collective(db.session, quarter_id, b.scope()))),
    ]
    return xlsx_response(sheets, f"ranking-{b.quarter.label}.xlsx", title_rows=[title])
