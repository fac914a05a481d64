"""Unexpected 500s, recorded for the admins' errors page: where (method, route template),
what kind (the exception's type), when, for whom (user and workspace when known) and the
request id to find the log line. Never a body, an exception's message or a query string:
they may hold what someone typed, or a token. Kept ``KEEP_DAYS`` (a daily job prunes).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from starlette.requests import Request

from studioflow.models import ErrorEvent
from studioflow.platform.repository import ErrorRepository

KEEP_DAYS = 30
log = structlog.get_logger("studioflow.errors")


def note_who(request: Request, user_id: uuid.UUID, client_id: uuid.UUID) -> None:
    """Remember who is asking, so an error on this request can say for whom it failed."""
    request.state.who = (user_id, client_id)


async def record(request: Request, exc: BaseException, request_id: str | None) -> None:
    """Write one event in a transaction of its own (the request's rolled back); a failure
    here is logged and swallowed: the answer is a 500 already."""
    platform: Any = getattr(request.app.state, "platform", None)
    if platform is None:
        return
    route = request.scope.get("route")
    template = getattr(route, "path", None) or request.url.path
    user_id, client_id = getattr(request.state, "who", (None, None))
    try:
        async with platform.db.transaction() as session:
            session.add(
                ErrorEvent(
                    request_id=(request_id or "")[:64] or None,
                    method=request.method[:10],
                    route=str(template)[:300],
                    error_type=type(exc).__name__[:120],
                    client_id=client_id,
                    user_id=user_id,
                )
            )
    except Exception as error:
        log.warning("errors.not_recorded", error=type(error).__name__)


async def prune(platform: Any) -> int:
    cutoff = datetime.now(UTC) - timedelta(days=KEEP_DAYS)
    async with platform.db.transaction() as session:
        return await ErrorRepository(session).prune(cutoff)
