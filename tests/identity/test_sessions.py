"""Access and refresh tokens, cookies and CSRF, forged tokens, account and sessions."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from sqlalchemy import update

from studioflow.identity.tokens import AUDIENCE, AccessTokens, InvalidToken
from studioflow.models import AuthSession, RefreshToken
from studioflow.platform.runtime import Platform
from studioflow.platform.security import derive_key
from tests.identity.helpers import Account, sign_in, sign_up


@pytest.fixture
async def account(client: httpx.AsyncClient, platform: Platform) -> Account:
    return await sign_up(client, platform, "tokens@example.com", username="tokens")


def forge(
    platform: Platform,
    account: Account,
    *,
    key: bytes | None = None,
    headers: dict | None = None,
    **claims: object,
) -> str:  # type: ignore[type-arg]
    now = datetime.now(UTC)
    body = {
        "iss": platform.settings.base_url,
        "aud": AUDIENCE,
        "sub": account.user_id,
        "sid": jwt.decode(account.access_token, options={"verify_signature": False})["sid"],
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "typ": "access",
    }
    body.update(claims)
    return jwt.encode(
        {k: v for k, v in body.items() if v is not None},
        key or derive_key(platform.settings.secret, "jwt-access"),
        algorithm="HS256",
        headers=headers,
    )


async def me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


async def test_access_token_shape(account: Account, platform: Platform) -> None:
    header = jwt.get_unverified_header(account.access_token)
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    assert header["alg"] == "HS256" and "kid" not in header
    assert claims["aud"] == AUDIENCE and claims["iss"] == platform.settings.base_url
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert uuid.UUID(claims["sid"]) and claims["sub"] == account.user_id


async def test_a_well_forged_token_with_our_key_works(
    client: httpx.AsyncClient, platform: Platform, account: Account
) -> None:
    # The control for the attacks below: the forge itself is right.
    assert (await me(client, forge(platform, account))).status_code == 200


@pytest.mark.parametrize(
    ("case", "changes"),
    [
        ("wrong key", {"key": b"k" * 32}),
        ("wrong audience", {"aud": "someone-else"}),
        ("wrong issuer", {"iss": "https://evil.example"}),
        ("no session id", {"sid": None}),
        ("not an access token", {"typ": "refresh"}),
        ("key id header", {"headers": {"kid": "../../etc/passwd"}}),
        ("key url header", {"headers": {"jku": "https://evil.example/jwks.json"}}),
        ("unknown session", {"sid": str(uuid.uuid4())}),
        ("another user's session", {"sub": str(uuid.uuid4())}),
    ],
)
async def test_forged_tokens_are_refused(
    client: httpx.AsyncClient,
    platform: Platform,
    account: Account,
    case: str,
    changes: dict,  # type: ignore[type-arg]
) -> None:
    response = await me(client, forge(platform, account, **changes))
    assert response.status_code == 401, case
    assert response.json()["code"] == "not_authenticated"


async def test_expired_token(
    client: httpx.AsyncClient, platform: Platform, account: Account
) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    response = await me(client, forge(platform, account, exp=int(past.timestamp())))
    assert response.status_code == 401 and response.json()["code"] == "token_expired"


async def test_a_verified_token_still_expires_and_only_its_exact_text_is_remembered(
    platform: Platform, account: Account
) -> None:
    tokens = AccessTokens(platform.settings.secret, platform.settings.base_url)
    claims = tokens.verify(account.access_token)  # verified, then remembered
    assert tokens.verify(account.access_token) == claims
    with pytest.raises(InvalidToken) as expired:
        tokens.verify(account.access_token, now=claims.expires_at)
    assert expired.value.code == "token_expired"
    # A remembered token does not vouch for a token that differs from it in one character.
    head, body, signature = account.access_token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for tampered in (f"{head}.{body}.{flipped}", account.access_token + "x"):
        with pytest.raises(InvalidToken):
            tokens.verify(tampered)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_alg_none_and_other_algorithms_are_refused(
    client: httpx.AsyncClient, platform: Platform, account: Account
) -> None:
    claims = jwt.decode(account.access_token, options={"verify_signature": False})

    def segment(data: dict) -> str:  # type: ignore[type-arg]
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    unsigned = f"{segment({'alg': 'none', 'typ': 'JWT'})}.{segment(claims)}."
    assert (await me(client, unsigned)).status_code == 401
    hs512 = jwt.encode(
        claims, derive_key(platform.settings.secret, "jwt-access"), algorithm="HS512"
    )
    assert (await me(client, hs512)).status_code == 401


async def test_refresh_token_is_not_an_access_token(
    client: httpx.AsyncClient, account: Account
) -> None:
    assert (await me(client, account.refresh_token)).status_code == 401


async def test_tokens_in_the_query_string_are_ignored(
    client: httpx.AsyncClient, account: Account
) -> None:
    for name in ("access_token", "token", "api_key"):
        response = await client.get(f"/api/v1/auth/me?{name}={account.access_token}")
        assert response.status_code == 401


async def test_refresh_rotates_and_reuse_revokes_the_family(
    client: httpx.AsyncClient, platform: Platform, account: Account
) -> None:
    first = await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != account.refresh_token
    assert rotated["expires_in"] > 800
    # A parallel refresh with the same token inside the grace period also succeeds.
    parallel = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}
    )
    assert parallel.status_code == 200
    # Later, the spent token is theft: the whole session family dies.
    async with platform.db.transaction() as session:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.rotated_at.is_not(None))
            .values(rotated_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    reused = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}
    )
    assert reused.status_code == 401 and reused.json()["code"] == "refresh_token_reused"
    assert (await me(client, rotated["access_token"])).status_code == 401
    newest = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert newest.status_code == 401
    # Other sessions of the user are untouched.
    other = await sign_in(client, "tokens")
    assert (await me(client, other.access_token)).status_code == 200


async def test_refresh_needs_a_live_session(
    client: httpx.AsyncClient, platform: Platform, account: Account
) -> None:
    async with platform.db.transaction() as session:
        await session.execute(
            update(AuthSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert (
        await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    ).status_code == 401
    assert (
        await client.post("/api/v1/auth/refresh", json={"refresh_token": "made-up"})
    ).status_code == 401
    assert (await client.post("/api/v1/auth/refresh", json={})).status_code == 401


async def test_logout_and_logout_all(client: httpx.AsyncClient, account: Account) -> None:
    second = await sign_in(client, "tokens")
    assert (await client.post("/api/v1/auth/logout", headers=account.headers)).status_code == 204
    assert (await me(client, account.access_token)).status_code == 401
    assert (await me(client, second.access_token)).status_code == 200
    third = await sign_in(client, "tokens")
    assert (await client.post("/api/v1/auth/logout-all", headers=third.headers)).status_code == 204
    assert (await me(client, second.access_token)).status_code == 401
    assert (await me(client, third.access_token)).status_code == 401


async def test_cookies_and_csrf(
    client: httpx.AsyncClient, platform: Platform, account: Account
) -> None:
    login = await client.post(
        "/api/v1/auth/login", json={"identifier": "tokens", "password": account.password}
    )
    set_cookies = login.headers.get_list("set-cookie")
    access = next(c for c in set_cookies if c.startswith("access_token="))
    refresh = next(c for c in set_cookies if c.startswith("refresh_token="))
    csrf = next(c for c in set_cookies if c.startswith("csrf_token="))
    assert "HttpOnly" in access and "SameSite=lax" in access and "Path=/" in access
    assert "HttpOnly" in refresh and "Path=/api/v1/auth" in refresh
    assert "HttpOnly" not in csrf
    assert (await client.get("/api/v1/auth/me")).status_code == 200  # safe method: no CSRF needed

    no_header = await client.put("/api/v1/account", json={"first_name": "X"})
    assert no_header.status_code == 403 and no_header.json()["code"] == "csrf_failed"
    token = client.cookies["csrf_token"]
    ok = await client.put(
        "/api/v1/account", json={"first_name": "X"}, headers={"X-CSRF-Token": token}
    )
    assert ok.status_code == 200
    # Cookie and header equal but not signed for this session (planted by an attacker).
    client.cookies.set("csrf_token", "planted.value")
    planted = await client.put(
        "/api/v1/account", json={"first_name": "Y"}, headers={"X-CSRF-Token": "planted.value"}
    )
    assert planted.status_code == 403
    # The refresh cookie alone rotates the session.
    refreshed = await client.post("/api/v1/auth/refresh")
    assert refreshed.status_code == 200
    client.cookies.clear()


async def test_secure_cookie_names_over_https(
    settings, platform: Platform, account: Account
) -> None:  # type: ignore[no-untyped-def]
    from studioflow.app import create_app, served

    secure = settings.model_copy(update={"base_url": "https://studio.example.com"})
    platform.settings = secure
    app = create_app(secure, platform=platform, run_worker=False, configure_logs=False)
    transport = httpx.ASGITransport(app=served(app))
    async with httpx.AsyncClient(
        transport=transport, base_url="https://studio.example.com"
    ) as https:
        login = await https.post(
            "/api/v1/auth/login", json={"identifier": "tokens", "password": account.password}
        )
    cookies = login.headers.get_list("set-cookie")
    assert any(c.startswith("__Host-access_token=") and "Secure" in c for c in cookies)
    assert any(c.startswith("__Secure-refresh_token=") and "Secure" in c for c in cookies)
    assert any(c.startswith("__Host-csrf_token=") for c in cookies)


async def test_account_profile_and_mass_assignment(
    client: httpx.AsyncClient, account: Account
) -> None:
    got = await client.get("/api/v1/account", headers=account.headers)
    assert got.json()["username"] == "tokens"
    put = await client.put(
        "/api/v1/account", json={"first_name": "Tok", "username": "tok_en"}, headers=account.headers
    )
    assert put.status_code == 200 and put.json()["username"] == "tok_en"
    for field, value in (
        ("platform_role", "admin"),
        ("email_verified", True),
        ("is_active", True),
        ("email", "x@y.com"),
    ):
        refused = await client.put("/api/v1/account", json={field: value}, headers=account.headers)
        assert refused.status_code == 422, field
    assert (await client.get("/api/v1/auth/me", headers=account.headers)).json()[
        "platform_role"
    ] == "user"


async def test_sessions_can_be_listed_and_revoked(
    client: httpx.AsyncClient, account: Account
) -> None:
    other = await sign_in(client, "tokens")
    listed = (await client.get("/api/v1/account/sessions", headers=account.headers)).json()["items"]
    assert len(listed) == 2 and sum(s["current"] for s in listed) == 1
    target = next(s for s in listed if not s["current"])
    assert (
        await client.delete(f"/api/v1/account/sessions/{target['id']}", headers=account.headers)
    ).status_code == 204
    assert (await me(client, other.access_token)).status_code == 401
    missing = await client.delete(
        f"/api/v1/account/sessions/{uuid.uuid4()}", headers=account.headers
    )
    assert missing.status_code == 404


async def test_deletion_grace_period(client: httpx.AsyncClient, account: Account) -> None:
    scheduled = await client.post("/api/v1/account/delete-request", headers=account.headers)
    assert scheduled.status_code == 200
    when = datetime.fromisoformat(scheduled.json()["delete_after"])
    assert timedelta(days=6, hours=23) < when - datetime.now(UTC) <= timedelta(days=7)
    # Signing in still works, and says how long is left.
    again = await client.post(
        "/api/v1/auth/login", json={"identifier": "tokens", "password": account.password}
    )
    assert again.json()["user"]["delete_after"] is not None
    cancelled = await client.post("/api/v1/account/delete-cancel", headers=account.headers)
    assert cancelled.json() == {"status": "active", "delete_after": None}


async def test_user_profile_with_storage_used(
    client: httpx.AsyncClient, platform: Platform, account: Account
) -> None:
    from studioflow.identity.lifecycle import client_prefix

    await platform.storage.put(client_prefix(uuid.UUID(account.client_id)) + "a.bin", b"x" * 1234)
    profile = (await client.get("/api/v1/user/profile", headers=account.headers)).json()
    assert profile["stats"]["storage_used"] == 1234
    patched = await client.patch(
        "/api/v1/user/profile", json={"last_name": "Kenobi"}, headers=account.headers
    )
    assert (
        patched.json()["user"]["last_name"] == "Kenobi"
        and patched.json()["user"]["username"] == "tokens"
    )
    assert (
        await client.patch(
            "/api/v1/user/profile", json={"platform_role": "admin"}, headers=account.headers
        )
    ).status_code == 422
    # Text no database can store alike (PostgreSQL refused a NUL with a 500) is a 422 on both
    # backends, at the request model; a lone surrogate too, and in a nested value.
    for bad in ('{"first_name": "Ada\\u0000"}', '{"last_name": "\\ud988x"}'):
        refused = await client.patch(
            "/api/v1/user/profile",
            content=bad,  # JSON escapes as a client sends them; httpx would not encode these
            headers={**account.headers, "Content-Type": "application/json"},
        )
        assert refused.status_code == 422 and refused.json()["code"] == "validation_error"
    profile = (await client.get("/api/v1/user/profile", headers=account.headers)).json()
    assert profile["user"]["first_name"] != "Ada\u0000"
