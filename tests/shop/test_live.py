"""Live product changes (issue 17): a checkout, a cancel and a seller's edit each publish
the product's new stock, price and status on the event bus once their transaction commits
(Redis at scale); a refused checkout publishes nothing."""

from __future__ import annotations

import httpx
import pytest

from studioflow.platform.runtime import Platform
from studioflow.shop import live
from tests.factories import create_account, signed_in_admin
from tests.identity.helpers import Account
from tests.shop.test_shop_api import ADDRESS, a_product, a_seller


@pytest.fixture
async def admin(client: httpx.AsyncClient, platform: Platform) -> Account:
    return await signed_in_admin(client, platform, "live-admin@example.com")


async def test_changes_reach_subscribers_after_commit(
    client: httpx.AsyncClient, platform: Platform, admin: Account
) -> None:
    seller = await a_seller(client, platform, admin, slug="live-shop")
    async with platform.events.subscribe(live.CHANNEL) as subscription:
        product = await a_product(client, seller, title="Live Gloss", stock=2)
        created = await subscription.get(timeout=5)
        assert created is not None and created["id"] == product["id"]
        assert created["stock"] == 2 and created["status"] == "active"

        buyer = await create_account(client, platform, "live-buyer@example.com")
        await client.post(
            "/api/v1/cart/items",
            json={"product_id": product["id"], "quantity": 2},
            headers=buyer.headers,
        )
        other = await create_account(client, platform, "late-buyer@example.com")
        await client.post(
            "/api/v1/cart/items", json={"product_id": product["id"]}, headers=other.headers
        )
        done = await client.post(
            "/api/v1/orders", json={"shipping_address": ADDRESS}, headers=buyer.headers
        )
        assert done.status_code == 201, done.text
        taken = await subscription.get(timeout=5)
        assert taken is not None and (taken["id"], taken["stock"]) == (product["id"], 0)

        refused = await client.post(
            "/api/v1/orders", json={"shipping_address": ADDRESS}, headers=other.headers
        )
        assert refused.status_code == 409
        assert await subscription.get(timeout=0.5) is None  # rolled back: nothing published

        order_id = done.json()["orders"][0]["id"]
        await client.post(f"/api/v1/orders/{order_id}/cancel", headers=buyer.headers)
        back = await subscription.get(timeout=5)
        assert back is not None and back["stock"] == 2

        await client.patch(
            f"/api/v1/seller/products/{product['id']}",
            json={"price": {"amount": 2500, "currency": "EUR"}},
            headers=seller.headers,
        )
        priced = await subscription.get(timeout=5)
        assert priced is not None and priced["price"] == {"amount": 2500, "currency": "EUR"}
