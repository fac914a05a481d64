"""Asking for credits: owners ask, the admins are emailed and grant or decline from a page;
one open request per workspace (by the database), a grant lands once whatever retries."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy.exc import IntegrityError

from studioflow.billing import credits
from studioflow.demo import create_admin
from studioflow.models import CreditRequest
from studioflow.platform.runtime import Platform
from studioflow.settings import Settings
from tests.factories import admin_client, create_account
from tests.identity.helpers import Account, sign_in, wait_for_mail

ADMIN_PASSWORD = "a boss passphrase 42"


@pytest.fixture
async def owner(client: httpx.AsyncClient, platform: Platform) -> Account:
    return await create_account(client, platform, "asker@example.com")


@pytest.fixture
async def admin(client: httpx.AsyncClient, platform: Platform) -> Account:
    async with platform.db.transaction() as session:
        await create_admin(
            session,
            email="boss@example.com",
            password_hash=await platform.passwords.hash(ADMIN_PASSWORD),
        )
    return await sign_in(client, "boss@example.com", ADMIN_PASSWORD)


async def balance_of(platform: Platform, client_id: str) -> int:
    async with platform.db.sessionmaker() as session:
        return await credits.balance(platform.db, session, uuid.UUID(client_id))


async def test_ask_grant_once_and_answers_stick(
    client: httpx.AsyncClient, platform: Platform, owner: Account, admin: Account
) -> None:
    asked = await client.post(
        "/api/v1/credits/requests",
        json={"amount": 40, "note": "Spring campaign"},
        headers=owner.headers,
    )
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert request["status"] == "open" and request["amount"] == 40
    mail = await wait_for_mail(platform, "boss@example.com", subject="asks for 40 credits")
    assert "/admin/credits" in mail.as_string()

    again = await client.post("/api/v1/credits/requests", json={"amount": 5}, headers=owner.headers)
    assert again.status_code == 409 and again.json()["code"] == "request_open"

    # The owner cannot answer their own request; the admins' list names the workspace.
    refused = await client.post(
        f"/api/v1/admin/credit-requests/{request['id']}/grant", json={}, headers=owner.headers
    )
    assert refused.status_code in (403, 404)
    listed = await client.get("/api/v1/admin/credit-requests?status=open", headers=admin.headers)
    items = listed.json()["items"]
    assert [r["id"] for r in items] == [request["id"]] and items[0]["client_name"]
    bad = await client.get("/api/v1/admin/credit-requests?status=maybe", headers=admin.headers)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_status"

    before = await balance_of(platform, owner.client_id)
    grant = f"/api/v1/admin/credit-requests/{request['id']}/grant"
    first = await client.post(grant, json={"amount": 30, "answer": "Enjoy"}, headers=admin.headers)
    retried = await client.post(grant, json={"amount": 30}, headers=admin.headers)
    assert first.status_code == 200 and retried.status_code == 200, (first.text, retried.text)
    assert first.json()["granted"] == 30
    assert await balance_of(platform, owner.client_id) == before + 30  # once, not twice
    declined = await client.post(
        f"/api/v1/admin/credit-requests/{request['id']}/decline", json={}, headers=admin.headers
    )
    assert declined.status_code == 409 and declined.json()["code"] == "request_answered"

    mine = await client.get("/api/v1/credits/requests", headers=owner.headers)
    assert [(r["status"], r["granted"], r["answer"]) for r in mine.json()["items"]] == [
        ("granted", 30, "Enjoy")
    ]
    # Answered: the workspace may ask again, and a decline adds nothing.
    second = await client.post(
        "/api/v1/credits/requests", json={"amount": 7}, headers=owner.headers
    )
    assert second.status_code == 201
    no = await client.post(
        f"/api/v1/admin/credit-requests/{second.json()['id']}/decline",
        json={"answer": "Not this month"},
        headers=admin.headers,
    )
    assert no.status_code == 200 and no.json()["status"] == "declined"
    assert await balance_of(platform, owner.client_id) == before + 30
    missing = await client.post(
        f"/api/v1/admin/credit-requests/{uuid.uuid4()}/grant", json={}, headers=admin.headers
    )
    assert missing.status_code == 404


async def test_collaborators_cannot_ask(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    team = await client.post("/api/v1/clients", json={"name": "Harbor"}, headers=owner.headers)
    team_id = team.json()["id"]
    mate = await create_account(client, platform, "mate@example.com")
    invited = await client.post(
        f"/api/v1/clients/{team_id}/members",
        json={"email": "mate@example.com", "role": "collaborator"},
        headers={**owner.headers, "X-Client-Id": team_id},
    )
    assert invited.status_code in (201, 202), invited.text
    async with platform.db.transaction() as session:
        from studioflow.models import Membership

        session.add(
            Membership(
                client_id=uuid.UUID(team_id), user_id=uuid.UUID(mate.user_id), role="collaborator"
            )
        )
    asked = await client.post(
        "/api/v1/credits/requests",
        json={"amount": 5},
        headers={**mate.headers, "X-Client-Id": team_id},
    )
    assert asked.status_code == 403


async def test_the_database_keeps_one_open_request_per_workspace(
    platform: Platform, owner: Account
) -> None:
    client_id = uuid.UUID(owner.client_id)
    async with platform.db.transaction() as session:
        session.add(CreditRequest(client_id=client_id, amount=5))
    with pytest.raises(IntegrityError):
        async with platform.db.transaction() as session:
            session.add(CreditRequest(client_id=client_id, amount=6))
    # An answered one does not count.
    async with platform.db.transaction() as session:
        session.add(CreditRequest(client_id=client_id, amount=7, status="granted", granted=7))
    with pytest.raises(IntegrityError):
        async with platform.db.transaction() as session:
            session.add(CreditRequest(client_id=client_id, amount=0))


async def test_pages_ask_and_answer(
    client: httpx.AsyncClient, platform: Platform, owner: Account, admin: Account
) -> None:
    cookies = await client.post(
        "/api/v1/auth/login",
        json={"identifier": "asker@example.com", "password": owner.password},
    )
    assert cookies.status_code == 200
    page = await client.get("/credits")
    assert "Ask the platform admins" in page.text
    assert (await client.get("/admin/credits")).status_code == 404  # not an admin
    csrf = client.cookies.get("csrf_token") or client.cookies.get("__Host-csrf_token")
    asked = await client.post(
        "/api/v1/credits/requests", json={"amount": 12}, headers={"X-CSRF-Token": csrf or ""}
    )
    assert asked.status_code == 201, asked.text
    assert "have not answered yet" in (await client.get("/credits")).text
    client.cookies.clear()

    await client.post(
        "/api/v1/auth/login", json={"identifier": "boss@example.com", "password": ADMIN_PASSWORD}
    )
    console = await client.get("/admin/credits")
    assert console.status_code == 200 and "asks for 12 credits" in console.text
    bell = await client.get("/notifications")
    assert "1 credit request from workspaces" in bell.text
    assert 'class="count-badge" aria-hidden="true">1<' in bell.text
    client.cookies.clear()


async def test_racing_asks_and_grants_on_a_real_database(
    committed: tuple[Settings, Platform],
) -> None:
    """Eight asks at once open one request; eight grants at once add its credits once."""
    settings, platform = committed
    async with admin_client(settings, platform, "race-boss@example.com") as (client, headers):
        asks = await asyncio.gather(
            *(
                client.post("/api/v1/credits/requests", json={"amount": 9}, headers=headers)
                for _ in range(8)
            )
        )
        assert sorted(r.status_code for r in asks) == [201] + [409] * 7, [r.text for r in asks]
        opened = next(r.json() for r in asks if r.status_code == 201)
        client_id = opened["client_id"]
        before = await balance_of(platform, client_id)
        grant = f"/api/v1/admin/credit-requests/{opened['id']}/grant"
        grants = await asyncio.gather(
            *(client.post(grant, json={}, headers=headers) for _ in range(8))
        )
    assert {r.status_code for r in grants} <= {200, 409}, [r.text for r in grants]
    assert await balance_of(platform, client_id) == before + 9


async def test_a_grant_and_a_decline_racing_cannot_both_stand(
    committed: tuple[Settings, Platform],
) -> None:
    """Four grants and four declines at once: one answer wins, the others are retries of it
    (200) or 409, and the balance agrees with the answer that stands."""
    settings, platform = committed
    async with admin_client(settings, platform, "race-answer@example.com") as (client, headers):
        asked = await client.post("/api/v1/credits/requests", json={"amount": 6}, headers=headers)
        opened = asked.json()
        before = await balance_of(platform, opened["client_id"])
        base = f"/api/v1/admin/credit-requests/{opened['id']}"
        answers = await asyncio.gather(
            *(
                client.post(f"{base}/{'grant' if n % 2 else 'decline'}", json={}, headers=headers)
                for n in range(8)
            )
        )
        final = (await client.get("/api/v1/credits/requests", headers=headers)).json()["items"][0]
    assert {r.status_code for r in answers} <= {200, 409}, [r.text for r in answers]
    winners = {r.json()["status"] for r in answers if r.status_code == 200}
    assert winners == {final["status"]}
    after = await balance_of(platform, opened["client_id"])
    assert after == before + (6 if final["status"] == "granted" else 0)
