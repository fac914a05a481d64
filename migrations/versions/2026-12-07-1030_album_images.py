"""An image in several albums: ``album_images`` replaces ``images.album_id`` (issue 14).

Revision ID: 20261207_1030
Revises: 20261202_0100
Create Date: 2026-12-07 10:30:00+00:00

Every image's album is copied over first, so nothing is lost; the downgrade keeps one album
per image (the one it was added to first). Dropping the column rebuilds ``images`` on
SQLite: ``platform.migrations.upgrade`` turns foreign keys off around a migration there, so
the rebuild's DROP TABLE does not cascade to the variants and results that point at images.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import studioflow.models.base

revision: str = "20261207_1030"
down_revision: str | None = "20261202_0100"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "album_images",
        sa.Column("album_id", sa.Uuid(), nullable=False),
        sa.Column("image_id", sa.Uuid(), nullable=False),
        sa.Column("added_at", studioflow.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["album_id"],
            ["albums.id"],
            name=op.f("fk_album_images_album_id_albums"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_album_images_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("album_id", "image_id", name=op.f("pk_album_images")),
    )
    with op.batch_alter_table("album_images", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_album_images_image_id"), ["image_id"], unique=False)
    op.execute(
        "INSERT INTO album_images (album_id, image_id, added_at) "
        "SELECT album_id, id, created_at FROM images WHERE album_id IS NOT NULL"
    )
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_images_album_id"))
        batch_op.drop_constraint(batch_op.f("fk_images_album_id_albums"), type_="foreignkey")
        batch_op.drop_column("album_id")


def downgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("album_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_images_album_id_albums"),
            "albums",
            ["album_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(batch_op.f("ix_images_album_id"), ["album_id"], unique=False)
    op.execute(
        "UPDATE images SET album_id = (SELECT a.album_id FROM album_images a "
        "WHERE a.image_id = images.id ORDER BY a.added_at, a.album_id LIMIT 1)"
    )
    with op.batch_alter_table("album_images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_album_images_image_id"))
    op.drop_table("album_images")
