"""What went wrong across the platform, for its admins: failed runs and failed items
grouped by their error code, and the unexpected 500s the server answered, grouped by
exception type and route; each group with its count and its latest case."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.platform.repository import ErrorRepository
from studioflow.studio import service as studio

KINDS = ("execution", "item", "request")


async def groups(session: AsyncSession, since: datetime, kind: str | None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for which in KINDS if kind is None else (kind,):
        if which == "request":
            errors = ErrorRepository(session)
            for error_type, method, route, count, latest in await errors.groups(since):
                event = await errors.latest_of(error_type, method, route)
                found.append(
                    {
                        "kind": "request",
                        "code": error_type,
                        "count": count,
                        "latest_at": latest,
                        "method": method,
                        "route": route,
                        "request_id": event.request_id if event else None,
                        "client_id": event.client_id if event else None,
                    }
                )
            continue
        for code, count, last, row in await studio.failures(session, since, which):
            found.append(
                {
                    "kind": which,
                    "code": code,
                    "count": count,
                    "latest_at": last,
                    "client_id": row.client_id if row else None,
                    "execution_id": (row.id if which == "execution" else row.execution_id)
                    if row
                    else None,
                    "error": (row.error or "")[:500] if row else None,
                }
            )
    return found
