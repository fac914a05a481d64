"""Factories: valid objects with sensible defaults, overridable per test, flushed not committed."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.models import User

_sequence = itertools.count(1)


async def create_user(session: AsyncSession, **overrides: Any) -> User:
    n = next(_sequence)
    values: dict[str, Any] = {
        "email": f"user{n}@example.com",
        "username": f"user{n}",
        "first_name": "Test",
        "last_name": f"User {n}",
    }
    values.update(overrides)
    user = User(**values)
    session.add(user)
    await session.flush()
    return user
