"""Prepared statements give what ``session.execute`` gives: the same SQL, the same type
handling both ways, the same column defaults and the same exceptions, on both backends (on
SQLite straight on the connection, on PostgreSQL through SQLAlchemy)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    event,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Uuid

from studioflow.models.base import UTCDateTime, utcnow, uuid7
from studioflow.platform.prepared import Prepared, one_of

meta = MetaData()
things = Table(
    "test_prepared_things",
    meta,
    Column("id", Uuid(as_uuid=True), primary_key=True, default=uuid7),
    Column("name", String(40), nullable=False, unique=True),
    Column("state", String(20), nullable=False, default="new"),
    Column("seen_at", UTCDateTime(), nullable=True),
    Column("data", JSON, nullable=False, default=dict),
    Column("flag", Boolean, nullable=False, default=False),
    Column("count", Integer, nullable=False, default=0),
    Column("updated_at", UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow),
)

INSERT = Prepared(things.insert())
BY_NAME = Prepared(select(*things.c).where(things.c.name == bindparam("p_name")))
BUMP = Prepared(
    things.update()
    .where(things.c.name == bindparam("p_name"), one_of(things.c.state, ("new", "old")))
    .values(count=things.c.count + bindparam("p_by"), state="old")
    .returning(things.c.count, things.c.updated_at)
)


@pytest.fixture
async def table(session: AsyncSession) -> AsyncSession:
    await session.run_sync(lambda sync: meta.create_all(sync.connection()))
    return session


async def test_types_and_defaults_round_trip(table: AsyncSession) -> None:
    seen = datetime(2026, 11, 28, 6, 30, 1, 123456, tzinfo=UTC)
    await INSERT.run(table, {"name": "one", "seen_at": seen, "data": {"a": [1, 2]}, "flag": True})
    row = (await BY_NAME.run(table, {"p_name": "one"})).mappings()
    assert len(row) == 1
    got = row[0]
    assert isinstance(got["id"], uuid.UUID) and got["id"].version == 7
    assert got["seen_at"] == seen and got["seen_at"].tzinfo is not None
    assert got["data"] == {"a": [1, 2]}
    assert got["flag"] is True
    assert (got["state"], got["count"]) == ("new", 0)
    assert got["updated_at"].tzinfo is not None
    # SQLAlchemy reads back exactly what was written.
    through_sqlalchemy = (
        (await table.execute(select(*things.c).where(things.c.name == "one"))).mappings().one()
    )
    assert dict(through_sqlalchemy) == got


async def test_update_fills_onupdate_and_counts_rows(table: AsyncSession) -> None:
    await INSERT.run(table, {"name": "two"})
    before = (await BY_NAME.run(table, {"p_name": "two"})).mappings()[0]["updated_at"]
    rows = await BUMP.run(table, {"p_name": "two", "p_by": 5})
    count, updated = rows.one()
    assert count == 5
    assert updated >= before
    assert (await BUMP.run(table, {"p_name": "nobody", "p_by": 1})).first() is None
    with pytest.raises(Exception, match="expected one row"):
        (await BUMP.run(table, {"p_name": "nobody", "p_by": 1})).one()


async def test_many_rows_get_their_own_defaults(table: AsyncSession) -> None:
    done = await INSERT.run(table, [{"name": f"row {n}", "count": n} for n in range(5)])
    assert done.all() == []
    ids = (await table.execute(select(things.c.id).where(things.c.name.like("row %")))).all()
    assert len({i for (i,) in ids}) == 5
    assert (await INSERT.run(table, [])).rowcount == 0


async def test_driver_errors_are_sqlalchemy_errors(table: AsyncSession) -> None:
    await INSERT.run(table, {"name": "dup"})
    nested = await table.begin_nested()
    with pytest.raises(IntegrityError):
        await INSERT.run(table, {"name": "dup"})
    await nested.rollback()
    assert (await BY_NAME.run(table, {"p_name": "dup"})).scalar() is not None


async def test_sqlite_runs_beneath_sqlalchemy(table: AsyncSession, backend: str) -> None:
    """On SQLite's inline driver the statement never reaches SQLAlchemy's execution layer
    (the point of it); elsewhere it is an ordinary ``session.execute``."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    sync_engine = (await table.connection()).sync_engine
    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        await INSERT.run(table, {"name": "traced", "seen_at": utcnow() - timedelta(days=1)})
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)
    inserted = [s for s in seen if "test_prepared_things" in s]
    assert len(inserted) == (0 if backend == "embedded" else 1)


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        (select(things.c.id).where(things.c.name.in_(["a", "b"])), "expanding IN"),
        (
            select(things.c.id).where(things.c.name == bindparam("p_x", callable_=lambda: "a")),
            "callable",
        ),
    ],
    ids=["expanding IN", "callable value"],
)
async def test_what_cannot_be_prepared_is_refused_where_it_would_run_raw(
    table: AsyncSession, backend: str, statement: Any, refusal: str
) -> None:
    """Both would give another call's SQL or value; SQLAlchemy handles them per call."""
    prepared = Prepared(statement)
    if backend == "embedded":
        with pytest.raises(ValueError, match=refusal):
            await prepared.run(table, {})
    else:
        assert (await prepared.run(table, {})).all() == []
