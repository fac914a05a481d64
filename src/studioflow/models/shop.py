"""The marketplace (issue 17, seed 002's Glow Shop): sellers are clients with a seller
profile; their products (with variants such as shades) have stock that can never go below
zero (a CHECK on both backends); a user's cart; checkout makes one order per seller with the
prices of that moment, reserving stock, and one payment for them all.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from studioflow.models.base import Base, IdMixin, TimestampMixin, status_type, utcnow


class SellerStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    suspended = "suspended"


class SellerProfile(TimestampMixin, Base):
    """A client that sells; platform admins approve it before its products show."""

    __tablename__ = "seller_profiles"

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    display_name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    status: Mapped[SellerStatus] = mapped_column(
        status_type(SellerStatus, name="status_known", length=20), default=SellerStatus.pending
    )
    currency: Mapped[str] = mapped_column(String(3))
    # AES-GCM under a key derived for this field (as provider keys are); never answered.
    payout_details: Mapped[str | None] = mapped_column(Text)
    applied_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str] = mapped_column(String(500), default="")


class ProductStatus(StrEnum):
    draft = "draft"
    active = "active"
    archived = "archived"


class Product(IdMixin, TimestampMixin, Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price_amount >= 0", name="price_not_negative"),
        # The lists page by (time-ordered) id within a status or a seller, and by price:
        # each reads its first page from an index in order, never sorting the catalogue.
        Index("ix_products_client_id", "client_id", "id"),
        Index("ix_products_status_id", "status", "id"),
        Index("ix_products_status_price", "status", "price_amount", "id"),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    price_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # With variants, each variant has its own stock and this one is unused (kept at 0).
    stock: Mapped[int] = mapped_column(default=0)
    status: Mapped[ProductStatus] = mapped_column(
        status_type(ProductStatus, name="status_known", length=20), default=ProductStatus.draft
    )
    category: Mapped[str] = mapped_column(String(60), default="", index=True)
    shade_hex: Mapped[str | None] = mapped_column(String(7))
    finish: Mapped[str | None] = mapped_column(String(40))
    skin_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    has_variants: Mapped[bool] = mapped_column(default=False)


class ProductVariant(IdMixin, Base):
    __tablename__ = "product_variants"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price_amount >= 0", name="price_not_negative"),
        UniqueConstraint("product_id", "name"),
    )

    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(80))
    price_amount: Mapped[int] = mapped_column(BigInteger)
    stock: Mapped[int] = mapped_column(default=0)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    position: Mapped[int] = mapped_column(default=0)


class ProductImage(Base):
    """Up to ten images of a product, from the seller's media, in order."""

    __tablename__ = "product_images"

    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    image_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(default=0)


class CartItem(IdMixin, Base):
    __tablename__ = "cart_items"
    __table_args__ = (
        CheckConstraint("quantity BETWEEN 1 AND 99", name="quantity_in_range"),
        # variant_key is the variant's id as text or "": a key with no NULL in it.
        UniqueConstraint("user_id", "product_id", "variant_key"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    variant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("product_variants.id", ondelete="CASCADE")
    )
    variant_key: Mapped[str] = mapped_column(String(36), default="")
    quantity: Mapped[int]
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrderStatus(StrEnum):
    pending_payment = "pending_payment"
    paid = "paid"
    fulfilled = "fulfilled"
    delivered = "delivered"
    cancelled = "cancelled"
    refunded = "refunded"


class Order(IdMixin, TimestampMixin, Base):
    """What one buyer bought from one seller in one checkout, at the prices of then."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("subtotal >= 0", name="subtotal_not_negative"),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= subtotal", name="refund_within_subtotal"
        ),
        CheckConstraint(
            "commission_amount >= 0 AND commission_amount <= subtotal",
            name="commission_within_subtotal",
        ),
        Index("ix_orders_buyer_created", "buyer_id", "created_at"),
        Index("ix_orders_client_created", "client_id", "created_at"),
        Index("ix_orders_status_expires", "status", "expires_at"),
    )

    buyer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"), index=True)
    status: Mapped[OrderStatus] = mapped_column(
        status_type(OrderStatus, name="status_known", length=20),
        default=OrderStatus.pending_payment,
    )
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(BigInteger)
    commission_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tracking: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    fulfilled_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str] = mapped_column(String(300), default="")


class OrderItem(IdMixin, Base):
    __tablename__ = "order_items"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    # The product may be deleted later; the order keeps what was bought (title, price).
    product_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("products.id", ondelete="SET NULL"), index=True
    )
    variant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("product_variants.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(String(200))
    variant_name: Mapped[str | None] = mapped_column(String(80))
    unit_price: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int]
