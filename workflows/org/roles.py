"""Services for role assignments: giving and taking roles, and who holds which role where (coverage)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import audit
from models.org import Branch, Unit
from models.people import (
    ASSIGNABLE_ROLES,
    BUREAU_ROLES,
    EVALUATED_STATUSES,
    Person,
    Role,
    RoleAssignment,
    User,
)
from models.permissions import Principal
from workflows.errors import Conflict, NotFound, ValidationFailed
from workflows.i18n import N_
from workflows.org.common import Errors, active_administrators, branch_errors, raise_if, require_admin

MIN_REVIEWERS = 2


def assign_role(
    session: Session, actor: Principal, user: User, role: Role | str, branch_id: int | None
) -> RoleAssignment:
    """Give a user a role in a branch (or bureau-wide, branch_id None)."""
    require_admin(actor)
    try:
        role = Role(role)
    except ValueError:
        raise ValidationFailed(field_errors={"role": [N_("Unknown role.")]}) from None
    if role not in ASSIGNABLE_ROLES:
        raise ValidationFailed(field_errors={"role": [N_("Membership comes from the person's branch and is not assigned.")]})
    if role in BUREAU_ROLES and branch_id is not None:
        raise ValidationFailed(field_errors={"branch_id": [N_("This role is held bureau-wide, not in a branch.")]})
    errors: Errors = {}
    branch_errors(session, branch_id, errors)
    raise_if(errors)
    if not user.active:
        raise ValidationFailed(N_("This account is inactive. Activate it first."))
    key = RoleAssignment.scope_key_for(branch_id)
    existing = session.scalar(
        select(RoleAssignment).where(
            RoleAssignment.user_id == user.id, RoleAssignment.role == role, RoleAssignment.scope_key == key
        )
    )
    if existing is not None:
        raise Conflict(N_("This person already holds this role there."))
    assignment = RoleAssignment(user_id=user.id, role=role.value, branch_id=branch_id, scope_key=key,
                                created_by=actor.acting_user_id)
    session.add(assignment)
    session.flush()
    audit.record(session, "role.assigned", actor_user_id=actor.acting_user_id, object_type="user", object_id=user.id,
                 data={"role": role.value, "branch_id": branch_id}, branch_id=branch_id)
    return assignment


def revoke_role(session: Session, actor: Principal, assignment_id: int) -> None:
    """Take a role away; the last active administrator keeps theirs, so nobody is locked out."""
    require_admin(actor)
    assignment = session.get(RoleAssignment, assignment_id)
    if assignment is None:
        raise NotFound()
    if (assignment.role == Role.ADMINISTRATOR.value and assignment.branch_id is None
            and assignment.user.active and not active_administrators(session, assignment.user_id)):
        raise Conflict(N_("This is the last active administrator."))
    audit.record(session, "role.revoked", actor_user_id=actor.acting_user_id, object_type="user",
                 object_id=assignment.user_id, data={"role": assignment.role, "branch_id": assignment.branch_id},
                 branch_id=assignment.branch_id)
    session.delete(assignment)


# --- Who holds what -----------------------------------------------------------------------------

@dataclass
class BranchCoverage:
    """The role holders of one branch and what is missing there."""

    branch: Branch
    holders: dict[str, list[RoleAssignment]] = field(default_factory=dict)
    members: int = 0

    @property
    def problems(self) -> list[str]:
        found = []
        if not self.holders.get(Role.SECRETARY.value):
            found.append(N_("No branch secretary."))
        if not self.holders.get(Role.DISCIPLINE.value):
            found.append(N_("No discipline member."))
        reviewers = len(self.holders.get(Role.REVIEWER.value, []))
        if reviewers == 0:
            found.append(N_("No points reviewer."))
        elif reviewers < MIN_REVIEWERS:
            found.append(N_("Only one points reviewer: nobody could review that reviewer's own score."))
        return found


def role_coverage(session: Session) -> tuple[list[BranchCoverage], dict[str, list[RoleAssignment]]]:
    """Per active branch, who holds each branch role (active accounts only); and the bureau-wide holders."""
    by_branch = {b.id: BranchCoverage(b) for b in session.scalars(
        select(Branch).join(Unit).where(Branch.active.is_(True)).order_by(Unit.sort, Branch.sort, Branch.id))}
    bureau_wide: dict[str, list[RoleAssignment]] = {r.value: [] for r in ASSIGNABLE_ROLES}
    rows = session.execute(
        select(RoleAssignment, User).join(User, User.id == RoleAssignment.user_id)
        .where(User.active.is_(True)).order_by(RoleAssignment.role, User.username)
    ).all()
    for assignment, _user in rows:
        if assignment.branch_id is None:
            bureau_wide.setdefault(assignment.role, []).append(assignment)
        elif assignment.branch_id in by_branch:
            by_branch[assignment.branch_id].holders.setdefault(assignment.role, []).append(assignment)
    counts = session.execute(
        select(Person.branch_id, func.count()).where(Person.active.is_(True), Person.status.in_(
            [s.value for s in EVALUATED_STATUSES])).group_by(Person.branch_id)
    ).all()
    for branch_id, count in counts:
        if branch_id in by_branch:
            by_branch[branch_id].members = count
    return list(by_branch.values()), bureau_wide
