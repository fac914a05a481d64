"""Search over products, services and artists (issue 17), on both backends: SQLite FTS5
and PostgreSQL full text, kept in step by the writes themselves (a renamed product is found
by its new name at once, a deleted one is gone), ranked (a word in the title beats one in
the description), each word a prefix, and only what the public may see."""

from __future__ import annotations

import httpx
import pytest

from studioflow.platform.runtime import Platform
from tests.factories import create_account, signed_in_admin
from tests.identity.helpers import Account
from tests.shop.test_shop_api import a_product, a_seller


@pytest.fixture
async def admin(client: httpx.AsyncClient, platform: Platform) -> Account:
    return await signed_in_admin(client, platform, "search-admin@example.com")


async def found(client: httpx.AsyncClient, query: str) -> list[tuple[str, str]]:
    answer = await client.get(f"/api/v1/search?{query}")
    assert answer.status_code == 200, answer.text
    return [(hit["type"], hit["title"]) for hit in answer.json()["items"]]


async def test_search_finds_ranks_and_keeps_in_step(
    client: httpx.AsyncClient, platform: Platform, admin: Account
) -> None:
    seller = await a_seller(client, platform, admin, slug="search-shop")
    velvet = await a_product(
        client, seller, title="Velvet Lipstick", description="Long wear", category="lips"
    )
    await a_product(
        client, seller, title="Rose Balm", description="Softer than velvet", category="care",
        price={"amount": 900, "currency": "EUR"},
    )  # fmt: skip
    await a_product(client, seller, title="Velvet Draft", status="draft")
    # A business with a service and an artist.
    owner = seller.headers
    await client.put(
        "/api/v1/booking/profile",
        json={"slug": "velvet-salon", "name": "Velvet Salon", "timezone": "UTC", "currency": "EUR"},
        headers=owner,
    )
    staff = await client.post(
        "/api/v1/booking/staff",
        json={"user_id": seller.user_id, "display_name": "Vera Velvetine", "bio": "Lashes"},
        headers=owner,
    )
    assert staff.status_code == 201, staff.text
    service = await client.post(
        "/api/v1/services",
        json={"name": "Velvet brows", "price": {"amount": 3000, "currency": "EUR"},
              "duration_minutes": 30, "staff_ids": [staff.json()["id"]]},
        headers=owner,
    )  # fmt: skip
    assert service.status_code == 201, service.text

    hits = await found(client, "q=velv")
    assert ("product", "Velvet Draft") not in hits  # not on sale
    assert {h for h in hits} == {
        ("product", "Velvet Lipstick"),
        ("product", "Rose Balm"),
        ("service", "Velvet brows"),
        ("artist", "Vera Velvetine"),
    }
    products = await found(client, "q=velvet&type=products")
    assert products == [("product", "Velvet Lipstick"), ("product", "Rose Balm")]  # title first
    assert await found(client, "q=velvet&type=products&category=care") == [("product", "Rose Balm")]
    assert await found(client, "q=velvet&type=products&max_price=1000") == [
        ("product", "Rose Balm")
    ]
    assert await found(client, "q=velvet+lip") == [("product", "Velvet Lipstick")]  # every word
    answer = (await client.get("/api/v1/search?q=brows&type=services")).json()["items"][0]
    assert answer["url"].startswith("/book/velvet-salon?service_id=")

    # Renamed: found by the new name at once, not the old; deleted: gone.
    renamed = await client.patch(
        f"/api/v1/seller/products/{velvet['id']}", json={"title": "Satin Lipstick"}, headers=owner
    )
    assert renamed.status_code == 200, renamed.text
    assert await found(client, "q=satin") == [("product", "Satin Lipstick")]
    assert ("product", "Satin Lipstick") not in await found(client, "q=velvet&type=products")
    await client.delete(f"/api/v1/seller/products/{velvet['id']}", headers=owner)
    assert await found(client, "q=satin") == []
    # A suspended seller's products leave the results.
    await client.post(f"/api/v1/admin/sellers/{seller.client_id}/suspend", headers=admin.headers)
    assert await found(client, "q=rose") == []


async def test_queries_are_words_never_syntax(
    client: httpx.AsyncClient, platform: Platform, admin: Account
) -> None:
    seller = await a_seller(client, platform, admin, slug="syntax-shop")
    await a_product(client, seller, title="Glow Serum")
    for query in ('"glow', "glow OR *", "glow) & !(x", "glow:* | serum", "NEAR(glow"):
        answer = await client.get("/api/v1/search", params={"q": query})
        assert answer.status_code == 200, (query, answer.text)
    assert await found(client, "q=glow%22%29") == [("product", "Glow Serum")]
    for query in ("***", "   ", "&|!"):
        answer = await client.get("/api/v1/search", params={"q": query})
        assert answer.status_code == 422, (query, answer.text)
    buyer = await create_account(client, platform, "searcher@example.com")
    assert (await client.get("/api/v1/search?q=glow", headers=buyer.headers)).status_code == 200


async def test_the_product_list_ranks_a_query_by_relevance(
    client: httpx.AsyncClient, platform: Platform, admin: Account
) -> None:
    seller = await a_seller(client, platform, admin, slug="rank-shop")
    await a_product(client, seller, title="Rose Oil", description="Cold pressed")
    await a_product(client, seller, title="Peach Blush", description="A soft rose tone")
    newest = await client.get("/api/v1/products?q=rose")  # substring, newest first
    assert [p["title"] for p in newest.json()["items"]] == ["Peach Blush", "Rose Oil"]
    ranked = await client.get("/api/v1/products?q=rose&sort=relevance")
    assert [p["title"] for p in ranked.json()["items"]] == ["Rose Oil", "Peach Blush"]
    blush = await client.get("/api/v1/products?q=tone&sort=relevance")
    assert [p["title"] for p in blush.json()["items"]] == ["Peach Blush"]
    page = await client.get("/shop?q=rose")
    assert page.status_code == 200 and page.text.index("Rose Oil") < page.text.index("Peach Blush")
