"""A workspace as platform admins see it without belonging to it (API.md, "Admin"):
overview, members (added directly, roles, removal), workflows, executions and activity."""

from __future__ import annotations

import httpx

from studioflow.platform.runtime import Platform
from tests.admin.test_users import PASSPHRASE, make_admin
from tests.factories import create_account


async def test_an_admin_sees_and_manages_a_workspace_they_do_not_belong_to(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    owner = await create_account(client, platform, "team-owner@example.com", first_name="Ona")
    helper = await create_account(client, platform, "helper@example.com")
    team = await client.post(
        "/api/v1/clients", json={"name": "Harbor Creative"}, headers=owner.headers
    )
    team_id = team.json()["id"]

    found = await client.get("/api/v1/admin/clients?q=harbor", headers=admin.headers)
    assert [c["name"] for c in found.json()["items"]] == ["Harbor Creative"]
    overview = (await client.get(f"/api/v1/admin/clients/{team_id}", headers=admin.headers)).json()
    assert overview["name"] == "Harbor Creative" and overview["members"] == 1
    assert overview["credits"] == 3 and overview["executions_30d"] == 0
    assert overview["success_rate_30d"] is None and overview["personal"] is False

    # Members: added directly (no invitation), promoted, removed; the last owner stays.
    added = await client.post(
        f"/api/v1/admin/clients/{team_id}/members",
        json={"user_id": helper.user_id, "role": "collaborator"},
        headers=admin.headers,
    )
    assert added.status_code == 201 and added.json()["email"] == "helper@example.com"
    twice = await client.post(
        f"/api/v1/admin/clients/{team_id}/members",
        json={"user_id": helper.user_id},
        headers=admin.headers,
    )
    assert twice.status_code == 409 and twice.json()["code"] == "already_member"
    third = await create_account(client, platform, "third@example.com")
    by_address = await client.post(
        f"/api/v1/admin/clients/{team_id}/members",
        json={"email": "Third@Example.com"},
        headers=admin.headers,
    )
    assert by_address.status_code == 201 and by_address.json()["user_id"] == third.user_id
    for neither_or_both in ({}, {"email": "x@example.com", "user_id": third.user_id}):
        refused = await client.post(
            f"/api/v1/admin/clients/{team_id}/members", json=neither_or_both, headers=admin.headers
        )
        assert refused.status_code == 422
    nobody = await client.post(
        f"/api/v1/admin/clients/{team_id}/members",
        json={"email": "nobody@example.com"},
        headers=admin.headers,
    )
    assert nobody.status_code == 404
    assert (
        await client.delete(
            f"/api/v1/admin/clients/{team_id}/members/{third.user_id}", headers=admin.headers
        )
    ).status_code == 204
    # The new member reaches the team at once.
    in_team = {**helper.headers, "X-Client-Id": team_id}
    assert (await client.get("/api/v1/images", headers=in_team)).status_code == 200
    promoted = await client.patch(
        f"/api/v1/admin/clients/{team_id}/members/{helper.user_id}",
        json={"role": "owner"},
        headers=admin.headers,
    )
    assert promoted.json()["role"] == "owner"
    listed = await client.get(f"/api/v1/admin/clients/{team_id}/members", headers=admin.headers)
    assert [(m["email"], m["role"]) for m in listed.json()["items"]] == [
        ("team-owner@example.com", "owner"),
        ("helper@example.com", "owner"),
    ]
    removed = await client.delete(
        f"/api/v1/admin/clients/{team_id}/members/{owner.user_id}", headers=admin.headers
    )
    assert removed.status_code == 204
    last = await client.delete(
        f"/api/v1/admin/clients/{team_id}/members/{helper.user_id}", headers=admin.headers
    )
    assert last.status_code == 409 and last.json()["code"] == "last_owner"
    personal = await client.post(
        f"/api/v1/admin/clients/{owner.client_id}/members",
        json={"user_id": helper.user_id},
        headers=admin.headers,
    )
    assert personal.status_code == 409 and personal.json()["code"] == "personal_client"

    # Workflows, executions, activity: the workspace's, read by an admin who is no member.
    workflows = await client.get(
        f"/api/v1/admin/clients/{team_id}/workflows", headers=admin.headers
    )
    assert workflows.status_code == 200
    runs = await client.get(
        f"/api/v1/admin/clients/{team_id}/executions?status=failed", headers=admin.headers
    )
    assert runs.status_code == 200 and runs.json()["items"] == []
    bad = await client.get(
        f"/api/v1/admin/clients/{team_id}/executions?status=sleeping", headers=admin.headers
    )
    assert bad.status_code == 422
    events = (
        await client.get(f"/api/v1/admin/clients/{team_id}/activity", headers=admin.headers)
    ).json()["items"]
    names = [e["event"] for e in events]
    assert {"member.added", "member.role_changed", "member.removed"} <= set(names)
    assert all(e["actor"] == "boss@example.com" for e in events if e["event"] == "member.added")

    # Nobody else gets any of it; an unknown client is a 404.
    for path in ("", "/members", "/workflows", "/executions", "/activity"):
        assert (
            await client.get(f"/api/v1/admin/clients/{team_id}{path}", headers=helper.headers)
        ).status_code == 403
        assert (
            await client.get(
                f"/api/v1/admin/clients/00000000-0000-0000-0000-000000000000{path}",
                headers=admin.headers,
            )
        ).status_code == 404


async def test_the_workspace_pages_are_the_admins(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    owner = await create_account(client, platform, "pages-owner@example.com", first_name="Ona")
    team = await client.post("/api/v1/clients", json={"name": "Pier Studio"}, headers=owner.headers)
    team_id = team.json()["id"]
    for path in ("/admin/clients", f"/admin/clients/{team_id}"):
        await client.post(
            "/api/v1/auth/login", json={"identifier": owner.email, "password": owner.password}
        )
        assert (await client.get(path)).status_code == 404
        client.cookies.clear()
    await client.post(
        "/api/v1/auth/login", json={"identifier": admin.email, "password": PASSPHRASE}
    )
    listing = await client.get("/admin/clients?q=pier")
    assert listing.status_code == 200 and f'href="/admin/clients/{team_id}"' in listing.text
    page = await client.get(f"/admin/clients/{team_id}?status=failed")
    assert page.status_code == 200
    main = page.text.split("<main", 1)[1]
    assert "Pier Studio" in main and "pages-owner@example.com" in main
    assert "Ona created the workspace Pier Studio" in main  # activity as sentences
    assert "No runs in that state" in main
    assert (
        await client.get("/admin/clients/00000000-0000-0000-0000-000000000000")
    ).status_code == 404
    client.cookies.clear()


async def test_the_list_shows_credits_and_storage(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    from tests.media import images

    admin = await make_admin(client, platform, "boss@example.com")
    owner = await create_account(client, platform, "lister@example.com")
    quiet = await create_account(client, platform, "quiet@example.com")
    png = images.noise_png((40, 40))
    uploaded = await client.post(
        "/upload", files={"file": ("l.png", png, "image/png")}, headers=owner.headers
    )
    assert uploaded.status_code == 201
    await client.get("/api/v1/credits", headers=owner.headers)  # opens the account: 3
    listed = await client.get("/api/v1/admin/clients?limit=100", headers=admin.headers)
    rows = {row["id"]: row for row in listed.json()["items"]}
    mine, theirs = rows[owner.client_id], rows[quiet.client_id]
    assert mine["credits"] == 3 and mine["storage_bytes"] >= len(png)
    assert theirs["credits"] is None and theirs["storage_bytes"] == 0
    await client.post(
        "/api/v1/auth/login", json={"identifier": admin.email, "password": PASSPHRASE}
    )
    page = await client.get("/admin/clients")
    assert page.status_code == 200 and ">Credits<" in page.text and ">Storage<" in page.text
    client.cookies.clear()
