"""Pages of the shop and of money. Buyers: the storefront ``/shop`` with search and
filters, a product with its gallery and variant picker, the cart with checkout, the TEST
MODE payment page ``/pay/{id}``, their orders and their wallet. Sellers: ``/seller`` (apply,
then products with stock, orders to fulfil and refund, earnings). Admins: ``/admin/sellers``
(approve, suspend, record payouts) and ``/admin/credit-packs``. Every change goes through
the JSON API (api.js)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from studioflow.media import urls
from studioflow.models import OrderStatus, PaymentProvider, SellerStatus
from studioflow.payments import service as payments
from studioflow.payments import wallet
from studioflow.platform.db import SessionDep
from studioflow.platform.errors import AppError
from studioflow.platform.pagination import PageParams
from studioflow.shop import cart, orders, products, sellers
from studioflow.web.auth import OptionalPage, Page, PageView, html_errors
from studioflow.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(html_errors)])
AnyPage = Annotated[PageView, Depends(Page())]
MaybeSignedIn = Annotated[PageView | None, Depends(OptionalPage())]
SellerPage = Annotated[PageView, Depends(Page("shop:read"))]
AdminPage = Annotated[PageView, Depends(Page(admin=True))]

ORDER_BADGE = {
    "pending_payment": "badge-warning",
    "paid": "badge-success",
    "fulfilled": "badge-info",
    "delivered": "badge-info",
    "cancelled": "",
    "refunded": "badge-danger",
}
PAYMENT_BADGE = {
    "requires_payment": "badge-warning",
    "requires_action": "badge-warning",
    "succeeded": "badge-success",
    "failed": "badge-danger",
    "refunded": "",
}
SELLER_BADGE = {
    "pending": "badge-warning",
    "approved": "badge-success",
    "rejected": "badge-danger",
    "suspended": "badge-danger",
}


def money(amount: int, currency: str) -> str:
    return f"{amount / 100:,.2f} {currency}"


def _context(request: Request, page: PageView | None) -> dict[str, Any]:
    context: dict[str, Any] = dict(page.context) if page else {}
    context.update(
        money=money,
        order_badges=ORDER_BADGE,
        payment_badges=PAYMENT_BADGE,
        seller_badges=SELLER_BADGE,
        image_url=lambda image_id, size="small": urls.signed_url(
            request.app.state.platform, image_id, size=size, relative=True
        ),
        signed_in=page is not None,
    )
    return context


# --- buyers ----------------------------------------------------------------------------------


@router.get("/shop", response_class=HTMLResponse)
async def storefront(
    request: Request,
    session: SessionDep,
    page: MaybeSignedIn,
    q: str | None = None,
    category: str | None = None,
    min_price: str | None = None,
    max_price: str | None = None,
    sort: Literal["price", "-price", "new", "relevance"] | None = None,
    cursor: str | None = None,
) -> Response:
    # A search is shown best match first unless another order is asked for.
    sort = sort or ("relevance" if (q or "").strip() else "new")

    def cents(value: str | None) -> int | None:
        try:
            return max(0, round(float(value) * 100)) if value else None
        except ValueError:
            return None

    rows, next_cursor = await products.on_sale(
        session,
        PageParams(limit=24, cursor=cursor),
        q=(q or "").strip()[:200] or None,
        category=(category or "").strip()[:60] or None,
        min_price=cents(min_price),
        max_price=cents(max_price),
        sort=sort,
    )
    context = _context(request, page)
    context.update(
        items=rows,
        next_cursor=next_cursor,
        filters={
            "q": q or "",
            "category": category or "",
            "min_price": min_price or "",
            "max_price": max_price or "",
            "sort": sort,
        },
    )
    return render(request, "shop/storefront.html", context)


@router.get("/shop/{slug}", response_class=HTMLResponse)
async def product_page(
    request: Request, slug: str, session: SessionDep, page: MaybeSignedIn
) -> Response:
    view = await products.on_sale_one(session, slug[:120])
    context = _context(request, page)
    context.update(view=view, product=view.product)
    return render(request, "shop/product.html", context)


@router.get("/cart", response_class=HTMLResponse)
async def cart_page(request: Request, session: SessionDep, page: AnyPage) -> Response:
    basket = await cart.read(session, page.principal.user_id)
    held = await wallet.peek(session, page.principal.user_id)
    context = _context(request, page)
    context.update(basket=basket, wallet=held)
    return render(request, "shop/cart.html", context)


@router.get("/pay/{payment_id}", response_class=HTMLResponse)
async def pay_page(
    request: Request, payment_id: uuid.UUID, session: SessionDep, page: AnyPage
) -> Response:
    """The offline TEST MODE payment page: the payer chooses what the card network says."""
    row = await payments.get_own(session, page.principal.user_id, payment_id)
    if row.provider is not PaymentProvider.test:
        raise AppError("Only test-mode payments are paid on this page.")
    linked = await orders.of_payment(session, page.principal.user_id, row.id)
    context = _context(request, page)
    context.update(payment=row, orders=linked)
    return render(request, "shop/pay.html", context)


@router.get("/orders", response_class=HTMLResponse)
async def my_orders(
    request: Request,
    session: SessionDep,
    page: AnyPage,
    status: OrderStatus | None = None,
    cursor: str | None = None,
) -> Response:
    rows, next_cursor = await orders.of_buyer(
        session, page.principal.user_id, PageParams(limit=30, cursor=cursor), status
    )
    items = await orders.items_of(session, [r.id for r in rows])
    context = _context(request, page)
    context.update(orders=rows, items=items, next_cursor=next_cursor, status=status)
    return render(request, "shop/orders.html", context)


@router.get("/orders/{order_id}", response_class=HTMLResponse)
async def order_page(
    request: Request, order_id: uuid.UUID, session: SessionDep, page: AnyPage
) -> Response:
    row = await orders.buyer_order(session, page.principal.user_id, order_id)
    items = (await orders.items_of(session, [row.id]))[row.id]
    payment = await payments.get(session, row.payment_id)
    seller = await sellers.profile(session, row.client_id)
    context = _context(request, page)
    context.update(order=row, items=items, payment=payment, seller=seller)
    return render(request, "shop/order.html", context)


@router.get("/wallet", response_class=HTMLResponse)
async def wallet_page(
    request: Request, session: SessionDep, page: AnyPage, cursor: str | None = None
) -> Response:
    held = await wallet.peek(session, page.principal.user_id)
    entries, next_cursor = await wallet.history(
        session, page.principal.user_id, PageParams(limit=30, cursor=cursor)
    )
    context = _context(request, page)
    context.update(
        wallet=held,
        currency=held.currency if held else request.app.state.platform.settings.wallet_currency,
        entries=entries,
        next_cursor=next_cursor,
    )
    return render(request, "shop/wallet.html", context)


# --- sellers ---------------------------------------------------------------------------------


@router.get("/seller", response_class=HTMLResponse)
async def seller_page(
    request: Request,
    session: SessionDep,
    page: SellerPage,
    status: OrderStatus | None = None,
) -> Response:
    """The seller's dashboard: its status and earnings, products with stock, orders."""
    profile = await sellers.profile(session, page.principal.client_id)
    context = _context(request, page)
    context.update(profile=profile, can_manage=page.principal.can("shop:manage"))
    if profile is not None:
        mine, _ = await products.mine(session, page.principal, PageParams(limit=100))
        sold, _ = await orders.of_seller(
            session, page.principal, PageParams(limit=50), status or OrderStatus.paid
        )
        context.update(
            products=mine,
            orders=sold,
            items=await orders.items_of(session, [o.id for o in sold]),
            status=status or OrderStatus.paid,
            balance=await sellers.balance(session, profile),
        )
    return render(request, "shop/seller.html", context)


# --- admins ----------------------------------------------------------------------------------


@router.get("/admin/sellers", response_class=HTMLResponse)
async def admin_sellers(
    request: Request, session: SessionDep, page: AdminPage, status: SellerStatus | None = None
) -> Response:
    rows = await sellers.listed(session, status)
    balances = {row.client_id: await sellers.balance(session, row) for row in rows}
    context = _context(request, page)
    context.update(sellers=rows, balances=balances, status=status)
    return render(request, "shop/admin_sellers.html", context)


@router.get("/admin/credit-packs", response_class=HTMLResponse)
async def admin_packs(request: Request, session: SessionDep, page: AdminPage) -> Response:
    context = _context(request, page)
    context.update(packs=await payments.packs(session, active_only=False))
    return render(request, "shop/admin_packs.html", context)
