"""Builders of test data. One password hash is computed once and shared by every test user."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy.orm import Session

from models.org import Branch, Bureau, Unit, UnitKind
from models.people import MembershipStatus, Person, Role, RoleAssignment, User

TEST_PASSWORD = "pointsflow-test"


@lru_cache(maxsize=1)
def password_hash() -> str:
    from workflows.org.accounts import hash_password

    return hash_password(TEST_PASSWORD)


@dataclass
class Org:
    bureau: Bureau
    kinds: dict[str, UnitKind]
    units: dict[str, Unit]
    branches: dict[str, Branch]
    users: dict[str, User] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)

    def user(self, key: str) -> User:
        return self.users[key]

    def members(self, branch_key: str) -> list[Person]:
        branch = self.branches[branch_key]
        return [p for p in self.people.values() if p.branch_id == branch.id]


_seq = [0]


def make_person(
    session: Session,
    branch: Branch | None,
    name: str,
    username: str | None = None,
    status: str = MembershipStatus.FULL,
    roles: tuple[tuple[Role, Branch | None], ...] = (),
) -> Person:
    _seq[0] += 1
    person = Person(employee_no=f"T{_seq[0]:05d}", name=name, branch_id=branch.id if branch else None,
                    status=str(status))
    session.add(person)
    session.flush()
    if username:
        user = User(username=username, password_hash=password_hash(), person_id=person.id)
        session.add(user)
        session.flush()
        for role, scope in roles:
            bid = scope.id if scope is not None else None
            session.add(RoleAssignment(user_id=user.id, role=role.value, branch_id=bid,
                                       scope_key=RoleAssignment.scope_key_for(bid)))
        session.flush()
    return person


def make_org(session: Session) -> Org:
    """Branches a1, a2 (unit "dept", kind department) and b1 (unit "office", kind maritime_office).

    Users: per branch `sec_<b>`, `disc_<b>`, `rev_<b>`, `rev2_<b>`, `m1_<b>`..`m3_<b>` (one of them
    probationary, one activist); bureau: `office`, `leader`, `designer`, `admin`.
    """
    bureau = Bureau(name="测试海事局", short_name="测试局")
    session.add(bureau)
    kinds = {
        "department": UnitKind(code="department", name="机关部门", name_en="Bureau department", sort=0),
        "maritime_office": UnitKind(code="maritime_office", name="下属海事处", name_en="Maritime office", sort=1),
    }
    session.add_all(kinds.values())
    session.flush()
    units = {
        "dept": Unit(bureau_id=bureau.id, kind_id=kinds["department"].id, name="局机关", code="UD", sort=0),
        "office": Unit(bureau_id=bureau.id, kind_id=kinds["maritime_office"].id, name="测试海事处", code="UO", sort=1),
    }
    session.add_all(units.values())
    session.flush()
    branches = {
        "a1": Branch(unit_id=units["dept"].id, name="机关第一党支部", code="A1", sort=0),
        "a2": Branch(unit_id=units["dept"].id, name="机关第二党支部", code="A2", sort=1),
        "b1": Branch(unit_id=units["office"].id, name="海事处党支部", code="B1", sort=0),
    }
    session.add_all(branches.values())
    session.flush()
    org = Org(bureau, kinds, units, branches)
    surnames = iter("赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜")
    for key, branch in branches.items():
        specs = [
            (f"sec_{key}", ((Role.SECRETARY, branch),), MembershipStatus.FULL),
            (f"disc_{key}", ((Role.DISCIPLINE, branch),), MembershipStatus.FULL),
            (f"rev_{key}", ((Role.REVIEWER, branch),), MembershipStatus.FULL),
            (f"rev2_{key}", ((Role.REVIEWER, branch),), MembershipStatus.FULL),
            (f"m1_{key}", (), MembershipStatus.FULL),
            (f"m2_{key}", (), MembershipStatus.PROBATIONARY),
            (f"m3_{key}", (), MembershipStatus.ACTIVIST),
        ]
        for username, roles, status in specs:
            person = make_person(session, branch, next(surnames) + "某", username, status, roles)
            org.people[username] = person
    for username, role in (("office", Role.PARTY_OFFICE), ("leader", Role.LEADING_GROUP),
                           ("designer", Role.PROCESS_DESIGNER), ("admin", Role.ADMINISTRATOR)):
        person = make_person(session, branches["a1"], next(surnames) + "某", username,
                             MembershipStatus.FULL, ((role, None),))
        org.people[username] = person
    for username, person in org.people.items():
        org.users[username] = person.user  # type: ignore[assignment]
    return org
