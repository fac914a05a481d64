"""Direct uploads (issue 15, seed 001's presigned uploads): the bytes go to a signed URL,
then a completion checks them like any upload.

Revision ID: 20261207_1400
Revises: 20261207_1330
Create Date: 2026-12-07 14:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import studioflow.models.base

revision: str = "20261207_1400"
down_revision: str | None = "20261207_1330"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Moment = studioflow.models.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "pending_uploads",
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column(
            "purpose",
            sa.Enum(
                "image",
                "reference",
                "video",
                name="purpose",
                native_enum=False,
                create_constraint=True,
                length=12,
            ),
            nullable=False,
        ),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "completed",
                "failed",
                name="state",
                native_enum=False,
                create_constraint=True,
                length=12,
            ),
            nullable=False,
        ),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("storage_key", sa.String(length=300), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("album_id", sa.Uuid(), nullable=True),
        sa.Column("is_public", sa.Boolean(), nullable=True),
        sa.Column("image_id", sa.Uuid(), nullable=True),
        sa.Column("error_code", sa.String(length=60), nullable=True),
        sa.Column("url_expires_at", Moment(timezone=True), nullable=False),
        sa.Column("created_at", Moment(timezone=True), nullable=False),
        sa.Column("completed_at", Moment(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["album_id"],
            ["albums.id"],
            name=op.f("fk_pending_uploads_album_id_albums"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_pending_uploads_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_pending_uploads_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_pending_uploads_image_id_images"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_uploads")),
    )
    op.create_index(
        op.f("ix_pending_uploads_client_id"), "pending_uploads", ["client_id"], unique=False
    )
    op.create_index("ix_pending_uploads_state_created", "pending_uploads", ["state", "created_at"])


def downgrade() -> None:
    op.drop_table("pending_uploads")
