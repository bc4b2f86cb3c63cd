"""Services take the acting `Principal` second and check what it may do themselves; the system's own
principal (CLI, demo loader, seeding) may do everything bureau-wide and is never recorded as a user."""

from __future__ import annotations

from models.people import BUREAU_ROLES, Role
from models.permissions import Principal, can


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
