"""Statuses and kinds may only hold their enum's values: CHECK constraints on both databases.

Revision ID: 20261201_1000
Revises: 20261122_0540
Create Date: 2026-12-01 10:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261201_1000"
down_revision: str | None = "20261122_0540"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table, column, allowed values (the StrEnums of studioflow.models, as of this revision)
CHECKS = (
    ("users", "platform_role", ("admin", "user")),
    ("images", "source", ("upload", "generated")),
    ("workflow_executions", "kind", ("batch", "job")),
    (
        "workflow_executions",
        "status",
        ("queued", "processing", "completed", "failed", "cancelled"),
    ),
    (
        "workflow_batch_results",
        "status",
        ("pending", "processing", "completed", "failed", "cancelled"),
    ),
    ("workflow_requests", "status", ("pending", "approved", "declined")),
)


def upgrade() -> None:
    for table, column, values in CHECKS:
        allowed = ", ".join(f"'{value}'" for value in values)
        # Batch mode: SQLite adds a constraint by rebuilding the table.
        with op.batch_alter_table(table) as batch:
            batch.create_check_constraint(op.f(f"ck_{table}_{column}"), f"{column} IN ({allowed})")


def downgrade() -> None:
    for table, column, _ in reversed(CHECKS):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
