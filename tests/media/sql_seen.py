"""Which SQL runs meanwhile: how the delivery tests tell a cached hit from the route."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from studioflow.platform.runtime import Platform


@contextmanager
def statements(platform: Platform) -> Iterator[list[str]]:
    """The SQL statements run meanwhile, on either engine."""
    seen: list[str] = []

    def note(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
        seen.append(sql)

    engines = {platform.db.engine.sync_engine, platform.db.read_engine.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", note)
