"""View analytics: recorded without waiting on the database, written in batches.

A delivery hands its event to the recorder and returns. Embedded, events wait in a bounded
in-memory buffer; at scale they go to a Redis stream (durable across process restarts,
shared by every view process). The ``media.flush_views`` job drains either into
``image_views`` in batches and bumps the images' view counts; ``media.rollup_views``
recomputes the daily roll-ups; raw events are pruned after the retention period.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import structlog
from ua_parser import parse as parse_ua

from studioflow.identity import service as identity
from studioflow.media.repository import ViewRepository
from studioflow.models import Image, ImageDaily, ImageView, UsageDaily
from studioflow.platform.security import derive_key

log = structlog.get_logger("studioflow.media.analytics")

BATCH = 1_000
# The serving loop is the one that writes, embedded: rows are built and inserted in pieces
# this big, with the loop free between them (one batch of 1,000 in one go held it 150-290 ms;
# bench/README.md, "the analytics flush").
PIECE = 100


@functools.lru_cache(maxsize=4)
def _visitor_key(secret: str, day: date) -> bytes:
    return derive_key(secret, f"visitor:{day.isoformat()}")


# A page of thumbnails is many views from one address with one browser: both answers are
# kept for the addresses and agents seen last (the flush builds events in batches).
@functools.lru_cache(maxsize=4096)
def visitor_hash(secret: str, ip: str, day: date) -> str:
    return hmac.new(_visitor_key(secret, day), ip.encode(), hashlib.sha256).hexdigest()[:32]


@functools.lru_cache(maxsize=1024)
def classify(user_agent: str | None) -> tuple[str, str]:
    """(device, browser) from a User-Agent header."""
    if not user_agent:
        return "unknown", "unknown"
    result = parse_ua(user_agent[:512])
    browser = result.user_agent.family if result.user_agent else "Other"
    family = result.device.family if result.device else ""
    os = result.os.family if result.os else ""
    if family == "Spider" or "bot" in user_agent.lower():
        device = "bot"
    elif (
        "iPad" in family
        or "Tablet" in user_agent
        or (os == "Android" and "Mobile" not in user_agent)
    ):
        device = "tablet"
    elif os in {"iOS", "Android"} or "Mobile" in user_agent:
        device = "mobile"
    else:
        device = "desktop"
    return device, browser[:40]


def make_event(
    *,
    secret: str,
    image_id: uuid.UUID,
    client_id: uuid.UUID,
    variant: str,
    referrer: str | None,
    user_agent: str | None,
    country: str | None,
    ip: str,
    sent: int,
    at: datetime | None = None,
    viewer: uuid.UUID | None = None,
) -> dict[str, Any]:
    now = at or datetime.now(UTC)
    device, browser = classify(user_agent)
    host = (urlsplit(referrer).hostname or "")[:253] if referrer else None
    code = (country or "").strip().upper()
    return {
        "image_id": str(image_id),
        "client_id": str(client_id),
        "at": now.isoformat(),
        "variant": variant[:60],
        "referrer": host or None,
        "device": device,
        "browser": browser,
        "country": code if len(code) == 2 and code.isalpha() else None,
        "visitor": visitor_hash(secret, ip, now.date()),
        "bytes": sent,
        # A signed-in viewer of this site (their user id, from a valid access token): the
        # flush leaves the view out when they are a member of the image's workspace.
        "viewer": str(viewer) if viewer is not None else None,
    }


def _row(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "image_id": uuid.UUID(event["image_id"]),
        "client_id": uuid.UUID(event["client_id"]),
        "viewed_at": datetime.fromisoformat(event["at"]),
        "variant": event["variant"],
        "referrer": event["referrer"],
        "device": event["device"],
        "browser": event["browser"],
        "country": event["country"],
        "visitor": event["visitor"],
        "bytes": event["bytes"],
    }


async def _members_views(platform: Any, events: list[dict[str, Any]]) -> set[int]:
    """The events (by ``id()``) whose viewer is a member of the image's workspace: the
    owner and their team looking at their own images are not an audience. One query for the
    batch, none when nobody was signed in."""
    viewers: dict[uuid.UUID, None] = {}
    for event in events:
        viewer = event.get("viewer")
        if viewer:
            viewers[uuid.UUID(viewer)] = None
    if not viewers:
        return set()
    async with platform.db.read() as session:
        members = await identity.member_pairs(session, list(viewers))
    return {
        id(e)
        for e in events
        if e.get("viewer") and (uuid.UUID(e["viewer"]), uuid.UUID(e["client_id"])) in members
    }


async def flush(platform: Any, *, limit: int = 50_000) -> int:
    """Drain recorded events into the database in batches; returns how many were written."""
    # This process's views still in its tally go to the buffer first.
    await platform.tally.flush()
    written = 0
    while written < limit:
        events, token = await platform.views.drain(BATCH)
        if not events:
            await platform.views.acknowledge(token)
            break
        own = await _members_views(platform, events)
        rows: list[dict[str, Any]] = []
        for start in range(0, len(events), PIECE):
            rows += [_row(e) for e in events[start : start + PIECE] if id(e) not in own]
            await asyncio.sleep(0)
        per_image: dict[uuid.UUID, int] = {}
        for row in rows:
            per_image[row["image_id"]] = per_image.get(row["image_id"], 0) + 1
        async with platform.db.transaction() as session:
            views = ViewRepository(session)
            existing = await views.existing_images(list(per_image))
            keep = [r for r in rows if r["image_id"] in existing]  # images deleted meanwhile
            for start in range(0, len(keep), PIECE):
                await views.record(keep[start : start + PIECE])
            for image_id, count in per_image.items():
                if image_id in existing:
                    await views.count_views(image_id, count)
        # Acknowledged only after the commit: a crash in between replays the batch, never loses it.
        await platform.views.acknowledge(token)
        written += len(events)
    return written


async def rollup(platform: Any, *, days: int = 2) -> None:
    """Recompute the daily roll-ups of the last ``days`` days (idempotent)."""
    since = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=days - 1
    )
    dialect = platform.db.dialect
    async with platform.db.transaction() as session:
        views = ViewRepository(session)
        images = [
            ImageDaily(
                image_id=image_id, day=_as_date(d), views=n, unique_viewers=unique, bytes=sent
            )
            for image_id, d, n, unique, sent in await views.per_image_day(since, dialect)
        ]
        usage: dict[tuple[uuid.UUID, date], dict[str, int]] = {}
        for client_id, d, n, sent in await views.per_client_day(since, dialect):
            usage.setdefault((client_id, _as_date(d)), {"uploads": 0})
            usage[(client_id, _as_date(d))].update(views=n, bandwidth_bytes=sent)
        for client_id, d, count in await views.uploads_per_client_day(since, dialect):
            usage.setdefault((client_id, _as_date(d)), {"uploads": 0})["uploads"] = count
        clients = [
            UsageDaily(
                client_id=client_id,
                day=d,
                uploads=values.get("uploads", 0),
                views=values.get("views", 0),
                bandwidth_bytes=values.get("bandwidth_bytes", 0),
            )
            for (client_id, d), values in usage.items()
        ]
        await views.replace_daily(since.date(), images, clients)


def _as_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


async def prune(platform: Any, *, retention_days: int) -> int:
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    async with platform.db.transaction() as session:
        return await ViewRepository(session).prune_before(cutoff)


async def image_stats(session: Any, image: Image, *, days: int = 30) -> dict[str, Any]:
    since = datetime.now(UTC) - timedelta(days=days)
    views = ViewRepository(session)
    daily = await views.daily_of(image.id, since.date())

    async def top(column: Any) -> list[dict[str, Any]]:
        rows = await views.top(image.id, since, column)
        return [{"name": name, "views": count} for name, count in rows]

    unique = await views.unique_viewers(image.id, since)
    return {
        "image_id": str(image.id),
        "views": image.views,
        "unique_viewers": int(unique or 0),
        "per_day": [
            {"day": d.isoformat(), "views": v, "unique_viewers": u, "bytes": b}
            for d, v, u, b in daily
        ],
        "referrers": await top(ImageView.referrer),
        "devices": await top(ImageView.device),
        "browsers": await top(ImageView.browser),
        "countries": await top(ImageView.country),
        "days": days,
    }
