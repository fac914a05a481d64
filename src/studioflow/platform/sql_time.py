"""Instants as whole seconds since the epoch, computed by the database.

Reading a few thousand timestamps through the ORM parses each one (SQLite stores text) and
attaches a zone; availability only compares instants, so it asks the database for integers
instead (bench/README.md, "Booking"). Written with SQLAlchemy's documented compiler
extension: one construct, the SQL of each dialect we run on.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import BigInteger, ColumnElement
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement


class epoch_seconds(FunctionElement[int]):  # lower case: it reads like the SQL function it is
    """``floor(seconds since 1970-01-01 UTC)`` of a UTC timestamp column."""

    type = BigInteger()
    inherit_cache = True

    def __init__(self, column: ColumnElement[Any] | QueryableAttribute[Any]) -> None:
        super().__init__(column)


@compiles(epoch_seconds, "sqlite")
def _sqlite(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC; both forms truncate the fraction.
    # unixepoch() (SQLite 3.38, 2022) costs half of strftime() per row and less than
    # fetching the text; an older library gets strftime().
    column = compiler.process(element.clauses, **kw)
    if sqlite3.sqlite_version_info >= (3, 38):
        return f"unixepoch({column})"
    return f"CAST(strftime('%s', {column}) AS INTEGER)"


@compiles(epoch_seconds, "postgresql")
def _postgresql(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(floor(extract(epoch FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"
