"""Who is asking, for which client, with which permissions: the ``Principal`` of a request.

Three ways in (API.md): an ``X-API-Key``, a Bearer access token, or the browser's cookies
(which must carry the CSRF header on unsafe methods). Tokens in the query string are never
read. The active client is ``X-Client-Id`` (a client the caller belongs to; anything else is
404) or the user's personal client; an API key is bound to its own client. Permissions come
from the member's role in the ``role_permissions`` table, narrowed by the key's scopes.
"""

from __future__ import annotations

import functools
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity import cookies
from studioflow.identity.repository import ApiKeyRepository, MemberRepository, SessionRepository
from studioflow.identity.tokens import (
    AccessTokens,
    InvalidToken,
    api_key_is_well_formed,
    sha256,
)
from studioflow.models import (
    Membership,
    PlatformRole,
    User,
)
from studioflow.platform import error_log
from studioflow.platform.db import ReadSessionDep
from studioflow.platform.errors import (
    Forbidden,
    NotAuthenticated,
    NotFound,
    QuotaExceeded,
    RateLimited,
)
from studioflow.platform.runtime import Platform

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class UserInfo:
    """The signed-in user as read at authentication: a snapshot, not a row of a session.

    Authentication reads through the request's read session, which never writes; changing the
    user goes through a service that loads the row in the unit of work. (Being frozen, an
    assignment here fails loudly instead of being silently lost.)
    """

    id: uuid.UUID
    email: str
    email_canonical: str | None
    username: str | None
    first_name: str | None
    last_name: str | None
    platform_role: str
    email_verified_at: datetime | None
    is_active: bool
    last_login_at: datetime | None
    delete_requested_at: datetime | None
    delete_after: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserInfo:
        return cls(
            id=user.id,
            email=user.email,
            email_canonical=user.email_canonical,
            username=user.username,
            first_name=user.first_name,
            last_name=user.last_name,
            platform_role=user.platform_role,
            email_verified_at=user.email_verified_at,
            is_active=user.is_active,
            last_login_at=user.last_login_at,
            delete_requested_at=user.delete_requested_at,
            delete_after=user.delete_after,
            created_at=user.created_at,
        )


@dataclass(frozen=True)
class ApiKeyInfo:
    id: uuid.UUID
    client_id: uuid.UUID
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class Principal:
    user: UserInfo
    client_id: uuid.UUID
    role: str
    permissions: frozenset[str]
    method: str  # "cookie", "bearer" or "api_key"
    session_id: uuid.UUID | None = None
    api_key: ApiKeyInfo | None = None

    @property
    def user_id(self) -> uuid.UUID:
        return self.user.id

    @property
    def is_platform_admin(self) -> bool:
        return self.user.platform_role == PlatformRole.admin.value

    @property
    def api_key_id(self) -> uuid.UUID | None:
        return self.api_key.id if self.api_key else None

    def can(self, permission: str) -> bool:
        return permission in self.permissions


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def access_tokens(platform: Platform) -> AccessTokens:
    # One per secret and issuer: it keeps the tokens it has verified.
    return _access_tokens(platform.settings.secret, platform.settings.base_url)


@functools.lru_cache(maxsize=16)
def _access_tokens(secret: str, issuer: str) -> AccessTokens:
    return AccessTokens(secret, issuer=issuer)


async def role_permissions(session: AsyncSession, role: str) -> frozenset[str]:
    return await MemberRepository(session).role_permissions(role)


async def membership_in(
    session: AsyncSession, user_id: uuid.UUID, client_id: uuid.UUID
) -> Membership | None:
    return await MemberRepository(session).of(user_id, client_id)


@dataclass(frozen=True)
class Access:
    client_id: uuid.UUID
    role: str
    permissions: frozenset[str]
    api_requests_per_hour: int | None


async def access_in(
    session: AsyncSession,
    user_id: uuid.UUID,
    client_id: uuid.UUID | None,
    *,
    extra_role: str | None = None,
) -> Access | None:
    """The member's access in ``client_id`` (None: their personal client), or None if they
    are not a member. ``extra_role`` adds that role's permissions (platform admins)."""
    rows = await MemberRepository(session).access_rows(user_id, client_id, extra_role or "")
    if not rows:
        return None
    return Access(
        client_id=rows[0][0],
        role=rows[0][1],
        permissions=frozenset(name for *_, name in rows if name is not None),
        api_requests_per_hour=rows[0][2],
    )


def _parse_client_header(request: Request) -> uuid.UUID | None:
    raw = request.headers.get("x-client-id")
    if raw is None:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        # A malformed id names no client the caller belongs to: the same answer as a foreign one.
        raise NotFound("No such client.") from None


class Authenticator:
    """FastAPI dependency resolving and authorising the request's principal."""

    def __init__(self, permission: str | None = None, *, allow_api_key: bool = True) -> None:
        self.permission = permission
        self.allow_api_key = allow_api_key

    async def __call__(
        self, request: Request, response: Response, session: ReadSessionDep
    ) -> Principal:
        principal = await resolve_principal(
            request, response, session, allow_api_key=self.allow_api_key
        )
        return self.authorise(principal)

    def authorise(self, principal: Principal) -> Principal:
        if self.permission and not principal.can(self.permission):
            raise Forbidden(f"This needs the {self.permission!r} permission.")
        return principal


class ClientAuthenticator(Authenticator):
    """For ``/clients/{client_id}/…`` routes: the client in the path is the active client."""

    async def __call__(  # type: ignore[override]
        self, request: Request, response: Response, session: ReadSessionDep, client_id: uuid.UUID
    ) -> Principal:
        principal = await resolve_principal(
            request, response, session, allow_api_key=self.allow_api_key, client_override=client_id
        )
        return self.authorise(principal)


async def optional_principal(request: Request, session: AsyncSession) -> Principal | None:
    """The principal when the request is signed in (cookie, bearer or key), None when it
    is not or its credentials no longer work (an expired token reads as signed out). Naming
    another workspace with X-Client-Id is still a 404."""
    try:
        return await resolve_principal(request, Response(), session)
    except (NotAuthenticated, Forbidden):
        return None


async def resolve_principal(
    request: Request,
    response: Response,
    session: AsyncSession,
    *,
    allow_api_key: bool = True,
    client_override: uuid.UUID | None = None,
) -> Principal:
    principal = await _resolve(
        request,
        response,
        session,
        allow_api_key=allow_api_key,
        client_override=client_override,
    )
    # An unexpected error later in this request is recorded with who it failed for.
    error_log.note_who(request, principal.user_id, principal.client_id)
    return principal


async def _resolve(
    request: Request,
    response: Response,
    session: AsyncSession,
    *,
    allow_api_key: bool,
    client_override: uuid.UUID | None,
) -> Principal:
    platform = platform_of(request)
    requested_client = client_override or _parse_client_header(request)
    raw_key = request.headers.get("x-api-key")
    if raw_key is not None:
        if not allow_api_key:
            raise Forbidden(
                "API keys cannot do this; sign in as the user.", code="api_key_not_allowed"
            )
        return await _from_api_key(request, platform, session, response, raw_key, requested_client)

    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise NotAuthenticated("Use 'Authorization: Bearer <access token>'.")
        method = "bearer"
    else:
        token = request.cookies.get(cookies.access_cookie_name(platform.settings)) or ""
        method = "cookie"
        if not token:
            raise NotAuthenticated("Sign in first.")
    try:
        claims = access_tokens(platform).verify(token)
    except InvalidToken as error:
        raise NotAuthenticated(error.detail, code=error.code) from None

    now = datetime.now(UTC)
    row = await SessionRepository(session).with_user(claims.session_id, claims.user_id)
    if row is None:
        raise NotAuthenticated("This session has ended. Sign in again.")
    auth_session, user = row
    if auth_session.revoked_at is not None or auth_session.expires_at <= now or not user.is_active:
        raise NotAuthenticated("This session has ended. Sign in again.")

    if method == "cookie" and request.method not in SAFE_METHODS:
        _check_csrf(request, platform, auth_session.id)

    is_admin = user.platform_role == PlatformRole.admin.value
    access = await access_in(
        session, user.id, requested_client, extra_role="admin" if is_admin else None
    )
    if access is None:
        raise NotFound("No such client.")
    client_id = access.client_id
    permissions = access.permissions
    await count_api_request(request, platform, client_id, access.api_requests_per_hour)
    return Principal(
        user=UserInfo.of(user),
        client_id=client_id,
        role=access.role,
        permissions=permissions,
        method=method,
        session_id=auth_session.id,
    )


async def _from_api_key(
    request: Request,
    platform: Platform,
    session: AsyncSession,
    response: Response,
    raw_key: str,
    requested_client: uuid.UUID | None,
) -> Principal:
    # The checksum is checked before any lookup: junk costs no database round trip.
    if not api_key_is_well_formed(raw_key):
        raise NotAuthenticated("This API key is not valid.", code="invalid_api_key")
    now = datetime.now(UTC)
    row = await ApiKeyRepository(session).with_user(sha256(raw_key))
    if row is None:
        raise NotAuthenticated("This API key is not valid.", code="invalid_api_key")
    key, user = row
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        raise NotAuthenticated("This API key is revoked or expired.", code="invalid_api_key")
    if not user.is_active:
        raise NotAuthenticated("This API key is not valid.", code="invalid_api_key")
    if requested_client is not None and requested_client != key.client_id:
        raise NotFound("No such client.")
    # A key speaks for its creator in its client: when they leave the client, it dies.
    access = await access_in(session, user.id, key.client_id)
    if access is None:
        raise NotAuthenticated(
            "This API key's owner is no longer a member.", code="invalid_api_key"
        )

    limit = await platform.limiter.hit(f"{key.rate_limit_per_hour}/hour", "api-key", str(key.id))
    for name, value in limit.headers.items():
        response.headers[name] = value
    if not limit.allowed:
        raise RateLimited(
            "This API key has used its hourly requests.",
            retry_after=limit.reset_after,
            headers=dict(limit.headers),
        )
    # Counted in a buffer that a job writes every minute: authentication only reads.
    await platform.key_uses.record({"key_id": str(key.id), "at": now.isoformat()})
    await count_api_request(request, platform, key.client_id, access.api_requests_per_hour)
    permissions = access.permissions
    if key.scopes:
        permissions &= frozenset(key.scopes)
    return Principal(
        user=UserInfo.of(user),
        client_id=key.client_id,
        role=access.role,
        permissions=permissions,
        method="api_key",
        api_key=ApiKeyInfo(id=key.id, client_id=key.client_id, scopes=tuple(key.scopes)),
    )


async def count_api_request(
    request: Request, platform: Platform, client_id: uuid.UUID, limit: int | None
) -> None:
    """Every API request counts against the client's plan (API requests per hour)."""
    if limit is None or not request.url.path.startswith(("/api/", "/upload")):
        return
    now = datetime.now(UTC)
    allowed, _ = await platform.counters.incr_within(
        f"api:{client_id}:{now:%Y%m%d%H}", 1, limit=limit, ttl=3700
    )
    if not allowed:
        next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        raise QuotaExceeded(
            f"The plan allows {limit} API requests an hour.",
            headers={"Retry-After": str(int((next_hour - now).total_seconds()) + 1)},
            extra={"quota": "api_requests_per_hour", "limit": limit},
        )


def _check_csrf(request: Request, platform: Platform, session_id: uuid.UUID) -> None:
    header = request.headers.get("x-csrf-token", "")
    cookie = request.cookies.get(cookies.csrf_cookie_name(platform.settings), "")
    if not header or not hmac.compare_digest(header, cookie):
        raise Forbidden("Missing or wrong CSRF token.", code="csrf_failed")
    if not cookies.csrf_token_valid(platform.settings, session_id, header):
        raise Forbidden("Missing or wrong CSRF token.", code="csrf_failed")


# Typed dependencies for endpoints -------------------------------------------------------

Authenticated = Annotated[Principal, Depends(Authenticator())]
UserOnly = Annotated[Principal, Depends(Authenticator(allow_api_key=False))]
PlatformAdmin = Annotated[Principal, Depends(Authenticator("platform:admin", allow_api_key=False))]


ManageKeys = Annotated[Principal, Depends(Authenticator("api_keys:manage"))]
