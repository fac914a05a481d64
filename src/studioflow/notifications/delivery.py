"""Sending one delivery: claim it (count the attempt) in a short transaction, send outside
any transaction, record how it went in another. What may pass (a rate limit, a service
away) is retried by the job with backoff up to :data:`MAX_ATTEMPTS`; what cannot (an invalid
number) fails at once; a push device the service no longer knows is disabled."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

import aiosmtplib
import structlog

from studioflow.models import Channel, DeliveryStatus, PushDevice
from studioflow.notifications import content
from studioflow.notifications.channels import DeviceGone, TryLater, Undeliverable
from studioflow.notifications.channels.push import push_sender
from studioflow.notifications.channels.sms import sms_sender
from studioflow.notifications.content import Message
from studioflow.notifications.repository import NotificationRepository
from studioflow.platform.mail import build_message
from studioflow.platform.runtime import Platform

log = structlog.get_logger("studioflow.notifications")

MAX_ATTEMPTS = 6


@dataclass(frozen=True)
class Claim:
    channel: Channel
    attempts: int
    message: Message
    email: str
    phone: str | None
    devices: list[tuple[uuid.UUID, str, str]]  # (id, platform, token)


async def deliver(platform: Platform, delivery_id: uuid.UUID) -> str:
    """Send one delivery; answers its status. Raises :class:`TryLater` to be retried."""
    claim = await _claim(platform, delivery_id)
    if isinstance(claim, str):
        return claim
    try:
        gone = await _send(platform, claim)
    except TryLater as error:
        if claim.attempts >= MAX_ATTEMPTS:
            await _finish(platform, delivery_id, DeliveryStatus.failed, error.code)
            return DeliveryStatus.failed.value
        await _finish(platform, delivery_id, DeliveryStatus.pending, error.code)
        raise
    except Undeliverable as error:
        await _finish(platform, delivery_id, DeliveryStatus.failed, error.code)
        return DeliveryStatus.failed.value
    await _finish(
        platform,
        delivery_id,
        DeliveryStatus.failed if gone.all_gone else DeliveryStatus.sent,
        gone.reason,
        disable=gone.devices,
        used=gone.used,
    )
    return (DeliveryStatus.failed if gone.all_gone else DeliveryStatus.sent).value


async def _claim(platform: Platform, delivery_id: uuid.UUID) -> Claim | str:
    async with platform.db.transaction() as session:
        repository = NotificationRepository(session)
        row = await repository.delivery(delivery_id)
        if row is None or row.status is not DeliveryStatus.pending:
            return row.status.value if row is not None else "gone"
        user = await repository.user(row.user_id)
        if user is None or not user.is_active:
            row.status, row.error = DeliveryStatus.skipped, "user_inactive"
            return row.status.value
        row.attempts += 1
        try:
            message = content.unseal(platform.settings.secret, row.content)
        except ValueError:
            # Sealed under another secret key: nothing can open it, ever.
            row.status, row.error = DeliveryStatus.failed, "undecryptable"
            return row.status.value
        devices: list[PushDevice] = []
        if row.channel is Channel.push:
            devices = await repository.devices(row.user_id)
        phone = message.sms_to or (user.phone if user.phone_verified_at else None)
        if (row.channel is Channel.sms and not phone) or (
            row.channel is Channel.push and not devices
        ):
            row.status, row.error = DeliveryStatus.skipped, "no_destination"
            return row.status.value
        return Claim(
            channel=row.channel,
            attempts=row.attempts,
            message=message,
            email=user.email,
            phone=phone,
            devices=[(d.id, d.platform.value, d.token) for d in devices],
        )


@dataclass
class PushOutcome:
    devices: list[tuple[uuid.UUID, str]]  # (device, why) to disable
    used: list[uuid.UUID]
    all_gone: bool = False
    reason: str | None = None


async def _send(platform: Platform, claim: Claim) -> PushOutcome:
    message = claim.message
    if claim.channel is Channel.email:
        await _email(platform, claim.email, message)
        return PushOutcome([], [])
    if claim.channel is Channel.sms:
        assert claim.phone is not None
        await sms_sender(platform.settings).send(claim.phone, message.sms)
        return PushOutcome([], [])
    payload = {"title": message.title, "body": message.body, "link": message.link}
    outcome = PushOutcome([], [])
    for device_id, kind, token in claim.devices:
        try:
            await push_sender(platform.settings, kind).send(token, payload)
        except DeviceGone as error:
            outcome.devices.append((device_id, error.code))
            continue
        outcome.used.append(device_id)
    if not outcome.used:
        outcome.all_gone, outcome.reason = True, "no_device"
    return outcome


async def _email(platform: Platform, to: str, message: Message) -> None:
    email: EmailMessage = build_message(
        sender=platform.settings.mail_from,
        to=to,
        subject=message.email_subject,
        text=message.email_text,
        html=message.email_html,
    )
    for attachment in message.attachments:
        kind, _, rest = attachment.content_type.partition(";")
        maintype, _, subtype = kind.strip().partition("/")
        params = dict(
            p.strip().split("=", 1) for p in rest.split(";") if "=" in p
        )  # e.g. method=REQUEST for a calendar invitation
        email.add_attachment(
            attachment.data,
            maintype=maintype,
            subtype=subtype,
            filename=attachment.filename,
            params=params,
        )
    try:
        await platform.mailer.send(email)
    except aiosmtplib.SMTPRecipientsRefused:
        raise Undeliverable("recipient_refused") from None
    except (aiosmtplib.SMTPException, OSError) as error:
        raise TryLater(f"smtp_{type(error).__name__}") from None


async def _finish(
    platform: Platform,
    delivery_id: uuid.UUID,
    status: DeliveryStatus,
    error: str | None,
    *,
    disable: list[tuple[uuid.UUID, str]] | None = None,
    used: list[uuid.UUID] | None = None,
) -> None:
    now = datetime.now(UTC)
    async with platform.db.transaction() as session:
        repository = NotificationRepository(session)
        row = await repository.delivery(delivery_id)
        if row is None:
            return
        row.status, row.error = status, error
        if status is DeliveryStatus.sent:
            row.sent_at = now
        for device_id, why in disable or []:
            await repository.disable_device(device_id, why, now)
        for device_id in used or []:
            await repository.device_used(device_id, now)
    log.info(
        "notification.delivery",
        delivery=str(delivery_id),
        status=status.value,
        error=error,
        disabled=len(disable or []),
    )
