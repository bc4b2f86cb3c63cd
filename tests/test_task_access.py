"""The one rule for who may see or act on a task (`workflows.engine.access`): its Python predicates
and their SQL twins agree on every kind of task, and the inbox lists exactly what the rule allows."""

from __future__ import annotations

import itertools
import uuid

import pytest
from sqlalchemy import insert, select

from models.people import Role, RoleAssignment
from models.process import HumanTask, ProcessInstance, TaskState
from tests import quarter_helpers as qh
from workflows.engine import access
from workflows.reading import inbox

ROLES = [r.value for r in (Role.MEMBER, Role.REVIEWER, Role.SECRETARY, Role.DISCIPLINE, Role.PARTY_OFFICE,
                           Role.LEADING_GROUP)]


@pytest.fixture
def every_kind_of_task(app, db_session, org, clock):
    """The shipped quarter's own tasks, plus one task of every combination of role, branch, holder,
    excluded subject and state on one instance."""
    qh.deploy_shipped(db_session)
    qh.load_catalogue(db_session)
    q = qh.open_quarter(db_session, clock)
    # A bureau-wide secretary (the next level up), to have every kind of pool.
    db_session.add(RoleAssignment(user_id=org.users["rev_b1"].id, role=Role.SECRETARY.value, branch_id=None,
                                  scope_key=RoleAssignment.scope_key_for(None)))
    instance_id = db_session.scalar(select(ProcessInstance.id).where(ProcessInstance.quarter_id == q.id).limit(1))
    a1, b1 = org.branches["a1"].id, org.branches["b1"].id
    u1, u2 = org.users["rev_a1"].id, org.users["sec_a1"].id
    rows = []
    ended = [(TaskState.OPEN.value, None)] + [(TaskState.COMPLETED.value, u) for u in (None, u1, u2)]
    for role, branch, assignee, excluded, (state, completed_by) in itertools.product(
            ROLES, (a1, b1, None), (None, u1, u2), ((), (u1,), (u2,), (u1, u2)), ended):
        rows.append({"instance_id": instance_id, "task_uuid": str(uuid.uuid4()), "process_key": "p", "bpmn_id": "t",
                     "name": "t", "form_key": "branch_review", "role": role, "branch_id": branch, "assignee_id": assignee,
                     "excluded_users": access.excluded_text(excluded), "state": state,
                     "completed_by": completed_by})
    db_session.execute(insert(HumanTask.__table__), rows)
    db_session.commit()
    return list(db_session.scalars(select(HumanTask)))


def test_each_predicate_and_its_sql_twin_agree(db_session, org, every_kind_of_task):
    tasks = every_kind_of_task
    for username in org.users:
        principal = qh.who(db_session, username)
        for predicate, clause in ((access.may_see, access.see_clause), (access.may_act, access.act_clause),
                                  (access.in_pool, access.in_pool_clause)):
            by_sql = set(db_session.scalars(select(HumanTask.id).where(clause(principal))))
            by_python = {t.id for t in tasks if predicate(principal, t)}
            assert by_sql == by_python, (username, predicate.__name__)


def test_the_inbox_lists_exactly_the_open_tasks_one_may_act_on(db_session, org, every_kind_of_task):
    tasks = every_kind_of_task
    for username in org.users:
        principal = qh.who(db_session, username)
        listed = {r.id for r in inbox.list_tasks(db_session, principal, inbox.Filters(), per_page=200)}
        allowed = {t.id for t in tasks if t.state == TaskState.OPEN and access.may_act(principal, t)}
        assert len(allowed) < 200, "the page must hold them all for this comparison"
        assert listed == allowed, username
        if username in ("rev_a1", "sec_a1"):
            assert any(t.excluded_users.strip() for t in tasks if t.role == "reviewer"), "exclusions are exercised"
        assert inbox.count_tasks(db_session, principal).total == len(allowed), username


def test_nobody_sees_a_task_about_themselves(db_session, org, every_kind_of_task):
    for task in every_kind_of_task:
        for username in ("rev_a1", "sec_a1"):
            principal = qh.who(db_session, username)
            if principal.user_id in access.excluded_ids(task.excluded_users):
                assert not (access.may_see(principal, task) or access.may_act(principal, task)
                            or access.in_pool(principal, task))


def test_a_pool_leaves_out_everyone_it_decides_on_and_goes_up_when_nobody_is_left(db_session, org):
    """`pool_for`: a reviewer's task on m1_a1 goes to a1's reviewers; on both reviewers' own parts to
    the party office; on the office holder's part too, to the leading group; and a secretary's
    task never goes to a secretary it decides on."""
    class Instance:
        branch_id, subject_person_id, subject_user_id = org.branches["a1"].id, org.people["m1_a1"].id, None

    p = org.people
    plain = access.pool_for(db_session, "reviewer", Instance)
    assert (plain["role"], plain["branch_id"], plain["escalated"]) == ("reviewer", Instance.branch_id, False)
    assert access.excluded_ids(plain["excluded_users"]) == {org.users["m1_a1"].id}
    both = access.pool_for(db_session, "reviewer", Instance, subjects={p["rev_a1"].id, p["rev2_a1"].id})
    assert (both["role"], both["branch_id"], both["escalated"]) == ("party_office", None, True)
    assert access.excluded_ids(both["excluded_users"]) == {org.users["rev_a1"].id, org.users["rev2_a1"].id}
    higher = access.pool_for(db_session, "reviewer", Instance,
                             subjects={p["rev_a1"].id, p["rev2_a1"].id, p["office"].id})
    assert (higher["role"], higher["escalated"]) == ("leading_group", True)
    assert org.users["office"].id in access.excluded_ids(higher["excluded_users"])
    secretary = access.pool_for(db_session, "secretary", Instance, subjects={p["sec_a1"].id})
    assert org.users["sec_a1"].id in access.excluded_ids(secretary["excluded_users"])
    assert (secretary["role"], secretary["escalated"]) == ("party_office", True)  # a1 has one secretary
