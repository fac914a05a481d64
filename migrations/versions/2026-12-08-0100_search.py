"""Search (issue 17): ``search_documents`` holds one row per product, service and artist,
written by triggers on those tables (so every write keeps it in step, in its own
transaction); SQLite indexes it with the FTS5 table ``search_fts`` (external content, kept
by triggers on ``search_documents``), PostgreSQL with a GIN index over ``document``, the
stored, generated, weighted ``tsvector`` of title (A) and body (B). Existing rows are indexed here.

A later batch migration that rebuilds one of the source tables on SQLite drops its
triggers with it: it must create them again (``sqlite_source_triggers``).

Revision ID: 20261208_0100
Revises: 20261208_0035
Create Date: 2026-12-08 00:46:00+00:00
"""

# ruff: noqa: S608  (DDL built from the constant SOURCES below, never from input)

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261208_0100"
down_revision: str | None = "20261208_0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (kind, table, title expression, body expression over NEW/OLD's columns, watched columns)
SOURCES = (
    (
        "product",
        "products",
        "{r}.title",
        "trim(coalesce({r}.description, '') || ' ' || coalesce({r}.category, '') || ' ' || "
        "coalesce({r}.finish, ''))",
        "title, description, category, finish",
    ),
    (
        "service",
        "services",
        "{r}.name",
        "coalesce({r}.description, '')",
        "name, description",
    ),
    ("artist", "booking_staff", "{r}.display_name", "coalesce({r}.bio, '')", "display_name, bio"),
)
# The weighted document PostgreSQL stores, indexes and ranks by.
PG_DOCUMENT = (
    "(setweight(to_tsvector('simple', title), 'A') || setweight(to_tsvector('simple', body), 'B'))"
)


def sqlite_source_triggers(kind: str, table: str, title: str, body: str, watched: str) -> list[str]:
    new_title, new_body = title.format(r="new"), body.format(r="new")
    return [
        f"CREATE TRIGGER {table}_search_ai AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO search_documents (kind, ref_id, title, body) "
        f"VALUES ('{kind}', new.id, {new_title}, {new_body}); END",
        f"CREATE TRIGGER {table}_search_au AFTER UPDATE OF {watched} ON {table} BEGIN "
        f"UPDATE search_documents SET title = {new_title}, body = {new_body} "
        f"WHERE kind = '{kind}' AND ref_id = new.id; END",
        f"CREATE TRIGGER {table}_search_ad AFTER DELETE ON {table} BEGIN "
        f"DELETE FROM search_documents WHERE kind = '{kind}' AND ref_id = old.id; END",
    ]


def upgrade() -> None:
    op.create_table(
        "search_documents",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("ref_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_documents")),
        sa.UniqueConstraint("kind", "ref_id", name=op.f("uq_search_documents_kind_ref_id")),
    )
    for kind, table, title, body, _ in SOURCES:
        op.execute(
            f"INSERT INTO search_documents (kind, ref_id, title, body) "
            f"SELECT '{kind}', id, {title.format(r=table)}, {body.format(r=table)} FROM {table}"
        )
    if op.get_bind().dialect.name == "postgresql":
        # Stored, so ranking reads it instead of parsing every matching row's text again.
        op.execute(
            f"ALTER TABLE search_documents ADD COLUMN document tsvector "
            f"GENERATED ALWAYS AS {PG_DOCUMENT} STORED"
        )
        op.execute(
            "CREATE INDEX ix_search_documents_document ON search_documents USING gin (document)"
        )
        for kind, table, title, body, watched in SOURCES:
            new_title, new_body = title.format(r="NEW"), body.format(r="NEW")
            op.execute(
                f"""
                CREATE FUNCTION {table}_search() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                  IF TG_OP = 'DELETE' THEN
                    DELETE FROM search_documents WHERE kind = '{kind}' AND ref_id = OLD.id;
                    RETURN OLD;
                  END IF;
                  INSERT INTO search_documents (kind, ref_id, title, body)
                  VALUES ('{kind}', NEW.id, {new_title}, {new_body})
                  ON CONFLICT (kind, ref_id)
                  DO UPDATE SET title = EXCLUDED.title, body = EXCLUDED.body;
                  RETURN NEW;
                END $$
                """
            )
            op.execute(
                f"CREATE TRIGGER {table}_search AFTER INSERT OR UPDATE OF {watched} OR DELETE "
                f"ON {table} FOR EACH ROW EXECUTE FUNCTION {table}_search()"
            )
        return
    op.execute(
        "CREATE VIRTUAL TABLE search_fts USING fts5(title, body, content='search_documents', "
        "content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute("INSERT INTO search_fts (search_fts) VALUES ('rebuild')")
    op.execute(
        "CREATE TRIGGER search_documents_ai AFTER INSERT ON search_documents BEGIN "
        "INSERT INTO search_fts (rowid, title, body) VALUES (new.id, new.title, new.body); END"
    )
    op.execute(
        "CREATE TRIGGER search_documents_ad AFTER DELETE ON search_documents BEGIN "
        "INSERT INTO search_fts (search_fts, rowid, title, body) "
        "VALUES ('delete', old.id, old.title, old.body); END"
    )
    op.execute(
        "CREATE TRIGGER search_documents_au AFTER UPDATE ON search_documents BEGIN "
        "INSERT INTO search_fts (search_fts, rowid, title, body) "
        "VALUES ('delete', old.id, old.title, old.body); "
        "INSERT INTO search_fts (rowid, title, body) VALUES (new.id, new.title, new.body); END"
    )
    for source in SOURCES:
        for statement in sqlite_source_triggers(*source):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for _, table, _, _, _ in SOURCES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_search ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_search()")
    else:
        for _, table, _, _, _ in SOURCES:
            for suffix in ("ai", "au", "ad"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_search_{suffix}")
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.drop_table("search_documents")
