"""View analytics: recorded without the database, flushed in batches, rolled up, pruned."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from studioflow.media import analytics
from studioflow.models import Image, ImageView, UsageDaily
from studioflow.platform.runtime import Platform
from tests.factories import create_account
from tests.identity.helpers import Account
from tests.media import images

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.fixture
async def owner(client: httpx.AsyncClient, platform: Platform) -> Account:
    platform.settings = platform.settings.model_copy(update={"country_header": "CF-IPCountry"})
    return await create_account(client, platform, "stats@example.com")


async def count_views(platform: Platform) -> int:
    async with platform.db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(ImageView)) or 0)


async def test_views_are_recorded_flushed_and_reported(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    upload = await client.post(
        "/upload",
        files={"file": ("s.png", images.encode("PNG"), "image/png")},
        headers=owner.headers,
    )
    image_id = upload.json()["image"]["id"]
    path = f"/i/{image_id}"
    seen = [
        {"User-Agent": IPHONE, "Referer": "https://blog.example.org/post", "CF-IPCountry": "fr"},
        {"User-Agent": DESKTOP, "Referer": "https://blog.example.org/other", "CF-IPCountry": "DE"},
        {"User-Agent": BOT},
    ]
    for headers in seen:
        assert (await client.get(path, headers=headers)).status_code == 200
    etag = (await client.head(path)).headers["etag"]
    assert (await client.get(path, headers={"If-None-Match": etag})).status_code == 304
    # Nothing waited on the database: the events are in the buffer until a flush.
    assert await count_views(platform) == 0
    assert await analytics.flush(platform) == 3
    assert await count_views(platform) == 3
    assert await analytics.flush(platform) == 0  # drained and acknowledged
    await analytics.rollup(platform)

    stats = (await client.get(f"/stats/{image_id}", headers=owner.headers)).json()
    assert stats["views"] == 3 and stats["unique_viewers"] == 1  # one address, one visitor
    [today] = stats["per_day"]
    assert today["day"] == datetime.now(UTC).date().isoformat()
    assert (today["views"], today["unique_viewers"]) == (3, 1) and today["bytes"] > 0
    assert {d["name"] for d in stats["devices"]} == {"mobile", "desktop", "bot"}
    assert {"Mobile Safari", "Chrome", "Googlebot"} <= {b["name"] for b in stats["browsers"]}
    assert stats["referrers"] == [{"name": "blog.example.org", "views": 2}]
    assert {c["name"] for c in stats["countries"]} == {"FR", "DE"}
    async with platform.db.sessionmaker() as session:
        usage = await session.scalar(
            select(UsageDaily).where(UsageDaily.client_id == uuid.UUID(owner.client_id))
        )
        visitors = set((await session.scalars(select(ImageView.visitor))).all())
    assert (
        usage is not None and usage.views == 3 and usage.uploads == 1 and usage.bandwidth_bytes > 0
    )
    assert all("127.0.0.1" not in v and len(v) == 32 for v in visitors)


async def test_stats_are_for_the_owner_only(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    upload = await client.post(
        "/upload",
        files={"file": ("s.png", images.encode("PNG"), "image/png")},
        headers=owner.headers,
    )
    image_id = upload.json()["image"]["id"]
    other = await create_account(client, platform, "curious@example.com")
    assert (await client.get(f"/stats/{image_id}", headers=other.headers)).status_code == 404
    assert (await client.get(f"/stats/{image_id}")).status_code == 401


async def test_old_events_are_pruned(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    upload = await client.post(
        "/upload",
        files={"file": ("s.png", images.encode("PNG"), "image/png")},
        headers=owner.headers,
    )
    await client.get(f"/i/{upload.json()['image']['id']}")
    await analytics.flush(platform)
    async with platform.db.transaction() as session:
        await session.execute(
            update(ImageView).values(viewed_at=datetime.now(UTC) - timedelta(days=91))
        )
    assert await analytics.prune(platform, retention_days=90) == 1
    assert await count_views(platform) == 0
    async with platform.db.sessionmaker() as session:
        assert await session.scalar(select(Image.views)) == 1  # the total stays


def test_visitor_hash_changes_daily_and_hides_the_address() -> None:
    today = analytics.visitor_hash("s" * 40, "203.0.113.5", date(2026, 11, 22))
    tomorrow = analytics.visitor_hash("s" * 40, "203.0.113.5", date(2026, 11, 23))
    assert today != tomorrow and "203" not in today


@pytest.mark.parametrize(
    ("agent", "device"),
    [
        (IPHONE, "mobile"),
        (DESKTOP, "desktop"),
        (BOT, "bot"),
        (None, "unknown"),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Safari/604.1",
            "tablet",
        ),
    ],
)
def test_device_classes(agent: str | None, device: str) -> None:
    assert analytics.classify(agent)[0] == device


async def test_our_own_pages_are_not_an_audience(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    """The owner browsing the gallery or an image's page adds bandwidth, not views; the
    embed page (ours, shown on another site) and other sites' pages are views."""
    upload = await client.post(
        "/upload",
        files={"file": ("s.png", images.encode("PNG"), "image/png")},
        headers=owner.headers,
    )
    image_id = upload.json()["image"]["id"]
    base = platform.settings.base_url
    for referrer in (f"{base}/images", f"{base}/images/{image_id}", f"{base}/studio"):
        response = await client.get(f"/i/{image_id}?size=thumb", headers={"Referer": referrer})
        assert response.status_code == 200
    await platform.tally.flush()
    assert await analytics.flush(platform) == 0
    for referrer in (f"{base}/embed/{image_id}", "https://blog.example.org/post"):
        await client.get(f"/i/{image_id}", headers={"Referer": referrer})
    assert await analytics.flush(platform) == 2


async def test_the_workspaces_own_members_are_not_an_audience(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    """The owner opening a link to their own image (no Referer: pasted in the address bar)
    while signed in adds bandwidth, not a view; someone signed in who is not a member of the
    workspace is an audience like anyone else. Through the route and the cached hot path."""
    upload = await client.post(
        "/upload",
        files={"file": ("own.png", images.encode("PNG"), "image/png")},
        headers=owner.headers,
    )
    image_id = upload.json()["image"]["id"]
    stranger = await create_account(client, platform, "stranger@example.com")

    async def views_by(account: Account | None, times: int) -> int:
        client.cookies.clear()
        if account is not None:
            signed_in = await client.post(
                "/api/v1/auth/login",
                json={"identifier": account.email, "password": account.password},
            )
            assert signed_in.status_code == 200
        before = await count_views(platform)
        for _ in range(times):  # the first through the route, the rest from the hot path
            assert (await client.get(f"/i/{image_id}")).status_code == 200
        await analytics.flush(platform)
        client.cookies.clear()
        return await count_views(platform) - before

    assert await views_by(owner, 3) == 0
    assert await views_by(stranger, 2) == 2
    assert await views_by(None, 1) == 1
    # A forged or expired token is nobody: the view counts.
    client.cookies.set("access_token", "not-a-token")
    assert (await client.get(f"/i/{image_id}")).status_code == 200
    await analytics.flush(platform)
    client.cookies.clear()
    async with platform.db.sessionmaker() as session:
        image = await session.get(Image, uuid.UUID(image_id))
    assert image is not None and image.views == 4
