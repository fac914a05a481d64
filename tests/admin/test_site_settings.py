"""Platform settings (issue 15): admins change sign-up, the plan of new workspaces, a
maintenance banner, limits, the platform's provider keys and the credit price; every change
is checked before any is written, audited (never a key), and reaches every process through
the event bus."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import select

from studioflow.models import AuditEvent, Client, PlatformSetting
from studioflow.platform.events import RedisEventBus
from studioflow.platform.runtime import Platform
from studioflow.platform.site_settings import SiteConfig
from studioflow.settings import Settings
from tests.admin.test_users import events, make_admin
from tests.factories import admin_client, create_account
from tests.media import images


def by_key(answer: httpx.Response) -> dict[str, dict[str, object]]:
    assert answer.status_code == 200, answer.text
    return {item["key"]: item for item in answer.json()["settings"]}


async def test_only_admins_read_or_change_the_settings(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    user = await create_account(client, platform, "plain@example.com")
    for method in ("GET", "PUT"):
        body = {"signup_open": False} if method == "PUT" else None
        assert (
            await client.request(method, "/api/v1/admin/settings", json=body)
        ).status_code == 401
        refused = await client.request(
            method, "/api/v1/admin/settings", json=body, headers=user.headers
        )
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"


async def test_defaults_come_from_the_environment_until_an_admin_changes_them(
    client: httpx.AsyncClient, platform: Platform, settings: Settings
) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    found = by_key(await client.get("/api/v1/admin/settings", headers=admin.headers))
    assert found["rate_limit_per_ip"]["value"] == settings.rate_limit_per_ip
    assert found["signup_open"] == {**found["signup_open"], "value": True, "overridden": False}
    assert found["default_plan"]["value"] == "free"
    assert found["gemini_api_key"]["value"] is None
    changed = by_key(
        await client.put(
            "/api/v1/admin/settings",
            json={"provider_rate_per_minute": 7, "currency": "EUR"},
            headers=admin.headers,
        )
    )
    assert changed["provider_rate_per_minute"]["value"] == 7
    assert changed["provider_rate_per_minute"]["overridden"] is True
    assert changed["currency"]["value"] == "EUR"
    assert platform.site.current.provider_rate_per_minute == 7  # this process: at once
    # null returns a setting to its default and removes its row.
    back = by_key(
        await client.put(
            "/api/v1/admin/settings",
            json={"provider_rate_per_minute": None},
            headers=admin.headers,
        )
    )
    assert back["provider_rate_per_minute"]["value"] == settings.studio_provider_rate_per_minute
    assert back["provider_rate_per_minute"]["overridden"] is False
    audited = await events(platform, "admin.setting_changed")
    assert [(e.data["key"], e.data.get("value"), e.data["reset"]) for e in audited] == [
        ("provider_rate_per_minute", 7, False),
        ("currency", "EUR", False),
        ("provider_rate_per_minute", None, True),
    ]


async def test_a_bad_value_changes_nothing(client: httpx.AsyncClient, platform: Platform) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    for body, code in (
        ({"no_such_thing": 1}, "unknown_setting"),
        ({"signup_open": False, "provider_rate_per_minute": 0}, "invalid_setting"),
        ({"signup_open": False, "default_plan": "platinum"}, "invalid_setting"),
        ({"rate_limit_per_ip": "lots"}, "invalid_setting"),
        ({"rate_limit_per_ip": "5/minute"}, "invalid_setting"),  # would lock the admins out
        ({"currency": "euro"}, "invalid_setting"),
        ({"uploads_per_hour": True}, "invalid_setting"),
        ({"maintenance_banner": "x" * 301}, "invalid_setting"),
        ({"gemini_api_key": "  "}, "invalid_setting"),
    ):
        answer = await client.put("/api/v1/admin/settings", json=body, headers=admin.headers)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["code"] == code, body
    async with platform.db.read() as session:
        assert (await session.scalars(select(PlatformSetting))).all() == []
    assert (await platform.site.get()).signup_open is True


async def test_closed_sign_up_refuses_new_accounts_but_admins_still_invite(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    closed = await client.put(
        "/api/v1/admin/settings",
        json={"signup_open": False, "default_plan": "pro"},
        headers=admin.headers,
    )
    assert closed.status_code == 200
    refused = await client.post(
        "/api/v1/auth/register",
        json={"email": "newcomer@example.com", "password": "a long enough passphrase"},
    )
    assert refused.status_code == 403 and refused.json()["code"] == "signup_closed"
    page = await client.get("/signup")
    assert "cannot be created on this site" in page.text and 'name="password"' not in page.text
    invited = await client.post(
        "/api/v1/admin/users",
        json={"email": "invited@example.com", "platform_role": "user"},
        headers=admin.headers,
    )
    assert invited.status_code == 201
    async with platform.db.read() as session:
        plan = await session.scalar(
            select(Client.plan).where(Client.personal_owner_id == uuid.UUID(invited.json()["id"]))
        )
    assert plan == "pro"  # the default plan of new workspaces
    await client.put("/api/v1/admin/settings", json={"signup_open": True}, headers=admin.headers)
    opened = await client.post(
        "/api/v1/auth/register",
        json={"email": "newcomer@example.com", "password": "a long enough passphrase"},
    )
    assert opened.status_code == 202


async def test_the_banner_shows_on_every_page_while_set(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    banner = "Maintenance tonight 22:00-23:00 UTC: uploads pause."
    assert banner not in (await client.get("/login")).text
    await client.put(
        "/api/v1/admin/settings", json={"maintenance_banner": banner}, headers=admin.headers
    )
    assert banner in (await client.get("/login")).text
    await client.put(
        "/api/v1/admin/settings", json={"maintenance_banner": ""}, headers=admin.headers
    )
    assert banner not in (await client.get("/login")).text


async def test_a_platform_provider_key_is_write_only_and_never_audited(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    key = "AIza-platform-secret-9876"
    found = by_key(
        await client.put(
            "/api/v1/admin/settings", json={"gemini_api_key": key}, headers=admin.headers
        )
    )
    assert found["gemini_api_key"]["value"] is None
    assert found["gemini_api_key"]["is_set"] is True
    assert found["gemini_api_key"]["hint"] == "…9876"
    assert key not in (await client.get("/api/v1/admin/settings", headers=admin.headers)).text
    assert platform.site.current.gemini_api_key == key  # what the runner builds providers with
    assert key not in repr(platform.site.current)
    async with platform.db.read() as session:
        row = await session.get(PlatformSetting, "gemini_api_key")
        audit = (await session.scalars(select(AuditEvent))).all()
    assert row is not None and key not in str(row.value)
    assert all(key not in str(event.data) for event in audit)
    # A workspace without a key of its own now has the platform's default.
    owner = await create_account(client, platform, "owner@example.com")
    mine = await client.get("/api/v1/settings", headers=owner.headers)
    assert mine.json()["provider_keys"]["gemini"]["platform_default"] is True
    removed = by_key(
        await client.put(
            "/api/v1/admin/settings", json={"gemini_api_key": None}, headers=admin.headers
        )
    )
    assert removed["gemini_api_key"]["is_set"] is False
    assert platform.site.current.gemini_api_key is None


async def test_the_per_address_api_limit_follows_the_setting(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    await client.put(
        "/api/v1/admin/settings", json={"rate_limit_per_ip": "10/minute"}, headers=admin.headers
    )
    answers = [(await client.get("/api/v1/flags")).status_code for _ in range(12)]
    assert answers.count(429) >= 2  # the PUT above counted too
    refused = await client.get("/api/v1/flags")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


async def test_uploads_an_hour_are_limited_per_user(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    await client.put(
        "/api/v1/admin/settings",
        json={"uploads_per_hour": 2},
        headers=admin.headers,
    )
    owner = await create_account(client, platform, "owner@example.com")

    async def upload(n: int) -> httpx.Response:
        return await client.post(
            "/upload",
            files={"file": (f"{n}.png", images.noise_png((16 + n, 16)), "image/png")},
            headers=owner.headers,
        )

    assert [(await upload(n)).status_code for n in range(2)] == [201, 201]
    third = await upload(3)
    assert third.status_code == 429 and third.json()["code"] == "rate_limited"
    assert int(third.headers["Retry-After"]) >= 1
    assert "2 uploads an hour" in third.json()["detail"]
    # 0 turns a limit off.
    await client.put("/api/v1/admin/settings", json={"uploads_per_hour": 0}, headers=admin.headers)
    assert (await upload(4)).status_code == 201


async def test_another_process_hears_of_a_change_at_once(
    committed: tuple[Settings, Platform],
) -> None:
    """A second process (its own copy, its own bus connection at scale) reloads on the
    announcement, long before its minute-long refresh would."""
    settings, platform = committed
    other_bus = (
        RedisEventBus(platform.redis, prefix=settings.redis_prefix)
        if platform.redis is not None
        else platform.events
    )
    other = SiteConfig(platform.db, settings)
    following = asyncio.create_task(other.follow(other_bus))
    try:
        async with admin_client(settings, platform, "boss@example.com") as (client, headers):
            for _ in range(100):  # subscribed (its first load done)
                if other.loaded:
                    break
                await asyncio.sleep(0.05)
            answer = await client.put(
                "/api/v1/admin/settings",
                json={"maintenance_banner": "Back soon"},
                headers=headers,
            )
            assert answer.status_code == 200
            for _ in range(100):
                if other.current.maintenance_banner == "Back soon":
                    break
                await asyncio.sleep(0.05)
            assert other.current.maintenance_banner == "Back soon"
    finally:
        following.cancel()
        if other_bus is not platform.events:
            await other_bus.close()
