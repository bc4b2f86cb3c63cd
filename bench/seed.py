"""Seeding a large bureau for the benchmark: bulk inserts, one shared password hash."""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import insert
from sqlalchemy.orm import Session

from models.org import Branch, Bureau, Unit, UnitKind
from models.people import Person, RoleAssignment, User
from workflows.org import accounts

PASSWORD = "bench-password"


@dataclass
class Seeded:
    members: int
    branches: list[int]
    office_user: int
    leader_user: int
    reviewers: dict[int, list[int]]  # branch -> reviewer user ids


def seed(session: Session, members: int, branches: int | None = None, *, start_person: int = 0) -> Seeded:
    """A bureau of `members` people in `branches` branches (default one per 50 members), two unit kinds."""
    branches = branches or max(2, members // 50)
    rng = random.Random(7)
    password_hash = accounts.hash_password(PASSWORD)
    bureau = Bureau(name="基准测试局", short_name="基准局")
    session.add(bureau)
    kinds = [UnitKind(code="department", name="机关部门", sort=0),
             UnitKind(code="maritime_office", name="下属海事处", sort=1)]
    session.add_all(kinds)
    session.flush()
    unit_count = max(2, branches // 20)
    units = [Unit(bureau_id=bureau.id, kind_id=kinds[i % 2].id, name=f"单位{i:03d}", code=f"U{i:03d}", sort=i)
             for i in range(unit_count)]
    session.add_all(units)
    session.flush()
    branch_rows = [{"unit_id": units[i % unit_count].id, "name": f"第{i:04d}党支部", "code": f"B{i:04d}", "sort": i,
                    "active": True} for i in range(branches)]
    branch_ids = list(session.scalars(insert(Branch.__table__).returning(Branch.__table__.c.id,
                                                                            sort_by_parameter_order=True), branch_rows))
    person_rows = []
    for i in range(members):
        status = "probationary" if i % 29 == 0 else "activist" if i % 53 == 0 else "full"
        person_rows.append({"employee_no": f"P{start_person + i:07d}", "name": f"党员{i:06d}", "gender": "",
                            "branch_id": branch_ids[i % branches], "status": status, "position": "", "phone": "",
                            "active": True})
    person_ids: list[int] = []
    for start in range(0, len(person_rows), 5000):
        person_ids += list(session.scalars(insert(Person.__table__).returning(
            Person.__table__.c.id, sort_by_parameter_order=True), person_rows[start:start + 5000]))
    user_rows = [{"username": f"u{start_person + i:07d}", "password_hash": password_hash, "person_id": pid,
                  "display_name": "", "active": True, "must_change_password": False, "session_epoch": 0}
                 for i, pid in enumerate(person_ids)]
    user_ids: list[int] = []
    for start in range(0, len(user_rows), 5000):
        user_ids += list(session.scalars(insert(User.__table__).returning(
            User.__table__.c.id, sort_by_parameter_order=True), user_rows[start:start + 5000]))
    by_branch: dict[int, list[int]] = {}
    for i, uid in enumerate(user_ids):
        by_branch.setdefault(branch_ids[i % branches], []).append(uid)
    roles = []
    reviewers: dict[int, list[int]] = {}
    for branch_id, users in by_branch.items():
        picks = users[:5]
        reviewers[branch_id] = picks[2:4]
        for uid, role in zip(picks, ("secretary", "discipline", "reviewer", "reviewer"), strict=False):
            roles.append({"user_id": uid, "role": role, "branch_id": branch_id, "scope_key": f"b{branch_id}"})
    office, leader = user_ids[-1], user_ids[-2]
    roles.append({"user_id": office, "role": "party_office", "branch_id": None, "scope_key": "bureau"})
    roles.append({"user_id": leader, "role": "leading_group", "branch_id": None, "scope_key": "bureau"})
    session.execute(insert(RoleAssignment.__table__), roles)
    session.flush()
    del rng
    return Seeded(members, branch_ids, office, leader, reviewers)
