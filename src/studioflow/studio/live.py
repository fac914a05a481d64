"""Execution events: numbered, stored with the change they describe, then published live.

The number is the SSE event id. Storing the event in the same transaction as the state change
means a client reconnecting with ``Last-Event-ID`` replays exactly what it missed from the
database, whichever process made the change; the bus only makes it arrive sooner.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.models import ExecutionEvent, WorkflowExecution
from studioflow.platform.db import after_commit
from studioflow.platform.events import EventBus

TERMINAL_EVENTS = frozenset({"completed", "failed", "cancelled"})


def channel(execution_id: uuid.UUID | str) -> str:
    return f"execution:{execution_id}"


async def emit(
    session: AsyncSession,
    bus: EventBus,
    execution_id: uuid.UUID,
    event: str,
    data: dict[str, Any],
) -> int:
    seq = (
        await session.execute(
            update(WorkflowExecution)
            .where(WorkflowExecution.id == execution_id)
            .values(event_seq=WorkflowExecution.event_seq + 1)
            .returning(WorkflowExecution.event_seq)
        )
    ).scalar_one()
    session.add(ExecutionEvent(execution_id=execution_id, seq=seq, type=event, data=data))
    message = {"id": seq, "event": event, "data": data}

    async def publish() -> None:
        await bus.publish(channel(execution_id), message)

    after_commit(session, publish)
    return int(seq)


async def events_after(
    session: AsyncSession, execution_id: uuid.UUID, after: int, *, limit: int = 1000
) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(ExecutionEvent)
        .where(ExecutionEvent.execution_id == execution_id, ExecutionEvent.seq > after)
        .order_by(ExecutionEvent.seq)
        .limit(limit)
    )
    return [{"id": e.seq, "event": e.type, "data": e.data} for e in rows.all()]
