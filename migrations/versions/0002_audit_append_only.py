"""audit log append-only: refuse UPDATE and DELETE except the one-time sealing of a row

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            """
            CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
            WHEN OLD.seq IS NOT NULL
              OR NEW.id IS NOT OLD.id OR NEW.at IS NOT OLD.at OR NEW.actor_user_id IS NOT OLD.actor_user_id
              OR NEW.action IS NOT OLD.action OR NEW.object_type IS NOT OLD.object_type
              OR NEW.object_id IS NOT OLD.object_id OR NEW.instance_id IS NOT OLD.instance_id
              OR NEW.quarter_id IS NOT OLD.quarter_id OR NEW.branch_id IS NOT OLD.branch_id
              OR NEW.data IS NOT OLD.data
            BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END
            """
        )
        op.execute(
            "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event "
            "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
        )
    elif dialect == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
            BEGIN
              IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'audit_event is append-only';
              END IF;
              IF OLD.seq IS NOT NULL
                 OR (NEW.id, NEW.at, NEW.actor_user_id, NEW.action, NEW.object_type, NEW.object_id,
                     NEW.instance_id, NEW.quarter_id, NEW.branch_id, NEW.data)
                    IS DISTINCT FROM
                    (OLD.id, OLD.at, OLD.actor_user_id, OLD.action, OLD.object_type, OLD.object_id,
                     OLD.instance_id, OLD.quarter_id, OLD.branch_id, OLD.data) THEN
                RAISE EXCEPTION 'audit_event is append-only';
              END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
        )


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
