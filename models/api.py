"""Bearer tokens of the JSON API: issued on sign-in with a password, revocable by their owner.

Only a SHA-256 hash of a token is stored; the token itself is shown once, when it is issued.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.db import Base, UTCDateTime, utcnow
from models.people import User


class ApiToken(Base):
    """One bearer token of one user."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256 of the token
    name: Mapped[str] = mapped_column(String(100), default="")  # what the owner calls it ("排班脚本")
    # The user's session epoch when issued: "sign out everywhere" and password changes end tokens too.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    __table_args__ = (Index("ix_api_token_user", "user_id", "revoked_at"),)
