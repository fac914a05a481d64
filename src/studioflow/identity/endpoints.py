"""HTTP layer of authentication, account and API keys (API.md, "Authentication")."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote, urlsplit

import httpx
import structlog
from fastapi import APIRouter, Depends, Form, Request, Response, status
from fastapi.responses import FileResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.background import BackgroundTask

from studioflow.identity import api_keys, audit, cookies, lifecycle, oauth
from studioflow.identity import service as identity
from studioflow.identity.auth import (
    Authenticated,
    ManageKeys,
    Principal,
    UserInfo,
    UserOnly,
    platform_of,
)
from studioflow.identity.context import context_of
from studioflow.identity.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    DeletionOut,
    EmailIn,
    LoginIn,
    LoginOut,
    MembershipOut,
    MeOut,
    ProfileOut,
    ProfileStats,
    ProfileUpdate,
    RefreshIn,
    RegisterIn,
    ResetIn,
    SessionOut,
    StatusOut,
    TokenIn,
    UserOut,
    VerifyEmailIn,
)
from studioflow.identity.service import SignIn
from studioflow.models import ApiKey, User
from studioflow.platform.db import ReadSessionDep, SessionDep, WriteSessionDep
from studioflow.platform.errors import AppError, BadRequest, NotFound, answers
from studioflow.platform.pagination import Page, PageParams, page_params

router = APIRouter(tags=["authentication"])
log = structlog.get_logger("studioflow.identity")
PENDING = StatusOut(status="pending_verification")
ACCEPTED = StatusOut(status="accepted")


def user_out(user: User | UserInfo) -> UserOut:
    return UserOut.model_validate(user)


def signed_in(request: Request, response: Response, result: SignIn) -> LoginOut:
    settings = platform_of(request).settings
    cookies.set_session_cookies(
        response,
        settings,
        session_id=result.session.id,
        access_token=result.access_token,
        access_expires=result.access_expires,
        refresh_token=result.refresh_token,
        session_expires=result.session.expires_at,
    )
    response.headers["Cache-Control"] = "no-store"
    return LoginOut(
        user=user_out(result.user),
        access_token=result.access_token,
        refresh_token=result.refresh_token,
        expires_in=int((result.access_expires - datetime.now(UTC)).total_seconds()),
    )


@router.post(
    "/api/v1/auth/register",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=StatusOut,
    responses=answers(
        {
            403: "Sign-up is closed on this site (`signup_closed`); admins invite instead.",
            409: "An account has this username (`username_taken`).",
        }
    ),
)
async def register(body: RegisterIn, request: Request, session: SessionDep) -> StatusOut:
    """Create an account and email a 6-digit code (same answer whether or not the email exists)."""
    await identity.register(
        platform_of(request),
        session,
        email=body.email,
        password=body.password,
        username=body.username,
        first_name=body.first_name,
        last_name=body.last_name,
        context=context_of(request),
    )
    return PENDING


@router.post(
    "/api/v1/auth/verify-email",
    response_model=UserOut,
    responses=answers({400: "The code is wrong or has expired (`invalid_code`)."}),
)
async def verify_email(body: VerifyEmailIn, request: Request, session: SessionDep) -> UserOut:
    """Confirm the email address with the emailed code."""
    user = await identity.verify_email(
        platform_of(request), session, email=body.email, code=body.code, context=context_of(request)
    )
    return user_out(user)


@router.post(
    "/api/v1/auth/resend-code", status_code=status.HTTP_202_ACCEPTED, response_model=StatusOut
)
async def resend_code(body: EmailIn, request: Request, session: SessionDep) -> StatusOut:
    """Send a new code (at most once a minute)."""
    await identity.resend_code(
        platform_of(request), session, email=body.email, context=context_of(request)
    )
    return ACCEPTED


@router.post(
    "/api/v1/auth/login",
    response_model=LoginOut,
    responses=answers(
        {
            401: "Wrong email, username or password (`invalid_credentials`).",
            403: "The email address is not verified yet (`email_not_verified`).",
        }
    ),
)
async def login(
    body: LoginIn,
    request: Request,
    response: Response,
    read: ReadSessionDep,
    session: SessionDep,
) -> LoginOut:
    """Sign in with email or username and password."""
    result = await identity.login(
        platform_of(request),
        read,
        session,
        identifier=body.identifier,
        password=body.password,
        context=context_of(request),
    )
    return signed_in(request, response, result)


@router.post(
    "/api/v1/auth/refresh",
    response_model=LoginOut,
    responses=answers(
        {
            401: (
                "The refresh token is not valid or has expired (`not_authenticated`), "
                "or was already used, which signs out that session family "
                "(`refresh_token_reused`)."
            )
        }
    ),
)
async def refresh(
    request: Request, response: Response, session: SessionDep, body: RefreshIn | None = None
) -> LoginOut:
    """Exchange a refresh token (body or cookie) for a new pair."""
    settings = platform_of(request).settings
    token = (body.refresh_token if body else None) or request.cookies.get(
        cookies.refresh_cookie_name(settings), ""
    )
    result = await identity.refresh(
        platform_of(request), session, token=token or "", context=context_of(request)
    )
    return signed_in(request, response, result)


@router.get("/api/v1/auth/session", include_in_schema=False)
async def browser_session(
    request: Request, session: WriteSessionDep, next: str = "/start"
) -> Response:
    """Pages send the browser here when its access cookie has expired: the refresh cookie
    (which only travels to /api/v1/auth) renews the session, then back to the page."""
    target = next if next.startswith("/") and not next.startswith("//") else "/start"
    settings = platform_of(request).settings
    token = request.cookies.get(cookies.refresh_cookie_name(settings), "")
    try:
        result = await identity.refresh(
            platform_of(request), session, token=token, context=context_of(request)
        )
    except AppError:
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    response = RedirectResponse(target, status_code=303)
    signed_in(request, response, result)
    return response


@router.post("/api/v1/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(principal: UserOnly, request: Request, session: SessionDep) -> Response:
    """End this session and clear the cookies."""
    if principal.session_id is not None:
        await identity.revoke_session(session, principal.session_id, reason="logout")
    response = Response(status_code=204)
    cookies.clear_session_cookies(response, platform_of(request).settings)
    return response


@router.post("/api/v1/auth/logout-all", status_code=status.HTTP_204_NO_CONTENT)
async def logout_all(principal: UserOnly, request: Request, session: SessionDep) -> Response:
    """End every session of the user."""
    await identity.revoke_all_sessions(session, principal.user_id, reason="logout_all")
    response = Response(status_code=204)
    cookies.clear_session_cookies(response, platform_of(request).settings)
    return response


@router.get("/api/v1/auth/me", response_model=MeOut)
async def me(principal: Authenticated, session: SessionDep) -> MeOut:
    """The signed-in user, their clients and roles, and their permissions in the active client."""
    memberships = [
        MembershipOut(
            client_id=c.id, name=c.name, role=role, personal=c.personal_owner_id is not None
        )
        for c, role in await identity.memberships_of(session, principal.user_id)
    ]
    return MeOut(
        user=user_out(principal.user),
        memberships=memberships,
        platform_role=principal.user.platform_role,
        active_client_id=principal.client_id,
        permissions=sorted(principal.permissions),
        auth_method=principal.method,
    )


@router.post(
    "/api/v1/auth/magic-link", status_code=status.HTTP_202_ACCEPTED, response_model=StatusOut
)
async def magic_link(body: EmailIn, request: Request, session: SessionDep) -> StatusOut:
    """Email a single-use sign-in link (15 minutes)."""
    await identity.request_magic_link(
        platform_of(request), session, email=body.email, context=context_of(request)
    )
    return ACCEPTED


@router.post(
    "/api/v1/auth/magic-link/consume",
    response_model=LoginOut,
    responses=answers({400: "The link is invalid, used or expired (`invalid_token`)."}),
)
async def consume_magic_link(
    body: TokenIn, request: Request, response: Response, session: SessionDep
) -> LoginOut:
    """Sign in with the token of a magic link (for clients that are not a browser)."""
    result = await identity.consume_magic_link(
        platform_of(request), session, token=body.token, context=context_of(request)
    )
    return signed_in(request, response, result)


def _same_origin(request: Request) -> bool:
    """A form post from one of our own pages: its Origin (or, lacking that, its Referer) is
    this site. A login CSRF posts from elsewhere to sign the victim in as the attacker."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent:
        return False
    parts = urlsplit(sent)
    origin = f"{parts.scheme}://{parts.netloc}"
    ours = urlsplit(platform_of(request).settings.base_url)
    return origin in {
        f"{ours.scheme}://{ours.netloc}",
        f"{request.url.scheme}://{request.url.netloc}",
    }


@router.post("/auth/callback", include_in_schema=False)
async def magic_link_callback(
    request: Request, session: WriteSessionDep, token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    """The confirmation page's button (the emailed link opens that page, ``web``): sign in
    once and land on the home page. Opening a link signs nobody in by itself."""
    if not _same_origin(request):
        return RedirectResponse("/login?link=invalid", status_code=303)
    try:
        result = await identity.consume_magic_link(
            platform_of(request), session, token=token, context=context_of(request)
        )
    except BadRequest:
        return RedirectResponse("/login?link=invalid", status_code=303)
    response = RedirectResponse("/start", status_code=303)
    signed_in(request, response, result)
    return response


@router.post(
    "/api/v1/auth/password/forgot", status_code=status.HTTP_202_ACCEPTED, response_model=StatusOut
)
async def forgot_password(body: EmailIn, request: Request, session: SessionDep) -> StatusOut:
    """Email a password reset link (30 minutes)."""
    await identity.request_password_reset(
        platform_of(request), session, email=body.email, context=context_of(request)
    )
    return ACCEPTED


@router.post(
    "/api/v1/auth/password/reset",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=answers({400: "The link is invalid, used or expired (`invalid_token`)."}),
)
async def reset_password(body: ResetIn, request: Request, session: SessionDep) -> Response:
    """Set a new password; every session and API key of the user is revoked."""
    await identity.reset_password(
        platform_of(request),
        session,
        token=body.token,
        password=body.password,
        context=context_of(request),
    )
    return Response(status_code=204)


# Account -----------------------------------------------------------------------------------


@router.get("/api/v1/account", response_model=UserOut, tags=["account"])
async def get_account(principal: UserOnly) -> UserOut:
    """Your profile."""
    return user_out(principal.user)


@router.put(
    "/api/v1/account",
    response_model=UserOut,
    tags=["account"],
    responses=answers({409: "Another account has this username (`username_taken`)."}),
)
async def put_account(body: ProfileUpdate, principal: UserOnly, session: SessionDep) -> UserOut:
    """Change your profile (username, first and last name)."""
    user = await identity.update_profile(
        session,
        principal.user_id,
        username=body.username,
        first_name=body.first_name,
        last_name=body.last_name,
        fields=body.model_fields_set,
    )
    return user_out(user)


@router.get("/api/v1/account/sessions", response_model=Page[SessionOut], tags=["account"])
async def list_sessions(
    principal: UserOnly,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[SessionOut]:
    """Your active sessions, most recently used first."""
    rows, cursor = await identity.page_of_sessions(session, principal.user_id, params)
    items = [
        SessionOut(
            id=s.id,
            created_at=s.created_at,
            last_used_at=s.last_used_at,
            expires_at=s.expires_at,
            method=s.method,
            ip=s.ip,
            user_agent=s.user_agent,
            current=s.id == principal.session_id,
        )
        for s in rows
    ]
    return Page(items=items, next_cursor=cursor)


@router.delete("/api/v1/account/sessions/{session_id}", status_code=204, tags=["account"])
async def revoke_session(
    session_id: uuid.UUID, principal: UserOnly, session: SessionDep
) -> Response:
    """End one of your sessions."""
    await identity.revoke_user_session(session, principal.user_id, session_id)
    return Response(status_code=204)


@router.post(
    "/api/v1/account/delete-request",
    response_model=DeletionOut,
    tags=["account"],
    responses=answers({409: "The last owner of a team workspace cannot leave it (`last_owner`)."}),
)
async def delete_request(principal: UserOnly, request: Request, session: SessionDep) -> DeletionOut:
    """Schedule your account's deletion after a 7-day grace period."""
    when = await identity.request_deletion(
        platform_of(request), session, principal.user_id, context=context_of(request)
    )
    return DeletionOut(status="scheduled", delete_after=when)


@router.post("/api/v1/account/delete-cancel", response_model=DeletionOut, tags=["account"])
async def delete_cancel(principal: UserOnly, request: Request, session: SessionDep) -> DeletionOut:
    """Cancel a scheduled deletion."""
    await identity.cancel_deletion(session, principal.user_id, context=context_of(request))
    return DeletionOut(status="active", delete_after=None)


@router.get("/api/v1/account/export", tags=["account"], response_class=FileResponse)
async def export_now(
    principal: UserOnly, request: Request, read: ReadSessionDep, session: WriteSessionDep
) -> FileResponse:
    """Download a ZIP of your data (JSON) and files now."""
    platform = platform_of(request)
    # Built from the read session: the unit of work only records the export afterwards.
    path = await lifecycle.build_export(platform, read, principal.user)
    # The user's own event: their personal client's timeline, whichever client is active.
    await audit.by_user(session, "user.exported", principal.user, context_of(request))
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"studioflow-export-{datetime.now(UTC):%Y%m%d}.zip",
        background=BackgroundTask(path.unlink, missing_ok=True),
        headers={"Cache-Control": "no-store"},
    )


@router.post("/api/v1/account/export", status_code=202, response_model=StatusOut, tags=["account"])
async def export_by_email(principal: UserOnly, request: Request, session: SessionDep) -> StatusOut:
    """Prepare an export in the background and email a link valid for 24 hours."""
    platform_of(request).queue.defer(
        session, "identity.export_account", user_id=str(principal.user_id)
    )
    return ACCEPTED


async def _profile(
    principal: Principal, request: Request, session: AsyncSession, user: User | None = None
) -> ProfileOut:
    platform = platform_of(request)
    used = 0
    async for info in platform.storage.list(lifecycle.client_prefix(principal.client_id)):
        used += info.size
    figures = await identity.usage_figures(session, principal.client_id)
    return ProfileOut(
        user=user_out(user or principal.user),
        active_client_id=principal.client_id,
        stats=ProfileStats(storage_used=used, **figures),
    )


@router.get("/api/v1/user/profile", response_model=ProfileOut, tags=["account"])
async def get_profile(
    principal: Authenticated, request: Request, session: SessionDep
) -> ProfileOut:
    """Your profile and usage figures of the active client."""
    return await _profile(principal, request, session)


@router.patch(
    "/api/v1/user/profile",
    response_model=ProfileOut,
    tags=["account"],
    responses=answers({409: "Another account has this username (`username_taken`)."}),
)
async def patch_profile(
    body: ProfileUpdate, principal: UserOnly, request: Request, session: SessionDep
) -> ProfileOut:
    """Change profile fields (only those sent)."""
    user = await identity.update_profile(
        session,
        principal.user_id,
        username=body.username,
        first_name=body.first_name,
        last_name=body.last_name,
        fields=body.model_fields_set,
    )
    return await _profile(principal, request, session, user)


# API keys ----------------------------------------------------------------------------------


def key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut.model_validate(key)


@router.get("/api/v1/api-keys", response_model=Page[ApiKeyOut], tags=["api keys"])
async def list_api_keys(
    session: SessionDep,
    principal: ManageKeys,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[ApiKeyOut]:
    """API keys of the active client (yours; all of them for owners), newest first."""
    keys, cursor = await api_keys.page_of_keys(session, principal, params)
    return Page(items=[key_out(k) for k in keys], next_cursor=cursor)


@router.post("/api/v1/api-keys", status_code=201, response_model=ApiKeyCreated, tags=["api keys"])
async def create_api_key(
    body: ApiKeyCreate, request: Request, session: SessionDep, principal: ManageKeys
) -> ApiKeyCreated:
    """Create a key in the active client; the secret is in this answer only."""
    key, secret = await api_keys.create_key(
        session,
        principal,
        name=body.key_name,
        scopes=body.scopes,
        rate_limit_per_hour=body.rate_limit_per_hour,
        expires_at=body.expires_at,
        context=context_of(request),
    )
    return ApiKeyCreated(**key_out(key).model_dump(), api_key=secret)


@router.delete("/api/v1/api-keys/{key_id}", status_code=204, tags=["api keys"])
async def revoke_api_key(
    key_id: uuid.UUID, request: Request, session: SessionDep, principal: ManageKeys
) -> Response:
    """Revoke a key; it stops working at once."""
    await api_keys.revoke_key(session, principal, key_id, context=context_of(request))
    return Response(status_code=204)


# OAuth ---------------------------------------------------------------------------------------


async def _oauth_start(provider: str, request: Request) -> Response:
    platform = platform_of(request)
    if not oauth.configured(platform, provider):
        raise NotFound(f"Sign-in with {provider} is not set up on this server.")
    try:
        url, flow = await oauth.start(platform, provider)
    except (oauth.OAuthFailed, httpx.HTTPError) as error:
        log.warning("oauth.start_failed", provider=provider, reason=str(error))
        return RedirectResponse("/login?oauth=failed", status_code=303)
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        oauth.FLOW_COOKIE,
        flow,
        max_age=oauth.FLOW_TTL_SECONDS,
        path="/api/v1/auth",
        secure=platform.settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    return response


async def _oauth_callback(
    provider: str,
    request: Request,
    session: AsyncSession,
    code: str = "",
    state: str = "",
    error: str = "",
) -> Response:
    platform = platform_of(request)
    if not oauth.configured(platform, provider):
        raise NotFound(f"Sign-in with {provider} is not set up on this server.")
    failed = RedirectResponse("/login?oauth=failed", status_code=303)
    failed.delete_cookie(oauth.FLOW_COOKIE, path="/api/v1/auth")
    if error or not code:
        return failed
    context = context_of(request)
    try:
        identity_ = await oauth.finish(
            platform,
            provider,
            code=code,
            state=state,
            flow_cookie=request.cookies.get(oauth.FLOW_COOKIE, ""),
        )
        current = await _signed_in_user(request, session)
        outcome = await oauth.complete(
            platform, session, identity_, current_user=current, context=context
        )
    except oauth.OAuthFailed as reason:
        log.warning("oauth.failed", provider=provider, reason=str(reason))
        return failed
    if outcome.link_required:
        response = RedirectResponse("/login?oauth=link_required", status_code=303)
    elif outcome.signup_closed:
        response = RedirectResponse("/login?oauth=signup_closed", status_code=303)
    elif outcome.linked:
        response = RedirectResponse("/account", status_code=303)
    else:
        assert outcome.sign_in is not None
        response = RedirectResponse("/start", status_code=303)
        signed_in(request, response, outcome.sign_in)
    response.delete_cookie(oauth.FLOW_COOKIE, path="/api/v1/auth")
    return response


async def _signed_in_user(request: Request, session: AsyncSession) -> UserInfo | None:
    from studioflow.identity.auth import resolve_principal

    if not request.cookies.get(cookies.access_cookie_name(platform_of(request).settings)):
        return None
    try:
        principal = await resolve_principal(request, Response(), session, allow_api_key=False)
    except AppError:
        return None
    return principal.user


_NOT_CONFIGURED = answers({404: "This sign-in provider is not configured here (`not_found`)."})


def _register_provider(provider: str, label: str) -> None:
    async def begin(request: Request) -> Response:
        return await _oauth_start(provider, request)

    async def callback(
        request: Request,
        session: WriteSessionDep,
        code: str = "",
        state: str = "",
        error: str = "",
    ) -> Response:
        return await _oauth_callback(
            provider, request, session, code=code, state=state, error=error
        )

    begin.__doc__ = f"Sign in with {label}: redirect to {label} (OAuth 2 with state and PKCE)."
    callback.__doc__ = (
        f"{label} sends the browser back here; signs in, links or creates the account."
    )
    router.add_api_route(
        f"/api/v1/auth/{provider}",
        begin,
        methods=["GET"],
        include_in_schema=True,
        name=f"oauth_{provider}",
        response_class=RedirectResponse,
        status_code=302,
        responses=_NOT_CONFIGURED,
    )
    router.add_api_route(
        f"/api/v1/auth/{provider}/callback",
        callback,
        methods=["GET"],
        name=f"oauth_{provider}_callback",
        response_class=RedirectResponse,
        status_code=303,
        responses=_NOT_CONFIGURED,
    )


_register_provider("google", "Google")
_register_provider("github", "GitHub")
