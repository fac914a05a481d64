"""Indexes of the admins' dashboard and finances (issue 15): runs, ledger entries and
accounts by creation time, so a range of days reads only its rows.

Revision ID: 20261207_1330
Revises: 20261207_1300
Create Date: 2026-12-07 13:30:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261207_1330"
down_revision: str | None = "20261207_1300"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_users_created_at", "users", ["created_at"])
    # The figures' columns ride in the indexes: a range is read from them alone.
    op.create_index(
        "ix_credit_events_created_at",
        "credit_events",
        ["created_at", "reason", "delta", "client_id"],
    )
    op.create_index(
        "ix_workflow_executions_created_at",
        "workflow_executions",
        [
            "created_at",
            "client_id",
            "workflow_id",
            "completed",
            "failed",
            "cost_micro_usd",
            "credits_reserved",
            "credits_refunded",
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_workflow_executions_created_at", table_name="workflow_executions")
    op.drop_index("ix_credit_events_created_at", table_name="credit_events")
    op.drop_index("ix_users_created_at", table_name="users")
