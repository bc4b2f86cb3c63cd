"""index the instance_id of the business objects a process drives (every completion looks its
object up by it)

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("evaluation", "branch_quarter", "supervision_report", "follow_up", "annual_assessment")


def upgrade():
    for table in TABLES:
        op.create_index(f"ix_{table}_instance_id", table, ["instance_id"])


def downgrade():
    for table in TABLES:
        op.drop_index(f"ix_{table}_instance_id", table_name=table)
