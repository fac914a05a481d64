"""``Idempotency-Key`` on POSTs that create things: the first answer is kept for 24 hours.

The same key with the same body replays that answer and does nothing; the same key with a
different body is a 409 (a client bug worth hearing about). Two identical requests racing
meet at the unique constraint: the loser's whole transaction rolls back and it gets a 409.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.models import IdempotencyRecord
from studioflow.platform.errors import Conflict
from studioflow.platform.repository import IdempotencyRepository

KEEP = timedelta(hours=24)


@dataclass(frozen=True)
class Replay:
    status_code: int
    response: dict[str, Any]


def body_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


async def lookup(
    session: AsyncSession, client_id: uuid.UUID, scope: str, key: str, request_hash: str
) -> Replay | None:
    record = await IdempotencyRepository(session).answer(
        client_id, scope, key, since=datetime.now(UTC) - KEEP
    )
    if record is None:
        return None
    if record.request_hash != request_hash:
        raise Conflict(
            "This Idempotency-Key was used with a different request body.",
            code="idempotency_key_reused",
        )
    return Replay(record.status_code, record.response)


async def remember(
    session: AsyncSession,
    client_id: uuid.UUID,
    scope: str,
    key: str,
    request_hash: str,
    *,
    status_code: int,
    response: dict[str, Any],
) -> None:
    # An expired record of the same key makes way for the new one.
    await IdempotencyRepository(session).forget(client_id, scope, key)
    session.add(
        IdempotencyRecord(
            client_id=client_id,
            scope=scope,
            key=key,
            request_hash=request_hash,
            status_code=status_code,
            response=response,
        )
    )
    await session.flush()


async def prune(session: AsyncSession, *, now: datetime | None = None) -> int:
    return await IdempotencyRepository(session).prune((now or datetime.now(UTC)) - KEEP)


class Guard:
    """One request's ``Idempotency-Key`` handling; with no key it does nothing."""

    def __init__(
        self,
        session: AsyncSession,
        client_id: uuid.UUID,
        scope: str,
        key: str | None,
        body: Any,
    ) -> None:
        self.session = session
        self.client_id = client_id
        self.scope = scope
        self.key = key
        self.digest = body_hash(body) if key else ""

    async def replay(self, read: AsyncSession | None = None) -> Replay | None:
        """The first answer, if any. ``read``: look it up in that session instead, when the
        request must not take its unit of work's lock yet (a payment provider is asked
        first); two such requests racing still meet at the unique constraint."""
        if not self.key:
            return None
        return await lookup(read or self.session, self.client_id, self.scope, self.key, self.digest)

    async def remember(self, status_code: int, response: dict[str, Any]) -> None:
        if self.key:
            await remember(
                self.session,
                self.client_id,
                self.scope,
                self.key,
                self.digest,
                status_code=status_code,
                response=response,
            )
