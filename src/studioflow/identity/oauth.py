"""Sign-in with Google (OpenID Connect) and GitHub (OAuth 2) through Authlib.

The flow: state, PKCE (S256) and, for Google, a nonce are kept in a short-lived signed
cookie; the callback checks all three, exchanges the code, and reads the identity (a
verified ID token for Google, the API for GitHub). Identities are keyed by provider and
subject. An account with the same email is never linked silently: the user signs in to it
first and then connects the provider (the callback links when a session is present).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import authlib.deprecate  # noqa: F401  (sets its own warning filter; must come first)
import httpx
import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity import audit
from studioflow.identity.auth import UserInfo
from studioflow.identity.context import Context
from studioflow.identity.emails import InvalidEmail, canonical_email, normalise_email
from studioflow.identity.repository import UserRepository
from studioflow.identity.service import (
    SignIn,
    create_personal_client,
    start_session,
    user_by_email,
)
from studioflow.models import OAuthIdentity, User
from studioflow.platform.runtime import Platform
from studioflow.platform.security import derive_key

with warnings.catch_warnings():
    # Authlib prefers the httpx2 fork and warns when it falls back to httpx, which we use.
    warnings.simplefilter("ignore")
    from authlib.common.security import generate_token
    from authlib.integrations.httpx_client import AsyncOAuth2Client

FLOW_COOKIE = "oauth_flow"
FLOW_TTL_SECONDS = 600
PROVIDERS = ("google", "github")
_metadata_cache: dict[str, tuple[float, dict[str, Any]]] = {}


class OAuthFailed(Exception):
    """Anything that went wrong with the provider; the user is sent back to sign in."""


@dataclass(frozen=True)
class ProviderIdentity:
    provider: str
    subject: str
    email: str | None
    email_verified: bool


@dataclass(frozen=True)
class Outcome:
    sign_in: SignIn | None = None
    linked: bool = False
    link_required: bool = False
    signup_closed: bool = False


def configured(platform: Platform, provider: str) -> bool:
    settings = platform.settings
    if provider == "google":
        return bool(settings.google_client_id and settings.google_client_secret)
    if provider == "github":
        return bool(settings.github_client_id and settings.github_client_secret)
    return False


def redirect_uri(platform: Platform, provider: str) -> str:
    return f"{platform.settings.base_url}/api/v1/auth/{provider}/callback"


def _client(platform: Platform, provider: str) -> AsyncOAuth2Client:
    settings = platform.settings
    if provider == "google":
        client_id, secret, scope = (
            settings.google_client_id,
            settings.google_client_secret,
            "openid email profile",
        )
    else:
        client_id, secret, scope = (
            settings.github_client_id,
            settings.github_client_secret,
            "read:user user:email",
        )
    return AsyncOAuth2Client(
        client_id=client_id,
        client_secret=secret,
        scope=scope,
        redirect_uri=redirect_uri(platform, provider),
        code_challenge_method="S256",
        timeout=15.0,
    )


async def _google_metadata(platform: Platform) -> dict[str, Any]:
    url = platform.settings.google_metadata_url
    cached = _metadata_cache.get(url)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    async with httpx.AsyncClient(timeout=10.0) as http:
        response = await http.get(url)
    if response.status_code != 200:
        raise OAuthFailed(f"discovery answered {response.status_code}")
    metadata: dict[str, Any] = response.json()
    _metadata_cache[url] = (time.monotonic() + 3600, metadata)
    return metadata


# The flow cookie ---------------------------------------------------------------------------


def _sign(platform: Platform, payload: dict[str, Any]) -> str:
    body = (
        base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
        .decode()
        .rstrip("=")
    )
    mac = hmac.new(
        derive_key(platform.settings.secret, "oauth-flow"), body.encode(), hashlib.sha256
    ).hexdigest()
    return f"{body}.{mac}"


def _unsign(platform: Platform, value: str) -> dict[str, Any]:
    body, _, mac = value.partition(".")
    expected = hmac.new(
        derive_key(platform.settings.secret, "oauth-flow"), body.encode(), hashlib.sha256
    ).hexdigest()
    if not body or not hmac.compare_digest(expected, mac):
        raise OAuthFailed("the sign-in flow cookie is not ours")
    payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    if payload.get("exp", 0) < time.time():
        raise OAuthFailed("the sign-in flow expired")
    return payload


async def start(platform: Platform, provider: str) -> tuple[str, str]:
    """The provider's authorisation URL and the flow cookie to set."""
    state, verifier, nonce = generate_token(32), generate_token(64), generate_token(24)
    client = _client(platform, provider)
    if provider == "google":
        endpoint = (await _google_metadata(platform))["authorization_endpoint"]
        url, _ = client.create_authorization_url(
            endpoint, state=state, code_verifier=verifier, nonce=nonce
        )
    else:
        endpoint = f"{platform.settings.github_base_url}/login/oauth/authorize"
        url, _ = client.create_authorization_url(endpoint, state=state, code_verifier=verifier)
    flow = {
        "p": provider,
        "s": state,
        "v": verifier,
        "n": nonce,
        "exp": int(time.time()) + FLOW_TTL_SECONDS,
    }
    return url, _sign(platform, flow)


async def finish(
    platform: Platform, provider: str, *, code: str, state: str, flow_cookie: str
) -> ProviderIdentity:
    if not flow_cookie:
        raise OAuthFailed("no flow cookie (cookies blocked, or the flow started elsewhere)")
    flow = _unsign(platform, flow_cookie)
    if flow.get("p") != provider or not hmac.compare_digest(str(flow.get("s", "")), state):
        raise OAuthFailed("state mismatch")
    client = _client(platform, provider)
    try:
        if provider == "google":
            metadata = await _google_metadata(platform)
            token = await client.fetch_token(
                metadata["token_endpoint"], code=code, code_verifier=flow["v"]
            )
            return await _google_identity(platform, metadata, token, nonce=flow["n"])
        token = await client.fetch_token(
            f"{platform.settings.github_base_url}/login/oauth/access_token",
            code=code,
            code_verifier=flow["v"],
            headers={"Accept": "application/json"},
        )
        return await _github_identity(platform, token)
    except OAuthFailed:
        raise
    except Exception as error:  # the provider's errors come in many shapes; all mean "no"
        raise OAuthFailed(f"{type(error).__name__}: {error}") from None
    finally:
        await client.aclose()


async def _google_identity(
    platform: Platform, metadata: dict[str, Any], token: dict[str, Any], *, nonce: str
) -> ProviderIdentity:
    id_token = token.get("id_token")
    if not id_token:
        raise OAuthFailed("no ID token")
    async with httpx.AsyncClient(timeout=10.0) as http:
        jwks = (await http.get(metadata["jwks_uri"])).json()
    header = jwt.get_unverified_header(id_token)
    keys = jwt.PyJWKSet.from_dict(jwks)
    key = next((k for k in keys.keys if k.key_id == header.get("kid")), None)
    if key is None or header.get("alg") != "RS256":
        raise OAuthFailed("ID token signed by an unknown key")
    claims = jwt.decode(
        id_token,
        key.key,
        algorithms=["RS256"],
        audience=platform.settings.google_client_id,
        issuer=metadata["issuer"],
        options={"require": ["exp", "iat", "sub", "aud", "iss"]},
    )
    if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise OAuthFailed("nonce mismatch")
    return ProviderIdentity(
        provider="google",
        subject=str(claims["sub"]),
        email=claims.get("email"),
        email_verified=bool(claims.get("email_verified")),
    )


async def _github_identity(platform: Platform, token: dict[str, Any]) -> ProviderIdentity:
    headers = {
        "Authorization": f"Bearer {token['access_token']}",
        "Accept": "application/vnd.github+json",
    }
    api = platform.settings.github_api_url
    async with httpx.AsyncClient(timeout=10.0, headers=headers) as http:
        user = await http.get(f"{api}/user")
        if user.status_code != 200:
            raise OAuthFailed(f"GitHub /user answered {user.status_code}")
        emails = await http.get(f"{api}/user/emails")
    primary = next(
        (e for e in (emails.json() if emails.status_code == 200 else []) if e.get("primary")), None
    )
    return ProviderIdentity(
        provider="github",
        subject=str(user.json()["id"]),
        email=primary.get("email") if primary else None,
        email_verified=bool(primary and primary.get("verified")),
    )


async def complete(
    platform: Platform,
    session: AsyncSession,
    identity: ProviderIdentity,
    *,
    current_user: UserInfo | None,
    context: Context,
) -> Outcome:
    """Sign in by the identity, link it to the signed-in user, or create a new account."""
    method = f"oauth_{identity.provider}"
    users = UserRepository(session)
    existing = await users.by_identity(identity.provider, identity.subject)
    if existing is not None:
        user = await users.by_id(existing.user_id)
        if user is None or not user.is_active:
            raise OAuthFailed("the linked account is not active")
        return Outcome(
            sign_in=await start_session(platform, session, user, method=method, context=context)
        )
    if current_user is not None:
        session.add(
            OAuthIdentity(
                user_id=current_user.id,
                provider=identity.provider,
                subject=identity.subject,
                email=identity.email,
            )
        )
        await audit.by_user(
            session,
            "oauth.linked",
            current_user,
            context,
            provider=identity.provider,
        )
        await session.flush()
        return Outcome(linked=True)
    if not identity.email or not identity.email_verified:
        raise OAuthFailed("the provider did not give a verified email address")
    try:
        address = normalise_email(identity.email)
    except InvalidEmail:
        raise OAuthFailed("the provider's email address is not usable") from None
    if await user_by_email(session, address) is not None:
        return Outcome(link_required=True)
    site = await platform.site.get()
    if not site.signup_open:
        return Outcome(signup_closed=True)
    user = User(
        email=address,
        email_canonical=canonical_email(address),
        email_verified_at=datetime.now(UTC),
    )
    session.add(user)
    await session.flush()
    await create_personal_client(session, user, plan=site.default_plan)
    session.add(
        OAuthIdentity(
            user_id=user.id, provider=identity.provider, subject=identity.subject, email=address
        )
    )
    await audit.by_user(
        session,
        "user.registered",
        user,
        context,
        provider=identity.provider,
    )
    return Outcome(
        sign_in=await start_session(platform, session, user, method=method, context=context)
    )
