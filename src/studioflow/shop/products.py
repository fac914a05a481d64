"""Products of a seller: what they are, their price, stock, images and variants.

A seller reads and changes only its own products (another's is 404); the public reads
active products of approved sellers. Prices are in the seller's one currency. Variants
(shades, sizes) each have their own price and stock; a product with variants is bought by
naming one.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity.auth import Principal
from studioflow.media import service as media
from studioflow.models import Product, ProductStatus, ProductVariant
from studioflow.platform.errors import Conflict, NotFound, Unprocessable
from studioflow.platform.pagination import PageParams
from studioflow.platform.runtime import Platform
from studioflow.shop import live, search, sellers
from studioflow.shop.repository import ProductRepository

MAX_IMAGES = 10
MAX_VARIANTS = 50


@dataclass
class VariantIn:
    name: str
    price: int
    stock: int
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProductView:
    """A product with what its pages and answers show beside it."""

    product: Product
    variants: list[ProductVariant]
    image_ids: list[uuid.UUID]
    seller_slug: str = ""
    seller_name: str = ""

    @property
    def in_stock(self) -> int:
        if self.product.has_variants:
            return sum(v.stock for v in self.variants)
        return self.product.stock


def slugify(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")
    return slug[:80] or "product"


async def _free_slug(products: ProductRepository, wanted: str, seller_slug: str) -> str:
    if not await products.slug_taken(wanted):
        return wanted
    candidate = f"{seller_slug}-{wanted}"[:110]
    if not await products.slug_taken(candidate):
        return candidate
    return f"{candidate[:100]}-{uuid.uuid4().hex[:8]}"


async def views(session: AsyncSession, rows: list[Product]) -> list[ProductView]:
    products = ProductRepository(session)
    ids = [row.id for row in rows]
    variants = await products.variants_of(ids)
    images = await products.images_of(ids)
    profiles = await sellers.of_clients(session, list({row.client_id for row in rows}))
    out = []
    for row in rows:
        seller = profiles.get(row.client_id)
        out.append(
            ProductView(
                row,
                variants[row.id],
                images[row.id],
                seller.slug if seller else "",
                seller.display_name if seller else "",
            )
        )
    return out


async def on_sale(
    session: AsyncSession,
    params: PageParams,
    *,
    q: str | None = None,
    category: str | None = None,
    seller: str | None = None,
    min_price: int | None = None,
    max_price: int | None = None,
    sort: str = "new",
) -> tuple[list[ProductView], str | None]:
    if sort == "relevance" and q:
        # Ranked by the search index (one page: relevance has no stable cursor).
        found = await search.search(
            session, q, kind="products", limit=params.limit, category=category,
            min_price=min_price, max_price=max_price,
        )  # fmt: skip
        ranked = [
            hit.row
            for hit in found.hits
            if seller is None or (hit.seller is not None and hit.seller.slug == seller)
        ]
        return await views(session, ranked), None
    rows, cursor = await ProductRepository(session).on_sale(
        params,
        q=q,
        category=category,
        seller_slug=seller,
        min_price=min_price,
        max_price=max_price,
        sort=sort,
    )
    return await views(session, rows), cursor


async def on_sale_one(session: AsyncSession, id_or_slug: str) -> ProductView:
    row = await ProductRepository(session).on_sale_one(id_or_slug)
    if row is None:
        raise NotFound("No such product.")
    return (await views(session, [row]))[0]


async def mine(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    status: ProductStatus | None = None,
) -> tuple[list[ProductView], str | None]:
    rows, cursor = await ProductRepository(session).mine(principal, params, status=status)
    return await views(session, rows), cursor


async def get_own(session: AsyncSession, principal: Principal, product_id: uuid.UUID) -> Product:
    row = await ProductRepository(session).get_readable(principal, product_id)
    if row is None:
        raise NotFound("No such product.")
    return row


async def own_view(
    session: AsyncSession, principal: Principal, product_id: uuid.UUID
) -> ProductView:
    return (await views(session, [await get_own(session, principal, product_id)]))[0]


async def _check_images(
    session: AsyncSession, principal: Principal, image_ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    unique = list(dict.fromkeys(image_ids))
    if len(unique) > MAX_IMAGES:
        raise Unprocessable(f"At most {MAX_IMAGES} images.", code="too_many_images")
    owned = await media.owned_image_ids(session, principal, unique)
    missing = [str(i) for i in unique if i not in owned]
    if missing:
        raise Unprocessable(
            "Images must be this workspace's own.", code="unknown_image", extra={"missing": missing}
        )
    return unique


def _check_variants(variants: list[VariantIn]) -> None:
    if len(variants) > MAX_VARIANTS:
        raise Unprocessable(f"At most {MAX_VARIANTS} variants.", code="too_many_variants")
    names = [v.name.strip().lower() for v in variants]
    if len(set(names)) != len(names):
        raise Unprocessable("Variant names must differ.", code="duplicate_variant")


async def create(
    platform: Platform,
    session: AsyncSession,
    principal: Principal,
    values: dict[str, Any],
    variants: list[VariantIn] | None,
    image_ids: list[uuid.UUID],
) -> ProductView:
    seller = await sellers.own(session, principal)
    if values["currency"] != seller.currency:
        raise Unprocessable(f"This shop sells in {seller.currency}.", code="currency_mismatch")
    products = ProductRepository(session)
    slug = values.pop("slug", None)
    if slug:
        if await products.slug_taken(slug):
            raise Conflict("That product address is taken.", code="slug_taken")
    else:
        slug = await _free_slug(products, slugify(values["title"]), seller.slug)
    images = await _check_images(session, principal, image_ids)
    row = Product(client_id=principal.client_id, slug=slug, **values)
    row.has_variants = bool(variants)
    if variants:
        _check_variants(variants)
        row.stock = 0
    session.add(row)
    await session.flush()
    await products.set_images(row.id, images)
    for n, variant in enumerate(variants or []):
        session.add(
            ProductVariant(
                product_id=row.id,
                name=variant.name.strip(),
                price_amount=variant.price,
                stock=variant.stock,
                attributes=variant.attributes,
                position=n,
            )
        )
    await session.flush()
    live.changed(platform, session, [row.id])
    return (await views(session, [row]))[0]


async def update(
    platform: Platform,
    session: AsyncSession,
    principal: Principal,
    product_id: uuid.UUID,
    values: dict[str, Any],
    variants: list[VariantIn] | None,
    image_ids: list[uuid.UUID] | None,
) -> ProductView:
    """Change what is given. Variants given replace the list by name: a kept name keeps its
    id (carts and orders point at it), a missing one is removed, a new one added."""
    row = await get_own(session, principal, product_id)
    products = ProductRepository(session)
    if "currency" in values and values["currency"] != row.currency:
        raise Unprocessable(f"This shop sells in {row.currency}.", code="currency_mismatch")
    slug = values.pop("slug", None)
    if slug and slug != row.slug:
        if await products.slug_taken(slug):
            raise Conflict("That product address is taken.", code="slug_taken")
        row.slug = slug
    for name, value in values.items():
        setattr(row, name, value)
    if image_ids is not None:
        await products.set_images(row.id, await _check_images(session, principal, image_ids))
    if variants is not None:
        _check_variants(variants)
        existing = {v.name.lower(): v for v in (await products.variants_of([row.id]))[row.id]}
        wanted = {v.name.strip().lower() for v in variants}
        for name, old in existing.items():
            if name not in wanted:
                await session.delete(old)
        for n, variant in enumerate(variants):
            kept = existing.get(variant.name.strip().lower())
            if kept is None:
                session.add(
                    ProductVariant(
                        product_id=row.id,
                        name=variant.name.strip(),
                        price_amount=variant.price,
                        stock=variant.stock,
                        attributes=variant.attributes,
                        position=n,
                    )
                )
            else:
                kept.price_amount, kept.stock = variant.price, variant.stock
                kept.attributes, kept.position = variant.attributes, n
        row.has_variants = bool(variants)
        if variants:
            row.stock = 0
    await session.flush()
    live.changed(platform, session, [row.id])
    return (await views(session, [row]))[0]


async def delete(
    platform: Platform, session: AsyncSession, principal: Principal, product_id: uuid.UUID
) -> None:
    """Remove a product; orders keep what was bought (title and price), carts lose it."""
    row = await get_own(session, principal, product_id)
    await session.delete(row)
    await session.flush()
    live.changed(platform, session, [product_id])
