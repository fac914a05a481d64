"""Clients, members, invitations, roles and the activity timeline."""

from __future__ import annotations

import httpx
import pytest

from studioflow.platform.runtime import Platform
from tests.factories import create_account
from tests.identity.helpers import Account, sign_up, token_in, wait_for_mail


@pytest.fixture
async def owner(client: httpx.AsyncClient, platform: Platform) -> Account:
    return await create_account(client, platform, "owner@example.com", first_name="Olga")


@pytest.fixture
async def team(client: httpx.AsyncClient, owner: Account) -> str:
    response = await client.post(
        "/api/v1/clients", json={"name": "Acme Studio"}, headers=owner.headers
    )
    assert response.status_code == 201
    assert response.json()["role"] == "owner" and response.json()["personal"] is False
    return str(response.json()["id"])


async def join(
    client: httpx.AsyncClient,
    platform: Platform,
    owner: Account,
    team: str,
    address: str,
    role: str = "collaborator",
) -> Account:
    invited = await client.post(
        f"/api/v1/clients/{team}/members",
        json={"email": address, "role": role},
        headers=owner.headers,
    )
    assert invited.status_code == 201, invited.text
    token = token_in(await wait_for_mail(platform, address, subject="Join"))
    member = await create_account(client, platform, address)
    accepted = await client.post(
        "/api/v1/invitations/accept", json={"token": token}, headers=member.headers
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"client_id": team, "role": role}
    return member


def in_team(account: Account, team: str) -> dict[str, str]:
    return {**account.headers, "X-Client-Id": team}


async def test_clients_and_switching(client: httpx.AsyncClient, owner: Account, team: str) -> None:
    mine = (await client.get("/api/v1/clients", headers=owner.headers)).json()["items"]
    assert [c["personal"] for c in mine] == [True, False]
    me = (await client.get("/api/v1/auth/me", headers=in_team(owner, team))).json()
    assert me["active_client_id"] == team
    renamed = await client.patch(
        f"/api/v1/clients/{team}", json={"name": "Acme"}, headers=owner.headers
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Acme"
    assert (await client.get(f"/api/v1/clients/{team}", headers=owner.headers)).json()[
        "name"
    ] == "Acme"


async def test_invitation_flow_and_roles(
    client: httpx.AsyncClient, platform: Platform, owner: Account, team: str
) -> None:
    member = await join(client, platform, owner, team, "carol@example.com")
    members = (await client.get(f"/api/v1/clients/{team}/members", headers=owner.headers)).json()
    assert {m["email"]: m["role"] for m in members["items"]} == {
        "owner@example.com": "owner",
        "carol@example.com": "collaborator",
    }
    # A collaborator sees the members but cannot manage them, nor promote herself.
    assert (
        await client.get(f"/api/v1/clients/{team}/members", headers=member.headers)
    ).status_code == 200
    promote = await client.patch(
        f"/api/v1/clients/{team}/members/{member.user_id}",
        json={"role": "owner"},
        headers=member.headers,
    )
    assert promote.status_code == 403
    rename = await client.patch(
        f"/api/v1/clients/{team}", json={"name": "Mine now"}, headers=member.headers
    )
    assert rename.status_code == 403
    sneaky = await client.patch(
        f"/api/v1/clients/{team}", json={"plan": "enterprise"}, headers=owner.headers
    )
    assert sneaky.status_code == 422
    # The owner can.
    promoted = await client.patch(
        f"/api/v1/clients/{team}/members/{member.user_id}",
        json={"role": "owner"},
        headers=owner.headers,
    )
    assert promoted.status_code == 200 and promoted.json()["role"] == "owner"
    bad_role = await client.patch(
        f"/api/v1/clients/{team}/members/{member.user_id}",
        json={"role": "admin"},
        headers=owner.headers,
    )
    assert bad_role.status_code == 422


async def test_invitation_is_bound_to_its_address_and_single_use(
    client: httpx.AsyncClient, platform: Platform, owner: Account, team: str
) -> None:
    await client.post(
        f"/api/v1/clients/{team}/members", json={"email": "dave@example.com"}, headers=owner.headers
    )
    token = token_in(await wait_for_mail(platform, "dave@example.com", subject="Join"))
    eve = await create_account(client, platform, "eve@example.com")
    stolen = await client.post(
        "/api/v1/invitations/accept", json={"token": token}, headers=eve.headers
    )
    assert stolen.status_code == 403 and stolen.json()["code"] == "wrong_account"
    dave = await create_account(client, platform, "dave@example.com")
    assert (
        await client.post("/api/v1/invitations/accept", json={"token": token}, headers=dave.headers)
    ).status_code == 200
    again = await client.post(
        "/api/v1/invitations/accept", json={"token": token}, headers=dave.headers
    )
    assert again.status_code == 400
    duplicate = await client.post(
        f"/api/v1/clients/{team}/members", json={"email": "dave@example.com"}, headers=owner.headers
    )
    assert duplicate.status_code == 409


async def test_removed_member_loses_access_at_once(
    client: httpx.AsyncClient, platform: Platform, owner: Account, team: str
) -> None:
    member = await join(client, platform, owner, team, "frank@example.com")
    key = (
        await client.post(
            "/api/v1/api-keys", json={"key_name": "team"}, headers=in_team(member, team)
        )
    ).json()["api_key"]
    assert (await client.get("/api/v1/auth/me", headers=in_team(member, team))).status_code == 200
    assert (await client.get("/api/v1/auth/me", headers={"X-API-Key": key})).status_code == 200
    removed = await client.delete(
        f"/api/v1/clients/{team}/members/{member.user_id}", headers=owner.headers
    )
    assert removed.status_code == 204
    # The same, still valid, access token no longer reaches the team; the key is dead.
    assert (await client.get("/api/v1/auth/me", headers=in_team(member, team))).status_code == 404
    assert (await client.get("/api/v1/auth/me", headers={"X-API-Key": key})).status_code == 401
    assert (
        await client.get("/api/v1/auth/me", headers=member.headers)
    ).status_code == 200  # personal still fine


async def test_the_last_owner_cannot_leave(
    client: httpx.AsyncClient, platform: Platform, owner: Account, team: str
) -> None:
    leave = await client.delete(
        f"/api/v1/clients/{team}/members/{owner.user_id}", headers=owner.headers
    )
    assert leave.status_code == 409 and leave.json()["code"] == "last_owner"
    demote = await client.patch(
        f"/api/v1/clients/{team}/members/{owner.user_id}",
        json={"role": "collaborator"},
        headers=owner.headers,
    )
    assert demote.status_code == 409
    member = await join(client, platform, owner, team, "gina@example.com", role="owner")
    # With a second owner, the first may leave; a member may always leave by herself.
    assert (
        await client.delete(
            f"/api/v1/clients/{team}/members/{owner.user_id}", headers=owner.headers
        )
    ).status_code == 204
    personal = await client.delete(
        f"/api/v1/clients/{member.client_id}/members/{member.user_id}", headers=member.headers
    )
    assert personal.status_code == 409 and personal.json()["code"] == "personal_client"


async def test_account_deletion_waits_for_a_new_owner(
    client: httpx.AsyncClient, platform: Platform, owner: Account, team: str
) -> None:
    await join(client, platform, owner, team, "hank@example.com")
    refused = await client.post("/api/v1/account/delete-request", headers=owner.headers)
    assert refused.status_code == 409 and refused.json()["code"] == "last_owner"


async def test_activity_timeline(
    client: httpx.AsyncClient, platform: Platform, owner: Account, team: str
) -> None:
    member = await join(client, platform, owner, team, "ivy@example.com")
    await client.patch(
        f"/api/v1/clients/{team}/members/{member.user_id}",
        json={"role": "owner"},
        headers=owner.headers,
    )
    await client.delete(f"/api/v1/clients/{team}/members/{member.user_id}", headers=owner.headers)
    page = (
        await client.get(f"/api/v1/clients/{team}/activity?limit=2", headers=owner.headers)
    ).json()
    assert [e["event"] for e in page["items"]] == ["member.removed", "member.role_changed"]
    assert page["items"][0]["actor"] == "owner@example.com" and page["items"][0]["ip"]
    rest = (
        await client.get(
            f"/api/v1/clients/{team}/activity?cursor={page['next_cursor']}", headers=owner.headers
        )
    ).json()
    assert [e["event"] for e in rest["items"]] == [
        "member.joined",
        "member.invited",
        "client.created",
    ]
    assert rest["next_cursor"] is None
    # Collaborators do not see the security timeline.
    viewer = await join(client, platform, owner, team, "jon@example.com")
    assert (
        await client.get(f"/api/v1/clients/{team}/activity", headers=viewer.headers)
    ).status_code == 403
    bad_cursor = await client.get(
        f"/api/v1/clients/{team}/activity?cursor=%%%", headers=owner.headers
    )
    assert bad_cursor.status_code == 422


async def test_personal_clients_take_no_invitations(
    client: httpx.AsyncClient, owner: Account
) -> None:
    response = await client.post(
        f"/api/v1/clients/{owner.client_id}/members",
        json={"email": "x@example.com"},
        headers=owner.headers,
    )
    assert response.status_code == 409 and response.json()["code"] == "personal_client"


async def test_admin_routes_are_for_platform_admins(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    assert (await client.get("/api/v1/admin/users", headers=owner.headers)).status_code == 403
    from studioflow.demo import create_admin

    async with platform.db.transaction() as session:
        await create_admin(
            session,
            email="root@example.com",
            password_hash=await platform.passwords.hash("a long admin passphrase"),
        )
    from tests.identity.helpers import sign_in

    admin = await sign_in(client, "root@example.com", "a long admin passphrase")
    users = (await client.get("/api/v1/admin/users?limit=1", headers=admin.headers)).json()
    assert len(users["items"]) == 1 and users["next_cursor"]
    clients = (await client.get("/api/v1/admin/clients", headers=admin.headers)).json()
    assert {c["personal"] for c in clients["items"]} == {True}


async def test_own_security_events_show_in_the_personal_timeline(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    # Signed up through the API: its events are part of what the timeline must show.
    owner = await sign_up(client, platform, "owner@example.com")
    await client.post(
        "/api/v1/auth/login", json={"identifier": "owner@example.com", "password": "not it at all"}
    )
    client.cookies.clear()
    events = (
        await client.get(f"/api/v1/clients/{owner.client_id}/activity", headers=owner.headers)
    ).json()["items"]
    names = [e["event"] for e in events]
    assert "auth.login_failed" in names and "auth.login" in names and "user.registered" in names


async def test_admins_edit_plans_and_move_clients(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    from studioflow.demo import create_admin
    from tests.identity.helpers import sign_in

    async with platform.db.transaction() as session:
        await create_admin(
            session,
            email="boss@example.com",
            password_hash=await platform.passwords.hash("a long admin passphrase"),
        )
    admin = await sign_in(client, "boss@example.com", "a long admin passphrase")
    plans = (await client.get("/api/v1/admin/plans", headers=admin.headers)).json()["items"]
    assert [p["name"] for p in plans] == ["free", "pro", "enterprise"]
    changed = await client.patch(
        "/api/v1/admin/plans/free", json={"uploads_per_day": 7}, headers=admin.headers
    )
    assert changed.json()["uploads_per_day"] == 7
    assert (
        await client.patch("/api/v1/admin/plans/gold", json={}, headers=admin.headers)
    ).status_code == 404
    moved = await client.patch(
        f"/api/v1/admin/clients/{owner.client_id}", json={"plan": "pro"}, headers=admin.headers
    )
    assert moved.status_code == 200 and moved.json()["plan"] == "pro"
    quota = (await client.get("/upload/quota", headers=owner.headers)).json()
    assert quota["plan"] == "pro" and quota["upload_limit_per_day"] == 1000
    assert (
        await client.patch(
            f"/api/v1/admin/clients/{owner.client_id}", json={"plan": "gold"}, headers=admin.headers
        )
    ).status_code == 422
    assert (
        await client.patch(
            "/api/v1/admin/plans/free", json={"uploads_per_day": 1}, headers=owner.headers
        )
    ).status_code == 403


async def test_lists_page_with_a_cursor(client: httpx.AsyncClient, owner: Account) -> None:
    """Lists answer {items, next_cursor}: keyset pages in their order, none repeated, and a
    cursor that is not ours is a 422."""
    for name in ("Charlie team", "Alpha team", "Bravo team"):
        response = await client.post("/api/v1/clients", json={"name": name}, headers=owner.headers)
        assert response.status_code == 201
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        answer = await client.get("/api/v1/clients", params=query, headers=owner.headers)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        seen += [item["name"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 2 and len(seen) == 4 and len(set(seen)) == 4
    assert seen[1:] == ["Alpha team", "Bravo team", "Charlie team"]  # personal first, then names
    bad = await client.get(
        "/api/v1/clients", params={"cursor": "bm90LW91cnM"}, headers=owner.headers
    )
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"


@pytest.mark.parametrize(
    ("path", "values"),
    [
        ("/api/v1/clients", ["not a bool", 1, "not-a-uuid"]),  # wrong type per column
        ("/api/v1/clients", [True, "Team"]),  # too few values
        ("/api/v1/api-keys", ["2026-01-01T00:00:00", "01a2310a-6021-7877-abd9-ee4bfb000000"]),
    ],
)
async def test_forged_cursors_are_422(
    client: httpx.AsyncClient, owner: Account, path: str, values: list[object]
) -> None:
    """A cursor is ours or nothing: other shapes, types, or a time without an offset are a
    validation error, never a server error."""
    import base64
    import json

    cursor = base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")
    answer = await client.get(path, params={"cursor": cursor}, headers=owner.headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "validation_error"


async def test_a_team_workspace_starts_with_credits_and_cannot_be_farmed(
    client: httpx.AsyncClient, owner: Account
) -> None:
    """A new team gets the plan's starting credits like a personal workspace, and a user can
    create only so many a day (each would be free generations)."""
    created = await client.post("/api/v1/clients", json={"name": "Team one"}, headers=owner.headers)
    assert created.status_code == 201
    team = created.json()["id"]
    balance = await client.get("/api/v1/credits", headers={**owner.headers, "X-Client-Id": team})
    assert balance.status_code == 200, balance.text
    body = balance.json()
    assert body["balance"] == 3
    assert [(e["delta"], e["reason"]) for e in body["events"]] == [(3, "starting_credits")]
    statuses = [
        (
            await client.post("/api/v1/clients", json={"name": f"Team {n}"}, headers=owner.headers)
        ).status_code
        for n in range(2, 12)
    ]
    assert statuses == [201] * 9 + [429]
    refused = await client.post("/api/v1/clients", json={"name": "One more"}, headers=owner.headers)
    assert refused.json()["code"] == "rate_limited" and int(refused.headers["retry-after"]) > 0
