"""Every query of notifications. Rows belong to a user, never to a client: each statement
names the user it reads for."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from studioflow.models import (
    Channel,
    Notification,
    NotificationDelivery,
    NotificationPreference,
    OneTimeCode,
    PushDevice,
    User,
)
from studioflow.models.base import table_of
from studioflow.platform.pagination import PageParams
from studioflow.platform.repository import Repository

# Raising the same event twice (a retried job, two workers' crons) adds nothing: the unique
# (user, dedupe key[, channel]) decides, and only a new row comes back with its id.
_ONCE = {
    model: {
        dialect: make(table_of(model)).on_conflict_do_nothing().returning(table_of(model).c.id)
        for dialect, make in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
    }
    for model in (Notification, NotificationDelivery)
}


class NotificationRepository(Repository[Notification]):
    model = Notification

    async def _once(self, model: type[Any], values: dict[str, Any]) -> uuid.UUID | None:
        statement = _ONCE[model][self.session.get_bind().dialect.name]
        new_id = await self.session.scalar(statement.values(**values))
        return uuid.UUID(str(new_id)) if new_id is not None else None

    async def add_once(self, values: dict[str, Any]) -> uuid.UUID | None:
        return await self._once(Notification, values)

    async def add_delivery_once(self, values: dict[str, Any]) -> uuid.UUID | None:
        return await self._once(NotificationDelivery, values)

    async def has_key(self, user_id: uuid.UUID, key: str) -> bool:
        found = await self.session.scalar(
            select(Notification.id).where(
                Notification.user_id == user_id, Notification.dedupe_key == key
            )
        )
        return found is not None

    async def page(
        self, user_id: uuid.UUID, params: PageParams, *, unread: bool
    ) -> tuple[list[Notification], str | None]:
        statement = select(Notification).where(Notification.user_id == user_id)
        if unread:
            statement = statement.where(Notification.read_at.is_(None))
        return await self.newest_first(statement, params)

    async def unread(self, user_id: uuid.UUID) -> int:
        count = await self.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        return int(count or 0)

    async def mark_read(
        self, user_id: uuid.UUID, now: datetime, notification_id: uuid.UUID | None = None
    ) -> int:
        statement = update(Notification).where(
            Notification.user_id == user_id, Notification.read_at.is_(None)
        )
        if notification_id is not None:
            statement = statement.where(Notification.id == notification_id)
        result = await self.session.execute(statement.values(read_at=now))
        return int(getattr(result, "rowcount", 0) or 0)

    async def exists(self, user_id: uuid.UUID, notification_id: uuid.UUID) -> bool:
        found = await self.session.scalar(
            select(Notification.id).where(
                Notification.id == notification_id, Notification.user_id == user_id
            )
        )
        return found is not None

    async def prune_read_before(self, moment: datetime) -> int:
        result = await self.session.execute(
            delete(Notification).where(Notification.read_at < moment)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    # --- preferences ---------------------------------------------------------------------

    async def preferences(self, user_id: uuid.UUID) -> dict[tuple[str, Channel], bool]:
        rows = await self.session.execute(
            select(
                NotificationPreference.event,
                NotificationPreference.channel,
                NotificationPreference.enabled,
            ).where(NotificationPreference.user_id == user_id)
        )
        return {(event, Channel(channel)): enabled for event, channel, enabled in rows.all()}

    async def replace_preferences(
        self, user_id: uuid.UUID, choices: dict[tuple[str, Channel], bool]
    ) -> None:
        await self.session.execute(
            delete(NotificationPreference).where(NotificationPreference.user_id == user_id)
        )
        self.session.add_all(
            NotificationPreference(user_id=user_id, event=e, channel=c, enabled=on)
            for (e, c), on in choices.items()
        )
        await self.session.flush()

    # --- deliveries ----------------------------------------------------------------------

    async def delivery(self, delivery_id: uuid.UUID) -> NotificationDelivery | None:
        found: NotificationDelivery | None = await self.session.scalar(
            select(NotificationDelivery)
            .where(NotificationDelivery.id == delivery_id)
            .with_for_update()
        )
        return found

    async def deliveries_of(
        self, user_id: uuid.UUID, dedupe_key: str
    ) -> list[NotificationDelivery]:
        rows = await self.session.scalars(
            select(NotificationDelivery)
            .where(
                NotificationDelivery.user_id == user_id,
                NotificationDelivery.dedupe_key == dedupe_key,
            )
            .order_by(NotificationDelivery.channel)
        )
        return list(rows.all())

    async def user(self, user_id: uuid.UUID) -> User | None:
        found: User | None = await self.session.get(User, user_id)
        return found

    # --- phone codes ---------------------------------------------------------------------

    async def spend_codes(self, user_id: uuid.UUID, purpose: str, now: datetime) -> None:
        await self.session.execute(
            update(OneTimeCode)
            .where(
                OneTimeCode.user_id == user_id,
                OneTimeCode.purpose == purpose,
                OneTimeCode.used_at.is_(None),
            )
            .values(used_at=now)
        )

    async def live_code(
        self, user_id: uuid.UUID, purpose: str, now: datetime
    ) -> OneTimeCode | None:
        found: OneTimeCode | None = await self.session.scalar(
            select(OneTimeCode)
            .where(
                OneTimeCode.user_id == user_id,
                OneTimeCode.purpose == purpose,
                OneTimeCode.used_at.is_(None),
                OneTimeCode.expires_at > now,
            )
            .order_by(OneTimeCode.created_at.desc())
            .limit(1)
            .with_for_update()
        )
        return found

    # --- devices -------------------------------------------------------------------------

    async def devices(self, user_id: uuid.UUID, *, active: bool = True) -> list[PushDevice]:
        statement = select(PushDevice).where(PushDevice.user_id == user_id)
        if active:
            statement = statement.where(PushDevice.disabled_at.is_(None))
        rows = await self.session.scalars(statement.order_by(PushDevice.created_at))
        return list(rows.all())

    async def device_by_hash(self, token_hash: str) -> PushDevice | None:
        found: PushDevice | None = await self.session.scalar(
            select(PushDevice).where(PushDevice.token_hash == token_hash)
        )
        return found

    async def device(self, user_id: uuid.UUID, device_id: uuid.UUID) -> PushDevice | None:
        found: PushDevice | None = await self.session.scalar(
            select(PushDevice).where(PushDevice.id == device_id, PushDevice.user_id == user_id)
        )
        return found

    async def disable_device(self, device_id: uuid.UUID, reason: str, now: datetime) -> None:
        await self.session.execute(
            update(PushDevice)
            .where(PushDevice.id == device_id, PushDevice.disabled_at.is_(None))
            .values(disabled_at=now, disabled_reason=reason[:60])
        )

    async def device_used(self, device_id: uuid.UUID, now: datetime) -> None:
        await self.session.execute(
            update(PushDevice).where(PushDevice.id == device_id).values(last_sent_at=now)
        )
