"""The publicity board (晒绩): ranking order and ties (the page reader agrees with the database's
RANK() window and with a plain count), who sees what (every member, only posted branches),
concern links during the window, "find me", the print view and the Excel export."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from models.evaluation import BranchQuarter, Evaluation
from tests import bureau_pages_setup as S
from tests import quarter_helpers as qh
from workflows.engine import tx
from workflows.quarter import branch as branches
from workflows.reading import ranking

# --- The ranking service, on a synthetic bureau with many ties ----------------------------------------


def _competition_ranks(scores: list) -> list[int]:
    ranks, previous, rank = [], None, 0
    for i, score in enumerate(scores, start=1):
        if score != previous:
            rank, previous = i, score
        ranks.append(rank)
    return ranks


@pytest.mark.parametrize("per_page", [1, 7, 100])
def test_pages_agree_with_the_window_function_and_with_counting(app, db_session, per_page):
    quarter_id = S.big_board(db_session, members=230, branches=4)
    everything = list(ranking.iter_ranking(db_session, quarter_id, None))
    assert len(everything) == 230
    scores = [r.score for r in everything]
    assert scores == sorted(scores, reverse=True)
    assert [r.rank for r in everything] == _competition_ranks(scores)  # RANK() OVER (ORDER BY score DESC)
    paged: list[ranking.Row] = []
    page = 1
    while True:
        p = ranking.ranking_page(db_session, quarter_id, None, page=page, per_page=per_page)
        paged += p.rows
        if not p.has_next:
            break
        page += 1
    assert [(r.evaluation_id, r.rank, r.position) for r in paged] == [
        (r.evaluation_id, r.rank, r.position) for r in everything]
    for row in everything[:: max(1, 230 // 9)]:
        assert ranking.position_of(db_session, quarter_id, row.person_id, None) == row.position


def test_ties_share_a_rank_and_the_next_rank_skips(app, db_session):
    quarter_id = S.big_board(db_session, members=120, branches=3)
    rows = list(ranking.iter_ranking(db_session, quarter_id, None))
    tie = [r for r in rows if r.score == 100]
    assert len(tie) > 20 and len({r.rank for r in tie}) == 1
    after = rows[rows.index(tie[-1]) + 1]
    assert after.rank == tie[0].rank + len(tie)
    # One branch: its own ranks, from 1.
    b = ranking.board(db_session, quarter_id)
    first_branch = next(iter(b.branches))
    page = ranking.ranking_page(db_session, quarter_id, b.scope(first_branch), per_page=500)
    assert page.rows[0].rank == 1 and {r.branch_id for r in page.rows} == {first_branch}
    assert page.total == 40
    # Out-of-range pages are clamped, never empty or an error.
    assert ranking.ranking_page(db_session, quarter_id, None, page=999).page == 2
    assert ranking.ranking_page(db_session, quarter_id, None, page=-3).page == 1


def test_collective_scores_rank_branches_by_mean(app, db_session):
    quarter_id = S.big_board(db_session, members=90, branches=3)
    table = ranking.collective(db_session, quarter_id, None)
    means = [t["mean"] for t in table]
    assert means == sorted(means, reverse=True) and [t["rank"] for t in table] == [1, 2, 3]
    rows = db_session.execute(select(Evaluation.branch_id, Evaluation.score)).all()
    for t in table:
        scores = [float(s) for b, s in rows if b == t["branch_id"]]
        assert t["members"] == len(scores) == 30
        assert abs(float(t["mean"]) - sum(scores) / len(scores)) < 0.006
        assert t["max"] == max(scores) or float(t["max"]) == max(scores)
        assert t["failed"] == sum(1 for s in scores if s < 90) and t["excellent"] == sum(1 for s in scores if s >= 110)


# --- The board's pages -----------------------------------------------------------------------------------


def _body(html: str) -> str:
    """The rows of the page's table (the header shows the signed-in user's name too)."""
    return html.split("<tbody>")[1].split("</tbody>")[0]



@pytest.fixture
def ready(app, db_session, org):
    qh.deploy_shipped(db_session)
    qh.load_catalogue(db_session)
    return org


def _post_one_branch(db_session, clock, org, key="a1"):
    """Only branch `key` has held its meeting and posted; the others are still at approval."""
    q = qh.open_quarter(db_session, clock)
    qh.declare_all(db_session, q.id)
    S.review_quarter(db_session, q.id, excellent=(org.people["m1_a1"].id,))
    branch_id = org.branches[key].id
    [approval] = qh.tasks(db_session, "branch_approval", quarter_id=q.id, branch_id=branch_id)
    tx.run(db_session, branches.approve, qh.who(db_session, f"sec_{key}"), approval.id, decision="approved", comment="同意")
    [meeting] = qh.tasks(db_session, "branch_meeting", quarter_id=q.id, branch_id=branch_id)
    tx.run(db_session, branches.confirm_meeting, qh.who(db_session, f"sec_{key}"), meeting.id,
           meeting_date=clock.now().date(), expected=7, present=7, resolution="同意")
    return q


def test_the_board_shows_posted_branches_to_every_member(client, login, db_session, ready, clock):
    org = ready
    q = _post_one_branch(db_session, clock, org)
    login("m1_b1")  # a member of another branch, whose own branch is not posted yet
    assert f"/publicity/{q.id}/" in client.get("/publicity/").get_data(as_text=True)
    opened = client.get(f"/publicity/{q.id}/")
    assert opened.status_code == 302 and opened.headers["Location"].endswith(f"/publicity/{q.id}/branches")
    html = _body(client.get(f"/publicity/{q.id}/bureau").get_data(as_text=True))
    a1 = [p for p in org.members("a1") if p.evaluated]
    for person in a1:
        assert person.name in html
    for person in org.members("b1") + org.members("a2"):
        assert person.name not in html
    assert client.get(f"/publicity/{q.id}/branch?branch={org.branches['a1'].id}").status_code == 200
    assert client.get(f"/publicity/{q.id}/branch?branch={org.branches['b1'].id}").status_code == 404
    assert client.get(f"/publicity/{q.id}/branch?branch=abc").status_code == 200  # unreadable: the default
    branches_page = client.get(f"/publicity/{q.id}/branches").get_data(as_text=True)
    assert "机关第一党支部" in branches_page and "海事处党支部" not in branches_page
    # Everybody with a role on the board may look; nobody without.
    for user in ("office", "leader", "m3_a2"):
        login(user)
        assert client.get(f"/publicity/{q.id}/bureau").status_code == 200
    from models.people import User
    from tests.factories import password_hash

    db_session.add(User(username="staff_only", password_hash=password_hash()))  # no party membership, no role
    db_session.commit()
    login("staff_only")
    assert client.get(f"/publicity/{q.id}/bureau").status_code == 403
    assert client.get("/publicity/").status_code == 403


def test_a_quarter_without_posted_branches_has_no_board(client, login, db_session, ready, clock):
    q = qh.open_quarter(db_session, clock)
    login("m1_a1")
    assert client.get(f"/publicity/{q.id}/bureau").status_code == 404
    assert client.get("/publicity/999/branches").status_code == 404
    assert f"/publicity/{q.id}/" not in client.get("/publicity/").get_data(as_text=True)


def test_order_ties_own_row_and_concern_links(client, login, db_session, ready, clock):
    org = ready
    star, weak = org.people["m1_a1"], org.people["m2_b1"]
    q = S.posted(db_session, clock, excellent=(star.id,), weak=(weak.id,))
    login("m3_a2")
    html = client.get(f"/publicity/{q.id}/bureau").get_data(as_text=True)
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    rows = re.findall(r"<tr( class=\"me\" id=\"me\")?>\s*<td data-label=\"[^\"]*\" class=\"rank\">(\d+)</td>\s*<td[^>]*>([^<]+)", body)
    names = [name.strip() for _, _, name in rows]
    ranks = [int(rank) for _, rank, _ in rows]
    assert names[0] == star.name and ranks[0] == 1
    assert names[-1] == weak.name and ranks[-1] == len(rows)
    assert len(set(ranks[1:-1])) == 1 and ranks[1] == 2  # everybody else at the baseline: one shared rank
    mine = [name.strip() for me, _, name in rows if me]
    assert mine == [org.people["m3_a2"].name]
    # Concern links for the others' rows while the window is open, not for one's own.
    ev = qh.evaluation_of(db_session, q.id, star.id)
    own = qh.evaluation_of(db_session, q.id, org.people["m3_a2"].id)
    assert f'href="/evaluations/{ev.id}/concern"' in html
    assert f'href="/evaluations/{own.id}/concern"' not in html
    qh.end_publicity(db_session, clock)
    after = client.get(f"/publicity/{q.id}/bureau").get_data(as_text=True)
    assert "/concern" not in after and star.name in after  # still on the board, no longer open to concerns


def test_find_me_goes_to_my_page(client, login, db_session, ready, clock):
    org = ready
    q = S.posted(db_session, clock)
    login("m2_b1")
    response = client.get(f"/publicity/{q.id}/bureau/me")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/publicity/{q.id}/bureau?page=1#me")
    branch_me = client.get(f"/publicity/{q.id}/bureau/me?branch={org.branches['b1'].id}")
    assert "/branch?" in branch_me.headers["Location"] and branch_me.headers["Location"].endswith("#me")
    page = client.get(f"/publicity/{q.id}/branch").get_data(as_text=True)  # the own branch by default
    assert 'class="me" id="me"' in page and "海事处党支部" in page
    login("office")  # not evaluated in this quarter: told so, kept on the board
    nobody = client.get(f"/publicity/{q.id}/bureau/me", follow_redirects=True)
    assert nobody.status_code == 200
    office = db_session.scalar(select(Evaluation).where(Evaluation.person_id == org.people["office"].id))
    assert office is not None or "您不在此排名中" in nobody.get_data(as_text=True)


def test_print_view_and_excel(client, login, db_session, ready, clock):
    org = ready
    star = org.people["m1_a1"]
    q = S.posted(db_session, clock, excellent=(star.id,))
    login("m1_b1")
    a1 = org.branches["a1"].id
    printed = client.get(f"/publicity/{q.id}/print?view=branch&branch={a1}")
    html = printed.get_data(as_text=True)
    assert printed.status_code == 200
    assert 'class="topbar' not in html and "data-print" in html and "打印" in html
    assert star.name in html and "机关第一党支部" in html and "公示期" in html
    assert "/concern" not in html  # a posted sheet has no links
    assert org.people["m1_b1"].name not in _body(html)  # one branch only
    bureau = client.get(f"/publicity/{q.id}/print?view=bureau").get_data(as_text=True)
    assert org.people["m1_b1"].name in bureau and star.name in bureau
    collective = client.get(f"/publicity/{q.id}/print?view=branches").get_data(as_text=True)
    assert "海事处党支部" in collective and "平均分" in collective
    assert client.get(f"/publicity/{q.id}/print?view=nonsense").status_code == 200
    # Excel: the bureau ranking and the branches; one branch alone.
    response = client.get(f"/publicity/{q.id}/export.xlsx?view=bureau")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    wb = load_workbook(io.BytesIO(response.data), read_only=True)
    assert wb.sheetnames == ["全局排名", "党支部"]
    rows = [list(r) for r in wb["全局排名"].iter_rows(values_only=True)]
    assert rows[1] == ["排名", "姓名", "党支部", "党员身份", "积分", "等次"]
    evaluated = [p for p in org.people.values() if p.evaluated]
    assert len(rows) == 2 + len(evaluated)
    assert rows[2][:3] == [1, star.name, "机关第一党支部"] and rows[2][5] == "优秀"
    assert [r[0] for r in rows[3:]] == [2] * (len(evaluated) - 1)
    branch_rows = [list(r) for r in wb["党支部"].iter_rows(values_only=True)]
    assert branch_rows[1][:4] == ["排名", "党支部", "人数", "平均分"] and len(branch_rows) == 5
    one = load_workbook(io.BytesIO(client.get(f"/publicity/{q.id}/export.xlsx?view=branch&branch={a1}").data),
                        read_only=True)
    assert one.sheetnames == ["机关第一党支部"]
    sheet = [list(r) for r in one["机关第一党支部"].iter_rows(values_only=True)]
    assert sheet[1] == ["机关第一党支部"] and sheet[2][0] == "排名"  # the title, the branch, the header
    names = [r[1] for r in sheet[3:]]
    assert set(names) == {p.name for p in org.members("a1") if p.evaluated}


def test_only_posted_branches_are_exported(client, login, db_session, ready, clock):
    org = ready
    q = _post_one_branch(db_session, clock, org)
    login("m1_b1")
    wb = load_workbook(io.BytesIO(client.get(f"/publicity/{q.id}/export.xlsx").data), read_only=True)
    branches_seen = {r[2] for r in list(wb["全局排名"].iter_rows(values_only=True))[2:]}
    assert branches_seen == {"机关第一党支部"}
    assert client.get(f"/publicity/{q.id}/export.xlsx?view=branch&branch={org.branches['b1'].id}").status_code == 404
    posted = db_session.scalars(select(BranchQuarter.branch_id).where(BranchQuarter.publicity_start.is_not(None))).all()
    assert posted == [org.branches["a1"].id]
