"""Platform admins and accounts (API.md, "Admin"): search, invite, edit, promote and demote,
block and unblock with immediate effect, delete, and the guards that keep the platform
with an admin. Every change is audited."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import func, select

from studioflow.demo import create_admin
from studioflow.models import AuditEvent, User
from studioflow.platform.runtime import Platform
from studioflow.settings import Settings
from tests.factories import admin_client, create_account
from tests.identity.helpers import Account, sign_in, token_in, wait_for_mail

PASSPHRASE = "an admin passphrase 42"


async def make_admin(client: httpx.AsyncClient, platform: Platform, email: str) -> Account:
    async with platform.db.transaction() as session:
        await create_admin(
            session, email=email, password_hash=await platform.passwords.hash(PASSPHRASE)
        )
    return await sign_in(client, email, PASSPHRASE)


async def events(platform: Platform, prefix: str) -> list[AuditEvent]:
    async with platform.db.read() as session:
        rows = await session.scalars(select(AuditEvent).where(AuditEvent.event.startswith(prefix)))
        return list(rows.all())


async def test_only_admins_reach_the_users(client: httpx.AsyncClient, platform: Platform) -> None:
    user = await create_account(client, platform, "plain@example.com")
    for method, path in (
        ("GET", "/api/v1/admin/users"),
        ("POST", "/api/v1/admin/users"),
        ("GET", f"/api/v1/admin/users/{user.user_id}"),
        ("PATCH", f"/api/v1/admin/users/{user.user_id}"),
        ("DELETE", f"/api/v1/admin/users/{user.user_id}"),
    ):
        anonymous = await client.request(method, path, json={} if method != "GET" else None)
        assert anonymous.status_code == 401, (method, path)
        signed_in = await client.request(
            method, path, json={} if method not in ("GET", "DELETE") else None, headers=user.headers
        )
        assert signed_in.status_code == 403 and signed_in.json()["code"] == "forbidden"


async def test_search_invite_and_the_invitee_chooses_a_password(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    await create_account(client, platform, "harbor.lee@example.com", first_name="Leo")
    found = await client.get("/api/v1/admin/users?q=HARBOR", headers=admin.headers)
    assert [u["email"] for u in found.json()["items"]] == ["harbor.lee@example.com"]
    by_name = await client.get("/api/v1/admin/users?q=leo", headers=admin.headers)
    assert [u["email"] for u in by_name.json()["items"]] == ["harbor.lee@example.com"]
    literal = await client.get("/api/v1/admin/users?q=%25", headers=admin.headers)
    assert literal.json()["items"] == []  # % is a character, not a wildcard

    made = await client.post(
        "/api/v1/admin/users",
        json={"email": "Nova@Example.com", "first_name": "Nova", "platform_role": "user"},
        headers=admin.headers,
    )
    assert made.status_code == 201, made.text
    assert made.json()["email"] == "nova@example.com" and not made.json()["email_verified"]
    again = await client.post(
        "/api/v1/admin/users", json={"email": "nova@example.com"}, headers=admin.headers
    )
    assert again.status_code == 409
    # The email's link sets the password and confirms the address; then sign-in works.
    token = token_in(await wait_for_mail(platform, "nova@example.com", subject="account"))
    chosen = await client.post(
        "/api/v1/auth/password/reset", json={"token": token, "password": "nova's own passphrase"}
    )
    assert chosen.status_code == 204, chosen.text
    nova = await sign_in(client, "nova@example.com", "nova's own passphrase")
    detail = (await client.get(f"/api/v1/admin/users/{nova.user_id}", headers=admin.headers)).json()
    assert detail["email_verified"] and detail["memberships"][0]["personal"] is True
    assert len(detail["sessions"]) == 1 and detail["api_keys"] == []
    assert [e.data["email"] for e in await events(platform, "admin.user_invited")] == [
        "nova@example.com"
    ]


async def test_blocking_ends_sessions_and_keys_at_once(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    user = await create_account(client, platform, "blocked@example.com")
    key = (
        await client.post(
            "/api/v1/api-keys",
            json={"key_name": "ci", "scopes": ["images:read"]},
            headers=user.headers,
        )
    ).json()["api_key"]
    assert (await client.get("/api/v1/images", headers={"X-API-Key": key})).status_code == 200
    blocked = await client.patch(
        f"/api/v1/admin/users/{user.user_id}", json={"is_active": False}, headers=admin.headers
    )
    assert blocked.status_code == 200 and blocked.json()["is_active"] is False
    assert blocked.json()["sessions"] == []
    # The live access token, the refresh token and the key: refused on the next request.
    assert (await client.get("/api/v1/auth/me", headers=user.headers)).status_code == 401
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": user.refresh_token}
    )
    assert refreshed.status_code == 401
    assert (await client.get("/api/v1/images", headers={"X-API-Key": key})).status_code == 401
    # Sign-in says why, once the password is right; a wrong one says nothing more.
    right = await client.post(
        "/api/v1/auth/login", json={"identifier": user.email, "password": user.password}
    )
    assert right.status_code == 403 and right.json()["code"] == "account_blocked"
    wrong = await client.post(
        "/api/v1/auth/login", json={"identifier": user.email, "password": "not it at all"}
    )
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_credentials"

    unblocked = await client.patch(
        f"/api/v1/admin/users/{user.user_id}", json={"is_active": True}, headers=admin.headers
    )
    assert unblocked.json()["is_active"] is True
    assert (await client.get("/api/v1/auth/me", headers=user.headers)).status_code == 401
    assert (await client.get("/api/v1/images", headers={"X-API-Key": key})).status_code == 200
    await sign_in(client, user.email, user.password)
    names = sorted(e.event for e in await events(platform, "admin.user_"))
    assert names == ["admin.user_blocked", "admin.user_unblocked"]


async def test_edit_promote_and_the_guards(client: httpx.AsyncClient, platform: Platform) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    user = await create_account(client, platform, "rise@example.com", username="riser")
    edited = await client.patch(
        f"/api/v1/admin/users/{user.user_id}",
        json={"first_name": "Rae", "last_name": "Stone", "username": "rae"},
        headers=admin.headers,
    )
    assert edited.status_code == 200
    assert (edited.json()["first_name"], edited.json()["username"]) == ("Rae", "rae")
    taken = await client.patch(
        f"/api/v1/admin/users/{user.user_id}", json={"username": "rae"}, headers=admin.headers
    )
    assert taken.status_code == 200  # its own name is not taken
    # Not oneself, not the last admin.
    for change in ({"is_active": False}, {"platform_role": "user"}):
        refused = await client.patch(
            f"/api/v1/admin/users/{admin.user_id}", json=change, headers=admin.headers
        )
        assert refused.status_code == 409 and refused.json()["code"] == "self_change"
    assert (
        await client.delete(f"/api/v1/admin/users/{admin.user_id}", headers=admin.headers)
    ).json()["code"] == "self_change"
    promoted = await client.patch(
        f"/api/v1/admin/users/{user.user_id}",
        json={"platform_role": "admin"},
        headers=admin.headers,
    )
    assert promoted.json()["platform_role"] == "admin"
    # The new admin may demote the first, but then not the last one standing.
    rae = await sign_in(client, user.email, user.password)
    demoted = await client.patch(
        f"/api/v1/admin/users/{admin.user_id}", json={"platform_role": "user"}, headers=rae.headers
    )
    assert demoted.status_code == 200 and demoted.json()["platform_role"] == "user"
    other = await make_admin(client, platform, "second@example.com")
    blocked = await client.patch(
        f"/api/v1/admin/users/{other.user_id}", json={"is_active": False}, headers=rae.headers
    )
    assert blocked.status_code == 200
    last = await client.patch(
        f"/api/v1/admin/users/{rae.user_id}", json={"platform_role": "user"}, headers=other.headers
    )
    assert last.status_code == 401  # the blocked admin's session ended with the block
    bad = await client.patch(
        f"/api/v1/admin/users/{user.user_id}",
        json={"platform_role": "owner"},
        headers=rae.headers,
    )
    assert bad.status_code == 422


async def test_delete_after_the_grace_or_at_once(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    later = await create_account(client, platform, "later@example.com")
    now = await create_account(client, platform, "now@example.com")
    scheduled = await client.delete(f"/api/v1/admin/users/{later.user_id}", headers=admin.headers)
    assert scheduled.status_code == 202 and scheduled.json()["delete_after"] is not None
    notice = await wait_for_mail(platform, "later@example.com", subject="deleted")
    assert "administrator" in str(notice.get_payload())
    detail = await client.get(f"/api/v1/admin/users/{later.user_id}", headers=admin.headers)
    assert detail.json()["delete_after"] is not None
    gone = await client.delete(f"/api/v1/admin/users/{now.user_id}?now=true", headers=admin.headers)
    assert gone.status_code == 202 and gone.json()["delete_after"] is None
    assert (
        await client.get(f"/api/v1/admin/users/{now.user_id}", headers=admin.headers)
    ).status_code == 404
    assert (await client.get("/api/v1/auth/me", headers=now.headers)).status_code == 401
    names = sorted(e.event for e in await events(platform, "admin.user_"))
    assert names == ["admin.user_deleted", "admin.user_deletion_started"]


async def test_two_admins_demoting_each_other_at_once_leave_one(
    committed: tuple[Settings, Platform],
) -> None:
    """Crossing demotions (and blocks) on a committed database, as real requests race: the
    admin rows are locked in one order, so they take turns; the second sees the first's
    change and is refused. Repeated, both ways."""
    settings, platform = committed
    async with admin_client(settings, platform, "first-boss@example.com") as (client, headers):
        for round_no in range(4):
            other = await make_admin(client, platform, f"other-{round_no}@example.com")
            me = (await client.get("/api/v1/auth/me", headers=headers)).json()["user"]["id"]
            change = {"platform_role": "user"} if round_no % 2 else {"is_active": False}
            answers = await asyncio.gather(
                client.patch(f"/api/v1/admin/users/{other.user_id}", json=change, headers=headers),
                client.patch(f"/api/v1/admin/users/{me}", json=change, headers=other.headers),
            )
            codes = sorted(a.status_code for a in answers)
            # One goes through; the other is refused: its admin lost the role (409) or, when
            # the block landed first, its session ended (401).
            assert codes[0] == 200 and codes[1] in (401, 409), [a.text for a in answers]
            async with platform.db.read() as session:
                admins = await session.scalar(
                    select(func.count())
                    .select_from(User)
                    .where(User.platform_role == "admin", User.is_active.is_(True))
                )
            assert admins == 1
            if answers[1].status_code == 200:
                return  # the first admin is gone; the walk stops here


async def test_the_users_pages_are_the_admins(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    user = await create_account(client, platform, "page-user@example.com", first_name="Pia")
    for who in (None, user):
        client.cookies.clear()
        if who is not None:
            await client.post(
                "/api/v1/auth/login", json={"identifier": who.email, "password": who.password}
            )
        for path in ("/admin/users", f"/admin/users/{user.user_id}"):
            page = await client.get(path)
            assert page.status_code in (303, 404), (path, page.status_code)
    client.cookies.clear()
    await client.post(
        "/api/v1/auth/login", json={"identifier": admin.email, "password": PASSPHRASE}
    )
    listing = await client.get("/admin/users?q=page-user")
    assert listing.status_code == 200 and f'href="/admin/users/{user.user_id}"' in listing.text
    assert "boss@example.com" not in listing.text.split("<main", 1)[1].split("Invite", 1)[0]
    detail = await client.get(f"/admin/users/{user.user_id}")
    assert detail.status_code == 200 and ">Block</button>" in detail.text and "Pia" in detail.text
    own = await client.get(f"/admin/users/{admin.user_id}")
    assert ">Block</button>" not in own.text and "another admin" in own.text
    missing = await client.get("/admin/users/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    client.cookies.clear()
