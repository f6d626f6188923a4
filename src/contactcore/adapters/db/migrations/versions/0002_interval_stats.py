"""Interval statistics of workforce planning.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "interval_stats",
        sa.Column("queue_id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("start", sa.Double(), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("offered", sa.Integer(), server_default="0", nullable=False),
        sa.Column("answered", sa.Integer(), server_default="0", nullable=False),
        sa.Column("abandoned", sa.Integer(), server_default="0", nullable=False),
        sa.Column("answered_in_sl", sa.Integer(), server_default="0", nullable=False),
        sa.Column("handle_seconds", sa.Double(), server_default="0", nullable=False),
        sa.Column("answer_wait_seconds", sa.Double(), server_default="0", nullable=False),
        sa.Column("abandon_wait_seconds", sa.Double(), server_default="0", nullable=False),
        sa.Column("backlog", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("queue_id", "channel", "start", name=op.f("pk_interval_stats")),
    )
    op.create_index("ix_interval_stats_start", "interval_stats", ["start"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_interval_stats_start", table_name="interval_stats")
    op.drop_table("interval_stats")
