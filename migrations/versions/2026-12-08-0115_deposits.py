"""Booking deposits (issue 17): a service may ask for a deposit at booking
(``services.deposit_minor``, within its price: a CHECK), and an appointment keeps its
deposit's payment (``appointments.payment_id``, not a foreign key: see the model).

Both columns are added in place (``ALTER TABLE … ADD COLUMN``), never by a batch rebuild:
on SQLite a rebuild would drop the tables' triggers (the no-double-booking guard on
``appointments``, the search index's on ``services``).

Revision ID: 20261208_0115
Revises: 20261208_0100
Create Date: 2026-12-08 01:15:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261208_0115"
down_revision: str | None = "20261208_0100"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WITHIN_PRICE = "deposit_minor IS NULL OR (deposit_minor > 0 AND deposit_minor <= price_minor)"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE appointments ADD COLUMN payment_id CHAR(32)")
        op.execute(
            "ALTER TABLE services ADD COLUMN deposit_minor BIGINT "
            f"CONSTRAINT ck_services_deposit_within_price CHECK ({WITHIN_PRICE})"
        )
        return
    op.add_column("appointments", sa.Column("payment_id", sa.Uuid(), nullable=True))
    op.add_column("services", sa.Column("deposit_minor", sa.BigInteger(), nullable=True))
    op.create_check_constraint("ck_services_deposit_within_price", "services", WITHIN_PRICE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # In place too (SQLite 3.35+): the tables keep their triggers.
        op.execute("ALTER TABLE services DROP COLUMN deposit_minor")
        op.execute("ALTER TABLE appointments DROP COLUMN payment_id")
        return
    op.drop_constraint("ck_services_deposit_within_price", "services", type_="check")
    op.drop_column("services", "deposit_minor")
    op.drop_column("appointments", "payment_id")
