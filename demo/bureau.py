"""The demo bureau: 2 unit kinds, 4 units, 8 branches, ~150 people with every role filled.

`flask --app webapp demo load` calls `load()`; `demo accounts` lists the accounts. Every demo
account has the password DEMO_PASSWORD. Names are generated deterministically, so every fresh
machine gets the same bureau.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.org import Branch, Bureau, Unit, UnitKind
from models.people import MembershipStatus, Person, Role, RoleAssignment, User
from workflows.org import accounts

DEMO_PASSWORD = "pointsflow"

UNIT_KINDS = [
    ("department", "机关部门", "Bureau department"),
    ("maritime_office", "下属海事处", "Maritime office"),
]

# (unit code, unit name, kind code, [(branch code, branch name, people)])
UNITS = [
    ("U01", "局机关综合部门", "department", [("B01", "机关第一党支部", 19), ("B02", "机关第二党支部", 18)]),
    ("U02", "局机关业务部门", "department", [("B03", "机关第三党支部", 18), ("B04", "机关第四党支部", 19)]),
    ("U03", "麻涌海事处", "maritime_office", [("B05", "麻涌海事处第一党支部", 20), ("B06", "麻涌海事处巡查执法党支部", 18)]),
    ("U04", "虎门海事处", "maritime_office", [("B07", "虎门海事处第一党支部", 19), ("B08", "虎门海事处船舶监管党支部", 19)]),
]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余于杜叶程苏魏吕丁任沈姚卢钟"
GIVEN = ("伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 超 霞 平 刚 婷 鹏 斌 宁 峰 琳 "
         "建国 志明 海波 晓东 文斌 宇航 雪梅 鹏飞 浩然 嘉怡 子豪 思远 雨晨 俊杰 秀英 桂兰 玉珍 "
         "丽华 建华 国强 海燕 春梅 永刚 立新 振华 晓燕 红梅 德明 卫东 少华 嘉欣 梓涵 一鸣 志强 金凤").split()
POSITIONS_DEPT = ["科员", "副主任科员", "主任科员", "四级调研员", "副科长", "科长", "副处长"]
POSITIONS_OFFICE = ["海事执法员", "船舶安全检查员", "巡查执法员", "值班员", "副主任", "执法大队长", "海巡艇艇长"]


@dataclass(frozen=True)
class Account:
    username: str
    name: str
    roles: list[tuple[str, str | None]]  # (role, branch name or None)


def _names(rng: random.Random, n: int) -> list[str]:
    seen: set[str] = set()
    names = []
    while len(names) < n:
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def is_empty(session: Session) -> bool:
    return (session.scalar(select(func.count()).select_from(Person)) or 0) == 0


def load(session: Session) -> None:
    """Create the demo organisation and people (the catalogue and quarters are added by their modules)."""
    rng = random.Random(20201)
    password_hash = accounts.hash_password(DEMO_PASSWORD)  # one hash for every demo account: fast to load
    bureau = Bureau(name="东湾海事局", short_name="东湾局")
    session.add(bureau)
    kinds = {}
    for sort, (code, name, name_en) in enumerate(UNIT_KINDS):
        kinds[code] = UnitKind(code=code, name=name, name_en=name_en, sort=sort)
        session.add(kinds[code])
    session.flush()

    total = sum(n for *_, bs in UNITS for _, _, n in bs)
    names = iter(_names(rng, total))
    seq = 0
    branches: list[tuple[Branch, list[Person]]] = []
    for usort, (ucode, uname, kind, branch_defs) in enumerate(UNITS):
        unit = Unit(bureau_id=bureau.id, kind_id=kinds[kind].id, name=uname, code=ucode, sort=usort)
        session.add(unit)
        session.flush()
        for bsort, (bcode, bname, count) in enumerate(branch_defs):
            branch = Branch(unit_id=unit.id, name=bname, code=bcode, sort=bsort)
            session.add(branch)
            session.flush()
            people = [_person(rng, branch, i, count, seq + i + 1, next(names), kind) for i in range(count)]
            seq += count
            session.add_all(people)
            session.flush()
            branches.append((branch, people))

    _accounts_and_roles(session, branches, password_hash)


def _person(rng: random.Random, branch: Branch, i: int, count: int, seq: int, name: str, kind: str) -> Person:
    """The i-th of a branch's `count` people: two probationary members and one activist per
    branch, the rest full members."""
    status = (MembershipStatus.PROBATIONARY if i in (count - 2, count - 3)
              else MembershipStatus.ACTIVIST if i == count - 1 else MembershipStatus.FULL)
    joined = date(rng.randint(1990, 2023), rng.randint(1, 12), rng.randint(1, 28))
    if status is MembershipStatus.PROBATIONARY:
        joined = date(2026, rng.randint(1, 9), rng.randint(1, 28))
    return Person(
        employee_no=f"DW{seq:04d}",
        name=name,
        gender=rng.choice("MF"),
        branch_id=branch.id,
        status=status.value,
        joined_party_on=joined if status is not MembershipStatus.ACTIVIST else None,
        full_member_on=(joined + timedelta(days=365)) if status is MembershipStatus.FULL else None,
        activist_since=date(2025, rng.randint(1, 12), 1) if status is MembershipStatus.ACTIVIST else None,
        position=rng.choice(POSITIONS_DEPT if kind == "department" else POSITIONS_OFFICE),
        phone=f"139{rng.randint(10000000, 99999999)}",
    )


def _accounts_and_roles(session: Session, branches: list[tuple[Branch, list[Person]]], password_hash: str) -> None:
    """An account for everybody; featured usernames and the branch roles for each branch's first
    five people; the bureau-wide roles held by people of the first branches."""
    users: dict[int, User] = {}
    for n, (branch, people) in enumerate(branches, start=1):
        # Featured usernames for the branch's role holders, employee numbers for everybody else.
        featured = {0: f"sec{n}", 1: f"disc{n}", 2: f"rev{n}a", 3: f"rev{n}b", 4: f"member{n}"}
        for i, person in enumerate(people):
            users[person.id] = User(username=featured.get(i, person.employee_no.lower()),
                                    password_hash=password_hash, person_id=person.id)
            session.add(users[person.id])
        session.flush()
        sec, disc, rev_a, rev_b = (users[p.id] for p in people[:4])
        for user, role in ((sec, Role.SECRETARY), (disc, Role.DISCIPLINE), (rev_a, Role.REVIEWER),
                           (rev_b, Role.REVIEWER)):
            _grant(session, user, role, branch.id)

    # The party office's first member is also a reviewer of their own branch: one person, several roles.
    b1, b2, b3 = (people for _, people in branches[:3])
    bureau_roles = [
        (b1[5], "office", [Role.PARTY_OFFICE, (Role.REVIEWER, branches[0][0].id)]),
        (b1[6], "office2", [Role.PARTY_OFFICE]),
        (b2[5], "leader", [Role.LEADING_GROUP]),
        (b3[5], "leader2", [Role.LEADING_GROUP]),
        (b2[6], "designer", [Role.PROCESS_DESIGNER]),
        (b3[6], "admin", [Role.ADMINISTRATOR]),
    ]
    for person, username, roles in bureau_roles:
        user = users[person.id]
        user.username = username
        for spec in roles:
            role, branch_id = spec if isinstance(spec, tuple) else (spec, None)
            _grant(session, user, role, branch_id)
    # The first branch's secretary also sits on the leading group.
    _grant(session, users[b1[0].id], Role.LEADING_GROUP, None)
    session.flush()


def _grant(session: Session, user: User, role: Role, branch_id: int | None) -> None:
    session.add(RoleAssignment(user_id=user.id, role=role.value, branch_id=branch_id,
                               scope_key=RoleAssignment.scope_key_for(branch_id)))


def list_accounts(session: Session, featured_only: bool = False) -> list[dict[str, object]]:
    """Every account with its roles (member from the person's branch), featured ones first."""
    rows = session.execute(
        select(User, Person, Branch).outerjoin(Person, User.person_id == Person.id)
        .outerjoin(Branch, Person.branch_id == Branch.id).order_by(User.id)
    ).all()
    branch_names = dict(session.execute(select(Branch.id, Branch.name)).all())
    grants: dict[int, list[tuple[str, int | None]]] = {}
    for user_id, role, branch_id in session.execute(
        select(RoleAssignment.user_id, RoleAssignment.role, RoleAssignment.branch_id).order_by(RoleAssignment.id)
    ):
        grants.setdefault(user_id, []).append((role, branch_id))
    out = []
    for user, person, branch in rows:
        roles = []
        if person is not None and person.evaluated:
            roles.append({"role": Role.MEMBER.value, "branch": branch.name if branch else None})
        for role, branch_id in grants.get(user.id, []):
            roles.append({"role": role, "branch": branch_names.get(branch_id) if branch_id else None})
        entry = {"username": user.username, "password": DEMO_PASSWORD, "name": user.name, "roles": roles}
        is_featured = not user.username.startswith("dw")
        if featured_only and not is_featured:
            continue
        out.append((0 if is_featured else 1, entry))
    return [e for _, e in sorted(out, key=lambda x: x[0])]


def load_all(session: Session) -> None:
    """Everything `demo load` puts in an empty database: organisation, catalogue, quarters.

    Each part is loaded by the module that owns it, when that module is present.
    """
    load(session)
    for module_name, function in (("demo.catalogue", "load"), ("demo.quarters", "load")):
        try:
            module = __import__(module_name, fromlist=[function])
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
            continue
        getattr(module, function)(session)
