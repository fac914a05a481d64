"""Pages of identity and clients: sign up and in, account, members, activity, invitations."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from studioflow.clients import service as clients
from studioflow.identity import api_keys
from studioflow.identity import service as identity
from studioflow.identity.auth import Principal, platform_of
from studioflow.identity.permissions import CLIENT_ROLES
from studioflow.models import Client, OAuthIdentity
from studioflow.platform.db import SessionDep
from studioflow.platform.pagination import PageParams
from studioflow.web.context import base_context
from studioflow.web.session import page_principal, sign_in_redirect
from studioflow.web.templating import render

router = APIRouter(include_in_schema=False)


def _oauth_providers(request: Request) -> list[tuple[str, str]]:
    settings = platform_of(request).settings
    providers = []
    if settings.google_client_id:
        providers.append(("google", "Google"))
    if settings.github_client_id:
        providers.append(("github", "GitHub"))
    return providers


def _safe_next(value: str | None) -> str:
    return value if value and value.startswith("/") and not value.startswith("//") else "/account"


@router.get("/signup", response_class=HTMLResponse)
async def signup(request: Request, session: SessionDep) -> Response:
    if await page_principal(request, session):
        return RedirectResponse("/account", status_code=303)
    return render(request, "auth/signup.html", {"providers": _oauth_providers(request)})


@router.get("/verify", response_class=HTMLResponse)
async def verify(request: Request, email: str = "") -> Response:
    return render(request, "auth/verify.html", {"email": email})


@router.get("/login", response_class=HTMLResponse)
async def login(
    request: Request, session: SessionDep, next: str = "", link: str = "", oauth: str = ""
) -> Response:
    if await page_principal(request, session):
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(
        request,
        "auth/login.html",
        {
            "next": _safe_next(next),
            "link_invalid": link == "invalid",
            "oauth": oauth,
            "providers": _oauth_providers(request),
        },
    )


@router.get("/forgot-password", response_class=HTMLResponse)
async def forgot(request: Request) -> Response:
    return render(request, "auth/forgot.html")


@router.get("/reset-password", response_class=HTMLResponse)
async def reset(request: Request, token: str = "") -> Response:
    return render(request, "auth/reset.html", {"token": token})


@router.get("/account", response_class=HTMLResponse)
async def account(request: Request, session: SessionDep) -> Response:
    principal = await page_principal(request, session)
    if principal is None:
        return sign_in_redirect(request)
    context = await base_context(principal, session)
    context["sessions"] = await identity.active_sessions(session, principal.user_id)
    context["keys"] = (
        await api_keys.list_keys(session, principal) if principal.can("api_keys:manage") else []
    )
    context["grantable"] = sorted(principal.permissions - {"platform:admin"})
    context["providers"] = _oauth_providers(request)
    context["identities"] = list(
        (
            await session.scalars(
                select(OAuthIdentity).where(OAuthIdentity.user_id == principal.user_id)
            )
        ).all()
    )
    return render(request, "account/account.html", context)


@router.get("/clients", response_class=HTMLResponse)
async def client_list(request: Request, session: SessionDep) -> Response:
    principal = await page_principal(request, session)
    if principal is None:
        return sign_in_redirect(request)
    return render(request, "clients/list.html", await base_context(principal, session))


async def _client_page(
    request: Request, session: SessionDep, client_id: uuid.UUID
) -> Principal | Response:
    principal = await page_principal(request, session)
    if principal is None:
        return sign_in_redirect(request)
    if principal.client_id != client_id:
        # The page of another client the user belongs to: switch to it for this request.
        from studioflow.identity.auth import membership_in, role_permissions

        membership = await membership_in(session, principal.user_id, client_id)
        if membership is None:
            return render(
                request,
                "errors/error.html",
                {
                    "status": 404,
                    "title": "Page not found",
                    "message": "We could not find that page.",
                },
                status_code=404,
            )
        principal = Principal(
            user=principal.user,
            client_id=client_id,
            role=membership.role,
            permissions=await role_permissions(session, membership.role),
            method=principal.method,
            session_id=principal.session_id,
        )
    return principal


@router.get("/clients/{client_id}/members", response_class=HTMLResponse)
async def members(request: Request, session: SessionDep, client_id: uuid.UUID) -> Response:
    principal = await _client_page(request, session, client_id)
    if isinstance(principal, Response):
        return principal
    context = await base_context(principal, session)
    context.update(
        client=await session.get(Client, client_id),
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
    request: Request, session: SessionDep, client_id: uuid.UUID, cursor: str | None = None
) -> Response:
    principal = await _client_page(request, session, client_id)
    if isinstance(principal, Response):
        return principal
    context = await base_context(principal, session)
    if not principal.can("activity:read"):
        return render(
            request,
            "errors/error.html",
            {
                **context,
                "status": 403,
                "title": "Owners only",
                "message": "Only owners see the activity of a client.",
            },
            status_code=403,
        )
    events, next_cursor = await clients.activity(
        session, principal, PageParams(limit=50, cursor=cursor)
    )
    context.update(
        client=await session.get(Client, client_id),
        events=events,
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
async def accept(request: Request, session: SessionDep, token: str = "") -> Response:
    principal = await page_principal(request, session)
    context: dict[str, Any] = {"token": token}
    if principal is not None:
        context.update(await base_context(principal, session))
    return render(request, "clients/accept.html", context)
