"""Sellers: a client applies with a name and a slug; platform admins approve, reject or
suspend it. Only an approved seller's active products are on sale. What a seller earns
is its account in the payments ledger; admins record payouts against it."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity.auth import Principal
from studioflow.models import SellerProfile, SellerStatus
from studioflow.payments import ledger
from studioflow.platform.errors import Conflict, NotFound, Unprocessable
from studioflow.platform.security import encrypt_secret
from studioflow.shop.repository import SellerRepository

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$")
PAYOUT_PURPOSE = "seller-payout-details"
_MOVES = {
    "approve": ({SellerStatus.pending, SellerStatus.rejected, SellerStatus.suspended},
                SellerStatus.approved),
    "reject": ({SellerStatus.pending}, SellerStatus.rejected),
    "suspend": ({SellerStatus.approved}, SellerStatus.suspended),
}  # fmt: skip


def owner_key(client_id: uuid.UUID) -> str:
    """The seller's name in the ledger."""
    return str(client_id)


async def profile(session: AsyncSession, client_id: uuid.UUID) -> SellerProfile | None:
    return await SellerRepository(session).profile(client_id)


async def own(session: AsyncSession, principal: Principal) -> SellerProfile:
    found = await profile(session, principal.client_id)
    if found is None:
        raise NotFound("This workspace has not applied to sell.", code="not_a_seller")
    return found


async def approved(session: AsyncSession, principal: Principal) -> SellerProfile:
    found = await own(session, principal)
    if found.status is not SellerStatus.approved:
        raise Conflict(
            f"The seller profile is {found.status.value}; it must be approved first.",
            code="seller_not_approved",
        )
    return found


async def apply(
    session: AsyncSession,
    principal: Principal,
    *,
    display_name: str,
    slug: str,
    currency: str,
    secret: str,
    payout_details: str | None,
) -> SellerProfile:
    """Apply to sell (or change a pending or rejected application, which goes back to
    pending). An approved seller changes its name and payout details, not its status."""
    if not SLUG.match(slug):
        raise Unprocessable(
            "A slug is lower-case letters, digits and hyphens.", code="invalid_slug"
        )
    sellers = SellerRepository(session)
    if await sellers.slug_taken(slug, other_than=principal.client_id):
        raise Conflict("That shop address is taken.", code="slug_taken")
    row = await sellers.profile(principal.client_id)
    if row is None:
        row = SellerProfile(
            client_id=principal.client_id,
            display_name=display_name,
            slug=slug,
            currency=currency,
            status=SellerStatus.pending,
            applied_by=principal.user_id,
        )
        session.add(row)
    else:
        if row.currency != currency and row.status is not SellerStatus.pending:
            raise Conflict("A seller's currency does not change.", code="currency_fixed")
        row.display_name, row.slug, row.currency = display_name, slug, currency
        if row.status is SellerStatus.rejected:
            row.status = SellerStatus.pending
    if payout_details is not None:
        row.payout_details = (
            encrypt_secret(secret, PAYOUT_PURPOSE, payout_details) if payout_details else None
        )
    await session.flush()
    return row


async def decide(
    session: AsyncSession,
    admin: Principal,
    client_id: uuid.UUID,
    action: str,
    reason: str,
) -> SellerProfile:
    """An admin's approve, reject or suspend; a move the states do not allow is 409."""
    row = await SellerRepository(session).profile(client_id)
    if row is None:
        raise NotFound("No such seller.")
    allowed, target = _MOVES[action]
    if row.status not in allowed:
        raise Conflict(
            f"A {row.status.value} seller cannot be {target.value}.", code="invalid_transition"
        )
    row.status = target
    row.decided_by = admin.user_id
    row.decided_at = datetime.now(UTC)
    row.decision_reason = reason
    await session.flush()
    return row


async def listed(session: AsyncSession, status: SellerStatus | None) -> list[SellerProfile]:
    return await SellerRepository(session).listed(status)


async def of_clients(
    session: AsyncSession, client_ids: list[uuid.UUID]
) -> dict[uuid.UUID, SellerProfile]:
    return await SellerRepository(session).of_clients(client_ids)


async def balance(session: AsyncSession, row: SellerProfile) -> int:
    return await ledger.balance(
        session, ledger.SELLER_EARNINGS, owner_key(row.client_id), row.currency
    )


async def record_payout(
    session: AsyncSession, admin: Principal, client_id: uuid.UUID, amount: int, reference: str
) -> int:
    """An admin paid the seller ``amount`` outside the platform (a bank transfer): the
    earnings go down by it (409 ``insufficient_balance`` past what is owed). The new balance."""
    row = await SellerRepository(session).profile(client_id)
    if row is None:
        raise NotFound("No such seller.")
    if amount <= 0:
        raise Unprocessable("A payout is more than zero.", code="invalid_amount")
    await ledger.post(
        session,
        kind="payout",
        key=f"payout:{uuid.uuid4()}",
        currency=row.currency,
        reference=reference,
        actor_user_id=admin.user_id,
        legs=[
            ledger.Leg(ledger.SELLER_EARNINGS, owner_key(client_id), -amount),
            ledger.Leg(ledger.PAYOUTS, ledger.PLATFORM, amount),
        ],
    )
    return await balance(session, row)
