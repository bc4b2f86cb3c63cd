"""The organisation: one bureau, its units (of extensible kinds) and the party branches in them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.db import Base, UTCDateTime, utcnow


class Bureau(Base):
    """The whole organisation (局). There is exactly one."""

    __tablename__ = "bureau"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    short_name: Mapped[str] = mapped_column(String(100), default="")


class UnitKind(Base):
    """A kind of unit, each with its own evaluation form: bureau department, maritime office..."""

    __tablename__ = "unit_kind"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    sort: Mapped[int] = mapped_column(Integer, default=0)


class Unit(Base):
    """A bureau department (机关部门) or a subordinate maritime office (下属海事处)."""

    __tablename__ = "unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    bureau_id: Mapped[int] = mapped_column(ForeignKey("bureau.id"), index=True)
    kind_id: Mapped[int] = mapped_column(ForeignKey("unit_kind.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    sort: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    kind: Mapped[UnitKind] = relationship(lazy="joined")
    branches: Mapped[list[Branch]] = relationship(back_populates="unit", order_by="Branch.sort")


class Branch(Base):
    """A party branch (党支部) of a unit."""

    __tablename__ = "branch"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    sort: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    unit: Mapped[Unit] = relationship(back_populates="branches", lazy="joined")
