"""Request and response models of the shop (API.md, "Commerce")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from studioflow.payments.schemas import PaymentOut
from studioflow.platform.schemas import Input, Money

SLUG = r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$"
PRODUCT_SLUG = r"^[a-z0-9](?:[a-z0-9-]{0,118}[a-z0-9])?$"


class SellerApply(Input):
    display_name: str = Field(min_length=1, max_length=120)
    slug: str = Field(pattern=SLUG)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    payout_details: str | None = Field(
        default=None,
        max_length=1000,
        description="Where payouts go (IBAN and holder); stored encrypted, never answered.",
    )


class SellerOut(BaseModel):
    client_id: uuid.UUID
    display_name: str
    slug: str
    status: str
    currency: str
    balance: Money
    has_payout_details: bool
    decision_reason: str = ""
    created_at: datetime


class Decision(Input):
    reason: str = Field(default="", max_length=500)


class PayoutIn(Input):
    amount: int = Field(ge=1, le=2**62)
    reference: str = Field(default="", max_length=200)


class Attributes(Input):
    shade_hex: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
    finish: str | None = Field(default=None, max_length=40)
    skin_types: list[str] = Field(default_factory=list, max_length=10)


class VariantBody(Input):
    name: str = Field(min_length=1, max_length=80)
    price: Money
    stock: int = Field(ge=0, le=1_000_000)
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=20)


class ProductIn(Input):
    title: str = Field(min_length=1, max_length=200)
    slug: str | None = Field(default=None, pattern=PRODUCT_SLUG)
    description: str = Field(default="", max_length=20_000)
    price: Money
    stock: int = Field(default=0, ge=0, le=1_000_000)
    status: Literal["draft", "active", "archived"] = "draft"
    image_ids: list[uuid.UUID] = Field(default_factory=list, max_length=10)
    category: str = Field(default="", max_length=60)
    attributes: Attributes = Field(default_factory=Attributes)
    variants: list[VariantBody] | None = Field(default=None, max_length=50)


class ProductPatch(Input):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    slug: str | None = Field(default=None, pattern=PRODUCT_SLUG)
    description: str | None = Field(default=None, max_length=20_000)
    price: Money | None = None
    stock: int | None = Field(default=None, ge=0, le=1_000_000)
    status: Literal["draft", "active", "archived"] | None = None
    image_ids: list[uuid.UUID] | None = Field(default=None, max_length=10)
    category: str | None = Field(default=None, max_length=60)
    attributes: Attributes | None = None
    variants: list[VariantBody] | None = Field(default=None, max_length=50)


class VariantOut(BaseModel):
    id: uuid.UUID
    name: str
    price: Money
    stock: int
    attributes: dict[str, Any]


class ProductOut(BaseModel):
    id: uuid.UUID
    slug: str
    title: str
    description: str
    price: Money
    stock: int
    status: str
    category: str
    attributes: dict[str, Any]
    image_ids: list[uuid.UUID]
    image_urls: list[str]
    variants: list[VariantOut]
    seller: dict[str, str]
    created_at: datetime
    updated_at: datetime


class CartItemIn(Input):
    product_id: uuid.UUID
    variant_id: uuid.UUID | None = None
    quantity: int = Field(default=1, ge=1, le=99)


class CartQuantity(Input):
    # Required, but checked after the line is found: a product not in the cart is 404 first.
    quantity: int | None = Field(default=None, ge=1, le=99, description="Required: 1-99.")
    variant_id: uuid.UUID | None = None


class CartLineOut(BaseModel):
    product_id: uuid.UUID
    variant_id: uuid.UUID | None
    title: str
    variant_name: str | None
    quantity: int
    unit_price: Money
    total: Money
    available: bool
    in_stock: int
    seller: str


class CartOut(BaseModel):
    items: list[CartLineOut]
    subtotal: Money | None
    count: int


class Address(Input):
    name: str = Field(min_length=1, max_length=120)
    line1: str = Field(min_length=1, max_length=200)
    line2: str = Field(default="", max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    phone: str = Field(default="", max_length=40)


class CheckoutIn(Input):
    shipping_address: Address
    pay_with: Literal["card", "wallet"] = "card"


class OrderItemOut(BaseModel):
    product_id: uuid.UUID | None
    variant_id: uuid.UUID | None
    title: str
    variant_name: str | None
    quantity: int
    unit_price: Money


class OrderOut(BaseModel):
    id: uuid.UUID
    status: str
    seller_client_id: uuid.UUID
    payment_id: uuid.UUID
    subtotal: Money
    refunded: Money
    items: list[OrderItemOut]
    shipping_address: dict[str, Any]
    tracking: str | None
    expires_at: datetime
    paid_at: datetime | None
    created_at: datetime


class CheckoutOut(BaseModel):
    orders: list[OrderOut]
    payment: PaymentOut


class FulfilIn(Input):
    tracking: str | None = Field(default=None, max_length=200)


class RefundIn(Input):
    amount: int | None = Field(default=None, ge=1, le=2**62)


class SearchHitOut(BaseModel):
    type: Literal["product", "service", "artist"]
    id: uuid.UUID
    title: str
    snippet: str
    score: float = Field(description="Higher is a better match (comparable within one answer).")
    url: str = Field(description="The page that shows it.")
    price: Money | None = None
    by: dict[str, str] = Field(description="The seller or business: slug and name.")


class SearchOut(BaseModel):
    items: list[SearchHitOut]
    terms: list[str]
