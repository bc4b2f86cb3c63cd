"""People, their sign-in accounts and the roles they hold, each scoped to a branch or the bureau."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.db import Base, UTCDateTime, utcnow
from models.org import Branch


class MembershipStatus(enum.StrEnum):
    FULL = "full"  # 正式党员
    PROBATIONARY = "probationary"  # 预备党员
    ACTIVIST = "activist"  # 入党积极分子
    NONE = "none"  # staff account, not evaluated (e.g. a system administrator)


EVALUATED_STATUSES = (MembershipStatus.FULL, MembershipStatus.PROBATIONARY, MembershipStatus.ACTIVIST)


class Role(enum.StrEnum):
    MEMBER = "member"  # 党员 — derived from the person's branch, never stored
    REVIEWER = "reviewer"  # 积分审核员
    SECRETARY = "secretary"  # 支部书记
    DISCIPLINE = "discipline"  # 支部纪检委员
    PARTY_OFFICE = "party_office"  # 党群部门
    LEADING_GROUP = "leading_group"  # 积分量化管理领导小组
    PROCESS_DESIGNER = "process_designer"  # 流程设计
    ADMINISTRATOR = "administrator"  # 系统管理员


# Roles of a branch's own points work; may also be held bureau-wide (the next level up).
BRANCH_ROLES = (Role.REVIEWER, Role.SECRETARY, Role.DISCIPLINE)
# Roles that only exist at bureau level.
BUREAU_ROLES = (Role.PARTY_OFFICE, Role.LEADING_GROUP, Role.PROCESS_DESIGNER, Role.ADMINISTRATOR)
ASSIGNABLE_ROLES = BRANCH_ROLES + BUREAU_ROLES


class Person(Base):
    """Somebody the bureau knows: a party member, probationary member, activist or staff."""

    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_no: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    gender: Mapped[str] = mapped_column(String(1), default="")
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branch.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=MembershipStatus.FULL)
    joined_party_on: Mapped[date | None] = mapped_column(Date)  # 入党时间 (admission as probationary)
    full_member_on: Mapped[date | None] = mapped_column(Date)  # 转正时间
    activist_since: Mapped[date | None] = mapped_column(Date)  # 确定为积极分子时间
    position: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    branch: Mapped[Branch | None] = relationship(lazy="joined")
    user: Mapped[User | None] = relationship(back_populates="person", uselist=False)

    __table_args__ = (Index("ix_person_branch_status", "branch_id", "status", "active"),)

    @property
    def evaluated(self) -> bool:
        return Person.is_evaluated(self.active, self.status, self.branch_id)

    @staticmethod
    def is_evaluated(active: bool | None, status: str | None, branch_id: int | None) -> bool:
        """Whether somebody takes part in the quarterly evaluation (as a member of their branch)."""
        return bool(active) and status in EVALUATED_STATUSES and branch_id is not None


class User(Base):
    """A sign-in account. Most belong to a person; a staff account may have none."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    locale: Mapped[str | None] = mapped_column(String(10))
    # Bumped on password change and "sign out everywhere": old session cookies stop working.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    person: Mapped[Person | None] = relationship(back_populates="user", lazy="joined")
    roles: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin",
        foreign_keys="RoleAssignment.user_id",
    )

    @property
    def name(self) -> str:
        return User.shown_name(self.person.name if self.person is not None else None, self.display_name, self.username)

    @staticmethod
    def shown_name(person_name: str | None, display_name: str | None, username: str) -> str:
        """What a user is called everywhere: their person's name, else the display name, else the username."""
        return person_name if person_name is not None else (display_name or username)


class RoleAssignment(Base):
    """A role held by a user, in one branch or (branch_id NULL) across the whole bureau."""

    __tablename__ = "role_assignment"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branch.id"))
    # "b<branch id>" or "bureau": lets one unique constraint cover the NULL branch portably.
    scope_key: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    user: Mapped[User] = relationship(back_populates="roles", foreign_keys=[user_id])
    branch: Mapped[Branch | None] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("user_id", "role", "scope_key"),
        Index("ix_role_assignment_role_branch", "role", "branch_id"),
    )

    @staticmethod
    def scope_key_for(branch_id: int | None) -> str:
        return "bureau" if branch_id is None else f"b{branch_id}"


class LoginAttempt(Base):
    """Failed and successful sign-ins, used to throttle guessing across all web workers."""

    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    success: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_login_attempt_username_at", "username", "at"),
        Index("ix_login_attempt_addr_at", "remote_addr", "at"),
    )
