"""API keys: format and checksum, shown once, scopes, limits, expiry and revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import event, select

from studioflow.identity import api_keys
from studioflow.identity.tokens import api_key_is_well_formed, new_api_key, sha256
from studioflow.models import ApiKey
from studioflow.platform.runtime import Platform
from tests.identity.helpers import Account, sign_up


@pytest.fixture
async def account(client: httpx.AsyncClient, platform: Platform) -> Account:
    return await sign_up(client, platform, "keys@example.com")


async def create(client: httpx.AsyncClient, account: Account, **body: object) -> httpx.Response:
    return await client.post(
        "/api/v1/api-keys", json={"key_name": "ci", **body}, headers=account.headers
    )


def test_key_format_carries_a_checksum() -> None:
    key = new_api_key()
    assert key.startswith("sf_") and len(key) == 58 and api_key_is_well_formed(key)
    flipped = key[:10] + ("a" if key[10] != "a" else "b") + key[11:]
    assert not api_key_is_well_formed(flipped)
    assert not api_key_is_well_formed("sf_short") and not api_key_is_well_formed("xx" + key[2:])


async def test_created_once_stored_as_hash_and_usable(
    client: httpx.AsyncClient, platform: Platform, account: Account
) -> None:
    created = await create(client, account)
    assert created.status_code == 201
    body = created.json()
    secret = body["api_key"]
    assert api_key_is_well_formed(secret) and body["prefix"] == secret[:11]
    listed = (await client.get("/api/v1/api-keys", headers=account.headers)).json()["items"]
    assert len(listed) == 1 and "api_key" not in listed[0]
    async with platform.db.sessionmaker() as session:
        stored = await session.scalar(select(ApiKey))
    assert (
        stored is not None
        and stored.key_hash == sha256(secret)
        and secret not in str(stored.__dict__)
    )
    me = await client.get("/api/v1/auth/me", headers={"X-API-Key": secret})
    assert me.status_code == 200 and me.json()["auth_method"] == "api_key"
    assert me.json()["active_client_id"] == account.client_id
    # Uses are buffered (authentication only reads) and written by a job every minute.
    before = (await client.get("/api/v1/api-keys", headers=account.headers)).json()["items"][0]
    assert before["requests_count"] == 0
    assert await api_keys.flush_uses(platform) == 1
    again = (await client.get("/api/v1/api-keys", headers=account.headers)).json()["items"][0]
    assert again["requests_count"] == 1 and again["last_used_at"] is not None
    assert await api_keys.flush_uses(platform) == 0  # written once


async def test_bad_checksum_is_refused_before_any_lookup(
    client: httpx.AsyncClient, platform: Platform, account: Account
) -> None:
    secret = (await create(client, account)).json()["api_key"]
    tampered = secret[:-1] + ("a" if secret[-1] != "a" else "b")
    statements: list[str] = []

    def remember(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = platform.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", remember)
    try:
        response = await client.get("/api/v1/auth/me", headers={"X-API-Key": tampered})
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    assert response.status_code == 401 and response.json()["code"] == "invalid_api_key"
    assert not any("api_keys" in s for s in statements)


async def test_revoked_keys_fail_at_once(client: httpx.AsyncClient, account: Account) -> None:
    body = (await create(client, account)).json()
    headers = {"X-API-Key": body["api_key"]}
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 200
    assert (
        await client.delete(f"/api/v1/api-keys/{body['id']}", headers=account.headers)
    ).status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401


async def test_expired_keys_fail(
    client: httpx.AsyncClient, platform: Platform, account: Account
) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    body = (await create(client, account, expires_at=soon.isoformat())).json()
    async with platform.db.transaction() as session:
        key = await session.get(ApiKey, __import__("uuid").UUID(body["id"]))
        assert key is not None
        key.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert (
        await client.get("/api/v1/auth/me", headers={"X-API-Key": body["api_key"]})
    ).status_code == 401
    past = await create(client, account, expires_at="2020-01-01T00:00:00+00:00")
    assert past.status_code == 422


async def test_scopes_only_narrow(client: httpx.AsyncClient, account: Account) -> None:
    narrow = (await create(client, account, scopes=["clients:read"])).json()
    me = (await client.get("/api/v1/auth/me", headers={"X-API-Key": narrow["api_key"]})).json()
    assert me["permissions"] == ["clients:read"]
    # The key may not manage keys, as its scopes do not include it.
    listed = await client.get("/api/v1/api-keys", headers={"X-API-Key": narrow["api_key"]})
    assert listed.status_code == 403
    escalate = await create(client, account, scopes=["platform:admin"])
    assert escalate.status_code == 403 and escalate.json()["code"] == "scope_escalation"
    unknown = await create(client, account, scopes=["images:read", "everything"])
    assert unknown.status_code == 403


async def test_keys_cannot_mint_keys(client: httpx.AsyncClient, account: Account) -> None:
    full = (await create(client, account)).json()
    minted = await client.post(
        "/api/v1/api-keys", json={"key_name": "child"}, headers={"X-API-Key": full["api_key"]}
    )
    assert minted.status_code == 403


async def test_hourly_limit_per_key(client: httpx.AsyncClient, account: Account) -> None:
    body = (await create(client, account, rate_limit_per_hour=2)).json()
    headers = {"X-API-Key": body["api_key"]}
    first = await client.get("/api/v1/auth/me", headers=headers)
    assert first.headers["ratelimit-limit"] == "2" and first.headers["ratelimit-remaining"] == "1"
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 200
    third = await client.get("/api/v1/auth/me", headers=headers)
    assert third.status_code == 429 and third.json()["code"] == "rate_limited"
    assert int(third.headers["retry-after"]) > 0
    over_plan = await create(client, account, rate_limit_per_hour=1_000_000)
    assert over_plan.status_code == 403


async def test_keys_of_another_client_answer_404(
    client: httpx.AsyncClient, platform: Platform, account: Account
) -> None:
    key = (await create(client, account)).json()
    other = await sign_up(client, platform, "other-keys@example.com")
    assert (
        await client.delete(f"/api/v1/api-keys/{key['id']}", headers=other.headers)
    ).status_code == 404
    # A key is bound to its client: naming another client is 404.
    response = await client.get(
        "/api/v1/auth/me", headers={"X-API-Key": key["api_key"], "X-Client-Id": other.client_id}
    )
    assert response.status_code == 404
