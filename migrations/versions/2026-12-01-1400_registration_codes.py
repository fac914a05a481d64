"""A sign-up code carries its own registration: the password hash and profile it sets.

Revision ID: 20261201_1400
Revises: 20261201_1000
Create Date: 2026-12-01 14:00:00+00:00

Before, a second registration of an unverified address only re-sent a code, so whoever
registered first chose the password the address owner then confirmed (issue 12, item 1).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261201_1400"
down_revision: str | None = "20261201_1000"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("one_time_codes") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("profile", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("one_time_codes") as batch:
        batch.drop_column("profile")
        batch.drop_column("password_hash")
