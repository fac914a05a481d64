"""Every query of the shop: sellers, products with their variants and images, carts,
orders (see platform/repository.py). A seller's products and orders come through
``readable(principal)``: its own only; a buyer's carts and orders are scoped by user.

Stock changes through conditional UPDATEs (``stock >= quantity``), with the CHECK
``stock >= 0`` standing behind them: two checkouts racing for the last unit cannot both win.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    column,
    delete,
    func,
    literal_column,
    or_,
    select,
    table,
    update,
)

from studioflow.models import (
    BookingProfile,
    CartItem,
    Order,
    OrderItem,
    OrderStatus,
    Product,
    ProductImage,
    ProductStatus,
    ProductVariant,
    SearchDocument,
    SellerProfile,
    SellerStatus,
    Service,
    StaffMember,
)
from studioflow.models.base import table_of
from studioflow.platform.pagination import PageParams
from studioflow.platform.repository import ClientScoped, Repository, Scope

_PRODUCTS = table_of(Product)
_VARIANTS = table_of(ProductVariant)


class SellerRepository(Repository[SellerProfile]):
    model = SellerProfile

    async def profile(self, client_id: uuid.UUID) -> SellerProfile | None:
        found: SellerProfile | None = await self.session.get(SellerProfile, client_id)
        return found

    async def by_slug(self, slug: str) -> SellerProfile | None:
        return await self.one_or_none(select(SellerProfile).where(SellerProfile.slug == slug))

    async def slug_taken(self, slug: str, *, other_than: uuid.UUID | None = None) -> bool:
        statement = select(SellerProfile.client_id).where(SellerProfile.slug == slug)
        found = await self.session.scalar(statement)
        return found is not None and found != other_than

    async def listed(self, status: SellerStatus | None, *, limit: int = 200) -> list[SellerProfile]:
        statement = select(SellerProfile).order_by(SellerProfile.created_at.desc()).limit(limit)
        if status is not None:
            statement = statement.where(SellerProfile.status == status)
        return await self.all(statement)

    async def of_clients(self, client_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, SellerProfile]:
        if not client_ids:
            return {}
        rows = await self.all(
            select(SellerProfile).where(SellerProfile.client_id.in_(list(client_ids)))
        )
        return {row.client_id: row for row in rows}


class ProductRepository(ClientScoped[Product]):
    model = Product

    async def slug_taken(self, slug: str) -> bool:
        return await self.session.scalar(select(Product.id).where(Product.slug == slug)) is not None

    async def mine(
        self, scope: Scope, params: PageParams, *, status: ProductStatus | None = None
    ) -> tuple[list[Product], str | None]:
        statement = self.readable(scope)
        if status is not None:
            statement = statement.where(Product.status == status)
        return await self.newest_first(statement, params)

    def _on_sale(self) -> Select[Any]:
        """Active products of approved sellers: what the public sees."""
        return (
            select(Product)
            .join(SellerProfile, SellerProfile.client_id == Product.client_id)
            .where(
                Product.status == ProductStatus.active,
                SellerProfile.status == SellerStatus.approved,
            )
        )

    async def on_sale(
        self,
        params: PageParams,
        *,
        q: str | None,
        category: str | None,
        seller_slug: str | None,
        min_price: int | None,
        max_price: int | None,
        sort: str,
    ) -> tuple[list[Product], str | None]:
        statement = self._on_sale()
        if q:
            like = f"%{q.lower()}%"
            statement = statement.where(
                or_(
                    func.lower(Product.title).like(like), func.lower(Product.description).like(like)
                )
            )
        if category:
            statement = statement.where(Product.category == category)
        if seller_slug:
            statement = statement.where(SellerProfile.slug == seller_slug)
        if min_price is not None:
            statement = statement.where(Product.price_amount >= min_price)
        if max_price is not None:
            statement = statement.where(Product.price_amount <= max_price)
        if sort in ("price", "-price"):
            rows, cursor = await self.page_by(
                statement,
                [Product.price_amount, Product.id],
                params,
                key=lambda row: (row[0].price_amount, str(row[0].id)),
                descending=sort == "-price",
            )
            return [row[0] for row in rows], cursor
        return await self.newest_first(statement, params)

    async def on_sale_one(self, id_or_slug: str) -> Product | None:
        statement = self._on_sale()
        try:
            wanted = uuid.UUID(id_or_slug)
        except ValueError:
            return await self.one_or_none(statement.where(Product.slug == id_or_slug))
        return await self.one_or_none(statement.where(Product.id == wanted))

    async def get(self, product_id: uuid.UUID) -> Product | None:
        found: Product | None = await self.session.get(Product, product_id)
        return found

    async def many(self, product_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Product]:
        if not product_ids:
            return {}
        rows = await self.all(select(Product).where(Product.id.in_(list(product_ids))))
        return {row.id: row for row in rows}

    async def variants_of(
        self, product_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[ProductVariant]]:
        found: dict[uuid.UUID, list[ProductVariant]] = {pid: [] for pid in product_ids}
        if not product_ids:
            return found
        rows = await self.session.scalars(
            select(ProductVariant)
            .where(ProductVariant.product_id.in_(list(product_ids)))
            .order_by(ProductVariant.position, ProductVariant.name)
        )
        for row in rows.all():
            found[row.product_id].append(row)
        return found

    async def images_of(self, product_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
        found: dict[uuid.UUID, list[uuid.UUID]] = {pid: [] for pid in product_ids}
        if not product_ids:
            return found
        rows = await self.session.execute(
            select(ProductImage.product_id, ProductImage.image_id)
            .where(ProductImage.product_id.in_(list(product_ids)))
            .order_by(ProductImage.position)
        )
        for product_id, image_id in rows.all():
            found[product_id].append(image_id)
        return found

    async def set_images(self, product_id: uuid.UUID, image_ids: Sequence[uuid.UUID]) -> None:
        await self.session.execute(
            delete(ProductImage).where(ProductImage.product_id == product_id)
        )
        self.session.add_all(
            ProductImage(product_id=product_id, image_id=image_id, position=n)
            for n, image_id in enumerate(image_ids)
        )
        await self.session.flush()

    async def take(self, product_id: uuid.UUID, quantity: int) -> bool:
        """Reserve ``quantity`` units if there are that many; whether there were."""
        result = await self.session.execute(
            _PRODUCTS.update()
            .where(_PRODUCTS.c.id == product_id, _PRODUCTS.c.stock >= quantity)
            .values(stock=_PRODUCTS.c.stock - quantity, updated_at=func.now())
            .returning(_PRODUCTS.c.stock)
        )
        return result.scalar_one_or_none() is not None

    async def take_variant(self, variant_id: uuid.UUID, quantity: int) -> bool:
        result = await self.session.execute(
            _VARIANTS.update()
            .where(_VARIANTS.c.id == variant_id, _VARIANTS.c.stock >= quantity)
            .values(stock=_VARIANTS.c.stock - quantity)
            .returning(_VARIANTS.c.stock)
        )
        return result.scalar_one_or_none() is not None

    async def give_back(self, product_id: uuid.UUID, quantity: int) -> None:
        await self.session.execute(
            _PRODUCTS.update()
            .where(_PRODUCTS.c.id == product_id)
            .values(stock=_PRODUCTS.c.stock + quantity, updated_at=func.now())
        )

    async def give_back_variant(self, variant_id: uuid.UUID, quantity: int) -> None:
        await self.session.execute(
            _VARIANTS.update()
            .where(_VARIANTS.c.id == variant_id)
            .values(stock=_VARIANTS.c.stock + quantity)
        )

    async def stock_of(self, product_id: uuid.UUID) -> int:
        value = await self.session.scalar(select(Product.stock).where(Product.id == product_id))
        return int(value or 0)


class CartRepository(Repository[CartItem]):
    model = CartItem

    async def items(self, user_id: uuid.UUID) -> list[CartItem]:
        return await self.all(
            select(CartItem)
            .where(CartItem.user_id == user_id)
            .order_by(CartItem.added_at, CartItem.id)
        )

    async def item(
        self, user_id: uuid.UUID, product_id: uuid.UUID, variant_id: uuid.UUID | None
    ) -> CartItem | None:
        return await self.one_or_none(
            select(CartItem).where(
                CartItem.user_id == user_id,
                CartItem.product_id == product_id,
                CartItem.variant_key == (str(variant_id) if variant_id else ""),
            )
        )

    async def count(self, user_id: uuid.UUID) -> int:
        value = await self.session.scalar(
            select(func.count()).select_from(CartItem).where(CartItem.user_id == user_id)
        )
        return int(value or 0)

    async def clear(self, user_id: uuid.UUID) -> None:
        await self.session.execute(delete(CartItem).where(CartItem.user_id == user_id))


class OrderRepository(ClientScoped[Order]):
    """A seller's orders are its client's (``readable``); a buyer's are theirs by user."""

    model = Order

    def of_buyer(self, user_id: uuid.UUID) -> Select[Any]:
        return select(Order).where(Order.buyer_id == user_id)

    async def buyer_one(self, user_id: uuid.UUID, order_id: uuid.UUID) -> Order | None:
        return await self.one_or_none(self.of_buyer(user_id).where(Order.id == order_id))

    async def buyer_page(
        self, user_id: uuid.UUID, params: PageParams, *, status: OrderStatus | None
    ) -> tuple[list[Order], str | None]:
        statement = self.of_buyer(user_id)
        if status is not None:
            statement = statement.where(Order.status == status)
        return await self.newest_first(statement, params)

    async def seller_page(
        self, scope: Scope, params: PageParams, *, status: OrderStatus | None
    ) -> tuple[list[Order], str | None]:
        statement = self.readable(scope)
        if status is not None:
            statement = statement.where(Order.status == status)
        return await self.newest_first(statement, params)

    async def of_payment(self, payment_id: uuid.UUID) -> list[Order]:
        return await self.all(
            select(Order).where(Order.payment_id == payment_id).order_by(Order.id)
        )

    async def items_of(self, order_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[OrderItem]]:
        found: dict[uuid.UUID, list[OrderItem]] = {oid: [] for oid in order_ids}
        if not order_ids:
            return found
        rows = await self.session.scalars(
            select(OrderItem).where(OrderItem.order_id.in_(list(order_ids))).order_by(OrderItem.id)
        )
        for row in rows.all():
            found[row.order_id].append(row)
        return found

    async def move(
        self,
        order_id: uuid.UUID,
        from_statuses: Sequence[OrderStatus],
        to_status: OrderStatus,
        **values: Any,
    ) -> bool:
        """Change the status only from one of ``from_statuses``: exactly one of concurrent
        attempts (a buyer's cancel, the expiry job, a payment) wins."""
        result = await self.session.execute(
            update(Order)
            .where(Order.id == order_id, Order.status.in_(list(from_statuses)))
            .values(status=to_status, updated_at=func.now(), **values)
            .execution_options(synchronize_session=False)
        )
        moved = bool(getattr(result, "rowcount", 0))
        loaded = await self.session.get(Order, order_id)
        if loaded is not None:
            await self.session.refresh(loaded)
        return moved

    async def add_refund(self, order_id: uuid.UUID, before: int, amount: int) -> bool:
        """Refund ``amount`` more if ``before`` is still what was refunded (no concurrent
        refund slipped in) and the subtotal is not passed."""
        table = table_of(Order)
        result = await self.session.execute(
            table.update()
            .where(
                table.c.id == order_id,
                table.c.refunded_amount == before,
                table.c.refunded_amount + amount <= table.c.subtotal,
                table.c.status.in_([OrderStatus.paid, OrderStatus.fulfilled, OrderStatus.refunded]),
            )
            .values(
                refunded_amount=table.c.refunded_amount + amount,
                status=OrderStatus.refunded,
                updated_at=func.now(),
            )
            .returning(table.c.id)
        )
        done = result.scalar_one_or_none() is not None
        loaded = await self.session.get(Order, order_id)
        if loaded is not None:
            await self.session.refresh(loaded)
        return done

    async def expired(self, now: datetime, *, limit: int = 200) -> list[uuid.UUID]:
        rows = await self.session.scalars(
            select(Order.id)
            .where(Order.status == OrderStatus.pending_payment, Order.expires_at < now)
            .order_by(Order.expires_at)
            .limit(limit)
        )
        return list(rows.all())


# Search -------------------------------------------------------------------------------------

# SQLite: the FTS5 table the search migration keeps (rowid = search_documents.id).
_FTS = table("search_fts", column("rowid"))
# PostgreSQL: the stored weighted tsvector its GIN index is on (a generated column the
# search migration adds; no model declares it, as it exists on PostgreSQL only).
_PG_DOCUMENT: ColumnElement[Any] = literal_column("search_documents.document")


@dataclass(frozen=True)
class Hit:
    kind: str
    row: Any
    business: BookingProfile | None
    seller: SellerProfile | None
    score: float
    body: str


class SearchRepository(Repository[SearchDocument]):
    """Ranked matches over products, services and artists, only what the public may see."""

    model = SearchDocument

    def _matches(self, terms: list[str]) -> Any:
        """(ref_id, kind, score, body) of the documents matching every term as a prefix;
        a higher score is a better match on both backends."""
        if self.session.get_bind().dialect.name == "sqlite":
            query = " ".join(f'"{t}"*' for t in terms)
            return (
                select(
                    SearchDocument.ref_id,
                    SearchDocument.kind,
                    (-func.bm25(literal_column("search_fts"), 10.0, 1.0)).label("score"),
                    SearchDocument.body,
                )
                .join(_FTS, _FTS.c.rowid == SearchDocument.id)
                .where(literal_column("search_fts").op("MATCH")(query))
                .subquery()
            )
        tsquery = func.to_tsquery("simple", " & ".join(f"{t}:*" for t in terms))
        return (
            select(
                SearchDocument.ref_id,
                SearchDocument.kind,
                func.ts_rank_cd(_PG_DOCUMENT, tsquery).label("score"),
                SearchDocument.body,
            )
            .where(_PG_DOCUMENT.op("@@")(tsquery))
            .subquery()
        )

    async def products(
        self,
        terms: list[str],
        limit: int,
        *,
        category: str | None,
        min_price: int | None,
        max_price: int | None,
    ) -> list[Hit]:
        found = self._matches(terms)
        statement = (
            select(Product, SellerProfile, found.c.score, found.c.body)
            .join(found, (found.c.ref_id == Product.id) & (found.c.kind == "product"))
            .join(SellerProfile, SellerProfile.client_id == Product.client_id)
            .where(
                Product.status == ProductStatus.active,
                SellerProfile.status == SellerStatus.approved,
            )
        )
        if category:
            statement = statement.where(Product.category == category)
        if min_price is not None:
            statement = statement.where(Product.price_amount >= min_price)
        if max_price is not None:
            statement = statement.where(Product.price_amount <= max_price)
        rows = await self.session.execute(
            statement.order_by(found.c.score.desc(), Product.id).limit(limit)
        )
        return [Hit("product", p, None, s, float(score), body) for p, s, score, body in rows.all()]

    async def services(self, terms: list[str], limit: int) -> list[Hit]:
        found = self._matches(terms)
        rows = await self.session.execute(
            select(Service, BookingProfile, found.c.score, found.c.body)
            .join(found, (found.c.ref_id == Service.id) & (found.c.kind == "service"))
            .join(BookingProfile, BookingProfile.client_id == Service.client_id)
            .where(Service.is_active.is_(True))
            .order_by(found.c.score.desc(), Service.id)
            .limit(limit)
        )
        return [Hit("service", v, b, None, float(score), body) for v, b, score, body in rows.all()]

    async def artists(self, terms: list[str], limit: int) -> list[Hit]:
        found = self._matches(terms)
        rows = await self.session.execute(
            select(StaffMember, BookingProfile, found.c.score, found.c.body)
            .join(found, (found.c.ref_id == StaffMember.id) & (found.c.kind == "artist"))
            .join(BookingProfile, BookingProfile.client_id == StaffMember.client_id)
            .where(StaffMember.is_active.is_(True))
            .order_by(found.c.score.desc(), StaffMember.id)
            .limit(limit)
        )
        return [Hit("artist", m, b, None, float(score), body) for m, b, score, body in rows.all()]
