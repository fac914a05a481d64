"""Statements built once that, on embedded SQLite, run straight on the sqlite3 connection.

Why: on the per-item path of the studio (and every authenticated request) the statements are
already built once (studio/statements.py), yet SQLAlchemy's execution layer still costs about
120 µs per statement here — coercing parameters, the compiled cache, the execution context,
the result object, a greenlet switch — against ~6 µs for SQLite to run the same SQL
(bench/README.md). A :class:`Prepared` keeps everything SQLAlchemy decides and skips the rest:

- the SQL is SQLAlchemy's, compiled once per dialect (and per set of inserted columns);
- every parameter goes through its type's bind processor for the dialect (UUIDs, aware UTC
  datetimes, JSON), every returned column through its result processor, as SQLAlchemy would;
- Python-side column defaults and onupdates (ids, ``created_at``, ``updated_at``) are filled
  in for the columns the statement leaves out, as SQLAlchemy's prefetch would;
- a driver error becomes SQLAlchemy's exception (``IntegrityError`` stays ``IntegrityError``).

It runs in the session's own transaction on the session's connection (``session.connection()``
begins it as any statement would). Only on the inline SQLite driver (``sqlite_inline.py``),
whose calls already run in the loop's thread; on PostgreSQL and on SQLite's thread driver a
Prepared is ``session.execute`` unchanged, so both paths are tested by the same tests.

Refused when first compiled: expanding ``IN`` parameters (``column.in_(values)``: write
``one_of(column, values)``) — their SQL depends on each call's list.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, exc, or_
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert, UpdateBase

from studioflow.platform.sqlite_inline import InlineConnection

Params = Mapping[str, Any]
Processor = Callable[[Any], Any]


def one_of(column: ColumnElement[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN (values)`` for a fixed list, without an expanding parameter."""
    return or_(*(column == value for value in values))


@dataclass(frozen=True)
class _Plan:
    sql: str
    # Per positional parameter: its name and its type's bind processor.
    slots: tuple[tuple[str, Processor | None], ...]
    # Values the statement carries itself (literals in it) ...
    fixed: Mapping[str, Any]
    # ... and Python-side defaults of columns the caller leaves out.
    defaults: Mapping[str, Callable[[], Any]]
    keys: tuple[str, ...]
    results: tuple[Processor | None, ...]

    def bind(self, params: Params) -> tuple[Any, ...]:
        values = []
        for name, process in self.slots:
            if name in params:
                value = params[name]
            elif name in self.defaults:
                value = self.defaults[name]()
            else:
                value = self.fixed[name]
            values.append(process(value) if process is not None else value)
        return tuple(values)


class Rows:
    """The rows a statement returned (all fetched), with the statement's rowcount."""

    __slots__ = ("keys", "rowcount", "rows")

    def __init__(self, rows: list[tuple[Any, ...]], keys: tuple[str, ...], rowcount: int) -> None:
        self.rows = rows
        self.keys = keys
        self.rowcount = rowcount

    def all(self) -> list[tuple[Any, ...]]:
        return self.rows

    def first(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def one(self) -> tuple[Any, ...]:
        if len(self.rows) != 1:
            raise exc.NoResultFound(f"expected one row, got {len(self.rows)}")
        return self.rows[0]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.rows]

    def mappings(self) -> list[dict[str, Any]]:
        return [dict(zip(self.keys, row, strict=True)) for row in self.rows]


class Prepared:
    """One statement, compiled once per dialect; see the module's docstring."""

    def __init__(self, statement: UpdateBase | Select[Any]) -> None:
        self.statement = statement
        # Per dialect object (its settings, e.g. the JSON serializer, shape the processors).
        self._plans: weakref.WeakKeyDictionary[Dialect, dict[frozenset[str], _Plan]] = (
            weakref.WeakKeyDictionary()
        )

    async def run(
        self, session: AsyncSession, params: Params | Sequence[Params] | None = None
    ) -> Rows:
        """Run with one set of parameters (a mapping) or many (a list of mappings: executemany,
        no rows returned). Names starting ``p_`` are bind parameters; others are column values,
        as with ``session.execute``."""
        if params is None:
            params = {}
        target = await _target(session)
        if target is None:
            return await self._through_sqlalchemy(session, params)
        database, dialect = target
        many = not isinstance(params, Mapping)
        rows_in = [params] if isinstance(params, Mapping) else params
        if not rows_in:
            return Rows([], (), 0)
        plan = self._plan(dialect, rows_in[0])
        try:
            if many:
                cursor = database.executemany(plan.sql, [plan.bind(row) for row in rows_in])
                return Rows([], (), cursor.rowcount)
            cursor = database.execute(plan.sql, plan.bind(rows_in[0]))
            fetched = cursor.fetchall()
        except sqlite3.Error as error:
            raise exc.DBAPIError.instance(
                plan.sql, None, error, sqlite3.Error, dialect=dialect
            ) from error
        results = plan.results
        if fetched and any(process is not None for process in results):
            fetched = [
                tuple(
                    process(value) if process is not None else value
                    for process, value in zip(results, row, strict=True)
                )
                for row in fetched
            ]
        return Rows(fetched, plan.keys, cursor.rowcount)

    async def _through_sqlalchemy(
        self, session: AsyncSession, params: Params | Sequence[Params]
    ) -> Rows:
        many = not isinstance(params, Mapping)
        if many and not params:
            return Rows([], (), 0)
        result = await session.execute(self.statement, params)
        if many or not getattr(result, "returns_rows", True):
            return Rows([], (), getattr(result, "rowcount", -1))
        keys = tuple(result.keys())
        return Rows([tuple(row) for row in result.all()], keys, getattr(result, "rowcount", -1))

    def _plan(self, dialect: Dialect, first: Params) -> _Plan:
        columns = frozenset(name for name in first if not name.startswith("p_"))
        plans = self._plans.get(dialect)
        if plans is None:
            plans = self._plans[dialect] = {}
        plan = plans.get(columns)
        if plan is None:
            plan = plans[columns] = self._compile(dialect, columns)
        return plan

    def _compile(self, dialect: Dialect, columns: frozenset[str]) -> _Plan:
        statement = self.statement
        compiled = statement.compile(
            dialect=dialect,
            column_keys=sorted(columns) if isinstance(statement, Insert) else None,
        )
        assert isinstance(compiled, SQLCompiler)
        if "POSTCOMPILE" in compiled.string or compiled.positiontup is None:
            raise ValueError(f"not a prepared statement (expanding IN?): {compiled.string}")
        if any(bind.callable is not None for bind in compiled.binds.values()):
            # Its value would be computed once, here, and reused for every call.
            raise ValueError(f"a bind parameter with a callable value: {compiled.string}")
        defaults: dict[str, Callable[[], Any]] = {}
        for column in compiled.insert_prefetch:
            defaults[column.key] = _default_of(column.default)
        for column in compiled.update_prefetch:
            defaults[column.key] = _default_of(column.onupdate)
        fixed = {
            name: bind.effective_value
            for name, bind in compiled.binds.items()
            if not bind.required and name not in defaults
        }
        slots = tuple(
            (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in compiled.positiontup
        )
        returned = list(getattr(statement, "exported_columns", ()))
        return _Plan(
            sql=compiled.string,
            slots=slots,
            fixed=fixed,
            defaults=defaults,
            keys=tuple(str(column.key) for column in returned),
            results=tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in returned
            ),
        )


_TARGET_KEY = "studioflow.prepared_target"


async def _target(session: AsyncSession) -> tuple[sqlite3.Connection, Dialect] | None:
    """The sqlite3 connection of the session's transaction (beginning it as any statement
    would), or None where statements go through SQLAlchemy. Remembered per transaction: asking
    SQLAlchemy for the connection is a greenlet switch each time."""
    transaction = session.sync_session.get_transaction()
    known = session.info.get(_TARGET_KEY)
    if known is not None and transaction is not None and known[0] is transaction:
        return known[1]  # type: ignore[no-any-return]
    connection = await session.connection()
    assert connection.sync_connection is not None
    driver = connection.sync_connection.connection.driver_connection
    target = None
    if isinstance(driver, InlineConnection) and driver._connection is not None:
        target = (driver._connection, connection.dialect)
    session.info[_TARGET_KEY] = (session.sync_session.get_transaction(), target)
    return target


def _default_of(default: Any) -> Callable[[], Any]:
    """A column's Python-side default as a no-argument callable (scalars and plain
    callables; SQLAlchemy wraps the latter to take an execution context, unused by ours)."""
    if default is None:
        raise ValueError("a prefetched column without a Python default")
    if default.is_callable:
        function = default.arg
        return lambda: function(None)
    if default.is_scalar:
        value = default.arg
        return lambda: value
    raise ValueError(f"a column default this cannot compute: {default!r}")
