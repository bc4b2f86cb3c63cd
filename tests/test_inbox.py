"""The inbox: exactly the user's tasks (assigned, their pools', never their own evaluation's),
filters, counts, pages; claim, release and their races; reassignment by the party office."""

from __future__ import annotations

import pytest
from markupsafe import escape
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from models.audit import AuditEvent
from models.people import RoleAssignment
from models.process import HumanTask, TaskState
from tests import quarter_helpers as qh
from webapp.extensions import db
from workflows.engine import tx, user_tasks
from workflows.errors import TaskTaken
from workflows.reading import inbox


@pytest.fixture
def opened(app, db_session, org, clock):
    qh.deploy_shipped(db_session)
    qh.load_catalogue(db_session)
    return qh.open_quarter(db_session, clock)


@pytest.fixture
def declared(opened, db_session):
    """Everybody declared: every branch's reviews wait in its reviewers' pool."""
    qh.declare_all(db_session, opened.id)
    return opened


def rows(db_session, username: str, **filters) -> list[inbox.InboxRow]:
    return inbox.list_tasks(db_session, qh.who(db_session, username), inbox.Filters(**filters), per_page=200)


def ids(items) -> set[int]:
    return {t.id for t in items}


def open_tasks(db_session, **where) -> list[HumanTask]:
    query = select(HumanTask).where(HumanTask.state == TaskState.OPEN)
    for key, value in where.items():
        query = query.where(getattr(HumanTask, key) == value)
    return list(db_session.scalars(query.execution_options(populate_existing=True)))


def grant(db_session, username: str, role: str, branch_id: int | None) -> None:
    user_id = qh.who(db_session, username).user_id
    db_session.add(RoleAssignment(user_id=user_id, role=role, branch_id=branch_id,
                                  scope_key=RoleAssignment.scope_key_for(branch_id)))
    db_session.commit()


def as_user(client, login, username: str) -> None:
    login(username)
    client.post("/lang/en")


def page_text(response) -> str:
    return response.get_data(as_text=True)


# --- Exactly the user's tasks ----------------------------------------------------------------------------


def test_a_member_sees_their_own_self_evaluation(db_session, org, opened):
    [row] = rows(db_session, "m1_a1")
    assert (row.form_key, row.mine, row.subject_person_id) == ("self_evaluation", True, org.people["m1_a1"].id)
    assert (row.subject_name, row.branch_name, row.quarter_label) == (org.people["m1_a1"].name, "机关第一党支部", "2026Q4")
    counts = inbox.count_tasks(db_session, qh.who(db_session, "m1_a1"))
    assert (counts.total, counts.mine, counts.by_role["member"].mine) == (1, 1, 1)
    # A reviewer's inbox holds their own self-evaluation too, and nothing of anybody else's yet.
    assert [r.form_key for r in rows(db_session, "rev_a1")] == ["self_evaluation"]


def test_reviewers_see_their_branch_pool_but_never_their_own_review(db_session, org, declared):
    a1 = org.branches["a1"].id
    reviews = open_tasks(db_session, form_key="branch_review", branch_id=a1)
    own = next(t for t in reviews if t.subject_person_id == org.people["rev_a1"].id)
    mine = rows(db_session, "rev_a1")
    assert ids(mine) == ids(reviews) - {own.id}
    assert all(not r.mine and r.role == "reviewer" for r in mine)
    assert own.id in ids(rows(db_session, "rev2_a1"))
    # Another branch's reviewer, a secretary, a member: nothing of a1's.
    assert not ids(rows(db_session, "rev_a2")) & ids(reviews)
    assert ids(rows(db_session, "rev_a2")) == ids(open_tasks(db_session, form_key="branch_review",
                                                             branch_id=org.branches["a2"].id)) - {
        t.id for t in open_tasks(db_session, subject_person_id=org.people["rev_a2"].id)}
    assert rows(db_session, "sec_a1") == [] and rows(db_session, "m1_a1") == []


def test_claimed_tasks_are_mine_and_leave_the_pool(db_session, org, declared):
    task = rows(db_session, "rev_a1")[0]
    tx.run(db_session, user_tasks.claim, task.id, qh.who(db_session, "rev_a1"))
    first = rows(db_session, "rev_a1")
    assert first[0].id == task.id and first[0].mine  # assigned to me comes first
    assert task.id not in ids(rows(db_session, "rev2_a1"))
    counts = inbox.count_tasks(db_session, qh.who(db_session, "rev_a1"))
    assert counts.mine == 1 and counts.by_role["reviewer"].pool == len(first) - 1
    # Handed to somebody of another role by the party office: still in the assignee's inbox.
    tx.run(db_session, user_tasks.reassign, task.id, qh.who(db_session, "office"), qh.who(db_session, "office").user_id,
           "人手不足")
    assert task.id in ids(rows(db_session, "office", show="mine"))
    assert task.id not in ids(rows(db_session, "rev_a1"))


def test_bureau_wide_holders_see_every_branch_but_their_own(db_session, org, declared):
    grant(db_session, "leader", "reviewer", None)
    reviews = open_tasks(db_session, form_key="branch_review")
    own = {t.id for t in reviews if t.subject_person_id == org.people["leader"].id}
    assert own  # the leader is evaluated in a1 too
    expected = ids(reviews) - own
    assert ids(rows(db_session, "leader")) == expected
    a2 = org.branches["a2"].id
    assert ids(rows(db_session, "leader", branch_id=a2)) == {t.id for t in reviews if t.branch_id == a2}
    # Walking the pages one by one gives every task once, in the inbox's order.
    principal = qh.who(db_session, "leader")
    walked = []
    for page in range(1, 20):
        chunk = inbox.list_tasks(db_session, principal, page=page, per_page=4)
        walked += chunk
        if len(chunk) < 4:
            break
    assert [r.id for r in walked] == [r.id for r in rows(db_session, "leader")]
    assert len(walked) == len(expected)
    dues = [r.due_at for r in walked]
    assert dues == sorted(dues, key=lambda d: (d is None, d))


def test_a_task_with_no_branch_waits_for_the_bureau_holders(db_session, org, declared):
    task = open_tasks(db_session, form_key="branch_review", branch_id=org.branches["b1"].id)[0]
    db_session.execute(HumanTask.__table__.update().where(HumanTask.__table__.c.id == task.id)
                       .values(role="party_office", branch_id=None, escalated=True, due_at=None))
    db_session.commit()
    [row] = [r for r in rows(db_session, "office") if r.id == task.id]
    assert row.escalated and row.due_at is None and row.branch_name is None
    assert task.id not in ids(rows(db_session, "rev_b1"))


def test_filters(db_session, org, declared, clock):
    a1 = org.branches["a1"].id
    assert rows(db_session, "rev_a1", quarter_id=declared.id)
    assert rows(db_session, "rev_a1", quarter_id=declared.id + 1000) == []
    assert rows(db_session, "rev_a1", step="self_evaluation") == []
    assert len(rows(db_session, "rev_a1", step="branch_review")) == len(rows(db_session, "rev_a1"))
    assert rows(db_session, "rev_a1", branch_id=org.branches["a2"].id) == []
    assert rows(db_session, "rev_a1", branch_id=a1)
    assert rows(db_session, "rev_a1", show="mine") == []
    assert rows(db_session, "rev_a1", role="secretary") == []
    assert rows(db_session, "rev_a1", overdue=True) == []
    clock.advance(days=18)  # past the review's due date (deadline + 7 days)
    overdue = rows(db_session, "rev_a1", overdue=True)
    assert overdue and all(r.overdue for r in overdue)
    counts = inbox.count_tasks(db_session, qh.who(db_session, "rev_a1"))
    assert counts.overdue == len(overdue)


def test_each_list_and_each_count_is_one_statement(db_session, org, declared):
    grant(db_session, "leader", "reviewer", None)
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        for username in ("m1_a1", "rev_a1", "leader"):
            principal = qh.who(db_session, username)
            seen.clear()
            inbox.list_tasks(db_session, principal, page=2, per_page=3)
            inbox.count_tasks(db_session, principal, inbox.Filters(overdue=True))
            assert len(seen) == 2, (username, seen)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


@pytest.mark.parametrize("username", ["rev_a1", "leader"])
def test_sqlite_reads_the_task_indexes(backend, request, username):
    """Every range of the inbox is an index range of human_task, never a scan of the table."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL plans by table statistics; the benchmark measures it")
    db_session = request.getfixturevalue("db_session")
    request.getfixturevalue("declared")
    grant(db_session, "leader", "reviewer", None)
    principal = qh.who(db_session, username)
    seen: list[tuple[str, object]] = []
    listener = lambda conn, cursor, statement, params, *a: seen.append((statement, params))  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        inbox.list_tasks(db_session, principal)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    statement, params = seen[-1]
    plan = " | ".join(r[3] for r in db_session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params))
    assert "ix_human_task_pool" in plan and "ix_human_task_assignee" in plan
    assert "SCAN human_task" not in plan and "SCAN h " not in plan and "SCAN o " not in plan, plan


# --- The page ----------------------------------------------------------------------------------------


def test_inbox_page_groups_links_and_badge(client, login, db_session, org, declared):
    as_user(client, login, "rev_a1")
    task = rows(db_session, "rev_a1")[0]
    tx.run(db_session, user_tasks.claim, task.id, qh.who(db_session, "rev_a1"))
    response = client.get("/inbox/")
    page = page_text(response)
    total = len(rows(db_session, "rev_a1"))
    assert response.status_code == 200
    assert page.index("Assigned to me") < page.index("Unclaimed · Points reviewer")
    assert f'href="/review/{task.id}/review"' in page
    assert f'<span class="badge" title="waiting">{total}</span>' in page  # the count in the navigation
    assert f'action="/inbox/tasks/{task.id}/release"' in page
    assert page.count('/claim"') == total - 1
    # The home page sends everybody to their inbox.
    assert client.get("/").headers["Location"].endswith("/inbox/")


@pytest.mark.parametrize("query", ["quarter=abc", "page=-5", "page=99999999999999999999", "branch=0",
                                   "step=%3Cscript%3Ealert(1)%3C/script%3E", "show=everything&role=god",
                                   "overdue=yes&quarter=99999999999999999999999"])
def test_inbox_page_shrugs_off_odd_filters(client, login, declared, query):
    as_user(client, login, "rev_a1")
    response = client.get(f"/inbox/?{query}")
    assert response.status_code == 200
    assert "<script>alert(1)" not in page_text(response)


def test_inbox_page_filters_and_pages(client, login, db_session, org, declared, clock):
    grant(db_session, "leader", "reviewer", None)
    as_user(client, login, "leader")
    a2 = org.branches["a2"].id
    page = page_text(client.get(f"/inbox/?branch={a2}&step=branch_review"))
    names = {p.name for p in org.members("a2")}
    others = {p.name for p in org.members("b1")}
    assert any(n in page for n in names) and not any(f"<td class=\"hide-sm\">{n}</td>" in page for n in others)
    total = len(rows(db_session, "leader"))
    first = page_text(client.get("/inbox/"))
    assert f"Page 1 of {-(-total // 25)}" in first if total > 25 else "Page 1 of" not in first
    assert "No task matches these filters." in page_text(client.get("/inbox/?overdue=1"))
    clock.advance(days=18)
    assert "Overdue" in page_text(client.get("/inbox/?overdue=1"))


def test_task_detail_page(client, login, db_session, org, declared):
    [task] = open_tasks(db_session, form_key="branch_review", subject_person_id=org.people["m1_a1"].id)
    as_user(client, login, "rev_a1")
    page = page_text(client.get(f"/inbox/tasks/{task.id}"))
    assert "History" in page and org.people["m1_a1"].name in page and f'href="/review/{task.id}/review"' in page
    login("m1_a1")
    assert client.get(f"/inbox/tasks/{task.id}").status_code == 403
    assert client.get("/inbox/tasks/99999999").status_code == 404


# --- Claim and release --------------------------------------------------------------------------------


def test_claim_release_and_the_second_claim(client, login, db_session, org, declared):
    task = rows(db_session, "rev_a1")[0]
    url = f"/inbox/tasks/{task.id}"
    as_user(client, login, "rev_a1")
    response = client.post(f"{url}/claim", data={"next": "/inbox/?role=reviewer"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/inbox/?role=reviewer")
    assert "You have taken this task." in page_text(client.get("/inbox/"))
    as_user(client, login, "rev2_a1")
    response = client.post(f"{url}/claim", follow_redirects=True)
    assert "Somebody else has taken this task." in page_text(response)
    assert client.post(f"{url}/release").status_code == 403  # not theirs to give back
    as_user(client, login, "rev_a1")
    assert "The task is back in its group" in page_text(client.post(f"{url}/release", follow_redirects=True))
    assert db_session.get(HumanTask, task.id, populate_existing=True).assignee_id is None
    actions = db_session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "human_task",
                                                                 AuditEvent.object_id == str(task.id))).all()
    assert actions == ["task.claimed", "task.released"]
    # Open redirects are not followed.
    response = client.post(f"{url}/claim", data={"next": "//evil.example/x"})
    assert response.headers["Location"].endswith("/inbox/")


def test_claiming_a_done_task_says_so(client, login, db_session, org, declared):
    [done] = qh.tasks(db_session, "self_evaluation", person_id=org.people["m1_a1"].id, state=TaskState.COMPLETED)
    [review] = open_tasks(db_session, form_key="branch_review", subject_person_id=org.people["m1_a1"].id)
    from workflows.quarter import evaluation

    tx.run(db_session, evaluation.review, qh.who(db_session, "rev_a1"), review.id, [])
    as_user(client, login, "rev2_a1")
    response = client.post(f"/inbox/tasks/{review.id}/claim", follow_redirects=True)
    assert "This task has already been done." in page_text(response)
    assert done.state == TaskState.COMPLETED


def test_two_claims_at_once_one_wins(app, db_session, org, declared):
    task = rows(db_session, "rev_a1")[0]
    first, second = Session(db.engine), Session(db.engine)
    try:
        seen_first = user_tasks.get_task(first, task.id)
        seen_second = user_tasks.get_task(second, task.id)
        assert seen_first.assignee_id is None and seen_second.assignee_id is None  # both saw it free
        user_tasks.claim(first, task.id, qh.who(db_session, "rev_a1"))
        first.commit()
        with pytest.raises(TaskTaken):
            user_tasks.claim(second, task.id, qh.who(db_session, "rev2_a1"))
        second.rollback()
    finally:
        first.close()
        second.close()
    assert db_session.get(HumanTask, task.id, populate_existing=True).assignee_id == qh.who(db_session, "rev_a1").user_id


# --- Reassignment by the party office -----------------------------------------------------------------


def test_reassign(client, login, db_session, org, declared):
    [task] = open_tasks(db_session, form_key="branch_review", subject_person_id=org.people["m1_a1"].id)
    url = f"/inbox/tasks/{task.id}/reassign"
    login("sec_a1")
    assert client.get(url).status_code == 403
    as_user(client, login, "office")
    page = page_text(client.get(url))
    for username in ("rev_a1", "rev2_a1", "office"):
        assert f'value="{qh.who(db_session, username).user_id}"' in page, username
    for username in ("m1_a1", "rev_a2", "sec_a1"):
        assert f'value="{qh.who(db_session, username).user_id}"' not in page, username
    for who, message in (("m1_a1", "Choose somebody who holds this task"), ("rev_a2", "Choose somebody who holds this task"),
                         ("", "Choose somebody who holds this task")):
        value = str(qh.who(db_session, who).user_id) if who else ""
        response = client.post(url, data={"to_user_id": value, "reason": "<b>急</b>"})
        assert response.status_code == 422 and message in page_text(response)
        assert str(escape("<b>急</b>")) in page_text(response)
    target = qh.who(db_session, "rev2_a1").user_id
    response = client.post(url, data={"to_user_id": str(target), "reason": "rev_a1 出差"})
    assert response.status_code == 302
    assert db_session.get(HumanTask, task.id, populate_existing=True).assignee_id == target
    event_data = db_session.scalar(select(AuditEvent.data).where(AuditEvent.action == "task.reassigned"))
    assert "rev_a1 出差" in event_data
    assert task.id in ids(rows(db_session, "rev2_a1", show="mine"))
    # The reassignment is in the task's history.
    assert "Reassigned" in page_text(client.get(f"/inbox/tasks/{task.id}"))


def test_a_members_own_task_stays_theirs(client, login, db_session, org, opened):
    [own] = open_tasks(db_session, form_key="self_evaluation", subject_person_id=org.people["m1_a1"].id)
    as_user(client, login, "m1_a1")
    assert client.post(f"/inbox/tasks/{own.id}/release").status_code == 403
    as_user(client, login, "office")
    page = page_text(client.get(f"/inbox/tasks/{own.id}/reassign"))
    assert "own task cannot be given to anybody else." in page and 'name="to_user_id"' not in page


def test_counts_match_the_lists(db_session, org, declared):
    grant(db_session, "sec_a1", "reviewer", org.branches["a1"].id)
    for username in ("m1_a1", "rev_a1", "sec_a1", "office", "leader"):
        principal = qh.who(db_session, username)
        counts = inbox.count_tasks(db_session, principal)
        listed = rows(db_session, username)
        assert counts.total == len(listed), username
        assert counts.mine == sum(1 for r in listed if r.mine), username
        assert inbox.badge(db_session, principal) == counts.total


def test_postgres_keeps_the_per_branch_reading_in_one_statement(db_session, org, declared, backend):
    """The bureau-wide reading is one LATERAL join on PostgreSQL (and a correlated IN on SQLite)."""
    grant(db_session, "leader", "reviewer", None)
    leader = qh.who(db_session, "leader")
    seen: list[str] = []
    listener = lambda conn, cursor, statement, *a: seen.append(statement)  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        inbox.list_tasks(db_session, leader)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    [statement] = seen
    assert ("LATERAL" in statement) == (backend == "postgresql")
    assert db_session.execute(text("SELECT 1")).scalar() == 1


def test_the_inbox_page_is_a_handful_of_statements(client, login, db_session, org, declared):
    """The page does not grow with its rows: no statement per task, per step or per version."""
    as_user(client, login, "rev_a1")
    seen: list[str] = []
    listener = lambda conn, cursor, statement, *a: seen.append(statement)  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        client.get("/inbox/")
        few = len(seen)
        seen.clear()
        grant(db_session, "rev_a1", "reviewer", None)  # now every branch's reviews: many more rows
        seen.clear()
        client.get("/inbox/")
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len(seen) == few <= 12, seen
