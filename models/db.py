"""The declarative base, the Flask-SQLAlchemy handle and the column helpers every model uses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import JSON, DateTime, MetaData, TypeDecorator
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


# Models subclass Base directly (no Flask in their definitions); Flask-SQLAlchemy gives the
# request-scoped session and engine configuration over the same metadata.
db = SQLAlchemy(metadata=Base.metadata, session_options={"expire_on_commit": False})


# Primary keys, years and counters are 32-bit integers on PostgreSQL: every id that comes from
# outside (URLs, forms, JSON) is bounded by this before it reaches a query.
MAX_ID = 2**31 - 1


# Tables whose rows are never deleted, so their ids are never handed out twice anyway (and which a
# rebuild would strip of their append-only triggers).
_APPEND_ONLY = {"audit_event", "audit_head"}


def never_reuse_ids(metadata: MetaData) -> list[str]:
    """On SQLite a deleted row's id is handed out again unless its table says AUTOINCREMENT; ids
    appear in history, audit and URLs, so every table with an integer id says so. Returns the
    tables it applies to (the migration rebuilds the same ones)."""
    names = []
    for table in metadata.sorted_tables:
        key = list(table.primary_key.columns)
        if table.name in _APPEND_ONLY or len(key) != 1 or key[0].name != "id":
            continue
        table.dialect_kwargs["sqlite_autoincrement"] = True
        names.append(table.name)
    return names


def get_by_id(session: Any, model: type[Any], raw: Any, **options: Any) -> Any:
    """`session.get` for an untrusted id: None for anything that is not an id in range."""
    if isinstance(raw, bool):
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError, OverflowError):
        return None
    if not 1 <= value <= MAX_ID:
        return None
    return session.get(model, value, **options)


def utcnow() -> datetime:
    """Now, from the process clock (injectable in tests), as an aware UTC datetime."""
    from models import clock

    return clock.now()


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; SQLite hands back naive values, which are UTC by construction."""

    impl = DateTime
    cache_ok = True

    def __init__(self, timezone: bool = True) -> None:
        super().__init__(timezone=timezone)

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """WAL, NORMAL sync, foreign keys and a busy timeout on every SQLite connection."""
    import sqlite3

    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def install_engine_hooks() -> None:
    """Register the connection hooks once per process."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _sqlite_pragmas):
        event.listen(Engine, "connect", _sqlite_pragmas)


def listen(target: Any, hooks: dict[str, Any]) -> None:
    """Register event hooks on `target` unless they already are (so installing twice is harmless)."""
    from sqlalchemy import event

    for name, fn in hooks.items():
        if not event.contains(target, name, fn):
            event.listen(target, name, fn)


def chunks(values: list[Any], size: int = 5000) -> Iterator[list[Any]]:
    """Slices small enough for an IN list on every database."""
    for start in range(0, len(values), size):
        yield values[start:start + size]
