"""Async database engine and the one way to run a unit of work.

Both backends come from the same code: SQLite (aiosqlite, WAL, foreign keys, busy timeout)
embedded and PostgreSQL (asyncpg) at scale. A unit of work commits once at its edge: the
request dependency or :meth:`Database.transaction` in a job. Work registered with
:func:`after_commit` (enqueuing jobs, publishing events) runs only once the commit succeeded
and is dropped on rollback, so a worker never picks up a row that does not exist.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util.concurrency import await_

from studioflow.platform.errors import AppError
from studioflow.platform.sqlite_inline import InlineConnection, inline_creator

log = structlog.get_logger("studioflow.db")

AFTER_COMMIT_KEY = "studioflow.after_commit"
BEFORE_COMMIT_KEY = "studioflow.before_commit"
ON_ROLLBACK_KEY = "studioflow.on_rollback"
SQLITE_BUSY_TIMEOUT_MS = 15_000

AfterCommit = Callable[[], Awaitable[Any]]


def create_engine(url: str, *, echo: bool = False, sqlite_driver: str = "inline") -> AsyncEngine:
    if url.startswith("sqlite"):
        database = make_url(url).database
        if sqlite_driver == "inline" and database and database != ":memory:":
            # A file database: SQLite runs in the loop's thread (see sqlite_inline.py).
            engine = create_async_engine(
                url,
                echo=echo,
                async_creator=inline_creator(database, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000),
            )
        else:
            engine = create_async_engine(
                url,
                echo=echo,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            )
        _configure_sqlite(engine.sync_engine)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so SAVEPOINTs and BEGIN IMMEDIATE work.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    writer = _WriterLock()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        # One writer at a time, queued here in FIFO order: SQLite's own busy handler polls
        # with sleeps (up to 100 ms each), which under contention cost more than the work.
        writer.acquire(connection.info)
        try:
            # IMMEDIATE takes the write lock up front: a deferred transaction that reads and
            # then writes can fail with "database is locked" at once, which no wait can help.
            driver = connection.connection.driver_connection
            if isinstance(driver, InlineConnection) and driver._connection is not None:
                # In the loop's thread anyway: straight to SQLite (SQLAlchemy's execution
                # layer cost more than SQLite's own work here, once per transaction).
                driver._connection.execute("BEGIN IMMEDIATE")
            else:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            writer.release(connection.info)
            raise

    @event.listens_for(engine, "commit")
    def on_commit(connection: Any) -> None:
        writer.release(connection.info)

    @event.listens_for(engine, "rollback")
    def on_rollback(connection: Any) -> None:
        writer.release(connection.info)

    @event.listens_for(engine, "checkin")
    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        # A connection returned without commit or rollback (closed, invalidated) still holds
        # its turn: give it back.
        writer.release(record.info)


class _WriterLock:
    """The process's turn to write to one SQLite database (other processes still meet
    SQLite's own lock and busy timeout)."""

    KEY = "studioflow.sqlite_writer"

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        # Callers queued in ``acquire`` (every waiter comes through it): while any are, a free
        # lock is theirs first, and a newcomer must wait with a timeout like them.
        self._waiting = 0

    def acquire(self, info: dict[str, Any]) -> None:
        if info.get(self.KEY):
            return
        if not self._lock.locked() and not self._waiting:
            # Free with nobody queued: ``acquire`` takes it without waiting, so no timeout is
            # needed (``wait_for``'s task and timer cost ~100 µs, for every transaction).
            await_(self._lock.acquire())
            info[self.KEY] = True
            return
        self._waiting += 1
        try:
            await_(asyncio.wait_for(self._lock.acquire(), SQLITE_BUSY_TIMEOUT_MS / 1000))
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        finally:
            self._waiting -= 1
        info[self.KEY] = True

    def release(self, info: dict[str, Any]) -> None:
        if info.pop(self.KEY, False):
            self._lock.release()


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            engine, expire_on_commit=False, autoflush=True
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commit on success, roll back on error, then run after-commit work."""
        session = self.sessionmaker()
        try:
            try:
                yield session
                await run_before_commit(session)
                await session.commit()
            except AppError as error:
                if not error.commit:
                    await _roll_back(session)
                    raise
                await run_before_commit(session)
                await session.commit()
                await run_after_commit(session)
                raise
            except BaseException:
                await _roll_back(session)
                raise
            await run_after_commit(session)
        finally:
            await _close(session)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session that only reads: never committed, closed at the end."""
        session = self.sessionmaker()
        try:
            yield session
        finally:
            await _close(session)

    async def ping(self) -> None:
        # Through the sessionmaker, not the engine, so a test's shared connection is used.
        async with self.sessionmaker() as session:
            await session.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


async def _close(session: AsyncSession) -> None:
    if session.in_transaction():
        # Left mid-way (cancelled inside commit or rollback): SQLAlchemy's own close, which
        # runs to completion in a task of its own even if we are cancelled again.
        async with session:
            return
    # The transaction has ended and its connection is back in the pool: closing only detaches
    # objects, with nothing to wait for. (The shielded task of ``async with`` cost three trips
    # through the event loop for every transaction.)
    await session.close()


async def _roll_back(session: AsyncSession) -> None:
    session.info.pop(AFTER_COMMIT_KEY, None)
    session.info.pop(BEFORE_COMMIT_KEY, None)
    callbacks: list[AfterCommit] = session.info.pop(ON_ROLLBACK_KEY, [])
    await session.rollback()
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            log.exception("db.on_rollback_failed")


def on_rollback(session: AsyncSession, callback: AfterCommit) -> None:
    """Undo side effects outside the database (stored files) if the transaction rolls back."""
    session.info.setdefault(ON_ROLLBACK_KEY, []).append(callback)


def before_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` inside the transaction just before it commits (batched writes)."""
    session.info.setdefault(BEFORE_COMMIT_KEY, []).append(callback)


async def run_before_commit(session: AsyncSession) -> None:
    while callbacks := session.info.pop(BEFORE_COMMIT_KEY, []):
        for callback in callbacks:
            await callback()


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once the session's transaction has committed; drop it on rollback."""
    session.info.setdefault(AFTER_COMMIT_KEY, []).append(callback)


async def run_after_commit(session: AsyncSession) -> None:
    session.info.pop(ON_ROLLBACK_KEY, None)
    callbacks: list[AfterCommit] = session.info.pop(AFTER_COMMIT_KEY, [])
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            # The data is committed; a lost notification must not turn success into an error.
            # Jobs stay recoverable: every enqueued job is also reachable from its row.
            log.exception("db.after_commit_failed")


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Request-scoped session; used with ``Depends(get_session, scope="function")``.

    ``scope="function"`` makes FastAPI run the commit before the response is sent, so a
    failed commit becomes an error answer instead of a success that was never stored.
    """
    database: Database = request.app.state.platform.db
    async with database.transaction() as session:
        yield session


# The one way endpoints ask for the request's session (FastAPI shares it within a request).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
