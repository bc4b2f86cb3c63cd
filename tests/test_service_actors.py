"""Services take the acting `Principal` second and check what it may do themselves; the system's own
principal (CLI, demo loader, seeding) may do everything bureau-wide and is never recorded as a user."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from models.audit import AuditEvent
from models.catalogue import CatalogueSpec
from models.people import BUREAU_ROLES, Role
from models.permissions import Principal, can
from workflows.catalogue import excel as catalogue_excel
from workflows.catalogue import versions as catalogue
from workflows.errors import DomainError, NotAllowed, NotFound
from workflows.imports import roster
from workflows.org import accounts, people, roles, units
from workflows.org.principals import principal_for

D = Decimal
SYSTEM = Principal.system()


def test_the_system_principal_holds_every_bureau_wide_role_and_no_person():
    system = Principal.system()
    assert system.user_id == 0 and system.person_id is None and system.branch_id is None
    assert system.roles == {r.value for r in BUREAU_ROLES}
    assert all(system.holds(r, None) for r in BUREAU_ROLES)
    assert not system.holds(Role.MEMBER, anywhere=True)
    assert can(system, "admin.manage") and can(system, "catalogue.edit") and can(system, "process.design")


def test_the_acting_user_id_is_none_for_the_system_and_the_user_id_otherwise():
    assert Principal.system().acting_user_id is None
    assert Principal.build(7, 3, 2, [("administrator", None)]).acting_user_id == 7


# --- Every converted service refuses a principal without the right role -----------------------------

def _draft(session):
    return catalogue.create_draft(session, SYSTEM, year=2027, name="草稿", pass_line=D("90"), excellent_line=D("105"))


def _dimension(session):
    draft = _draft(session)
    return draft, catalogue.save_node(session, SYSTEM, draft.id, "dimension", {"code": "D1", "name": "维度"},
                                      expected_revision=None)


def _workbook() -> bytes:
    from demo import catalogue as demo_catalogue
    from workflows.catalogue.excel import export_spec

    return export_spec(demo_catalogue.spec(), {"department": "机关部门", "maritime_office": "下属海事处"})


def _roster():
    from tests.test_roster import person_row, workbook

    return roster.parse_workbook(workbook([person_row("R1")]))


def _staged(session, org, tmp_path):
    return roster.stage(tmp_path, principal_for(session, org.user("admin").id), data=b"file", filename="x.xlsx",
                        parsed=_roster())


# name -> a call of the service as `actor`, on real objects of the test bureau.
ADMIN_SERVICES: dict[str, Callable[..., Any]] = {
    "units.create_unit_kind": lambda s, a, o, t: units.create_unit_kind(s, a, code="ship", name="船舶"),
    "units.rename_unit_kind": lambda s, a, o, t: units.rename_unit_kind(s, a, o.kinds["department"].id, name="部门"),
    "units.delete_unit_kind": lambda s, a, o, t: units.delete_unit_kind(s, a, o.kinds["department"].id),
    "units.create_unit": lambda s, a, o, t: units.create_unit(s, a, name="新单位", code="UN",
                                                              kind_id=o.kinds["department"].id),
    "units.update_unit": lambda s, a, o, t: units.update_unit(s, a, o.units["dept"].id, name="改名", code="UD",
                                                              kind_id=o.kinds["department"].id),
    "units.set_unit_active": lambda s, a, o, t: units.set_unit_active(s, a, o.units["dept"].id, False),
    "units.create_branch": lambda s, a, o, t: units.create_branch(s, a, unit_id=o.units["dept"].id, name="新支部",
                                                                  code="A9"),
    "units.rename_branch": lambda s, a, o, t: units.rename_branch(s, a, o.branches["a1"].id, name="改名", code="A1"),
    "units.move_branch": lambda s, a, o, t: units.move_branch(s, a, o.branches["a1"].id, o.units["office"].id),
    "units.set_branch_active": lambda s, a, o, t: units.set_branch_active(s, a, o.branches["b1"].id, False),
    "people.create_person": lambda s, a, o, t: people.create_person(s, a, employee_no="N1", name="新人",
                                                                    branch_id=o.branches["a1"].id,
                                                                    joined_party_on=date(2000, 1, 1)),
    "people.update_person": lambda s, a, o, t: people.update_person(s, a, o.people["m1_a1"].id, employee_no="N2",
                                                                    name="改名"),
    "people.move_person": lambda s, a, o, t: people.move_person(s, a, o.people["m1_a1"].id, o.branches["b1"].id),
    "people.change_membership": lambda s, a, o, t: people.change_membership(
        s, a, o.people["m2_a1"].id, status="full", joined_party_on=date(2020, 1, 1),
        full_member_on=date(2021, 1, 1), activist_since=None),
    "people.set_person_active": lambda s, a, o, t: people.set_person_active(s, a, o.people["m1_a1"].id, False),
    "roles.assign_role": lambda s, a, o, t: roles.assign_role(s, a, o.user("m1_a1"), "reviewer", o.branches["a1"].id),
    "roles.revoke_role": lambda s, a, o, t: roles.revoke_role(s, a, o.user("rev_a1").roles[0].id),
    "accounts.set_password": lambda s, a, o, t: accounts.set_password(s, a, o.user("m1_a1"), "a-new-password",
                                                                      must_change=True),
    "accounts.create_account": lambda s, a, o, t: accounts.create_account(
        s, a, people.create_person(s, SYSTEM, employee_no="N3", name="无账号", branch_id=None, status="none").id),
    "accounts.set_account_active": lambda s, a, o, t: accounts.set_account_active(s, a, o.user("m1_a1").id, False),
    "accounts.reset_password": lambda s, a, o, t: accounts.reset_password(s, a, o.user("m1_a1").id),
    "accounts.require_password_change": lambda s, a, o, t: accounts.require_password_change(s, a, o.user("m1_a1").id),
    "accounts.issue_initial_passwords": lambda s, a, o, t: accounts.issue_initial_passwords(s, a, [o.user("m1_a1").id]),
    "roster.apply_import": lambda s, a, o, t: roster.apply_import(
        s, a, roster.plan_import(s, _roster(), update_existing=False)),
    "roster.stage": lambda s, a, o, t: roster.stage(t, a, data=b"file", filename="x.xlsx", parsed=_roster()),
    "roster.load_staged": lambda s, a, o, t: roster.load_staged(t, a, _staged(s, o, t)),
}

CATALOGUE_SERVICES: dict[str, Callable[..., Any]] = {
    "versions.build_version": lambda s, a, o, t: catalogue.build_version(
        s, a, CatalogueSpec(2027, "草稿", D("90"), D("105"))),
    "versions.create_draft": lambda s, a, o, t: catalogue.create_draft(
        s, a, year=2027, name="草稿", pass_line=D("90"), excellent_line=D("105")),
    "versions.copy_version": lambda s, a, o, t: catalogue.copy_version(s, a, _draft(s).id, year=2028),
    "versions.copy_last_year": lambda s, a, o, t: (_draft(s), catalogue.copy_last_year(s, a, 2028)),
    "versions.update_version": lambda s, a, o, t: catalogue.update_version(
        s, a, _draft(s).id, expected_revision=None, year=2027, name="改名", pass_line=D("90"),
        excellent_line=D("105")),
    "versions.save_node": lambda s, a, o, t: catalogue.save_node(
        s, a, _draft(s).id, "dimension", {"code": "D1", "name": "维度"}, expected_revision=None),
    "versions.delete_node": lambda s, a, o, t: (lambda v, d: catalogue.delete_node(
        s, a, v.id, "dimension", d.id, expected_revision=None))(*_dimension(s)),
    "versions.delete_draft": lambda s, a, o, t: catalogue.delete_draft(s, a, _draft(s).id),
    "versions.publish": lambda s, a, o, t: catalogue.publish(s, a, _draft(s).id),
    "excel.import_workbook": lambda s, a, o, t: catalogue_excel.import_workbook(s, a, _workbook(), year=2027),
}


def _refuses(db_session, org, tmp_path, call, usernames):
    for username in usernames:
        actor = principal_for(db_session, org.user(username).id)
        with pytest.raises(NotAllowed):
            call(db_session, actor, org, tmp_path)
        # Nothing was done in their name (the set-up of some calls writes as the system).
        assert db_session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.actor_user_id == actor.user_id)) == 0
        db_session.rollback()


@pytest.mark.parametrize("name", sorted(ADMIN_SERVICES))
def test_organisation_people_accounts_roles_and_roster_are_the_administrators(name, db_session, org, tmp_path):
    # A member, the party office and the leading group are not administrators.
    _refuses(db_session, org, tmp_path, ADMIN_SERVICES[name], ("m1_a1", "sec_a1", "office", "leader"))


@pytest.mark.parametrize("name", sorted(CATALOGUE_SERVICES))
def test_catalogue_writes_are_the_party_offices(name, db_session, org, tmp_path):
    # A member, a branch secretary, the leading group and the administrator do not edit the catalogue.
    _refuses(db_session, org, tmp_path, CATALOGUE_SERVICES[name], ("m1_a1", "sec_a1", "leader", "admin"))


def _allowed(db_session, org, tmp_path, call, username):
    try:
        call(db_session, principal_for(db_session, org.user(username).id), org, tmp_path)
    except NotAllowed:
        pytest.fail(f"{username} was refused")
    except DomainError:
        pass  # allowed; then the service's own rules apply (an empty draft is not publishable...)


@pytest.mark.parametrize("name", sorted(ADMIN_SERVICES))
def test_the_administrator_is_allowed(name, db_session, org, tmp_path):
    _allowed(db_session, org, tmp_path, ADMIN_SERVICES[name], "admin")


@pytest.mark.parametrize("name", sorted(CATALOGUE_SERVICES))
def test_the_party_office_is_allowed(name, db_session, org, tmp_path):
    _allowed(db_session, org, tmp_path, CATALOGUE_SERVICES[name], "office")


# --- Who is recorded as the actor ------------------------------------------------------------------

def test_the_services_record_the_acting_user_and_nobody_for_the_system(db_session, org):
    admin = principal_for(db_session, org.user("admin").id)
    mine = units.create_unit_kind(db_session, admin, code="ship", name="船舶")
    systems = units.create_unit_kind(db_session, SYSTEM, code="port", name="港口")
    db_session.commit()
    actors = dict(db_session.execute(select(AuditEvent.object_id, AuditEvent.actor_user_id)
                                     .where(AuditEvent.action == "unit_kind.created")).all())
    assert actors == {str(mine.id): admin.user_id, str(systems.id): None}


def test_the_system_creates_and_publishes_a_catalogue_without_a_user(db_session, org):
    from demo import catalogue as demo_catalogue

    version = catalogue.build_version(db_session, SYSTEM, demo_catalogue.spec(), complete=True)
    catalogue.publish(db_session, SYSTEM, version.id)
    db_session.commit()  # no foreign key sees the system's user id 0
    assert (version.created_by, version.published_by) == (None, None)
    office = principal_for(db_session, org.user("office").id)
    copy = catalogue.copy_version(db_session, office, version.id, year=2027)
    db_session.commit()
    assert copy.created_by == office.user_id


def test_the_system_assigns_roles_and_imports_rosters_without_a_user(db_session, org, tmp_path):
    assignment = roles.assign_role(db_session, SYSTEM, org.user("m1_a1"), "reviewer", org.branches["a1"].id)
    result = roster.apply_import(db_session, SYSTEM, roster.plan_import(db_session, _roster(), update_existing=False))
    db_session.commit()
    assert assignment.created_by is None and result.created == 1
    token = roster.stage(tmp_path, SYSTEM, data=b"file", filename="x.xlsx", parsed=_roster())
    assert roster.load_staged(tmp_path, SYSTEM, token).actor_user_id is None
    with pytest.raises(NotFound):
        roster.load_staged(tmp_path, principal_for(db_session, org.user("admin").id), token)
