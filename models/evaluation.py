"""The quarter and everything scored in it: evaluations, claims, evidence, the branch's quarter,
appeals, supervision reports, follow-ups, notices, verification, annual assessment, notifications.

These tables hold the business facts; the BPMN instances in `models.process` hold where each
process stands. A filed quarter is locked: `workflows.locking` refuses every write to it.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.catalogue import POINTS, Standard
from models.db import Base, UTCDateTime, utcnow
from models.org import Branch
from models.people import Person


class QuarterStatus(enum.StrEnum):
    OPEN = "open"  # self-evaluation, review, publicity, appeals under way
    NOTIFIED = "notified"  # the notice is out; follow-ups run; awaiting filing
    FILED = "filed"  # accepted by the leading group: locked


class Quarter(Base):
    """One quarter's evaluation run, bureau-wide (unit_id NULL) or for one unit."""

    __tablename__ = "quarter"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    quarter: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    scope_key: Mapped[str] = mapped_column(String(20), default="bureau")  # "bureau" | "u<unit id>"
    title: Mapped[str] = mapped_column(String(200), default="")
    catalogue_version_id: Mapped[int] = mapped_column(ForeignKey("catalogue_version.id"))
    status: Mapped[str] = mapped_column(String(20), default=QuarterStatus.OPEN, index=True)
    self_eval_deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    publicity_days: Mapped[int] = mapped_column(Integer, default=5)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    opened_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    filed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    filed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    locked: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (UniqueConstraint("year", "quarter", "scope_key"),)

    @property
    def label(self) -> str:
        return f"{self.year}Q{self.quarter}"


class EvaluationStatus(enum.StrEnum):
    SELF_EVALUATION = "self_evaluation"
    REVIEW = "review"
    REVIEWED = "reviewed"
    POSTED = "posted"  # under publicity
    APPEAL = "appeal"  # an appeal or concern is being decided
    CONFIRMED = "confirmed"  # publicity window closed
    FILED = "filed"


class Grade(enum.StrEnum):
    EXCELLENT = "excellent"  # 优秀
    PASS = "pass"  # 合格
    FAIL = "fail"  # 不合格 (under the pass line)


class Evaluation(Base):
    """One person's quarter: their claims, their scores and where their process stands."""

    __tablename__ = "evaluation"

    id: Mapped[int] = mapped_column(primary_key=True)
    quarter_id: Mapped[int] = mapped_column(ForeignKey("quarter.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    # Snapshots taken when the quarter opened: a later move of branch does not rewrite history.
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"))
    unit_kind_id: Mapped[int] = mapped_column(ForeignKey("unit_kind.id"))
    member_status: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=EvaluationStatus.SELF_EVALUATION)
    self_score: Mapped[Decimal | None] = mapped_column(POINTS)
    score: Mapped[Decimal | None] = mapped_column(POINTS)  # reviewed (then final) score
    grade: Mapped[str | None] = mapped_column(String(20))
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the scoring engine's, as of `score`
    one_click: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_by_branch: Mapped[bool] = mapped_column(Boolean, default=False)
    declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    declared_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # Who approved and confirmed this member's score for the branch: the secretary for the branch,
    # or, for a secretary's own score, another holder of the role or the next level up.
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    instance_id: Mapped[int | None] = mapped_column(Integer, index=True)

    person: Mapped[Person] = relationship(lazy="joined")
    branch: Mapped[Branch] = relationship()
    quarter: Mapped[Quarter] = relationship()
    claims: Mapped[list[Claim]] = relationship(back_populates="evaluation", order_by="Claim.id")

    __table_args__ = (
        UniqueConstraint("quarter_id", "person_id"),
        Index("ix_evaluation_quarter_score", "quarter_id", "score", "id"),  # the ranking reads pages off it
        Index("ix_evaluation_quarter_branch_score", "quarter_id", "branch_id", "score"),
        Index("ix_evaluation_person", "person_id", "quarter_id"),
    )


class ClaimSource(enum.StrEnum):
    SELF = "self"  # declared by the member (报绩)
    BRANCH = "branch"  # recorded by the branch on the member's behalf (overdue)
    REVIEW = "review"  # added by the reviewer from records (三会一课 attendance...)
    REPORT = "report"  # from a substantiated supervision report


class ClaimStatus(enum.StrEnum):
    DRAFT = "draft"  # saved, not yet submitted
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    ADJUSTED = "adjusted"
    REJECTED = "rejected"
    REVOKED = "revoked"  # withdrawn after an upheld appeal on a report


COUNTING_CLAIM_STATUSES = (ClaimStatus.ACCEPTED, ClaimStatus.ADJUSTED)


class Claim(Base):
    """A bonus or deduction claimed against one scoring standard, with its review decision."""

    __tablename__ = "claim"

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluation.id"), index=True)
    standard_id: Mapped[int] = mapped_column(ForeignKey("catalogue_standard.id"))
    source: Mapped[str] = mapped_column(String(20), default=ClaimSource.SELF)
    status: Mapped[str] = mapped_column(String(20), default=ClaimStatus.DRAFT)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    occurred_on: Mapped[date | None] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text, default="")
    # Review: an adjustment changes occurrences or the points per occurrence, with a reason.
    reviewed_occurrences: Mapped[int | None] = mapped_column(Integer)
    reviewed_points: Mapped[Decimal | None] = mapped_column(POINTS)
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("supervision_report.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    evaluation: Mapped[Evaluation] = relationship(back_populates="claims")
    standard: Mapped[Standard] = relationship(lazy="joined")
    evidence: Mapped[list[Evidence]] = relationship(back_populates="claim", order_by="Evidence.id")


class Evidence(Base):
    """An uploaded file backing a claim, stored outside the web root under a random key."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluation.id"), index=True)
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claim.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(100), unique=True)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    claim: Mapped[Claim | None] = relationship(back_populates="evidence")


class BranchQuarterStatus(enum.StrEnum):
    REVIEWING = "reviewing"
    APPROVAL = "approval"
    MEETING = "meeting"
    PUBLICITY = "publicity"
    APPEALS = "appeals"  # publicity over, waiting for open appeals
    REPORTED = "reported"
    FILED = "filed"


class BranchQuarter(Base):
    """A branch's quarter: approval, the general meeting, publicity, report to the bureau."""

    __tablename__ = "branch_quarter"

    id: Mapped[int] = mapped_column(primary_key=True)
    quarter_id: Mapped[int] = mapped_column(ForeignKey("quarter.id"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"))
    status: Mapped[str] = mapped_column(String(20), default=BranchQuarterStatus.REVIEWING)
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approval_comment: Mapped[str] = mapped_column(Text, default="")
    meeting_date: Mapped[date | None] = mapped_column(Date)
    meeting_expected: Mapped[int | None] = mapped_column(Integer)
    meeting_present: Mapped[int | None] = mapped_column(Integer)
    meeting_resolution: Mapped[str] = mapped_column(Text, default="")
    publicity_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    publicity_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mean_score: Mapped[Decimal | None] = mapped_column(POINTS)
    instance_id: Mapped[int | None] = mapped_column(Integer, index=True)

    branch: Mapped[Branch] = relationship(lazy="joined")
    quarter: Mapped[Quarter] = relationship()

    __table_args__ = (UniqueConstraint("quarter_id", "branch_id"),)


class AppealKind(enum.StrEnum):
    APPEAL = "appeal"  # 申诉: a member about their own score
    CONCERN = "concern"  # 反映: any member about a posted score


class AppealStatus(enum.StrEnum):
    OPEN = "open"
    UPHELD = "upheld"
    DISMISSED = "dismissed"


class Appeal(Base):
    __tablename__ = "appeal"

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluation.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default=AppealKind.APPEAL)
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claim.id"))
    submitted_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=AppealStatus.OPEN)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str] = mapped_column(Text, default="")

    evaluation: Mapped[Evaluation] = relationship()


class ReportStatus(enum.StrEnum):
    VERIFYING = "verifying"
    SUBSTANTIATED = "substantiated"
    UNSUBSTANTIATED = "unsubstantiated"
    APPEALED = "appealed"
    REVOKED = "revoked"  # substantiated, then an appeal against it was upheld
    CLOSED = "closed"


class SupervisionReport(Base):
    """监督举报 about a member's conduct. The reporter is visible to discipline and party office only."""

    __tablename__ = "supervision_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"), index=True)
    reporter_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reporter_name: Mapped[str] = mapped_column(String(100), default="")  # outside reporter, via party office
    reporter_contact: Mapped[str] = mapped_column(String(200), default="")
    via_party_office: Mapped[bool] = mapped_column(Boolean, default=False)
    text: Mapped[str] = mapped_column(Text)
    occurred_on: Mapped[date | None] = mapped_column(Date)
    suggested_standard_id: Mapped[int | None] = mapped_column(ForeignKey("catalogue_standard.id"))
    occurrences: Mapped[int] = mapped_column(Integer, default=1)  # of the standard, when substantiated
    status: Mapped[str] = mapped_column(String(20), default=ReportStatus.VERIFYING)
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    verified_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    evaluation_id: Mapped[int | None] = mapped_column(ForeignKey("evaluation.id"))
    claim_id: Mapped[int | None] = mapped_column(Integer)
    instance_id: Mapped[int | None] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    subject: Mapped[Person] = relationship(lazy="joined")


class FollowUpKind(enum.StrEnum):
    REMINDER_TALK = "reminder_talk"  # 约谈提醒
    CRITICISM = "criticism"  # 批评教育
    AWARD_DISQUALIFICATION = "award_disqualification"  # 取消评优评先资格
    SECRETARY_INTERVIEW = "secretary_interview"  # 约谈支部书记
    CRITICISM_NOTICE = "criticism_notice"  # 通报批评 (of a branch)


class FollowUpStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"


class FollowUp(Base):
    __tablename__ = "follow_up"

    id: Mapped[int] = mapped_column(primary_key=True)
    quarter_id: Mapped[int] = mapped_column(ForeignKey("quarter.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default=FollowUpStatus.OPEN)
    record: Mapped[str] = mapped_column(Text, default="")
    done_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    instance_id: Mapped[int | None] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    person: Mapped[Person | None] = relationship(lazy="joined")
    branch: Mapped[Branch] = relationship(lazy="joined")


class Notice(Base):
    """The quarter's notice and comment (通报点评), composed from generated lists."""

    __tablename__ = "notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    quarter_id: Mapped[int] = mapped_column(ForeignKey("quarter.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    # Generated lists as published: commendations, under the pass line, low branches, branch table.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    quarter: Mapped[Quarter] = relationship()


class VerificationFinding(Base):
    """一季一核查: the leading group's check of a sampled, filed evaluation."""

    __tablename__ = "verification_finding"

    id: Mapped[int] = mapped_column(primary_key=True)
    quarter_id: Mapped[int] = mapped_column(ForeignKey("quarter.id"), index=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluation.id"), index=True)
    result: Mapped[str] = mapped_column(String(20), default="consistent")  # consistent | issue
    finding: Mapped[str] = mapped_column(Text, default="")
    checked_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AnnualStatus(enum.StrEnum):
    COMPUTED = "computed"
    REVIEWED = "reviewed"
    APPROVED = "approved"


class AnnualAssessment(Base):
    """一年一评估: four quarters → annual score and grade per person and branch."""

    __tablename__ = "annual_assessment"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer, unique=True)
    status: Mapped[str] = mapped_column(String(20), default=AnnualStatus.COMPUTED)
    computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_comment: Mapped[str] = mapped_column(Text, default="")
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approval_comment: Mapped[str] = mapped_column(Text, default="")
    instance_id: Mapped[int | None] = mapped_column(Integer, index=True)


class AnnualResult(Base):
    __tablename__ = "annual_result"

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("annual_assessment.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"))
    quarter_scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"1": 100.0, ...}
    quarters_counted: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[Decimal | None] = mapped_column(POINTS)  # mean of the counted quarters
    grade: Mapped[str | None] = mapped_column(String(20))
    rank: Mapped[int | None] = mapped_column(Integer)
    # Who reviewed and approved this person's result: the party office and the leading group for
    # everybody, another holder of the role for a holder's own result.
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    person: Mapped[Person] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("assessment_id", "person_id"),)


class AnnualBranchResult(Base):
    __tablename__ = "annual_branch_result"

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("annual_assessment.id", ondelete="CASCADE"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"))
    members: Mapped[int] = mapped_column(Integer, default=0)
    mean_score: Mapped[Decimal | None] = mapped_column(POINTS)
    stdev: Mapped[Decimal | None] = mapped_column(POINTS)
    excellent: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    rank: Mapped[int | None] = mapped_column(Integer)

    branch: Mapped[Branch] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("assessment_id", "branch_id"),)


class Notification(Base):
    """A message to one user: a reminder, a decision with its reason, a deduction from a report."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(40))  # the template of the message, translated when shown
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # its parameters
    body: Mapped[str] = mapped_column(Text, default="")  # free text written by a person (a reason...)
    link: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_notification_user_read", "user_id", "read_at"),)
