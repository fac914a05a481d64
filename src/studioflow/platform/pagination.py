"""Cursor pagination over time-ordered (UUIDv7) ids.

``?limit=&cursor=`` → ``{"items": [...], "next_cursor": ...}`` (API.md).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
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
    cursor: Annotated[str | None, Query(max_length=64)] = None,
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
