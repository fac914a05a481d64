"""Search over products, services and artists (issue 17): SQLite FTS5 embedded, PostgreSQL
full text at scale, both kept in step by the writes themselves (triggers); ranked, each
word of the query a prefix, only what the public may see (products on sale, active
services and artists)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.platform.errors import Unprocessable
from studioflow.shop.repository import Hit, SearchRepository

Kind = Literal["products", "services", "artists"]
MAX_TERMS = 8
# Words: letters and digits of any script. Nothing else reaches the query syntax of either
# database (no operators, quotes or parentheses from the user).
WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Found:
    hits: list[Hit]
    terms: list[str]


def terms_of(q: str) -> list[str]:
    words = [w for w in WORD.findall(q.lower()) if w.strip("_")][:MAX_TERMS]
    if not words:
        raise Unprocessable("Search for at least one word.", code="invalid_query")
    return words


async def search(
    session: AsyncSession,
    q: str,
    *,
    kind: Kind | None = None,
    limit: int = 20,
    category: str | None = None,
    min_price: int | None = None,
    max_price: int | None = None,
) -> Found:
    terms = terms_of(q)
    repository = SearchRepository(session)
    hits: list[Hit] = []
    if kind in (None, "products"):
        hits += await repository.products(
            terms, limit, category=category, min_price=min_price, max_price=max_price
        )
    if kind in (None, "services"):
        hits += await repository.services(terms, limit)
    if kind in (None, "artists"):
        hits += await repository.artists(terms, limit)
    hits.sort(key=lambda hit: -hit.score)
    return Found(hits[:limit], terms)
