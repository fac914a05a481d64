"""No overselling, by the database on both backends (issue 17): 20 buyers check out the
last unit at once, exactly one gets an order and the others 409 ``out_of_stock`` naming the
product; stock is given back exactly once when an unpaid order expires and is cancelled at
the same moment by its buyer; a payment that succeeds after its order expired is refunded;
credits of a pack arrive once however often the payment is reported."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select

from studioflow.billing import credits
from studioflow.models import CreditPack, Order, OrderStatus, Payment, PaymentStatus, Product
from studioflow.payments import ledger
from studioflow.payments import service as payments
from studioflow.platform.runtime import Platform
from studioflow.settings import Settings
from studioflow.shop import orders
from tests.factories import admin_client, bearer_headers

ADDRESS = {"name": "A", "line1": "1 St", "city": "Berlin", "postal_code": "10115", "country": "DE"}


async def a_shop(
    client: httpx.AsyncClient, platform: Platform, admin: dict[str, str], stock: int
) -> tuple[dict[str, str], str]:
    seller = await bearer_headers(platform, f"seller-{uuid.uuid4().hex[:6]}@example.com")
    me = (await client.get("/api/v1/auth/me", headers=seller)).json()
    client_id = me["active_client_id"]
    await client.post(
        "/api/v1/seller/apply",
        json={"display_name": "Last one", "slug": f"last-{uuid.uuid4().hex[:6]}"},
        headers=seller,
    )
    approved = await client.post(f"/api/v1/admin/sellers/{client_id}/approve", headers=admin)
    assert approved.status_code == 200, approved.text
    made = await client.post(
        "/api/v1/seller/products",
        json={"title": "Limited palette", "price": {"amount": 4500, "currency": "EUR"},
              "stock": stock, "status": "active"},
        headers=seller,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    return seller, made.json()["id"]


async def test_twenty_buyers_one_last_unit(committed: tuple[Settings, Platform]) -> None:
    settings, platform = committed
    async with admin_client(settings, platform, "race-admin@example.com") as (client, admin):
        _, product_id = await a_shop(client, platform, admin, stock=1)
        buyers = [await bearer_headers(platform, f"buyer{n}@example.com") for n in range(20)]
        for h in buyers:
            added = await client.post(
                "/api/v1/cart/items", json={"product_id": product_id}, headers=h
            )
            assert added.status_code == 201, added.text
        answers = await asyncio.gather(
            *(
                client.post("/api/v1/orders", json={"shipping_address": ADDRESS}, headers=h)
                for h in buyers
            )
        )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * 19, [a.text for a in answers if a.status_code >= 500]
    refused = [a.json() for a in answers if a.status_code == 409]
    assert {r["code"] for r in refused} == {"out_of_stock"}
    assert all(r["products"][0]["id"] == product_id for r in refused)
    async with platform.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Order)) == 1
        assert await session.scalar(select(func.count()).select_from(Payment)) == 1
        product = await session.get(Product, uuid.UUID(product_id))
        assert product is not None and product.stock == 0


async def test_stock_comes_back_once_and_a_late_payment_is_refunded(
    committed: tuple[Settings, Platform],
) -> None:
    settings, platform = committed
    async with admin_client(settings, platform, "expiry-admin@example.com") as (client, admin):
        _, product_id = await a_shop(client, platform, admin, stock=3)
        buyer = await bearer_headers(platform, "slow-buyer@example.com")
        await client.post(
            "/api/v1/cart/items", json={"product_id": product_id, "quantity": 2}, headers=buyer
        )
        done = await client.post(
            "/api/v1/orders", json={"shipping_address": ADDRESS}, headers=buyer
        )
        assert done.status_code == 201, done.text
        order_id = done.json()["orders"][0]["id"]
        payment_id = done.json()["payment"]["id"]
        # The expiry job (twice, as two workers would) and the buyer's cancel, at once.
        later = datetime.now(UTC) + timedelta(minutes=settings.shop_payment_minutes + 1)
        outcomes = await asyncio.gather(
            orders.expire(platform, later),
            orders.expire(platform, later),
            client.post(f"/api/v1/orders/{order_id}/cancel", headers=buyer),
            return_exceptions=True,
        )
        assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
        async with platform.db.read() as session:
            product = await session.get(Product, uuid.UUID(product_id))
            order = await session.get(Order, uuid.UUID(order_id))
            payment = await session.get(Payment, uuid.UUID(payment_id))
            assert product is not None and product.stock == 3  # 2 given back, once
            assert order is not None and order.status is OrderStatus.cancelled
            assert payment is not None and payment.status is PaymentStatus.failed
        # The card network reports the payment paid after all: it is refunded, not kept.
        late = await client.post(
            f"/api/v1/payments/{payment_id}/test-outcome",
            json={"outcome": "succeed"},
            headers=buyer,
        )
        assert late.status_code == 200, late.text
        assert late.json()["status"] == "refunded" and late.json()["refunded_amount"] == 9000
        order_now = await client.get(f"/api/v1/orders/{order_id}", headers=buyer)
        assert order_now.json()["status"] == "cancelled"
    async with platform.db.read() as session:
        assert await ledger.verify(session) == []
        assert await ledger.balance(session, ledger.CLEARING, ledger.PLATFORM, "EUR") == 0


async def test_a_credit_pack_pays_out_once(committed: tuple[Settings, Platform]) -> None:
    settings, platform = committed
    async with admin_client(settings, platform, "pack-admin@example.com") as (client, admin):
        made = await client.post(
            "/api/v1/admin/credit-packs",
            json={"name": "Starter", "credits": 50, "price": {"amount": 900, "currency": "EUR"}},
            headers=admin,
        )
        assert made.status_code == 201, made.text
        listed = await client.get("/api/v1/credit-packs")
        assert [p["credits"] for p in listed.json()] == [50]
        owner = await bearer_headers(platform, "pack-owner@example.com")
        bought = await client.post(
            "/api/v1/credits/purchase", json={"pack_id": made.json()["id"]}, headers=owner
        )
        assert bought.status_code == 201, bought.text
        payment_id = bought.json()["payment"]["id"]
        me = (await client.get("/api/v1/auth/me", headers=owner)).json()
        client_id = uuid.UUID(me["active_client_id"])
        before = await balance(platform, client_id)
        # An admin doubles the pack meanwhile: the buyer gets what they saw.
        await client.put(
            f"/api/v1/admin/credit-packs/{made.json()['id']}",
            json={"name": "Starter", "credits": 100, "price": {"amount": 900, "currency": "EUR"}},
            headers=admin,
        )
        # Ten reports of success at once (double clicks, retried webhooks): credits once.
        answers = await asyncio.gather(
            *(settle(platform, uuid.UUID(payment_id)) for _ in range(10))
        )
        assert sorted(answers) == [False] * 9 + [True]
        assert await balance(platform, client_id) == before + 50
    async with platform.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(CreditPack)) == 1


async def settle(platform: Platform, payment_id: uuid.UUID) -> bool:
    async with platform.db.transaction() as session:
        return await payments.succeed(platform, session, payment_id)


async def balance(platform: Platform, client_id: uuid.UUID) -> int:
    async with platform.db.sessionmaker() as session:
        return await credits.balance(platform.db, session, client_id)
