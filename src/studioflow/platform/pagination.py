"""Cursor pagination over time-ordered (UUIDv7) ids.

``?limit=&cursor=`` → ``{"items": [...], "next_cursor": ...}`` (API.md).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Boolean, DateTime, Integer, String, Uuid, literal, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from studioflow.platform.errors import Unprocessable

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def encode_cursor(value: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(value.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError):
        raise Unprocessable("The cursor is not valid.", code="validation_error") from None


def paginate_newest_first(
    statement: Any, id_column: InstrumentedAttribute[Any], params: PageParams
) -> Any:
    """Newest first (ids are time-ordered); one extra row tells whether a next page exists."""
    if params.cursor:
        statement = statement.where(id_column < decode_cursor(params.cursor))
    return statement.order_by(id_column.desc()).limit(params.limit + 1)


def build_page(rows: Sequence[Any], params: PageParams, key: Any) -> tuple[list[Any], str | None]:
    items = list(rows[: params.limit])
    more = len(rows) > params.limit
    return items, (encode_cursor(key(items[-1])) if more and items else None)


def paginate_by(
    statement: Any,
    order: Sequence[Any],
    params: PageParams,
    *,
    descending: bool = False,
) -> Any:
    """Keyset pages in the order of ``order`` (columns or expressions, all ascending or all
    descending; end with a unique one, such as the id). The cursor carries the last row's
    values of those columns: see :func:`keyset_page`."""
    if params.cursor:
        values = _decode_keyset(params.cursor, order)
        row, after = (
            tuple_(*order),
            tuple_(*(literal(v, type_=c.type) for v, c in zip(values, order, strict=True))),
        )
        statement = statement.where(row < after if descending else row > after)
    ordering = [c.desc() if descending else c.asc() for c in order]
    return statement.order_by(*ordering).limit(params.limit + 1)


def keyset_page(rows: Sequence[Any], params: PageParams, key: Any) -> tuple[list[Any], str | None]:
    """The page and the cursor of the next one; ``key(row)`` gives the row's values of the
    ``order`` columns given to :func:`paginate_by`."""
    items = list(rows[: params.limit])
    if len(rows) <= params.limit or not items:
        return items, None
    raw = json.dumps([_plain(v) for v in key(items[-1])], separators=(",", ":"))
    return items, base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID | datetime):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    return value


def _decode_keyset(cursor: str, order: Sequence[Any]) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(order):
            raise ValueError("cursor shape")
        return [_typed(value, column) for value, column in zip(values, order, strict=True)]
    except (ValueError, TypeError, UnicodeDecodeError):
        raise Unprocessable("The cursor is not valid.", code="validation_error") from None


def _typed(value: Any, column: Any) -> Any:
    """A cursor's JSON value as the column's Python value (UUIDs and times travel as text).
    Anything else than the column holds is a ValueError (a forged cursor: 422)."""
    if value is None:
        return None
    sql_type = column.type
    stored = getattr(sql_type, "impl", sql_type)  # a TypeDecorator (UTCDateTime) by its store
    if isinstance(stored, Uuid):
        return uuid.UUID(str(value))
    if isinstance(stored, DateTime):
        moment = datetime.fromisoformat(str(value))
        if moment.tzinfo is None:
            raise ValueError("a time without a UTC offset")
        return moment
    for kind, python in ((Boolean, bool), (Integer, int), (String, str)):
        if isinstance(stored, kind):
            if type(value) is not python:
                raise ValueError(f"a {type(value).__name__} for a {python.__name__} column")
            return value
    raise ValueError(f"no cursor over a {type(sql_type).__name__} column")
