"""Async database engines and the two kinds of session: one that reads, one unit of work.

Both backends run on stock SQLAlchemy drivers: SQLite through aiosqlite (WAL) embedded,
PostgreSQL through asyncpg at scale.

- :meth:`Database.read` is a session that only reads. On SQLite it runs on its own pool of
  connections (``query_only``); WAL lets those read beside the one writer, so a request that
  only reads never waits for one. On PostgreSQL it is an ordinary session in a ``READ ONLY``
  transaction. A read session refuses to flush changes on both.
- :meth:`Database.transaction` is one unit of work: commit on success, roll back on error.
  On SQLite the writers of a process queue for the write pool's single connection (SQLAlchemy's
  own pool, FIFO, ``writer_timeout``), then take SQLite's lock with ``BEGIN IMMEDIATE`` (the
  documented recipe), so that a read-then-write never fails with "database is locked" half
  way; another process's writer is waited for by SQLite's busy timeout. A session connects
  at its first statement, so work done before that (decoding an upload, hashing a password)
  holds no lock.

Work registered with :func:`after_commit` (enqueuing jobs, publishing events) runs only once
the commit succeeded and is dropped on rollback, so a worker never picks up a row that does
not exist; :func:`on_rollback` undoes side effects outside the database (stored files).
"""

from __future__ import annotations

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
from sqlalchemy.orm import Session
from sqlalchemy.pool import AsyncAdaptedQueuePool

from studioflow.platform.errors import AppError

log = structlog.get_logger("studioflow.db")

AFTER_COMMIT_KEY = "studioflow.after_commit"
BEFORE_COMMIT_KEY = "studioflow.before_commit"
ON_ROLLBACK_KEY = "studioflow.on_rollback"
# How long a writer waits for its turn (the write pool's one connection, then SQLite's lock
# when another process holds it) before the request answers 503.
WRITER_TIMEOUT_SECONDS = 15.0
READ_POOL_SIZE = 5
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

AfterCommit = Callable[[], Awaitable[Any]]
# Told of every unit of work that committed, with its session (what it noted in ``info``).
CommitListener = Callable[[AsyncSession], Awaitable[None]]


class ReadOnlySession(Session):
    """The session class of :meth:`Database.read` (a subclass only so that the flush guard
    below listens to read sessions alone)."""


class WriteInReadSession(RuntimeError):
    """A change was flushed from a read session: a bug, never a user's doing."""


@event.listens_for(ReadOnlySession, "before_flush")
def _refuse_writes(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise WriteInReadSession("a read session cannot write; use Database.transaction()")


def is_read_only(session: AsyncSession) -> bool:
    return isinstance(session.sync_session, ReadOnlySession)


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_file(url: str) -> str | None:
    database = make_url(url).database
    return database if database and database != ":memory:" else None


def create_engine(
    url: str, *, echo: bool = False, writer_timeout: float = WRITER_TIMEOUT_SECONDS
) -> AsyncEngine:
    """The engine that writes (and, on PostgreSQL, reads too)."""
    if _is_sqlite(url):
        engine = create_async_engine(
            url,
            echo=echo,
            # One connection: the writers of this process take turns for it, first come
            # first served, and a writer that waits past the timeout gets TimeoutError (503).
            # (Named: SQLAlchemy before 2.0.38 gave aiosqlite files a NullPool by default.)
            poolclass=AsyncAdaptedQueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=writer_timeout,
            connect_args={"timeout": writer_timeout},
        )
        _configure_sqlite(
            engine.sync_engine, begin="BEGIN IMMEDIATE", writer_timeout=writer_timeout
        )
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=10,
        max_overflow=10,
        pool_timeout=writer_timeout,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def create_read_engine(url: str, write_engine: AsyncEngine, *, echo: bool = False) -> AsyncEngine:
    """The engine of read sessions: SQLite's own pool of ``query_only`` connections, or the
    write engine's pool in ``READ ONLY`` transactions on PostgreSQL."""
    if not _is_sqlite(url):
        return write_engine.execution_options(postgresql_readonly=True)
    if _sqlite_file(url) is None:
        return write_engine  # an in-memory database exists in its one connection only
    engine = create_async_engine(
        url,
        echo=echo,
        poolclass=AsyncAdaptedQueuePool,
        pool_size=READ_POOL_SIZE,
        max_overflow=READ_POOL_SIZE * 2,
        connect_args={"timeout": WRITER_TIMEOUT_SECONDS},
    )
    # Deferred BEGIN: the statements of one read session see one snapshot.
    _configure_sqlite(engine.sync_engine, begin="BEGIN", query_only=True)
    return engine


def _configure_sqlite(
    engine: Engine, *, begin: str, query_only: bool = False, writer_timeout: float | None = None
) -> None:
    busy_ms = int((writer_timeout or WRITER_TIMEOUT_SECONDS) * 1000)

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy's recipe for aiosqlite: the driver emits no BEGIN of its own; ours does.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not query_only:
            cursor.execute("PRAGMA journal_mode=WAL")  # kept in the file; readers inherit it
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if query_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)


class Database:
    def __init__(self, engine: AsyncEngine, read_engine: AsyncEngine | None = None) -> None:
        self.engine = engine
        self.read_engine = read_engine or engine
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            engine, expire_on_commit=False, autoflush=True
        )
        self.read_sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.read_engine, expire_on_commit=False, sync_session_class=ReadOnlySession
        )
        self._commit_listeners: dict[str, CommitListener] = {}

    def on_commit(self, name: str, listener: CommitListener) -> None:
        """Call ``listener`` after every unit of work of this database commits (once per
        name: registering again replaces it). For a feature that must tell other processes
        what changed, whichever code path changed it (media's delivery cache)."""
        self._commit_listeners[name] = listener

    async def _committed(self, session: AsyncSession) -> None:
        await run_after_commit(session)
        for name, listener in list(self._commit_listeners.items()):
            try:
                await listener(session)
            except Exception:  # the commit stands; the listener's work is best effort
                log.exception("db.commit_listener_failed", listener=name)

    @classmethod
    def open(cls, url: str, *, writer_timeout: float = WRITER_TIMEOUT_SECONDS) -> Database:
        engine = create_engine(url, writer_timeout=writer_timeout)
        return cls(engine, create_read_engine(url, engine))

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
                await self._committed(session)
                raise
            except BaseException:
                await _roll_back(session)
                raise
            await self._committed(session)
        finally:
            await session.close()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session that only reads: never committed; closing it ends its snapshot."""
        session = self.read_sessionmaker()
        try:
            yield session
        finally:
            await session.close()

    @asynccontextmanager
    async def writer_for(self, session: AsyncSession) -> AsyncIterator[AsyncSession]:
        """``session`` itself when it is a unit of work, else a short one of its own: for
        what a read provisions once (a client's first credit account or workflows). Never
        opened beside a unit of work of the same task, which it would wait for."""
        if not is_read_only(session):
            yield session
            return
        async with self.transaction() as writer:
            yield writer

    async def ping(self) -> None:
        async with self.read() as session:
            await session.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
        await self.engine.dispose()


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


def _database(request: Request) -> Database:
    database: Database = request.app.state.platform.db
    return database


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's read session (authentication reads through it, whatever the method)."""
    async with _database(request).read() as session:
        yield session


ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]


async def get_write_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A unit of work whatever the method (a GET that must write: a sign-in link)."""
    async with _database(request).transaction() as session:
        yield session


async def get_session(request: Request, read: ReadSessionDep) -> AsyncIterator[AsyncSession]:
    """The request's session: the read session for GET and HEAD, a unit of work otherwise.

    Used as ``Depends(get_session, scope="function")``: FastAPI then runs the commit before
    the response is sent, so a failed commit becomes an error answer instead of a success
    that was never stored (and no session stays open while a response streams).
    """
    if request.method in SAFE_METHODS:
        yield read
        return
    # Authentication read through ``read``; its connection goes back to the pool before the
    # unit of work takes one, so a request never holds two at once waiting for the second
    # (50 concurrent writes on a pool of 20 all timed out, each holding its reader). Used
    # again later (uploads prepare through it), it takes a connection anew.
    await read.close()
    async with _database(request).transaction() as session:
        yield session


# The one way endpoints ask for the request's session (FastAPI shares it within a request).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
WriteSessionDep = Annotated[AsyncSession, Depends(get_write_session, scope="function")]
