"""The database layer on both backends: migrations, pragmas, units of work, UTC times."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from studioflow.app import served
from studioflow.models import Base, PlatformRole, User
from studioflow.platform.db import (
    Database,
    SessionDep,
    WriteInReadSession,
    after_commit,
    create_engine,
    get_session,
)
from studioflow.platform.errors import install_error_handlers
from studioflow.platform.migrations import (
    current_revision,
    head_revision,
    include_name,
    upgrade,
)
from tests.factories import create_user


async def test_migrations_reach_head_and_match_the_models(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == head_revision()

    def diff(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": include_name}
        )
        return compare_metadata(context, Base.metadata)

    async with engine.connect() as connection:
        changes = await connection.run_sync(diff)
    assert changes == [], f"models and migrations disagree: {changes}"


async def test_sqlite_is_configured_for_concurrency_and_integrity(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.connect() as connection:
            journal = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
            keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar()
            busy = (await connection.execute(text("PRAGMA busy_timeout"))).scalar()
        assert (journal, keys) == ("wal", 1)
        assert busy and busy >= 5000
    finally:
        await engine.dispose()


async def test_sqlite_writers_take_turns_in_order_and_time_out(tmp_path: Path) -> None:
    """One writer at a time per process (the write pool's single connection), first come
    first served, including a newcomer that arrives just as the turn is handed on; a writer
    that waits past the timeout gets the pool's TimeoutError (a 503 for a request)."""
    database = Database.open(f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}", writer_timeout=0.3)
    order: list[str] = []
    release_first = asyncio.Event()

    async def writer(name: str, hold: asyncio.Event | None = None) -> None:
        async with database.transaction() as session:
            await session.execute(text("SELECT 1"))
            order.append(name)
            if hold is not None:
                await hold.wait()

    try:
        first = asyncio.create_task(writer("first", release_first))
        while not order:
            await asyncio.sleep(0)
        second = asyncio.create_task(writer("second"))
        await asyncio.sleep(0.05)  # queued behind the first
        release_first.set()
        await first  # the turn is handed to "second", which has not run yet
        third = asyncio.create_task(writer("third"))
        await asyncio.gather(second, third)
        assert order == ["first", "second", "third"]

        stuck = asyncio.Event()
        holder = asyncio.create_task(writer("holder", stuck))
        while order[-1] != "holder":
            await asyncio.sleep(0)
        with pytest.raises(PoolTimeout):
            await writer("late")
        stuck.set()
        await holder
        await writer("after")  # the turn is free again
        assert order[-1] == "after"
    finally:
        await database.dispose()


async def test_sqlite_readers_never_wait_for_a_writer(tmp_path: Path) -> None:
    """WAL: a read session answers while a unit of work holds the write lock, sees only what
    was committed, and cannot write itself."""
    database = Database.open(f"sqlite+aiosqlite:///{tmp_path / 'readers.db'}", writer_timeout=0.3)
    await upgrade(database.engine)
    holding, release = asyncio.Event(), asyncio.Event()

    async def slow_writer() -> None:
        async with database.transaction() as session:
            await create_user(session, email="pending@example.com")
            holding.set()
            await release.wait()

    try:
        task = asyncio.create_task(slow_writer())
        await holding.wait()
        for _ in range(3):  # more readers than one: the read pool has several connections
            async with database.read() as session:
                seen = await session.scalar(select(func.count()).select_from(User))
            assert seen == 0  # not committed yet
        async with database.read() as session:
            with pytest.raises(OperationalError, match="readonly"):
                await session.execute(text("DELETE FROM users"))
        async with database.read() as session:
            session.add(User(email="nope@example.com"))
            with pytest.raises(WriteInReadSession):
                await session.flush()
        release.set()
        await task
        async with database.read() as session:
            assert await session.scalar(select(func.count()).select_from(User)) == 1
    finally:
        release.set()
        await database.dispose()


async def test_a_busy_writer_answers_503_with_retry_after(tmp_path: Path) -> None:
    """A request that cannot get its turn to write within the timeout is told to retry; one
    that only reads is answered meanwhile."""
    database = Database.open(f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}", writer_timeout=0.2)
    await upgrade(database.engine)
    app = FastAPI()
    install_error_handlers(app)
    app.state.platform = SimpleNamespace(db=database)

    @app.post("/write")
    async def write(session: SessionDep) -> dict[str, int]:
        await session.execute(text("DELETE FROM users WHERE 1 = 0"))
        return {"ok": 1}

    @app.get("/read")
    async def read(session: SessionDep) -> dict[str, int]:
        return {"users": int(await session.scalar(select(func.count()).select_from(User)) or 0)}

    holding, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with database.transaction() as session:
            await session.execute(text("SELECT 1"))
            holding.set()
            await release.wait()

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        task = asyncio.create_task(hold())
        await holding.wait()
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            busy = await http.post("/write")
            answered = await http.get("/read")
        assert busy.status_code == 503
        assert busy.json()["code"] == "service_unavailable"
        assert busy.headers["retry-after"].isdigit()
        assert answered.status_code == 200 and answered.json() == {"users": 0}
    finally:
        release.set()
        await task
        await database.dispose()


async def test_an_unreachable_database_answers_503(tmp_path: Path) -> None:
    database = Database.open("postgresql+asyncpg://nobody@127.0.0.1:9/none", writer_timeout=0.5)
    app = FastAPI()
    install_error_handlers(app)
    app.state.platform = SimpleNamespace(db=database)

    @app.get("/read")
    async def read(session: SessionDep) -> dict[str, int]:
        return {"one": int(await session.scalar(text("SELECT 1")) or 0)}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            answer = await http.get("/read")
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "service_unavailable"
        assert "retry-after" in answer.headers
    finally:
        await database.dispose()


async def test_a_value_the_column_cannot_hold_is_a_422_not_a_500(db: Database) -> None:
    """PostgreSQL's data exceptions (SQLSTATE class 22: out of range, NUL in text) are the
    caller's value; any other database error stays a 500."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's integers and text take these values")
    app = FastAPI()
    install_error_handlers(app)
    app.state.platform = SimpleNamespace(db=db)

    @app.get("/range")
    async def out_of_range(session: SessionDep) -> dict[str, int]:
        value = await session.scalar(text("SELECT CAST(:v AS integer)"), {"v": 2**40})
        return {"value": int(value or 0)}

    @app.get("/nul")
    async def nul(session: SessionDep) -> dict[str, str]:
        return {"value": str(await session.scalar(text("SELECT CAST(:v AS text)"), {"v": "a\x00"}))}

    @app.get("/broken")
    async def broken(session: SessionDep) -> dict[str, int]:
        await session.execute(text("SELEC 1"))
        return {}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for path in ("/range", "/nul"):
            answer = await http.get(path)
            assert answer.status_code == 422, answer.text
            assert answer.json()["code"] == "invalid_value"
        assert (await http.get("/broken")).status_code == 500


async def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'twice.db'}")
    try:
        await upgrade(engine)
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


async def test_unique_constraints_hold(db: Database) -> None:
    async with db.transaction() as session:
        await create_user(session, email="dup@example.com", username="dup")
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await create_user(session, email="dup@example.com")
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await create_user(session, username="dup")


async def test_times_come_back_aware_utc(db: Database) -> None:
    moment = datetime(2026, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    async with db.transaction() as session:
        user = User(email="tz@example.com", email_verified_at=moment)
        session.add(user)
    async with db.sessionmaker() as session:
        loaded = await session.scalar(select(User).where(User.email == "tz@example.com"))
    assert loaded is not None and loaded.email_verified_at is not None
    assert loaded.email_verified_at.tzinfo is not None
    assert loaded.email_verified_at == moment
    assert loaded.email_verified_at.utcoffset() == timedelta(0)
    assert loaded.created_at.tzinfo is not None
    assert isinstance(str(loaded.id), str) and loaded.id.version == 7


async def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive"):
        async with db.transaction() as session:
            session.add(User(email="naive@example.com", email_verified_at=datetime(2026, 1, 1)))


async def test_after_commit_runs_only_after_success(db: Database) -> None:
    ran: list[str] = []

    async def note() -> None:
        ran.append("sent")

    async with db.transaction() as session:
        after_commit(session, note)
        assert ran == []
    assert ran == ["sent"]

    with pytest.raises(ValueError):
        async with db.transaction() as session:
            after_commit(session, note)
            raise ValueError("rolled back")
    assert ran == ["sent"]


async def test_a_failing_after_commit_hook_does_not_undo_the_commit(db: Database) -> None:
    async def explode() -> None:
        raise ConnectionError("queue away")

    async with db.transaction() as session:
        session.add(User(email="kept@example.com"))
        after_commit(session, explode)
    async with db.sessionmaker() as session:
        assert await session.scalar(select(User.id).where(User.email == "kept@example.com"))


def session_router() -> APIRouter:
    router = APIRouter()

    @router.post("/api/v1/_probe/users")
    async def create(
        session: AsyncSession = Depends(get_session, scope="function"),
    ) -> dict[str, str]:
        session.add(User(email="edge@example.com"))
        return {"status": "created"}

    @router.post("/api/v1/_probe/users-then-fail")
    async def create_then_fail(
        session: AsyncSession = Depends(get_session, scope="function"),
    ) -> dict[str, str]:
        session.add(User(email="lost@example.com"))
        await session.flush()
        raise RuntimeError("after the write")

    @router.post("/api/v1/_probe/users-duplicate")
    async def duplicate(
        session: AsyncSession = Depends(get_session, scope="function"),
    ) -> dict[str, str]:
        # Nothing is flushed before returning: the commit at the edge is what fails.
        session.add(User(email="edge@example.com"))
        return {"status": "created"}

    return router


async def test_request_session_commits_at_the_edge(app: FastAPI, db: Database) -> None:
    app.include_router(session_router())
    transport = httpx.ASGITransport(app=served(app), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        created = await client.post("/api/v1/_probe/users")
        assert created.status_code == 200
        failed = await client.post("/api/v1/_probe/users-then-fail")
        assert failed.status_code == 500
        # A commit that fails at the edge must not answer success; a unique clash is a 409.
        duplicate = await client.post("/api/v1/_probe/users-duplicate")
        assert duplicate.status_code == 409
        assert duplicate.json()["code"] == "conflict"
    async with db.sessionmaker() as session:
        emails = set((await session.scalars(select(User.email))).all())
    assert "edge@example.com" in emails
    assert "lost@example.com" not in emails


def test_utc_helper() -> None:
    from studioflow.models.base import utcnow

    assert utcnow().tzinfo is UTC


async def test_on_rollback_runs_only_when_the_work_is_undone(db: Database) -> None:
    from studioflow.platform.db import on_rollback

    undone: list[str] = []

    async def undo() -> None:
        undone.append("undone")

    async with db.transaction() as session:
        on_rollback(session, undo)
    assert undone == []
    with pytest.raises(ValueError):
        async with db.transaction() as session:
            on_rollback(session, undo)
            raise ValueError("failed later")
    assert undone == ["undone"]


async def test_statuses_are_checked_by_the_database(db: Database) -> None:
    """A status column holds one of its enum's values, whatever writes it (raw SQL too)."""
    async with db.transaction() as session:
        user = await create_user(session)
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await session.execute(
                text("UPDATE users SET platform_role = 'root' WHERE id = :id"),
                {"id": user.id.hex if db.dialect == "sqlite" else user.id},
            )
    async with db.read() as session:
        role = await session.scalar(select(User.platform_role).where(User.id == user.id))
    assert role == "user" and role is PlatformRole.user
