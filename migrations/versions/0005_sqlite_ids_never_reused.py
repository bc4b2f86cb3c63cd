"""SQLite hands out a deleted row's id again unless the table says AUTOINCREMENT: every table with
an integer id is rebuilt with it (ids appear in history, audit and URLs; a reused claim id once
showed one member other members' deleted claims). PostgreSQL sequences never reuse ids: nothing
to do there.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa

import models
from alembic import op
from models.db import never_reuse_ids

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _tables(bind, autoincrement: bool) -> list[str]:
    """The tables that do not say AUTOINCREMENT yet (`autoincrement`: the state wanted)."""
    present = set(sa.inspect(bind).get_table_names())
    wanted = [t for t in never_reuse_ids(models.Base.metadata) if t in present]
    sql = dict(bind.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all())
    return [t for t in wanted if ("AUTOINCREMENT" in (sql.get(t) or "").upper()) != autoincrement]


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    # migrations/env.py turns foreign keys off around SQLite migrations, as SQLite's own recipe
    # for rebuilding a table asks, and checks them all afterwards.
    for name in _tables(bind, autoincrement=True):
        with op.batch_alter_table(name, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for name in _tables(bind, autoincrement=False):
        with op.batch_alter_table(name, recreate="always", table_kwargs={"sqlite_autoincrement": False}):
            pass
