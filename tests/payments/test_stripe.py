"""Card payments through Stripe (issue 17), against a local fake that speaks its wire
format: checkout creates a PaymentIntent before anything is written; only a verified
webhook marks an order paid, once, whatever the order or number of deliveries; bad,
stale, future and tampered signatures are refused before anything is stored; a signed event
with another amount never pays; a failing handler answers 5xx and stores nothing, so
Stripe's retry succeeds; refunds reach Stripe from a job, once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from studioflow.models import PaymentEvent, PaymentPurpose, PaymentRefund, RefundStatus
from studioflow.payments import ledger
from studioflow.payments import service as payments
from studioflow.payments.stripe_api import ProviderError
from studioflow.platform.runtime import Platform
from tests.conftest import free_port
from tests.factories import create_account, signed_in_admin
from tests.fakes.oauth_server import ServerThread
from tests.fakes.stripe_api import SECRET_KEY, WEBHOOK_SECRET, FakeStripe, event, signature
from tests.identity.helpers import Account
from tests.shop.test_shop_api import ADDRESS, a_product, a_seller

WEBHOOK = "/api/v1/payments/webhook/stripe"


@pytest.fixture
async def admin(client: httpx.AsyncClient, platform: Platform) -> Account:
    return await signed_in_admin(client, platform, "stripe-admin@example.com")


@pytest.fixture
def stripe_fake(platform: Platform) -> Iterator[FakeStripe]:
    fake = FakeStripe()
    port = free_port()
    settings = platform.settings
    settings.stripe_secret_key, settings.stripe_webhook_secret = SECRET_KEY, WEBHOOK_SECRET
    settings.stripe_api_base = f"http://127.0.0.1:{port}"
    with ServerThread(fake.app(), port):
        yield fake


async def a_checkout(
    client: httpx.AsyncClient, platform: Platform, admin: Account, slug: str = "stripe-shop"
) -> tuple[Account, Account, dict[str, Any]]:
    seller = await a_seller(client, platform, admin, slug=slug)
    product = await a_product(client, seller, title="Peptide Cream", stock=3)
    buyer = await create_account(client, platform, f"card-buyer-{slug}@example.com")
    await client.post(
        "/api/v1/cart/items",
        json={"product_id": product["id"], "quantity": 2},
        headers=buyer.headers,
    )
    done = await client.post(
        "/api/v1/orders",
        json={"shipping_address": ADDRESS},
        headers={**buyer.headers, "Idempotency-Key": f"co-{slug}"},
    )
    assert done.status_code == 201, done.text
    return seller, buyer, done.json()


async def deliver(client: httpx.AsyncClient, body: bytes, header: str) -> httpx.Response:
    return await client.post(
        WEBHOOK,
        content=body,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


async def stored_events(platform: Platform) -> int:
    async with platform.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(PaymentEvent)) or 0)


async def test_an_order_is_paid_only_by_a_verified_event_once(
    client: httpx.AsyncClient,
    platform: Platform,
    admin: Account,
    stripe_fake: FakeStripe,
) -> None:
    seller, buyer, done = await a_checkout(client, platform, admin)
    payment = done["payment"]
    assert payment["provider"] == "stripe" and payment["redirect_url"] is None
    assert payment["client_secret"].startswith("pi_")
    (intent,) = stripe_fake.intents.values()
    assert intent["amount"] == 4000 and intent["metadata"]["payment_id"] == payment["id"]
    # The kept answer has no secret; the payment's own page asks Stripe for it again.
    again = await client.post(
        "/api/v1/orders",
        json={"shipping_address": ADDRESS},
        headers={**buyer.headers, "Idempotency-Key": "co-stripe-shop"},
    )
    assert again.json()["payment"]["client_secret"] is None
    assert len(stripe_fake.intents) == 1
    looked = await client.get(f"/api/v1/payments/{payment['id']}", headers=buyer.headers)
    assert looked.json()["client_secret"] == intent["client_secret"]

    paid = stripe_fake.pay(intent["id"])
    body = event("payment_intent.succeeded", paid)
    for header in (
        "",  # none at all
        signature(body, secret="whsec_someone_else"),
        signature(body, at=time.time() - 301),  # stale
        signature(body, at=time.time() + 3600),  # from the future
    ):
        refused = await deliver(client, body, header)
        assert refused.status_code == 400, refused.text
        assert refused.json()["code"] == "invalid_signature"
    tampered = body.replace(b'"amount_received": 4000', b'"amount_received": 1')
    assert tampered != body
    refused = await deliver(client, tampered, signature(body))
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_signature"
    assert await stored_events(platform) == 0  # nothing stored before verification
    order = f"/api/v1/orders/{done['orders'][0]['id']}"
    assert (await client.get(order, headers=buyer.headers)).json()["status"] == "pending_payment"

    # Signed with the right secret but another amount: never paid.
    short = event("payment_intent.succeeded", paid, amount_received=100)
    mismatch = await deliver(client, short, signature(short))
    assert mismatch.status_code == 200 and mismatch.json()["outcome"] == "amount_mismatch"
    assert (await client.get(order, headers=buyer.headers)).json()["status"] == "pending_payment"

    settled = await deliver(client, body, signature(body))
    assert settled.status_code == 200 and settled.json()["outcome"] == "settled"
    replay = await deliver(client, body, signature(body))
    assert replay.json()["outcome"] == "duplicate"
    # Another delivery of success (a new event id) and a late failure change nothing.
    late = event("payment_intent.payment_failed", paid, last_payment_error={"code": "x"})
    assert (await deliver(client, late, signature(late))).json()["outcome"] == "no_change"
    other = event("payment_intent.succeeded", paid)
    assert (await deliver(client, other, signature(other))).json()["outcome"] == "no_change"
    assert (await client.get(order, headers=buyer.headers)).json()["status"] == "paid"
    owed = (await client.get("/api/v1/seller", headers=seller.headers)).json()["balance"]
    assert owed["amount"] == 3600  # credited once
    async with platform.db.read() as session:
        assert await ledger.verify(session) == []


async def test_a_failing_handler_answers_5xx_and_the_retry_succeeds(
    client: httpx.AsyncClient,
    platform: Platform,
    admin: Account,
    stripe_fake: FakeStripe,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, buyer, done = await a_checkout(client, platform, admin, slug="retry-shop")
    (intent,) = stripe_fake.intents.values()
    body = event("payment_intent.succeeded", stripe_fake.pay(intent["id"]))
    real = payments._ON_SUCCESS[PaymentPurpose.orders]

    async def broken(*_: Any) -> None:
        raise RuntimeError("the database went away mid-handler")

    monkeypatch.setitem(payments._ON_SUCCESS, PaymentPurpose.orders, broken)
    failed = await deliver(client, body, signature(body))
    assert failed.status_code >= 500
    assert await stored_events(platform) == 0  # rolled back with the change: not a replay
    monkeypatch.setitem(payments._ON_SUCCESS, PaymentPurpose.orders, real)
    retried = await deliver(client, body, signature(body))
    assert retried.json()["outcome"] == "settled"
    order = f"/api/v1/orders/{done['orders'][0]['id']}"
    assert (await client.get(order, headers=buyer.headers)).json()["status"] == "paid"


async def test_refunds_reach_stripe_once_and_a_busy_stripe_stores_nothing(
    client: httpx.AsyncClient,
    platform: Platform,
    admin: Account,
    stripe_fake: FakeStripe,
) -> None:
    seller, buyer, done = await a_checkout(client, platform, admin, slug="refund-shop")
    (intent,) = stripe_fake.intents.values()
    body = event("payment_intent.succeeded", stripe_fake.pay(intent["id"]))
    assert (await deliver(client, body, signature(body))).json()["outcome"] == "settled"
    order_id = done["orders"][0]["id"]
    refunded = await client.post(
        f"/api/v1/seller/orders/{order_id}/refund", json={"amount": 1500}, headers=seller.headers
    )
    assert refunded.status_code == 200, refunded.text
    async with platform.db.read() as session:
        (row,) = (await session.scalars(select(PaymentRefund))).all()
    assert row.status is RefundStatus.pending or stripe_fake.refunds  # the job may have run
    stripe_fake.busy = True
    with pytest.raises(ProviderError):
        await payments.send_refund(platform, row.id)
    stripe_fake.busy = False
    assert await payments.send_refund(platform, row.id)
    assert await payments.send_refund(platform, row.id)  # done already: nothing more
    assert [r["amount"] for r in stripe_fake.refunds] == [1500]
    async with platform.db.read() as session:
        sent = await session.get(PaymentRefund, row.id)
        assert sent is not None and sent.status is RefundStatus.succeeded
        assert sent.provider_ref == stripe_fake.refunds[0]["id"]

    # Stripe busy at checkout: 503 with Retry-After, and nothing of the checkout stays.
    await client.post(
        "/api/v1/cart/items",
        json={"product_id": done["orders"][0]["items"][0]["product_id"]},
        headers=buyer.headers,
    )
    stripe_fake.busy = True
    busy = await client.post(
        "/api/v1/orders", json={"shipping_address": ADDRESS}, headers=buyer.headers
    )
    stripe_fake.busy = False
    assert busy.status_code == 503 and busy.json()["code"] == "provider_rate_limited"
    assert busy.headers["retry-after"]
    assert len((await client.get("/api/v1/cart", headers=buyer.headers)).json()["items"]) == 1
    mine = await client.get("/api/v1/orders", headers=buyer.headers)
    assert len(mine.json()["items"]) == 1


async def test_an_intent_made_for_a_checkout_that_fails_is_cancelled(
    client: httpx.AsyncClient,
    platform: Platform,
    admin: Account,
    stripe_fake: FakeStripe,
) -> None:
    seller = await a_seller(client, platform, admin, slug="cancel-shop")
    product = await a_product(client, seller, title="Last Balm", stock=1)
    first = await create_account(client, platform, "first-card@example.com")
    second = await create_account(client, platform, "second-card@example.com")
    for buyer in (first, second):
        await client.post(
            "/api/v1/cart/items", json={"product_id": product["id"]}, headers=buyer.headers
        )
    won = await client.post(
        "/api/v1/orders", json={"shipping_address": ADDRESS}, headers=first.headers
    )
    lost = await client.post(
        "/api/v1/orders", json={"shipping_address": ADDRESS}, headers=second.headers
    )
    assert won.status_code == 201 and lost.status_code == 409
    statuses = sorted(i["status"] for i in stripe_fake.intents.values())
    assert statuses == ["canceled", "requires_payment_method"]
    assert uuid.UUID(won.json()["payment"]["id"])
