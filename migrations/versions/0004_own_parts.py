"""what a task decides on (human_task.item_id), every account left out of its pool
(human_task.excluded_users, instead of one excluded_user_id), and who approved and confirmed each
score and annual result

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa

import models.db
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("human_task") as batch:
        batch.add_column(sa.Column("item_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("excluded_users", sa.String(length=2000), nullable=False, server_default=""))
    op.execute("UPDATE human_task SET excluded_users = ' ' || CAST(excluded_user_id AS VARCHAR(20)) || ' ' "
               "WHERE excluded_user_id IS NOT NULL")
    with op.batch_alter_table("human_task") as batch:
        batch.drop_column("excluded_user_id")
    with op.batch_alter_table("evaluation") as batch:
        for column in ("approved", "confirmed"):
            batch.add_column(sa.Column(f"{column}_at", models.db.UTCDateTime(timezone=True), nullable=True))
            batch.add_column(sa.Column(f"{column}_by", sa.Integer(), nullable=True))
            batch.create_foreign_key(f"fk_evaluation_{column}_by_user_account", "user_account", [f"{column}_by"], ["id"])
    with op.batch_alter_table("annual_result") as batch:
        for column in ("reviewed_by", "approved_by"):
            batch.add_column(sa.Column(column, sa.Integer(), nullable=True))
            batch.create_foreign_key(f"fk_annual_result_{column}_user_account", "user_account", [column], ["id"])


def downgrade():
    with op.batch_alter_table("annual_result") as batch:
        for column in ("reviewed_by", "approved_by"):
            batch.drop_constraint(f"fk_annual_result_{column}_user_account", type_="foreignkey")
            batch.drop_column(column)
    with op.batch_alter_table("evaluation") as batch:
        for column in ("approved", "confirmed"):
            batch.drop_constraint(f"fk_evaluation_{column}_by_user_account", type_="foreignkey")
            batch.drop_column(f"{column}_by")
            batch.drop_column(f"{column}_at")
    with op.batch_alter_table("human_task") as batch:
        batch.add_column(sa.Column("excluded_user_id", sa.Integer(), nullable=True))
    op.execute("UPDATE human_task SET excluded_user_id = CAST(TRIM(excluded_users) AS INTEGER) "
               "WHERE excluded_users <> '' AND excluded_users NOT LIKE '% % %'")
    with op.batch_alter_table("human_task") as batch:
        batch.drop_column("excluded_users")
        batch.drop_column("item_id")
