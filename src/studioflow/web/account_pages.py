"""Pages of identity and clients: sign up and in, account, members, activity, invitations."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studioflow.clients import service as clients
from studioflow.identity import api_keys
from studioflow.identity import service as identity
from studioflow.identity.auth import platform_of
from studioflow.identity.permissions import CLIENT_ROLES
from studioflow.notifications import service as told
from studioflow.platform.db import SessionDep
from studioflow.platform.pagination import PageParams
from studioflow.web.auth import ClientPage, OptionalPage, Page, PageView, html_errors
from studioflow.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(html_errors)])
AnyPage = Annotated[PageView, Depends(Page())]
MaybeSignedIn = Annotated[PageView | None, Depends(OptionalPage())]
MembersPage = Annotated[PageView, Depends(ClientPage("members:read"))]
ActivityPage = Annotated[PageView, Depends(ClientPage("activity:read"))]


def _oauth_providers(request: Request) -> list[tuple[str, str]]:
    settings = platform_of(request).settings
    providers = []
    if settings.google_client_id:
        providers.append(("google", "Google"))
    if settings.github_client_id:
        providers.append(("github", "GitHub"))
    return providers


def _safe_next(value: str | None) -> str:
    """``value`` if a browser would take it for a path on this site, else ``/start`` (where
    a signed-in user lands).

    Parsed as a browser parses it (WHATWG URL): tabs and newlines anywhere are dropped, a
    backslash is a slash, and ``//host`` (so ``/\\host`` or ``/<TAB>/host``) names another
    host. Anything with control characters or spaces is refused outright."""
    fallback = "/start"
    if not value or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value):
        return fallback
    as_browser = value.replace("\\", "/")
    if not as_browser.startswith("/") or as_browser.startswith("//"):
        return fallback
    parts = urlsplit(as_browser)
    if parts.scheme or parts.netloc:
        return fallback
    return as_browser


@router.get("/signup", response_class=HTMLResponse)
async def signup(
    request: Request, page: MaybeSignedIn, next: str = "", email: str = ""
) -> Response:
    """``next`` (an invitation's page) is carried through the code and the sign-in, so an
    invitee who signs up ends where the invitation link pointed."""
    if page is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(
        request,
        "auth/signup.html",
        {
            "providers": _oauth_providers(request),
            "next": _safe_next(next),
            "email": email,
            "signup_open": (await request.app.state.platform.site.get()).signup_open,
        },
    )


@router.get("/verify", response_class=HTMLResponse)
async def verify(request: Request, email: str = "", next: str = "") -> Response:
    return render(request, "auth/verify.html", {"email": email, "next": _safe_next(next)})


@router.get("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    page: MaybeSignedIn,
    next: str = "",
    link: str = "",
    oauth: str = "",
    email: str = "",
) -> Response:
    if page is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(
        request,
        "auth/login.html",
        {
            "next": _safe_next(next),
            "email": email,
            "link_invalid": link == "invalid",
            "oauth": oauth,
            "providers": _oauth_providers(request),
        },
    )


@router.get("/auth/callback", response_class=HTMLResponse)
async def magic_link(request: Request, session: SessionDep, token: str = "") -> Response:
    """The emailed sign-in link opens this page; its button signs in (a POST from here).
    A link opened by a mail scanner, or planted by someone else, signs nobody in."""
    address = await identity.magic_link_address(session, token)
    if address is None:
        return RedirectResponse("/login?link=invalid", status_code=303)
    return render(request, "auth/magic.html", {"token": token, "address": address})


@router.get("/forgot-password", response_class=HTMLResponse)
async def forgot(request: Request) -> Response:
    return render(request, "auth/forgot.html")


@router.get("/reset-password", response_class=HTMLResponse)
async def reset(request: Request, token: str = "") -> Response:
    return render(request, "auth/reset.html", {"token": token})


@router.get("/account", response_class=HTMLResponse)
async def account(request: Request, session: SessionDep, page: AnyPage) -> Response:
    principal, context = page.principal, page.context
    context["sessions"] = await identity.active_sessions(session, principal.user_id)
    context["keys"] = (
        await api_keys.list_keys(session, principal) if principal.can("api_keys:manage") else []
    )
    context["grantable"] = sorted(principal.permissions - {"platform:admin"})
    context["providers"] = _oauth_providers(request)
    context["identities"] = await identity.linked_identities(session, principal.user_id)
    context["preferences"] = told.preferences_payload(
        await told.preferences(session, principal.user_id)
    )
    context["devices"] = await told.devices(session, principal.user_id)
    context["vapid_public_key"] = platform_of(request).settings.vapid_public_key
    return render(request, "account/account.html", context)


@router.get("/clients", response_class=HTMLResponse)
async def client_list(request: Request, page: AnyPage) -> Response:
    return render(request, "clients/list.html", page.context)


@router.get("/clients/{client_id}/members", response_class=HTMLResponse)
async def members(
    request: Request, session: SessionDep, page: MembersPage, client_id: uuid.UUID
) -> Response:
    principal, context = page.principal, page.context
    context.update(
        client=await clients.get_client(session, principal),
        members=await clients.members(session, principal),
        invitations=await clients.pending_invitations(session, principal)
        if principal.can("members:manage")
        else [],
        roles=sorted(CLIENT_ROLES),
        can_manage=principal.can("members:manage"),
        page_client_id=str(client_id),
    )
    return render(request, "clients/members.html", context)


@router.get("/clients/{client_id}/activity", response_class=HTMLResponse)
async def activity(
    request: Request,
    session: SessionDep,
    page: ActivityPage,
    client_id: uuid.UUID,
    cursor: str | None = None,
) -> Response:
    principal, context = page.principal, page.context
    events, next_cursor = await clients.activity(
        session, principal, PageParams(limit=50, cursor=cursor)
    )
    people = await clients.members(session, principal)
    context.update(
        client=await clients.get_client(session, principal),
        events=events,
        names={user.id: user.first_name for _, user in people if user.first_name},
        next_cursor=next_cursor,
        page_client_id=str(client_id),
    )
    template = (
        "clients/activity_rows.html"
        if request.headers.get("hx-request")
        else "clients/activity.html"
    )
    return render(request, template, context)


@router.get("/invitations/accept", response_class=HTMLResponse)
async def accept(
    request: Request, page: MaybeSignedIn, token: str = "", auto: str = ""
) -> Response:
    # auto=1: the invitee comes back from signing up or in; the page accepts at once (a
    # POST with the CSRF header, as the button sends), so nobody reopens the email.
    context: dict[str, Any] = {"token": token, "auto": auto == "1"}
    if page is not None:
        context.update(page.context)
    return render(request, "clients/accept.html", context)
