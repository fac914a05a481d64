"""Which SQL the database receives meanwhile, from SQLAlchemy's own engine events: how the
delivery tests tell a cached hit from the route, and the studio's statement budget counts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from studioflow.platform.runtime import Platform


@contextmanager
def statements(platform: Platform, *, ignore: tuple[str, ...] = ()) -> Iterator[list[str]]:
    """The statements run meanwhile on the write engine and, on SQLite, the read engine with
    its own pool; those starting with a word in ``ignore`` (upper case) are left out."""
    seen: list[str] = []

    def note(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
        if not (ignore and sql.lstrip().upper().startswith(ignore)):
            seen.append(sql)

    engines = [platform.db.engine.sync_engine]
    read = platform.db.read_engine.sync_engine
    if read.pool is not engines[0].pool:
        engines.append(read)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", note)
