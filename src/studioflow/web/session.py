"""Who is looking at a page: the principal from the browser's cookies, or nobody.

Pages only read (GET); every change goes through the JSON API from the page's script, with
the CSRF header. The active client of the browser is the ``client_id`` cookie the client
switcher sets; a stale or foreign one falls back to the personal client.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity.auth import Principal, resolve_principal
from studioflow.platform.errors import NotAuthenticated, NotFound

CLIENT_COOKIE = "client_id"


def _cookie_client(request: Request) -> uuid.UUID | None:
    raw = request.cookies.get(CLIENT_COOKIE)
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None


async def page_principal(request: Request, session: AsyncSession) -> Principal | None:
    if request.headers.get("x-api-key") or request.headers.get("authorization"):
        return None  # pages are for browser sessions only
    response = Response()
    wanted = _cookie_client(request)
    try:
        return await resolve_principal(
            request, response, session, allow_api_key=False, client_override=wanted
        )
    except NotFound:
        if wanted is None:
            return None
        try:
            return await resolve_principal(request, response, session, allow_api_key=False)
        except (NotAuthenticated, NotFound):
            return None
    except NotAuthenticated:
        return None


def sign_in_redirect(request: Request) -> RedirectResponse:
    """Try a silent refresh first (the refresh cookie only travels to /api/v1/auth)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/api/v1/auth/session?next={quote(target)}", status_code=303)
