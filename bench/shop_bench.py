"""The shop under load (issue 17).

1. Checkout: 20 buyers, each with 2 products in the cart, check out at once (card, test
   mode) against products with ample stock, and 20 more at once for the last 5 units of one
   product: wall time, answers, and checks that no stock went below zero and that exactly
   the stock there was got sold. Baseline: the same 20 checkouts one after another.
2. Search: 50,000 products on sale from 50 sellers (words drawn from a beauty vocabulary),
   `GET /api/v1/search?q=…&type=products` for 200 queries of one or two words, p50 and p95.
   Baseline in the same run: the product list without a query (`GET /api/v1/products`),
   and beside it the list filtered with `?q=` (a LIKE over title and description).

Through the whole app in-process, its start-up heap frozen as a server's. SQLite always;
PostgreSQL too when STUDIOFLOW_BENCH_DATABASE_URL is set.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select, text

from bench.admin_bench import _postgres
from bench.booking_bench import _customers
from studioflow.app import create_app, served
from studioflow.models import Client, Order, Product, SellerProfile
from studioflow.platform.migrations import upgrade
from studioflow.platform.runtime import Platform, build_platform, freeze_startup_heap
from studioflow.seeds import seed_reference_data
from studioflow.settings import Settings

BUYERS = 20
PRODUCTS = 50_000
SELLERS = 50
QUERIES = 200
ADDRESS = {"name": "B", "line1": "1 St", "city": "Berlin", "postal_code": "10115", "country": "DE"}
WORDS = [
    "velvet",
    "matte",
    "satin",
    "glow",
    "dewy",
    "rose",
    "serum",
    "balm",
    "lipstick",
    "gloss",
    "liner",
    "mascara",
    "blush",
    "bronzer",
    "primer",
    "foundation",
    "concealer",
    "powder",
    "highlighter",
    "cleanser",
    "toner",
    "mask",
    "cream",
    "oil",
    "peptide",
    "retinol",
    "vitamin",
    "hyaluronic",
    "niacinamide",
    "ceramide",
    "shea",
    "argan",
    "jojoba",
    "coral",
    "berry",
    "nude",
    "plum",
    "ivory",
    "honey",
    "caramel",
    "mocha",
    "cocoa",
    "pearl",
    "gold",
    "copper",
    "peach",
    "cherry",
    "vanilla",
    "lavender",
    "mint",
    "aloe",
    "charcoal",
    "clay",
    "silk",
    "cashmere",
    "cloud",
    "sheer",
    "bold",
    "long",
    "wear",
    "waterproof",
    "gentle",
    "rich",
]


async def _catalogue(platform: Platform, products: int) -> list[uuid.UUID]:
    """Sellers (approved) and their active products, inserted directly (the search
    triggers index them as they go in)."""
    rng = random.Random(17)
    sellers = [uuid.uuid4() for _ in range(SELLERS)]
    async with platform.db.transaction() as session:
        await session.execute(
            insert(Client), [{"id": c, "name": f"s{i}"} for i, c in enumerate(sellers)]
        )
        await session.execute(
            insert(SellerProfile),
            [
                {"client_id": c, "display_name": f"Seller {i}", "slug": f"seller-{i}",
                 "status": "approved", "currency": "EUR", "decision_reason": ""}
                for i, c in enumerate(sellers)
            ],
        )  # fmt: skip
    ids: list[uuid.UUID] = []
    for start in range(0, products, 5000):
        rows = []
        for n in range(start, min(products, start + 5000)):
            title = " ".join(rng.sample(WORDS, 3)).title()
            rows.append(
                {"id": uuid.uuid4(), "client_id": sellers[n % SELLERS], "slug": f"p-{n}",
                 "title": title, "description": " ".join(rng.sample(WORDS, 12)),
                 "price_amount": rng.randrange(500, 9000), "currency": "EUR",
                 "stock": 1000, "status": "active", "category": rng.choice(["lips", "face", "care"]),
                 "skin_types": [], "has_variants": False}
            )  # fmt: skip
        async with platform.db.transaction() as session:
            await session.execute(insert(Product), rows)
        ids += [r["id"] for r in rows]
    if platform.db.dialect == "postgresql":
        # What autovacuum does soon after a bulk load in production: planner statistics.
        async with platform.db.transaction() as session:
            await session.execute(text("ANALYZE"))
    return ids


def _summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
    }


async def _fill(client: httpx.AsyncClient, buyer: dict[str, str], products: list[str]) -> None:
    for product_id in products:
        answer = await client.post(
            "/api/v1/cart/items", json={"product_id": product_id}, headers=buyer
        )
        assert answer.status_code == 201, answer.text


async def _checkout(client: httpx.AsyncClient, buyer: dict[str, str]) -> int:
    answer = await client.post("/api/v1/orders", json={"shipping_address": ADDRESS}, headers=buyer)
    return answer.status_code


async def _checkouts(
    client: httpx.AsyncClient, platform: Platform, product_ids: list[uuid.UUID]
) -> dict[str, Any]:
    rng = random.Random(3)
    buyers = await _customers(platform, BUYERS * 3)
    plenty = [str(p) for p in product_ids[:200]]
    # Baseline: 20 buyers one after another.
    for buyer in buyers[:BUYERS]:
        await _fill(client, buyer, rng.sample(plenty, 2))
    started = time.perf_counter()
    sequential = [await _checkout(client, b) for b in buyers[:BUYERS]]
    sequential_s = time.perf_counter() - started
    # 20 at once.
    for buyer in buyers[BUYERS : 2 * BUYERS]:
        await _fill(client, buyer, rng.sample(plenty, 2))
    started = time.perf_counter()
    concurrent = await asyncio.gather(*(_checkout(client, b) for b in buyers[BUYERS : 2 * BUYERS]))
    concurrent_s = time.perf_counter() - started
    # 20 at once for the last 5 units of one product.
    scarce = product_ids[-1]
    async with platform.db.transaction() as session:
        product = await session.get(Product, scarce)
        assert product is not None
        product.stock = 5
    for buyer in buyers[2 * BUYERS :]:
        await _fill(client, buyer, [str(scarce)])
    started = time.perf_counter()
    raced = await asyncio.gather(*(_checkout(client, b) for b in buyers[2 * BUYERS :]))
    raced_s = time.perf_counter() - started
    async with platform.db.read() as session:
        left = await session.scalar(select(Product.stock).where(Product.id == scarce))
        negative = await session.scalar(
            select(func.count()).select_from(Product).where(Product.stock < 0)
        )
        orders = await session.scalar(select(func.count()).select_from(Order))
    return {
        "sequential_20_seconds": round(sequential_s, 2),
        "concurrent_20_seconds": round(concurrent_s, 2),
        "ratio_concurrent_to_sequential": round(concurrent_s / sequential_s, 2),
        "checkouts_per_second_concurrent": round(BUYERS / concurrent_s, 1),
        "answers": {
            "sequential": sorted(sequential),
            "concurrent": {str(s): concurrent.count(s) for s in set(concurrent)},
            "last_5_units": {str(s): raced.count(s) for s in set(raced)},
        },
        "last_5_units_seconds": round(raced_s, 2),
        "scarce_stock_left": left,
        "products_below_zero": negative,
        "orders": orders,
    }


async def _search(client: httpx.AsyncClient) -> dict[str, Any]:
    rng = random.Random(5)
    queries = [" ".join(rng.sample(WORDS, rng.choice((1, 2)))) for _ in range(QUERIES)]
    # Prefixes too, as a search box sends them while typing.
    queries = [q if i % 4 else q[: max(3, len(q) // 2)] for i, q in enumerate(queries)]

    async def timed(path: str) -> tuple[float, int]:
        started = time.perf_counter()
        answer = await client.get(path)
        assert answer.status_code == 200, answer.text
        return time.perf_counter() - started, len(answer.json()["items"])

    for q in queries[:10]:  # warm up
        await timed(f"/api/v1/search?q={q}&type=products")
    searched, hits = [], []
    for q in queries:
        seconds, found = await timed(f"/api/v1/search?q={q}&type=products")
        searched.append(seconds)
        hits.append(found)
    listed = [(await timed("/api/v1/products?limit=20"))[0] for _ in range(QUERIES // 4)]
    liked = [(await timed(f"/api/v1/products?q={q}&limit=20"))[0] for q in queries[: QUERIES // 4]]
    results: dict[str, Any] = {
        "products": PRODUCTS,
        "queries": len(queries),
        "mean_hits": round(sum(hits) / len(hits), 1),
        "search": _summary(searched),
        "product_list_baseline": _summary(listed),
        "product_list_like_q": _summary(liked),
    }
    results["ratio_search_p95_to_list_p95"] = round(
        results["search"]["p95_ms"] / results["product_list_baseline"]["p95_ms"], 2
    )
    return results


async def _measure(settings: Settings) -> dict[str, Any]:
    platform = build_platform(settings)
    await upgrade(platform.db.engine)
    async with platform.db.transaction() as session:
        await seed_reference_data(session)
    started = time.perf_counter()
    product_ids = await _catalogue(platform, PRODUCTS)
    print(f"catalogue of {PRODUCTS} in {time.perf_counter() - started:.1f} s", flush=True)
    app = create_app(settings, platform=platform, run_worker=False, configure_logs=False)
    freeze_startup_heap()
    transport = httpx.ASGITransport(app=served(app))
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=120
        ) as client:
            results = {"search": await _search(client)}
            print("search", results["search"], flush=True)
            results["checkout"] = await _checkouts(client, platform, product_ids)
            print("checkout", results["checkout"], flush=True)
    finally:
        await platform.close()
    return results


async def run() -> dict[str, object]:
    from studioflow.platform.observability import configure_logging

    configure_logging(json_logs=True, level="warning")
    results: dict[str, object] = {"measured_at": datetime.now(UTC).isoformat()}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(
            data_dir=root / "data",
            secret_key="b" * 8 + uuid.uuid4().hex,
            database_url=f"sqlite+aiosqlite:///{root / 'bench.db'}",
            rate_limit_per_ip="100000/minute",
        )
        results["sqlite"] = await _measure(settings)
        database_url = os.environ.get("STUDIOFLOW_BENCH_DATABASE_URL")
        if database_url:
            async with _postgres(database_url) as url:
                results["postgresql"] = await _measure(
                    settings.model_copy(update={"database_url": url})
                )
    return results
