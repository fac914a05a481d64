"""Apply the Alembic migrations from code (``studioflow migrate``, embedded ``serve``, tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import studioflow
from studioflow.platform.db import create_engine


def migrations_dir() -> Path:
    """The repo's ``migrations/`` (source checkout) or the copy packed into the wheel."""
    package = Path(studioflow.__file__).parent
    for candidate in (package / "_migrations", package.parents[1] / "migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise FileNotFoundError("the migrations folder is missing from this installation")


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    config = alembic_config()

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.connect() as connection:
        await connection.run_sync(in_one_transaction, run)


def in_one_transaction(connection: Connection, migrate: Callable[[Connection], None]) -> None:
    """Run ``migrate`` in one transaction; on SQLite as its documented procedure for changing
    a table's schema asks: foreign keys off outside the transaction, checked before commit.

    SQLite changes most of a table by rebuilding it (Alembic's batch mode), and with foreign
    keys on, the rebuild's DROP TABLE deletes every row first, firing ON DELETE CASCADE and
    SET NULL in the tables that point at it (an image's variants, a result's image).
    """
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _pragma(connection, "PRAGMA foreign_keys=OFF")  # a no-op inside a transaction
    try:
        with connection.begin():
            migrate(connection)
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"the migration left broken foreign keys: {broken[:5]}")
    finally:
        if sqlite:
            _pragma(connection, "PRAGMA foreign_keys=ON")


def _pragma(connection: Connection, statement: str) -> None:
    # On the DBAPI connection: SQLAlchemy's execute would begin a transaction first.
    cursor = connection.connection.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


async def current_revision(engine: AsyncEngine) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(read)


async def upgrade_url(url: str, revision: str = "head") -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine, revision)
    finally:
        await engine.dispose()


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """What Alembic compares and manages: not the search index the search migration makes
    as raw DDL, which no model can declare portably (SQLite's FTS5 table and its shadow
    tables; PostgreSQL's generated ``document`` column and the GIN index on it)."""
    if type_ == "table":
        return not (name or "").startswith("search_fts")
    if type_ == "column":
        return not (name == "document" and parent_names.get("table_name") == "search_documents")
    return not (type_ == "index" and name == "ix_search_documents_document")
