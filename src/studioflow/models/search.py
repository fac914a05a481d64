"""What search reads (issue 17): one row per product, service and artist, kept in step with
them by database triggers (the migration 2026-12-08-0100_search.py), so every write path
keeps the index right, in the same transaction. SQLite indexes it with an FTS5 table
(``search_fts``, external content on this table); PostgreSQL with a GIN index over the
weighted ``tsvector`` of title and body. Visibility (on sale, active) is decided at query
time by joining the source rows, never copied here.
"""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from studioflow.models.base import Base


class SearchDocument(Base):
    __tablename__ = "search_documents"
    __table_args__ = (UniqueConstraint("kind", "ref_id"),)

    # SQLite: INTEGER PRIMARY KEY is the rowid FTS5 keys its rows by.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(String(20))  # product, service, artist
    ref_id: Mapped[uuid.UUID]
    title: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
