"""A user's cart: products (a variant of them, when they have variants) and quantities.

Prices are shown as they are now; checkout takes them again and keeps them in the order.
Something that went off sale (archived, seller suspended) stays listed as unavailable so
the buyer sees why, and checkout refuses until it is removed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.models import CartItem, Product, ProductStatus, ProductVariant, SellerStatus
from studioflow.platform.errors import NotFound, Unprocessable
from studioflow.shop import sellers
from studioflow.shop.repository import CartRepository, ProductRepository

MAX_LINES = 100


@dataclass
class Line:
    item: CartItem
    product: Product
    variant: ProductVariant | None
    seller_name: str
    available: bool

    @property
    def unit_price(self) -> int:
        return self.variant.price_amount if self.variant else self.product.price_amount

    @property
    def stock(self) -> int:
        return self.variant.stock if self.variant else self.product.stock

    @property
    def total(self) -> int:
        return self.unit_price * self.item.quantity


@dataclass
class Cart:
    lines: list[Line]

    @property
    def subtotal(self) -> int:
        return sum(line.total for line in self.lines if line.available)

    @property
    def currency(self) -> str | None:
        currencies = {line.product.currency for line in self.lines}
        return currencies.pop() if len(currencies) == 1 else None


async def read(session: AsyncSession, user_id: uuid.UUID) -> Cart:
    items = await CartRepository(session).items(user_id)
    products = ProductRepository(session)
    by_id = await products.many([i.product_id for i in items])
    variants = await products.variants_of(list(by_id))
    profiles = await sellers.of_clients(session, list({p.client_id for p in by_id.values()}))
    lines = []
    for item in items:
        product = by_id[item.product_id]
        variant = next((v for v in variants[product.id] if v.id == item.variant_id), None)
        seller = profiles.get(product.client_id)
        available = (
            product.status is ProductStatus.active
            and seller is not None
            and seller.status is SellerStatus.approved
            and (variant is not None) == product.has_variants
        )
        lines.append(Line(item, product, variant, seller.display_name if seller else "", available))
    return Cart(lines)


async def _on_sale(
    session: AsyncSession, product_id: uuid.UUID, variant_id: uuid.UUID | None
) -> tuple[Product, ProductVariant | None]:
    products = ProductRepository(session)
    product = await products.on_sale_one(str(product_id))
    if product is None:
        raise NotFound("No such product.")
    variants = (await products.variants_of([product.id]))[product.id]
    if product.has_variants:
        variant = next((v for v in variants if v.id == variant_id), None)
        if variant is None:
            raise Unprocessable(
                "Choose one of the product's variants.",
                code="variant_required",
                extra={"variant_ids": [str(v.id) for v in variants]},
            )
        return product, variant
    if variant_id is not None:
        raise Unprocessable("This product has no variants.", code="unknown_variant")
    return product, None


async def add(
    session: AsyncSession,
    user_id: uuid.UUID,
    product_id: uuid.UUID,
    variant_id: uuid.UUID | None,
    quantity: int,
) -> None:
    """Put ``quantity`` more in the cart (up to 99 of a line)."""
    await _on_sale(session, product_id, variant_id)
    carts = CartRepository(session)
    existing = await carts.item(user_id, product_id, variant_id)
    if existing is not None:
        existing.quantity = min(99, existing.quantity + quantity)
        await session.flush()
        return
    if await carts.count(user_id) >= MAX_LINES:
        raise Unprocessable(f"A cart holds at most {MAX_LINES} lines.", code="cart_full")
    try:
        async with session.begin_nested():
            session.add(
                CartItem(
                    user_id=user_id,
                    product_id=product_id,
                    variant_id=variant_id,
                    variant_key=str(variant_id) if variant_id else "",
                    quantity=quantity,
                )
            )
            await session.flush()
    except IntegrityError:  # the same line added by a concurrent request: add to it
        raced = await carts.item(user_id, product_id, variant_id)
        if raced is None:
            raise
        raced.quantity = min(99, raced.quantity + quantity)
        await session.flush()


async def set_quantity(
    session: AsyncSession,
    user_id: uuid.UUID,
    product_id: uuid.UUID,
    variant_id: uuid.UUID | None,
    quantity: int | None,
) -> None:
    item = await CartRepository(session).item(user_id, product_id, variant_id)
    if item is None:
        raise NotFound("That product is not in the cart.")
    if quantity is None:
        raise Unprocessable("Give the quantity (1-99).")
    item.quantity = quantity
    await session.flush()


async def remove(
    session: AsyncSession, user_id: uuid.UUID, product_id: uuid.UUID, variant_id: uuid.UUID | None
) -> None:
    item = await CartRepository(session).item(user_id, product_id, variant_id)
    if item is None:
        raise NotFound("That product is not in the cart.")
    await session.delete(item)
    await session.flush()


async def empty(session: AsyncSession, user_id: uuid.UUID) -> None:
    await CartRepository(session).clear(user_id)


async def count(session: AsyncSession, user_id: uuid.UUID) -> int:
    return await CartRepository(session).count(user_id)
