"""HTTP routes of the shop (API.md, "Commerce"): sellers, products, the cart, checkout and
orders for buyers and for sellers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from studioflow.identity.auth import PlatformAdmin, platform_of
from studioflow.media import urls
from studioflow.models import Order, OrderItem, OrderStatus, ProductStatus, SellerProfile
from studioflow.models import SellerStatus as SellerState
from studioflow.payments.presenters import payment_out
from studioflow.platform import idempotency
from studioflow.platform.db import ReadSessionDep, SessionDep
from studioflow.platform.errors import answers
from studioflow.platform.pagination import Page, PageParams, page_params
from studioflow.platform.runtime import Platform
from studioflow.platform.schemas import Money
from studioflow.shop import cart, live, orders, products, search, sellers
from studioflow.shop.auth import Buyer, SellerManager, SellerReader
from studioflow.shop.schemas import (
    CartItemIn,
    CartLineOut,
    CartOut,
    CartQuantity,
    CheckoutIn,
    CheckoutOut,
    Decision,
    FulfilIn,
    OrderItemOut,
    OrderOut,
    PayoutIn,
    ProductIn,
    ProductOut,
    ProductPatch,
    RefundIn,
    SearchHitOut,
    SearchOut,
    SellerApply,
    SellerOut,
    VariantOut,
)

router = APIRouter(tags=["shop"])
Params = Annotated[PageParams, Depends(page_params)]


async def seller_out(session: Any, row: SellerProfile) -> SellerOut:
    return SellerOut(
        client_id=row.client_id,
        display_name=row.display_name,
        slug=row.slug,
        status=row.status.value,
        currency=row.currency,
        balance=Money(amount=await sellers.balance(session, row), currency=row.currency),
        has_payout_details=row.payout_details is not None,
        decision_reason=row.decision_reason,
        created_at=row.created_at,
    )


def product_out(platform: Platform, view: products.ProductView) -> ProductOut:
    row = view.product
    attributes: dict[str, Any] = {"skin_types": list(row.skin_types or [])}
    if row.shade_hex:
        attributes["shade_hex"] = row.shade_hex
    if row.finish:
        attributes["finish"] = row.finish
    return ProductOut(
        id=row.id,
        slug=row.slug,
        title=row.title,
        description=row.description,
        price=Money(amount=row.price_amount, currency=row.currency),
        stock=view.in_stock,
        status=row.status.value,
        category=row.category,
        attributes=attributes,
        image_ids=view.image_ids,
        image_urls=[
            urls.signed_url(platform, image_id, size="small", relative=True)
            for image_id in view.image_ids
        ],
        variants=[
            VariantOut(
                id=v.id,
                name=v.name,
                price=Money(amount=v.price_amount, currency=row.currency),
                stock=v.stock,
                attributes=v.attributes,
            )
            for v in view.variants
        ],
        seller={"slug": view.seller_slug, "name": view.seller_name},
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def order_out(row: Order, items: list[OrderItem]) -> OrderOut:
    return OrderOut(
        id=row.id,
        status=row.status.value,
        seller_client_id=row.client_id,
        payment_id=row.payment_id,
        subtotal=Money(amount=row.subtotal, currency=row.currency),
        refunded=Money(amount=row.refunded_amount, currency=row.currency),
        items=[
            OrderItemOut(
                product_id=i.product_id,
                variant_id=i.variant_id,
                title=i.title,
                variant_name=i.variant_name,
                quantity=i.quantity,
                unit_price=Money(amount=i.unit_price, currency=row.currency),
            )
            for i in items
        ],
        shipping_address=row.shipping_address,
        tracking=row.tracking,
        expires_at=row.expires_at,
        paid_at=row.paid_at,
        created_at=row.created_at,
    )


async def orders_out(session: Any, rows: list[Order]) -> list[OrderOut]:
    items = await orders.items_of(session, [r.id for r in rows])
    return [order_out(r, items[r.id]) for r in rows]


def _values(body: ProductIn | ProductPatch) -> dict[str, Any]:
    """The product columns a body sets (a patch: only what it names)."""
    given = body.model_dump(exclude_unset=True, exclude={"price", "attributes", "variants"})
    given.pop("image_ids", None)
    values: dict[str, Any] = dict(given)
    if "status" in values and values["status"] is not None:
        values["status"] = ProductStatus(values["status"])
    if body.price is not None:
        values["price_amount"] = body.price.amount
        values["currency"] = body.price.currency
    if body.attributes is not None:
        values["shade_hex"] = body.attributes.shade_hex
        values["finish"] = body.attributes.finish
        values["skin_types"] = body.attributes.skin_types
    return {k: v for k, v in values.items() if v is not None or k in ("shade_hex", "finish")}


def _variants(body: ProductIn | ProductPatch) -> list[products.VariantIn] | None:
    if body.variants is None:
        return None
    return [
        products.VariantIn(v.name, v.price.amount, v.stock, dict(v.attributes))
        for v in body.variants
    ]


# Sellers ------------------------------------------------------------------------------------


@router.post(
    "/api/v1/seller/apply",
    responses=answers({409: "The shop address is taken (`slug_taken`)."}),
)
async def apply_to_sell(
    body: SellerApply, request: Request, principal: SellerManager, session: SessionDep
) -> SellerOut:
    """Apply to sell as the active workspace (or change the application); platform admins
    approve it."""
    row = await sellers.apply(
        session,
        principal,
        display_name=body.display_name,
        slug=body.slug,
        currency=body.currency,
        secret=platform_of(request).settings.secret,
        payout_details=body.payout_details,
    )
    return await seller_out(session, row)


@router.get("/api/v1/seller", responses=answers({404: "Not a seller (`not_a_seller`)."}))
async def get_seller(principal: SellerReader, session: SessionDep) -> SellerOut:
    """The workspace's seller profile: status and balance."""
    return await seller_out(session, await sellers.own(session, principal))


@router.get("/api/v1/admin/sellers")
async def admin_sellers(
    principal: PlatformAdmin,
    session: SessionDep,
    status: Annotated[SellerState | None, Query()] = None,
) -> list[SellerOut]:
    """Seller applications and sellers, newest first (platform admins)."""
    return [await seller_out(session, row) for row in await sellers.listed(session, status)]


DECIDE_ANSWERS = answers(
    {404: "No such seller.", 409: "The states do not allow it (`invalid_transition`)."}
)


@router.post("/api/v1/admin/sellers/{client_id}/approve", responses=DECIDE_ANSWERS)
async def approve_seller(
    client_id: uuid.UUID,
    principal: PlatformAdmin,
    session: SessionDep,
    body: Decision | None = None,
) -> SellerOut:
    """Approve a seller: its active products go on sale."""
    row = await sellers.decide(
        session, principal, client_id, "approve", (body or Decision()).reason
    )
    return await seller_out(session, row)


@router.post("/api/v1/admin/sellers/{client_id}/reject", responses=DECIDE_ANSWERS)
async def reject_seller(
    client_id: uuid.UUID,
    principal: PlatformAdmin,
    session: SessionDep,
    body: Decision | None = None,
) -> SellerOut:
    """Reject a pending application (the seller may apply again)."""
    row = await sellers.decide(session, principal, client_id, "reject", (body or Decision()).reason)
    return await seller_out(session, row)


@router.post("/api/v1/admin/sellers/{client_id}/suspend", responses=DECIDE_ANSWERS)
async def suspend_seller(
    client_id: uuid.UUID,
    principal: PlatformAdmin,
    session: SessionDep,
    body: Decision | None = None,
) -> SellerOut:
    """Suspend an approved seller: its products leave the shop at once."""
    row = await sellers.decide(
        session, principal, client_id, "suspend", (body or Decision()).reason
    )
    return await seller_out(session, row)


@router.post(
    "/api/v1/admin/sellers/{client_id}/payouts",
    responses=answers(
        {404: "No such seller.", 409: "More than the seller is owed (`insufficient_balance`)."}
    ),
)
async def record_payout(
    client_id: uuid.UUID, body: PayoutIn, principal: PlatformAdmin, session: SessionDep
) -> SellerOut:
    """Record a payout made to the seller outside the platform (a bank transfer)."""
    await sellers.record_payout(session, principal, client_id, body.amount, body.reference)
    row = await sellers.profile(session, client_id)
    assert row is not None
    return await seller_out(session, row)


# Search -------------------------------------------------------------------------------------


def hit_out(hit: Any) -> SearchHitOut:
    snippet = hit.body if len(hit.body) <= 160 else hit.body[:157].rstrip() + "…"
    if hit.kind == "product":
        row = hit.row
        return SearchHitOut(
            type="product", id=row.id, title=row.title, snippet=snippet, score=hit.score,
            url=f"/shop/{row.slug}", price=Money(amount=row.price_amount, currency=row.currency),
            by={"slug": hit.seller.slug, "name": hit.seller.display_name},
        )  # fmt: skip
    business = hit.business
    if hit.kind == "service":
        row = hit.row
        return SearchHitOut(
            type="service", id=row.id, title=row.name, snippet=snippet, score=hit.score,
            url=f"/book/{business.slug}?service_id={row.id}",
            price=Money(amount=row.price_minor, currency=row.currency),
            by={"slug": business.slug, "name": business.name},
        )  # fmt: skip
    row = hit.row
    return SearchHitOut(
        type="artist", id=row.id, title=row.display_name, snippet=snippet, score=hit.score,
        url=f"/book/{business.slug}", by={"slug": business.slug, "name": business.name},
    )  # fmt: skip


@router.get("/api/v1/search", responses=answers({422: "No word to search for (`invalid_query`)."}))
async def search_everything(
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    type: Literal["products", "services", "artists"] | None = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
    category: Annotated[str | None, Query(max_length=60)] = None,
    min_price: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    max_price: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> SearchOut:
    """Products on sale, services and artists matching every word (as a prefix), best
    first (public). The product filters apply to products."""
    found = await search.search(
        session, q, kind=type, limit=limit, category=category,
        min_price=min_price, max_price=max_price,
    )  # fmt: skip
    return SearchOut(items=[hit_out(h) for h in found.hits], terms=found.terms)


# Products -----------------------------------------------------------------------------------


@router.get("/api/v1/products")
async def list_products(
    request: Request,
    session: SessionDep,
    params: Params,
    q: Annotated[str | None, Query(max_length=200)] = None,
    category: Annotated[str | None, Query(max_length=60)] = None,
    seller: Annotated[str | None, Query(max_length=60)] = None,
    min_price: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    max_price: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    sort: Literal["price", "-price", "new", "relevance"] = "new",
) -> Page[ProductOut]:
    """Products on sale (public), newest first or by price."""
    rows, cursor = await products.on_sale(
        session,
        params,
        q=q,
        category=category,
        seller=seller,
        min_price=min_price,
        max_price=max_price,
        sort=sort,
    )
    platform = platform_of(request)
    return Page(items=[product_out(platform, v) for v in rows], next_cursor=cursor)


@router.get(
    "/api/v1/products/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def product_events(
    request: Request,
    ids: Annotated[str | None, Query(max_length=4000, description="Comma-separated ids.")] = None,
) -> StreamingResponse:
    """Server-Sent Events (public): `product.changed` with a product's stock, price and
    status whenever they change (a checkout, a cancel, the seller's edit); all products,
    or the `ids` given. Live only: what changed before connecting is on the product."""
    wanted = {i.strip() for i in ids.split(",") if i.strip()} if ids else None
    return StreamingResponse(
        live.stream(platform_of(request), request, wanted),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/api/v1/products/{id_or_slug}", responses=answers({404: "Not on sale."}))
async def get_product(
    id_or_slug: Annotated[str, Path(max_length=120)],
    request: Request,
    session: SessionDep,
) -> ProductOut:
    """A product on sale, by id or slug (public)."""
    view = await products.on_sale_one(session, id_or_slug)
    return product_out(platform_of(request), view)


@router.get("/api/v1/seller/products")
async def my_products(
    request: Request,
    principal: SellerReader,
    session: SessionDep,
    params: Params,
    status: Literal["draft", "active", "archived"] | None = None,
) -> Page[ProductOut]:
    """The workspace's products, newest first."""
    rows, cursor = await products.mine(
        session, principal, params, ProductStatus(status) if status else None
    )
    platform = platform_of(request)
    return Page(items=[product_out(platform, v) for v in rows], next_cursor=cursor)


@router.post(
    "/api/v1/seller/products",
    status_code=201,
    responses=answers(
        {
            404: "The workspace has not applied to sell (`not_a_seller`).",
            409: "The product address is taken (`slug_taken`).",
            422: "Another currency than the shop's (`currency_mismatch`), images not the "
            "workspace's (`unknown_image`).",
        }
    ),
)
async def create_product(
    body: ProductIn, request: Request, principal: SellerManager, session: SessionDep
) -> ProductOut:
    """Add a product (with variants such as shades, each with its own price and stock)."""
    view = await products.create(
        platform_of(request), session, principal, _values(body), _variants(body), body.image_ids
    )
    return product_out(platform_of(request), view)


@router.get(
    "/api/v1/seller/products/{product_id}", responses=answers({404: "Not the workspace's."})
)
async def get_my_product(
    product_id: uuid.UUID, request: Request, principal: SellerReader, session: SessionDep
) -> ProductOut:
    """One of the workspace's products, whatever its status."""
    view = await products.own_view(session, principal, product_id)
    return product_out(platform_of(request), view)


@router.patch(
    "/api/v1/seller/products/{product_id}",
    responses=answers(
        {404: "Not the workspace's.", 409: "The address is taken.", 422: "Bad values."}
    ),
)
async def update_product(
    product_id: uuid.UUID,
    body: ProductPatch,
    request: Request,
    principal: SellerManager,
    session: SessionDep,
) -> ProductOut:
    """Change a product: price, stock, status, images, variants (matched by name)."""
    view = await products.update(
        platform_of(request),
        session,
        principal,
        product_id,
        _values(body),
        _variants(body),
        body.image_ids,
    )
    return product_out(platform_of(request), view)


@router.delete(
    "/api/v1/seller/products/{product_id}",
    status_code=204,
    responses=answers({404: "Not the workspace's."}),
)
async def delete_product(
    product_id: uuid.UUID, request: Request, principal: SellerManager, session: SessionDep
) -> Response:
    """Remove a product; orders keep what was bought."""
    await products.delete(platform_of(request), session, principal, product_id)
    return Response(status_code=204)


# The cart -----------------------------------------------------------------------------------


async def cart_out(session: Any, user_id: uuid.UUID) -> CartOut:
    basket = await cart.read(session, user_id)
    currency = basket.currency
    return CartOut(
        items=[
            CartLineOut(
                product_id=line.product.id,
                variant_id=line.variant.id if line.variant else None,
                title=line.product.title,
                variant_name=line.variant.name if line.variant else None,
                quantity=line.item.quantity,
                unit_price=Money(amount=line.unit_price, currency=line.product.currency),
                total=Money(amount=line.total, currency=line.product.currency),
                available=line.available,
                in_stock=line.stock,
                seller=line.seller_name,
            )
            for line in basket.lines
        ],
        subtotal=Money(amount=basket.subtotal, currency=currency) if currency else None,
        count=sum(line.item.quantity for line in basket.lines),
    )


@router.get("/api/v1/cart")
async def get_cart(principal: Buyer, session: SessionDep) -> CartOut:
    """The caller's cart with today's prices and what is still available."""
    return await cart_out(session, principal.user_id)


@router.post(
    "/api/v1/cart/items",
    status_code=201,
    responses=answers(
        {404: "Not on sale.", 422: "A variant is needed (`variant_required`) or unknown."}
    ),
)
async def add_to_cart(body: CartItemIn, principal: Buyer, session: SessionDep) -> CartOut:
    """Put a product (a variant of it) in the cart; the same again adds to its quantity."""
    await cart.add(session, principal.user_id, body.product_id, body.variant_id, body.quantity)
    return await cart_out(session, principal.user_id)


@router.patch("/api/v1/cart/items/{product_id}", responses=answers({404: "Not in the cart."}))
async def change_cart_item(
    product_id: uuid.UUID, body: CartQuantity, principal: Buyer, session: SessionDep
) -> CartOut:
    """Set the quantity of a line (name the variant for a product with variants)."""
    await cart.set_quantity(session, principal.user_id, product_id, body.variant_id, body.quantity)
    return await cart_out(session, principal.user_id)


@router.delete("/api/v1/cart/items/{product_id}", responses=answers({404: "Not in the cart."}))
async def remove_cart_item(
    product_id: uuid.UUID,
    principal: Buyer,
    session: SessionDep,
    variant_id: uuid.UUID | None = None,
) -> CartOut:
    """Take a line out of the cart (`?variant_id=` for a product with variants)."""
    await cart.remove(session, principal.user_id, product_id, variant_id)
    return await cart_out(session, principal.user_id)


# Orders -------------------------------------------------------------------------------------


@router.post(
    "/api/v1/orders",
    status_code=201,
    responses=answers(
        {
            402: "Paying from a wallet that holds too little (`insufficient_funds`).",
            409: "Not enough stock (`out_of_stock`, naming the products), products no longer "
            "on sale (`unavailable`), or the Idempotency-Key reused with another body.",
            422: "An empty cart (`cart_empty`) or several currencies (`mixed_currencies`).",
        }
    ),
)
async def checkout(
    body: CheckoutIn,
    request: Request,
    principal: Buyer,
    session: SessionDep,
    read: ReadSessionDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Any:
    """Check out the cart: one order per seller at today's prices, the stock reserved, one
    payment for them all. With Idempotency-Key a retry answers the first checkout again."""
    guard = idempotency.Guard(
        session,
        principal.client_id,
        f"checkout:{principal.user_id}",
        idempotency_key,
        body.model_dump(mode="json"),
    )
    if (replay := await guard.replay(read)) is not None:
        response.status_code = replay.status_code
        response.headers["Idempotent-Replayed"] = "true"
        return replay.response
    platform = platform_of(request)
    done = await orders.checkout(
        platform,
        session,
        principal.user_id,
        shipping_address=body.shipping_address.model_dump(),
        pay_with=body.pay_with,
    )
    out = CheckoutOut(
        orders=[order_out(o, done.items[o.id]) for o in done.orders],
        payment=payment_out(platform, done.started.payment, done.started.client_secret),
    )
    # Kept without Stripe's client secret (never stored): a replay asks GET /payments/{id}.
    kept = out.model_copy(
        update={"payment": out.payment.model_copy(update={"client_secret": None})}
    )
    await guard.remember(201, kept.model_dump(mode="json"))
    return out


@router.get("/api/v1/orders")
async def my_orders(
    principal: Buyer,
    session: SessionDep,
    params: Params,
    status: Annotated[OrderStatus | None, Query()] = None,
) -> Page[OrderOut]:
    """The caller's orders, newest first."""
    rows, cursor = await orders.of_buyer(session, principal.user_id, params, status)
    return Page(items=await orders_out(session, rows), next_cursor=cursor)


@router.get("/api/v1/orders/{order_id}", responses=answers({404: "Not the caller's."}))
async def get_order(order_id: uuid.UUID, principal: Buyer, session: SessionDep) -> OrderOut:
    """One of the caller's orders."""
    row = await orders.buyer_order(session, principal.user_id, order_id)
    return (await orders_out(session, [row]))[0]


@router.post(
    "/api/v1/orders/{order_id}/cancel",
    responses=answers({404: "Not the caller's.", 409: "Not pending payment."}),
)
async def cancel_order(
    order_id: uuid.UUID, request: Request, principal: Buyer, session: SessionDep
) -> OrderOut:
    """Cancel an order not yet paid; its stock goes back on sale."""
    row = await orders.cancel(platform_of(request), session, principal.user_id, order_id)
    return (await orders_out(session, [row]))[0]


@router.get("/api/v1/seller/orders")
async def seller_orders(
    principal: SellerReader,
    session: SessionDep,
    params: Params,
    status: Annotated[OrderStatus | None, Query()] = None,
) -> Page[OrderOut]:
    """The workspace's orders as a seller, newest first (`?status=paid`: to fulfil)."""
    rows, cursor = await orders.of_seller(session, principal, params, status)
    return Page(items=await orders_out(session, rows), next_cursor=cursor)


@router.get("/api/v1/seller/orders/{order_id}", responses=answers({404: "Not the workspace's."}))
async def seller_order(
    order_id: uuid.UUID, principal: SellerReader, session: SessionDep
) -> OrderOut:
    """One order of the workspace as a seller."""
    row = await orders.seller_order(session, principal, order_id)
    return (await orders_out(session, [row]))[0]


SELLER_MOVE = answers({404: "Not the workspace's.", 409: "The states do not allow it."})


@router.post("/api/v1/seller/orders/{order_id}/fulfil", responses=SELLER_MOVE)
async def fulfil_order(
    order_id: uuid.UUID,
    principal: SellerManager,
    session: SessionDep,
    body: FulfilIn | None = None,
) -> OrderOut:
    """Mark a paid order sent, with its tracking number."""
    row = await orders.fulfil(session, principal, order_id, (body or FulfilIn()).tracking)
    return (await orders_out(session, [row]))[0]


@router.post("/api/v1/seller/orders/{order_id}/deliver", responses=SELLER_MOVE)
async def deliver_order(
    order_id: uuid.UUID, principal: SellerManager, session: SessionDep
) -> OrderOut:
    """Mark a sent order delivered."""
    row = await orders.deliver(session, principal, order_id)
    return (await orders_out(session, [row]))[0]


@router.post(
    "/api/v1/seller/orders/{order_id}/refund",
    responses=answers(
        {
            404: "Not the workspace's.",
            409: "Not paid, or more than the seller's balance (`insufficient_balance`).",
            422: "More than is left to refund (`invalid_amount`).",
        }
    ),
)
async def refund_order(
    order_id: uuid.UUID,
    request: Request,
    principal: SellerManager,
    session: SessionDep,
    body: RefundIn | None = None,
) -> OrderOut:
    """Refund an order in full or in part, back to where the money came from."""
    row = await orders.refund(
        platform_of(request), session, principal, order_id, (body or RefundIn()).amount
    )
    return (await orders_out(session, [row]))[0]
