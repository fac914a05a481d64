"""Live product changes (issue 17, seed 002's realtime ``products`` channel): a write that
changes a product's stock, price or status notes the product in its unit of work; once it
commits, a snapshot of each noted product is published on the event bus (in process
embedded, Redis at scale, so a checkout on one api process reaches pages open on another).

Live only: a page that missed a message still shows the truth on its next load, and the
stream starts with nothing to replay (there is no history of stock to catch up on).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from studioflow.platform.db import after_commit
from studioflow.platform.runtime import Platform
from studioflow.shop.repository import ProductRepository

CHANNEL = "shop.products"
KEEPALIVE_SECONDS = 15.0
_NOTED = "studioflow.shop.changed_products"


def changed(platform: Platform, session: AsyncSession, product_ids: Iterable[uuid.UUID]) -> None:
    """Publish these products' new state once ``session`` commits (nothing on rollback)."""
    noted: set[uuid.UUID] | None = session.info.get(_NOTED)
    if noted is None:
        noted = session.info[_NOTED] = set()

        async def publish() -> None:
            ids = sorted(session.info.pop(_NOTED, set()))
            await publish_now(platform, ids)

        after_commit(session, publish)
    noted.update(product_ids)


async def snapshots(session: AsyncSession, product_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    products = ProductRepository(session)
    rows = await products.many(product_ids)
    variants = await products.variants_of(list(rows))
    out: list[dict[str, Any]] = []
    for product_id in product_ids:
        row = rows.get(product_id)
        if row is None:
            out.append({"id": str(product_id), "status": "deleted"})
            continue
        shades = variants[row.id]
        out.append(
            {
                "id": str(row.id),
                "slug": row.slug,
                "status": row.status.value,
                "price": {"amount": row.price_amount, "currency": row.currency},
                "stock": sum(v.stock for v in shades) if row.has_variants else row.stock,
                "variants": [
                    {"id": str(v.id), "stock": v.stock, "price": v.price_amount} for v in shades
                ],
            }
        )
    return out


async def publish_now(platform: Platform, product_ids: list[uuid.UUID]) -> None:
    if not product_ids:
        return
    async with platform.db.read() as session:
        for snapshot in await snapshots(session, product_ids):
            await platform.events.publish(CHANNEL, snapshot)


async def stream(
    platform: Platform, request: Request, wanted: set[str] | None
) -> AsyncIterator[str]:
    """``product.changed`` events, all or only the ``wanted`` products' ids."""
    async with platform.events.subscribe(CHANNEL) as subscription:
        yield "retry: 3000\n\n"
        while True:
            message = await subscription.get(timeout=KEEPALIVE_SECONDS)
            if await request.is_disconnected():
                return
            if message is None:
                yield ": keep-alive\n\n"
                continue
            if wanted is None or message.get("id") in wanted:
                yield f"event: product.changed\ndata: {json.dumps(message)}\n\n"
