"""Who may see a page: the same permission names as the API, checked by one dependency.

``page: Annotated[PageView, Depends(Page("images:read"))]`` resolves the browser's principal
(its cookies; the active client is the ``client_id`` cookie the switcher sets, a stale or
foreign one falling back to the personal client), checks the permission, and builds the
context every signed-in page shows. Nobody signed in: a redirect through the silent refresh
to sign in. Lacking the permission: the 403 page. Another client's object (a service's
``NotFound``): the 404 page. Pages under ``/clients/{client_id}/`` use :class:`ClientPage`:
the client in the path is the active client, and one the user does not belong to is a 404.

Errors raised while a page is rendered answer as HTML because every page router carries
:func:`html_errors` (see ``platform.errors``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from studioflow.identity.auth import Principal, resolve_principal
from studioflow.platform.db import ReadSessionDep
from studioflow.platform.errors import AppError, Forbidden, NotAuthenticated, NotFound
from studioflow.web.context import base_context

CLIENT_COOKIE = "client_id"
PAGE_ERRORS_KEY = "html_errors"


class SignInRequired(AppError):
    """Nobody is signed in on a page: the browser is sent to sign in and back."""

    status, code, title = 401, "not_authenticated", "Sign in"


async def sign_in_required(request: Request, exc: Exception) -> Response:
    """The handler of :class:`SignInRequired`: to sign in, and back."""
    return RedirectResponse(sign_in_location(request), status_code=303)


def html_errors(request: Request) -> None:
    """A router dependency of every page: errors on these routes answer as HTML pages."""
    request.state.html_errors = True


@dataclass
class PageView:
    principal: Principal
    context: dict[str, Any] = field(default_factory=dict)


def _cookie_client(request: Request) -> uuid.UUID | None:
    raw = request.cookies.get(CLIENT_COOKIE)
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None


async def page_principal(
    request: Request, session: Any, *, client: uuid.UUID | None = None, strict: bool = False
) -> Principal | None:
    """The browser's principal, or None when nobody is signed in. ``client`` names the active
    client (a path's); ``strict`` makes a client the user does not belong to a 404 instead of
    falling back to the personal one."""
    if request.headers.get("x-api-key") or request.headers.get("authorization"):
        return None  # pages are for browser sessions only
    response = Response()
    wanted = client or _cookie_client(request)
    try:
        return await resolve_principal(
            request, response, session, allow_api_key=False, client_override=wanted
        )
    except NotFound:
        if strict:
            raise
        if wanted is None:
            return None
        # A stale or foreign client cookie: the personal client instead.
        try:
            return await resolve_principal(request, response, session, allow_api_key=False)
        except (NotAuthenticated, NotFound):
            return None
    except NotAuthenticated:
        return None


def sign_in_location(request: Request) -> str:
    """Try a silent refresh first (the refresh cookie only travels to /api/v1/auth)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/api/v1/auth/session?next={quote(target)}"


class Page:
    """A signed-in page that needs ``permission`` (None: any member) or a platform admin."""

    def __init__(self, permission: str | None = None, *, admin: bool = False) -> None:
        self.permission = permission
        self.admin = admin

    async def __call__(self, request: Request, session: ReadSessionDep) -> PageView:
        principal = await page_principal(request, session)
        return await self.view(request, session, principal)

    async def view(self, request: Request, session: Any, principal: Principal | None) -> PageView:
        if principal is None:
            raise SignInRequired("Sign in to see this page.")
        if self.admin and not principal.is_platform_admin:
            raise NotFound("We could not find that page.")  # as if nothing were there
        if self.permission and not principal.can(self.permission):
            raise Forbidden(f"This page needs the {self.permission!r} permission.")
        return PageView(principal, await base_context(principal, session))


class ClientPage(Page):
    """For ``/clients/{client_id}/…`` pages: the client in the path is the active client."""

    async def __call__(  # type: ignore[override]
        self, request: Request, session: ReadSessionDep, client_id: uuid.UUID
    ) -> PageView:
        try:
            principal = await page_principal(request, session, client=client_id, strict=True)
        except NotFound:
            # Only a signed-in user gets this far (the token is checked before the client).
            raise NotFound("We could not find that page.") from None
        return await self.view(request, session, principal)


class OptionalPage:
    """A page anyone may see that shows more to a signed-in user (home, invitations)."""

    async def __call__(self, request: Request, session: ReadSessionDep) -> PageView | None:
        principal = await page_principal(request, session)
        if principal is None:
            return None
        return PageView(principal, await base_context(principal, session))
