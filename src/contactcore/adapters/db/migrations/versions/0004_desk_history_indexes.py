"""Indexes for the agent desktop and wallboard: events by task and by time.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # today's numbers read a day of events; a disposition finds its task's interaction
    op.create_index("ix_interaction_events_at", "interaction_events", ["at"])
    op.create_index("ix_interaction_events_task_id", "interaction_events", ["task_id"])


def downgrade() -> None:
    op.drop_index("ix_interaction_events_task_id", table_name="interaction_events")
    op.drop_index("ix_interaction_events_at", table_name="interaction_events")
