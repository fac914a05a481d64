"""Availability's index: a staff member's held times with their ends and status, so reading
a stretch of them never visits the table (issue 16, bench/README.md "Booking"). It replaces
(staff_id, starts_at), of which it is an extension.

Revision ID: 20261207_2100
Revises: 20261207_1700
Create Date: 2026-12-07 21:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261207_2100"
down_revision: str | None = "20261207_1700"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_appointments_staff_held",
            ["staff_id", "starts_at", "blocked_until", "status"],
            unique=False,
        )
        batch_op.drop_index("ix_appointments_staff_starts")


def downgrade() -> None:
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_appointments_staff_starts", ["staff_id", "starts_at"], unique=False
        )
        batch_op.drop_index("ix_appointments_staff_held")
