"""Credits: sign-up credits, an idempotent ledger, no negative balance, races for the last credit."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from studioflow.billing import credits
from studioflow.models import CreditAccount
from studioflow.platform.errors import InsufficientCredits
from studioflow.platform.runtime import Platform
from studioflow.settings import Settings
from tests.factories import create_account
from tests.identity.helpers import Account, sign_in


@pytest.fixture
async def owner(client: httpx.AsyncClient, platform: Platform) -> Account:
    return await create_account(client, platform, "credits@example.com")


async def check_invariant(platform: Platform, client_id: uuid.UUID) -> None:
    async with platform.db.sessionmaker() as session:
        account = await session.get(CreditAccount, client_id)
        assert account is not None
        assert account.balance == await credits.ledger_sum(session, client_id)


async def test_signup_credits_and_the_ledger(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    body = (await client.get("/api/v1/credits", headers=owner.headers)).json()
    assert body["balance"] == 3
    assert [(e["delta"], e["reason"]) for e in body["events"]] == [(3, "signup")]
    await check_invariant(platform, uuid.UUID(owner.client_id))


async def test_debits_refunds_and_idempotency(platform: Platform, owner: Account) -> None:
    client_id = uuid.UUID(owner.client_id)
    async with platform.db.transaction() as session:
        await credits.ensure_account(session, client_id)
        first = await credits.apply(session, client_id, -2, reason="reserve", key="exec-1:reserve")
        again = await credits.apply(session, client_id, -2, reason="reserve", key="exec-1:reserve")
        assert again.id == first.id and first.balance_after == 1
        with pytest.raises(InsufficientCredits):
            await credits.apply(session, client_id, -2, reason="reserve", key="exec-2:reserve")
        await credits.apply(session, client_id, 1, reason="refund", key="exec-1:item-3:refund")
        await credits.apply(session, client_id, 1, reason="refund", key="exec-1:item-3:refund")
        assert await credits.balance(platform.db, session, client_id) == 2
    await check_invariant(platform, client_id)


async def test_the_database_refuses_a_negative_balance(platform: Platform, owner: Account) -> None:
    client_id = uuid.UUID(owner.client_id)
    async with platform.db.transaction() as session:
        await credits.ensure_account(session, client_id)
    with pytest.raises(IntegrityError):
        async with platform.db.transaction() as session:
            await session.execute(
                update(CreditAccount).where(CreditAccount.client_id == client_id).values(balance=-1)
            )


async def test_insufficient_credits_is_402(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    from studioflow.demo import create_admin

    async with platform.db.transaction() as session:
        await create_admin(
            session,
            email="banker@example.com",
            password_hash=await platform.passwords.hash("a banker passphrase"),
        )
    admin = await sign_in(client, "banker@example.com", "a banker passphrase")
    take = await client.post(
        f"/api/v1/admin/clients/{owner.client_id}/credits",
        json={"amount": -5},
        headers=admin.headers,
    )
    assert take.status_code == 402 and take.json()["code"] == "insufficient_credits"
    grant = {"amount": 10, "reason": "welcome"}
    first = await client.post(
        f"/api/v1/admin/clients/{owner.client_id}/credits",
        json=grant,
        headers={**admin.headers, "Idempotency-Key": "grant-1"},
    )
    retry = await client.post(
        f"/api/v1/admin/clients/{owner.client_id}/credits",
        json=grant,
        headers={**admin.headers, "Idempotency-Key": "grant-1"},
    )
    assert first.json()["balance"] == retry.json()["balance"] == 13
    assert (
        await client.post(
            f"/api/v1/admin/clients/{owner.client_id}/credits", json=grant, headers=owner.headers
        )
    ).status_code == 403
    # Amounts past what the column holds are refused up front, and a balance stops at its
    # ceiling with a clear answer on both backends (PostgreSQL overflowed into a 500).
    huge = await client.post(
        f"/api/v1/admin/clients/{owner.client_id}/credits",
        json={"amount": -122971454360629886976},
        headers=admin.headers,
    )
    assert huge.status_code == 422 and huge.json()["code"] == "validation_error"
    statuses = [
        (
            await client.post(
                f"/api/v1/admin/clients/{owner.client_id}/credits",
                json={"amount": 1_000_000_000},
                headers=admin.headers,
            )
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 422]
    balance = (await client.get("/api/v1/credits", headers=owner.headers)).json()["balance"]
    assert balance == 2_000_000_013
    await check_invariant(platform, uuid.UUID(owner.client_id))


async def test_two_debits_racing_for_the_last_credit(committed: tuple[Settings, Platform]) -> None:
    _, platform = committed
    from studioflow.demo import create_admin

    async with platform.db.transaction() as session:
        user = await create_admin(
            session,
            email="race-credit@example.com",
            password_hash=await platform.passwords.hash("a racing passphrase"),
        )
    async with platform.db.sessionmaker() as session:
        from studioflow.models import Client

        client_id = await session.scalar(
            select(Client.id).where(Client.personal_owner_id == user.id)
        )
    assert client_id is not None
    async with platform.db.transaction() as session:
        await credits.ensure_account(session, client_id)
        await credits.apply(session, client_id, -2, reason="reserve", key="setup")  # leaves 1

    async def debit(n: int) -> bool:
        try:
            async with platform.db.transaction() as session:
                await credits.apply(session, client_id, -1, reason="reserve", key=f"racer-{n}")
            return True
        except InsufficientCredits:
            return False

    outcomes = await asyncio.gather(*(debit(n) for n in range(6)))
    assert sum(outcomes) == 1
    await check_invariant(platform, client_id)
    async with platform.db.sessionmaker() as session:
        assert await credits.balance(platform.db, session, client_id) == 0


async def test_credits_page(client: httpx.AsyncClient, owner: Account) -> None:
    login = await client.post(
        "/api/v1/auth/login", json={"identifier": "credits@example.com", "password": owner.password}
    )
    assert login.status_code == 200
    page = await client.get("/credits")
    assert (
        page.status_code == 200
        and "<strong data-balance>3</strong>" in page.text
        and "signup" in page.text
    )
    client.cookies.clear()
