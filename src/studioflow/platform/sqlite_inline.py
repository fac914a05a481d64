"""aiosqlite without its thread: SQLite calls run in the event loop's own thread.

aiosqlite hands every call (execute, fetch, cursor, commit) to a worker thread and waits for
the answer, which costs ~0.14 ms per hop here — about 0.55 ms per SQLAlchemy statement against
0.03 ms for the same statement run directly (bench/README.md). A local SQLite file answers in
microseconds, so the hop is most of the cost. This connection keeps aiosqlite's API (which
SQLAlchemy's aiosqlite dialect drives) and runs each call at once.

What that trades: a call blocks the loop while SQLite works. Writers of this process never
wait inside SQLite (they queue on the writer lock in :mod:`db` first); another process holding
the write lock (a CLI command, a second server on the same file) makes a writer here wait in
SQLite's busy handler, blocking the loop for that long. ``STUDIOFLOW_SQLITE_DRIVER=thread``
goes back to aiosqlite's thread. A long query (a big report) also holds the loop; keep such
work in jobs, or use the thread driver, or PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Generator
from typing import Any

import aiosqlite


class _RunNow:
    """Stands in for aiosqlite's queue to its thread: runs each call when it is queued."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as error:
            if future is not None and not future.done():
                future.set_exception(error)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunNow()  # type: ignore[assignment]

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        return self._connect().__await__()


def inline_creator(path: str, *, timeout: float) -> Callable[[], Any]:
    """An ``async_creator`` for ``create_async_engine``."""

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(path, timeout=timeout, check_same_thread=False)

    async def create() -> InlineConnection:
        return await InlineConnection(connector)

    return create
