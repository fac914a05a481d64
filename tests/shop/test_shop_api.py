"""The shop end to end over HTTP (issue 17): a workspace applies to sell, an admin approves
it, it lists a product with shades; a buyer fills a cart, checks out through the TEST MODE
payment, and the order is paid only when the payment succeeds; the seller fulfils and
refunds part; the ledger and the wallet add up after every step."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from studioflow.payments import ledger
from studioflow.platform.runtime import Platform
from tests.factories import create_account, signed_in_admin
from tests.identity.helpers import Account

ADDRESS = {
    "name": "Ada Buyer",
    "line1": "1 Rose Street",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


@pytest.fixture
async def admin(client: httpx.AsyncClient, platform: Platform) -> Account:
    return await signed_in_admin(client, platform, "shop-admin@example.com")


async def a_seller(
    client: httpx.AsyncClient, platform: Platform, admin: Account, slug: str = "glow-shop"
) -> Account:
    owner = await create_account(client, platform, f"{slug}@example.com")
    applied = await client.post(
        "/api/v1/seller/apply",
        json={"display_name": "Glow Shop", "slug": slug, "payout_details": "DE89 3704 0044"},
        headers=owner.headers,
    )
    assert applied.status_code == 200, applied.text
    assert applied.json()["status"] == "pending"
    assert applied.json()["has_payout_details"] is True
    assert "DE89" not in applied.text  # stored encrypted, never answered
    approved = await client.post(
        f"/api/v1/admin/sellers/{owner.client_id}/approve", headers=admin.headers
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    return owner


async def a_product(client: httpx.AsyncClient, seller: Account, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Velvet Lipstick",
        "description": "A matte lipstick that lasts.",
        "price": {"amount": 2000, "currency": "EUR"},
        "stock": 5,
        "status": "active",
        "category": "lips",
        "attributes": {"shade_hex": "#aa3344", "finish": "matte", "skin_types": ["dry"]},
    }
    body.update(overrides)
    made = await client.post("/api/v1/seller/products", json=body, headers=seller.headers)
    assert made.status_code == 201, made.text
    return dict(made.json())


async def ledger_is_sound(platform: Platform) -> None:
    async with platform.db.read() as session:
        assert await ledger.verify(session) == []


async def test_sell_buy_pay_fulfil_refund(
    client: httpx.AsyncClient, platform: Platform, admin: Account
) -> None:
    seller = await a_seller(client, platform, admin)
    product = await a_product(
        client,
        seller,
        title="Silk Foundation",
        price={"amount": 3000, "currency": "EUR"},
        variants=[
            {"name": "Ivory", "price": {"amount": 3000, "currency": "EUR"}, "stock": 2,
             "attributes": {"shade_hex": "#f1d3c2"}},
            {"name": "Honey", "price": {"amount": 3200, "currency": "EUR"}, "stock": 1,
             "attributes": {"shade_hex": "#c68e5a"}},
        ],
    )  # fmt: skip
    assert product["slug"] == "silk-foundation" and product["stock"] == 3
    honey = next(v for v in product["variants"] if v["name"] == "Honey")
    listed = await client.get("/api/v1/products?q=silk")  # public
    assert [p["id"] for p in listed.json()["items"]] == [product["id"]]
    by_slug = await client.get("/api/v1/products/silk-foundation")
    assert by_slug.status_code == 200 and by_slug.json()["seller"]["slug"] == "glow-shop"

    buyer = await create_account(client, platform, "buyer@example.com")
    h = buyer.headers
    no_variant = await client.post(
        "/api/v1/cart/items", json={"product_id": product["id"]}, headers=h
    )
    assert no_variant.status_code == 422 and no_variant.json()["code"] == "variant_required"
    added = await client.post(
        "/api/v1/cart/items",
        json={"product_id": product["id"], "variant_id": honey["id"], "quantity": 1},
        headers=h,
    )
    assert added.status_code == 201, added.text
    assert added.json()["subtotal"] == {"amount": 3200, "currency": "EUR"}

    keyed = {**h, "Idempotency-Key": "checkout-1"}
    body = {"shipping_address": ADDRESS, "pay_with": "card"}
    done = await client.post("/api/v1/orders", json=body, headers=keyed)
    assert done.status_code == 201, done.text
    again = await client.post("/api/v1/orders", json=body, headers=keyed)
    assert again.json() == done.json() and again.headers["idempotent-replayed"] == "true"
    (order,) = done.json()["orders"]
    payment = done.json()["payment"]
    assert order["status"] == "pending_payment" and order["subtotal"]["amount"] == 3200
    assert payment["provider"] == "test" and payment["redirect_url"].endswith(
        f"/pay/{payment['id']}"
    )
    assert (await client.get("/api/v1/cart", headers=h)).json()["items"] == []
    # Reserved: the last Honey is gone for everyone else.
    assert (await client.get("/api/v1/products/silk-foundation")).json()["stock"] == 2

    # Not paid by declining; then an extra step; then paid.
    outcome = f"/api/v1/payments/{payment['id']}/test-outcome"
    declined = await client.post(outcome, json={"outcome": "decline"}, headers=h)
    assert declined.json()["status"] == "failed"
    assert (await client.get(f"/api/v1/orders/{order['id']}", headers=h)).json()[
        "status"
    ] == "pending_payment"
    action = await client.post(outcome, json={"outcome": "requires_action"}, headers=h)
    assert action.json()["status"] == "requires_action"
    paid = await client.post(outcome, json={"outcome": "succeed"}, headers=h)
    assert paid.json()["status"] == "succeeded"
    twice = await client.post(outcome, json={"outcome": "succeed"}, headers=h)
    assert twice.status_code == 200  # a double click changes nothing
    late = await client.post(outcome, json={"outcome": "decline"}, headers=h)
    assert late.status_code == 409 and late.json()["code"] == "invalid_transition"
    mine = await client.get(f"/api/v1/orders/{order['id']}", headers=h)
    assert mine.json()["status"] == "paid"

    # The seller earned the subtotal minus 10 %, once.
    profile = await client.get("/api/v1/seller", headers=seller.headers)
    assert profile.json()["balance"] == {"amount": 2880, "currency": "EUR"}
    await ledger_is_sound(platform)

    # Another user sees none of it.
    stranger = await create_account(client, platform, "stranger@example.com")
    for path in (f"/api/v1/orders/{order['id']}", f"/api/v1/payments/{payment['id']}"):
        assert (await client.get(path, headers=stranger.headers)).status_code == 404
    assert (
        await client.get(f"/api/v1/seller/orders/{order['id']}", headers=stranger.headers)
    ).status_code == 404
    assert (
        await client.post(outcome, json={"outcome": "succeed"}, headers=stranger.headers)
    ).status_code == 404

    to_fulfil = await client.get("/api/v1/seller/orders?status=paid", headers=seller.headers)
    assert [o["id"] for o in to_fulfil.json()["items"]] == [order["id"]]
    sent = await client.post(
        f"/api/v1/seller/orders/{order['id']}/fulfil",
        json={"tracking": "DHL 123"},
        headers=seller.headers,
    )
    assert sent.json()["status"] == "fulfilled" and sent.json()["tracking"] == "DHL 123"
    part = await client.post(
        f"/api/v1/seller/orders/{order['id']}/refund", json={"amount": 1000}, headers=seller.headers
    )
    assert part.status_code == 200, part.text
    assert part.json()["status"] == "refunded" and part.json()["refunded"]["amount"] == 1000
    too_much = await client.post(
        f"/api/v1/seller/orders/{order['id']}/refund", json={"amount": 2201}, headers=seller.headers
    )
    assert too_much.status_code == 422 and too_much.json()["code"] == "invalid_amount"
    rest = await client.post(f"/api/v1/seller/orders/{order['id']}/refund", headers=seller.headers)
    assert rest.json()["refunded"]["amount"] == 3200
    profile = await client.get("/api/v1/seller", headers=seller.headers)
    assert profile.json()["balance"]["amount"] == 0  # every cent of earnings given back
    paid_back = await client.get(f"/api/v1/payments/{payment['id']}", headers=h)
    assert paid_back.json()["status"] == "refunded"
    assert paid_back.json()["refunded_amount"] == 3200
    async with platform.db.read() as session:
        assert await ledger.balance(session, ledger.COMMISSION, ledger.PLATFORM, "EUR") == 0
        assert await ledger.balance(session, ledger.CLEARING, ledger.PLATFORM, "EUR") == 0
    await ledger_is_sound(platform)


async def test_wallet_topup_pays_orders_and_takes_refunds(
    client: httpx.AsyncClient, platform: Platform, admin: Account
) -> None:
    seller = await a_seller(client, platform, admin, slug="wallet-shop")
    product = await a_product(client, seller, title="Rose Serum", stock=3)
    buyer = await create_account(client, platform, "wallet-buyer@example.com")
    h = buyer.headers
    empty = await client.get("/api/v1/wallet", headers=h)
    assert empty.json()["balance"] == 0 and empty.json()["currency"] == "EUR"
    await client.post(
        "/api/v1/cart/items", json={"product_id": product["id"], "quantity": 2}, headers=h
    )
    short = await client.post(
        "/api/v1/orders", json={"shipping_address": ADDRESS, "pay_with": "wallet"}, headers=h
    )
    assert short.status_code == 402 and short.json()["code"] == "insufficient_funds"
    # Nothing of the refused checkout stayed: stock, cart, orders.
    assert (await client.get(f"/api/v1/products/{product['id']}")).json()["stock"] == 3
    assert len((await client.get("/api/v1/cart", headers=h)).json()["items"]) == 1
    assert (await client.get("/api/v1/orders", headers=h)).json()["items"] == []

    topup = await client.post("/api/v1/wallet/topup", json={"amount": 5000}, headers=h)
    assert topup.status_code == 201, topup.text
    assert (await client.get("/api/v1/wallet", headers=h)).json()["balance"] == 0  # not yet
    await client.post(
        f"/api/v1/payments/{topup.json()['id']}/test-outcome",
        json={"outcome": "succeed"},
        headers=h,
    )
    assert (await client.get("/api/v1/wallet", headers=h)).json()["balance"] == 5000

    done = await client.post(
        "/api/v1/orders", json={"shipping_address": ADDRESS, "pay_with": "wallet"}, headers=h
    )
    assert done.status_code == 201, done.text
    assert done.json()["payment"]["status"] == "succeeded"
    assert done.json()["orders"][0]["status"] == "paid"
    order_id = done.json()["orders"][0]["id"]
    held = (await client.get("/api/v1/wallet", headers=h)).json()
    assert held["balance"] == 1000
    assert [t["reason"] for t in held["transactions"]] == ["pay_orders", "topup"]
    refunded = await client.post(
        f"/api/v1/seller/orders/{order_id}/refund", json={"amount": 1500}, headers=seller.headers
    )
    assert refunded.status_code == 200, refunded.text
    assert (await client.get("/api/v1/wallet", headers=h)).json()["balance"] == 2500
    await ledger_is_sound(platform)


async def test_sellers_products_and_states(
    client: httpx.AsyncClient, platform: Platform, admin: Account
) -> None:
    owner = await create_account(client, platform, "pending@example.com")
    h = owner.headers
    assert (await client.get("/api/v1/seller", headers=h)).json()["code"] == "not_a_seller"
    await client.post(
        "/api/v1/seller/apply", json={"display_name": "Pending", "slug": "pending"}, headers=h
    )
    draft = await a_product(client, owner, title="Blush")  # a pending seller may prepare
    assert (await client.get(f"/api/v1/products/{draft['id']}")).status_code == 404
    taken = await client.post(
        "/api/v1/seller/apply", json={"display_name": "Copy", "slug": "pending"},
        headers=(await create_account(client, platform, "copy@example.com")).headers,
    )  # fmt: skip
    assert taken.status_code == 409 and taken.json()["code"] == "slug_taken"
    wrong = await client.post(
        "/api/v1/seller/products",
        json={"title": "Dollars", "price": {"amount": 100, "currency": "USD"}},
        headers=h,
    )
    assert wrong.status_code == 422 and wrong.json()["code"] == "currency_mismatch"
    suspend = await client.post(
        f"/api/v1/admin/sellers/{owner.client_id}/suspend", headers=admin.headers
    )
    assert suspend.status_code == 409 and suspend.json()["code"] == "invalid_transition"
    await client.post(f"/api/v1/admin/sellers/{owner.client_id}/approve", headers=admin.headers)
    assert (await client.get(f"/api/v1/products/{draft['id']}")).status_code == 200
    not_admin = await client.post(f"/api/v1/admin/sellers/{owner.client_id}/suspend", headers=h)
    assert not_admin.status_code == 403
    await client.post(f"/api/v1/admin/sellers/{owner.client_id}/suspend", headers=admin.headers)
    assert (await client.get(f"/api/v1/products/{draft['id']}")).status_code == 404

    # Another seller's product is 404 to change.
    other = await a_seller(client, platform, admin, slug="other-shop")
    for method in ("GET", "PATCH", "DELETE"):
        answer = await client.request(
            method,
            f"/api/v1/seller/products/{draft['id']}",
            json={"stock": 1} if method == "PATCH" else None,
            headers=other.headers,
        )
        assert answer.status_code == 404, (method, answer.text)
    changed = await client.patch(
        f"/api/v1/seller/products/{draft['id']}", json={"stock": 9, "status": "archived"}, headers=h
    )
    assert changed.json()["stock"] == 9 and changed.json()["status"] == "archived"


async def test_payouts_and_a_refund_past_what_the_seller_is_owed(
    client: httpx.AsyncClient, platform: Platform, admin: Account
) -> None:
    seller = await a_seller(client, platform, admin, slug="payout-shop")
    product = await a_product(client, seller, title="Clay Mask", stock=2)
    buyer = await create_account(client, platform, "payout-buyer@example.com")
    await client.post(
        "/api/v1/cart/items", json={"product_id": product["id"]}, headers=buyer.headers
    )
    done = await client.post(
        "/api/v1/orders", json={"shipping_address": ADDRESS}, headers=buyer.headers
    )
    await client.post(
        f"/api/v1/payments/{done.json()['payment']['id']}/test-outcome",
        json={"outcome": "succeed"},
        headers=buyer.headers,
    )
    owed = (await client.get("/api/v1/seller", headers=seller.headers)).json()["balance"]
    assert owed["amount"] == 1800  # 2000 minus 10 %
    payouts = f"/api/v1/admin/sellers/{seller.client_id}/payouts"
    too_much = await client.post(payouts, json={"amount": 1801}, headers=admin.headers)
    assert too_much.status_code == 409 and too_much.json()["code"] == "insufficient_balance"
    not_admin = await client.post(payouts, json={"amount": 1}, headers=seller.headers)
    assert not_admin.status_code == 403
    paid = await client.post(
        payouts, json={"amount": 1500, "reference": "SEPA 42"}, headers=admin.headers
    )
    assert paid.status_code == 200 and paid.json()["balance"]["amount"] == 300
    # A full refund would take 1800 from the seller, who is owed 300 now: refused whole.
    order_id = done.json()["orders"][0]["id"]
    refused = await client.post(f"/api/v1/seller/orders/{order_id}/refund", headers=seller.headers)
    assert refused.status_code == 409 and refused.json()["code"] == "insufficient_balance"
    order = await client.get(f"/api/v1/orders/{order_id}", headers=buyer.headers)
    assert order.json()["status"] == "paid" and order.json()["refunded"]["amount"] == 0
    small = await client.post(
        f"/api/v1/seller/orders/{order_id}/refund", json={"amount": 300}, headers=seller.headers
    )
    assert small.status_code == 200, small.text
    async with platform.db.read() as session:
        assert await ledger.balance(session, ledger.PAYOUTS, ledger.PLATFORM, "EUR") == 1500
    await ledger_is_sound(platform)
