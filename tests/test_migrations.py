"""Every schema change is a migration: the migrated database equals the models."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from models import Base
from webapp.extensions import db


def test_migrations_match_the_models(app):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_audit_log_refuses_update_and_delete(app, db_session):
    import pytest
    from sqlalchemy import text

    from models import audit

    audit.record(db_session, "test.event", actor_user_id=None, data={"x": 1})
    db_session.commit()
    with pytest.raises(Exception, match="append-only"):
        db_session.execute(text("UPDATE audit_event SET action = 'forged'"))
    db_session.rollback()
    with pytest.raises(Exception, match="append-only"):
        db_session.execute(text("DELETE FROM audit_event"))
    db_session.rollback()
