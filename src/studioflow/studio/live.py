"""Execution events: numbered, stored with the change they describe, then published live.

The number is the SSE event id, given at commit time so that ids follow commit order. Storing
the event in the same transaction as the state change
means a client reconnecting with ``Last-Event-ID`` replays exactly what it missed from the
database, whichever process made the change; the bus only makes it arrive sooner.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.models import FINISHED_EXECUTION
from studioflow.platform.db import after_commit, before_commit
from studioflow.platform.events import EventBus
from studioflow.studio.repository import EngineRepository

TERMINAL_EVENTS = frozenset(str(status) for status in FINISHED_EXECUTION)
PENDING_KEY = "studioflow.execution_events"


def channel(execution_id: uuid.UUID | str) -> str:
    return f"execution:{execution_id}"


# Every execution's control channel, as a subscription pattern (what a worker listens to).
CONTROL_CHANNELS = "execution-control:*"


def control_channel(execution_id: uuid.UUID | str) -> str:
    """Where the runner of an execution listens for ``cancel`` (not stored, not for clients)."""
    return f"execution-control:{execution_id}"


def announce_cancel(session: AsyncSession, bus: EventBus, execution_id: uuid.UUID) -> None:
    """Tell the live runner, once the cancel is committed, to abort its items now; it also
    reads the status every few seconds, so a message lost on the way only costs time."""

    async def publish() -> None:
        await bus.publish(control_channel(execution_id), {"event": "cancel"})

    after_commit(session, publish)


async def emit(
    session: AsyncSession,
    bus: EventBus,
    execution_id: uuid.UUID,
    event: str,
    data: dict[str, Any],
) -> None:
    """Queue an event; it is numbered and stored just before the transaction commits (one
    UPDATE and one INSERT per execution however many events), and published after."""
    pending: list[tuple[uuid.UUID, str, dict[str, Any]]] | None = session.info.get(PENDING_KEY)
    if pending is None:
        pending = session.info[PENDING_KEY] = []

        async def flush() -> None:
            await _store(session, bus, session.info.pop(PENDING_KEY, []))

        before_commit(session, flush)
    pending.append((execution_id, event, data))


async def emit_first(
    session: AsyncSession,
    bus: EventBus,
    execution_id: uuid.UUID,
    event: str,
    data: dict[str, Any],
) -> None:
    """Event 1 of an execution inserted in this transaction with ``event_seq=1``: nobody can
    emit for it before this commits, so its number is known without the counter UPDATE."""
    await EngineRepository(session).insert_events(
        {"execution_id": execution_id, "seq": 1, "type": event, "data": data}
    )
    message = {"id": 1, "event": event, "data": data}

    async def publish() -> None:
        await bus.publish(channel(execution_id), message)

    after_commit(session, publish)


async def _store(
    session: AsyncSession, bus: EventBus, pending: list[tuple[uuid.UUID, str, dict[str, Any]]]
) -> None:
    by_execution: dict[uuid.UUID, list[tuple[str, dict[str, Any]]]] = {}
    for execution_id, event, data in pending:
        by_execution.setdefault(execution_id, []).append((event, data))
    messages: list[tuple[uuid.UUID, dict[str, Any]]] = []
    engine = EngineRepository(session)
    for execution_id, events in by_execution.items():
        last = await engine.reserve_event_numbers(execution_id, len(events))
        first = last - len(events) + 1
        rows = [
            {"execution_id": execution_id, "seq": first + n, "type": event, "data": data}
            for n, (event, data) in enumerate(events)
        ]
        await engine.insert_events(rows)
        messages.extend(
            (execution_id, {"id": row["seq"], "event": row["type"], "data": row["data"]})
            for row in rows
        )

    async def publish() -> None:
        for execution_id, message in messages:
            await bus.publish(channel(execution_id), message)

    after_commit(session, publish)


async def events_after(
    session: AsyncSession, execution_id: uuid.UUID, after: int, *, limit: int = 1000
) -> list[dict[str, Any]]:
    rows = await EngineRepository(session).events_after(execution_id, after, limit=limit)
    return [{"id": e.seq, "event": e.type, "data": e.data} for e in rows]
