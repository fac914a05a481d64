"""Repositories: every query of a feature in one module, tenant scoping in one method.

A feature's ``repository.py`` subclasses :class:`Repository` for each table it owns. Rows of
a client (``client_id``) come through :meth:`ClientScoped.readable`, which is the only place
that filters by the tenant, so no query can forget it; ``tests/test_layers.py`` fails on a
``client_id`` comparison anywhere else. Services call repositories; endpoints and pages call
services. A repository takes the session it is given (a read session or a unit of work) and
only ever flushes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from sqlalchemy import Select, delete, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.models import ErrorEvent, FeatureFlag, IdempotencyRecord, Plan, PlatformSetting
from studioflow.platform.pagination import (
    PageParams,
    build_page,
    keyset_page,
    paginate_by,
    paginate_newest_first,
)

M = TypeVar("M")


class Scope(Protocol):
    """Who reads: a principal (``identity.auth.Principal``) or anything with its ids."""

    @property
    def client_id(self) -> uuid.UUID: ...

    @property
    def user_id(self) -> uuid.UUID: ...


@dataclass(frozen=True)
class ClientScope:
    """One client's rows, read on someone's behalf who is not its member: a platform admin
    looking at a workspace from the console. Its reads are the client's, as a member's are."""

    client_id: uuid.UUID
    user_id: uuid.UUID


class Repository(Generic[M]):
    model: ClassVar[type[Any]]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def one_or_none(self, statement: Select[Any]) -> M | None:
        found: M | None = await self.session.scalar(statement)
        return found

    async def all(self, statement: Select[Any]) -> list[M]:
        return list((await self.session.scalars(statement)).all())

    async def newest_first(
        self, statement: Select[Any], params: PageParams
    ) -> tuple[list[M], str | None]:
        """A page over the model's time-ordered ids, newest first."""
        rows = await self.all(paginate_newest_first(statement, self.model.id, params))
        return build_page(rows, params, key=lambda row: row.id)

    async def page_by(
        self,
        statement: Any,  # a Select of any row shape
        order: Sequence[Any],
        params: PageParams,
        key: Callable[[Any], Sequence[Any]],
        *,
        descending: bool = False,
    ) -> tuple[list[Any], str | None]:
        """A keyset page of rows (of any shape) in ``order``; ``key`` gives a row's values."""
        statement = paginate_by(statement, order, params, descending=descending)
        rows = list((await self.session.execute(statement)).all())
        return keyset_page(rows, params, key=key)

    def add(self, row: M) -> M:
        self.session.add(row)
        return row

    async def flush(self) -> None:
        await self.session.flush()

    async def delete(self, row: M) -> None:
        await self.session.delete(row)


class ClientScoped(Repository[M]):
    """A table whose rows belong to a client (a ``client_id`` column)."""

    def of_client(self, client_id: uuid.UUID) -> Select[Any]:
        """Every row of a client, for the system's own work (jobs, quotas, exports), where
        there is a client but no principal."""
        return select(self.model).where(self.model.client_id == client_id)

    def readable(self, scope: Scope) -> Select[Any]:
        """What ``scope`` may read: its active client's rows."""
        return self.of_client(scope.client_id)

    async def get_readable(self, scope: Scope, row_id: uuid.UUID) -> M | None:
        """One row by id, or None when it does not exist *or belongs to another client*
        (answered alike: 404)."""
        return await self.one_or_none(self.readable(scope).where(self.model.id == row_id))


class IdempotencyRepository(ClientScoped[IdempotencyRecord]):
    """The first answers kept for ``Idempotency-Key`` (``platform/idempotency.py``): the
    platform's own table, so its repository lives beside the base classes."""

    model = IdempotencyRecord

    async def answer(
        self, client_id: uuid.UUID, scope: str, key: str, *, since: datetime
    ) -> IdempotencyRecord | None:
        return await self.one_or_none(
            self.of_client(client_id).where(
                IdempotencyRecord.scope == scope,
                IdempotencyRecord.key == key,
                IdempotencyRecord.created_at > since,
            )
        )

    async def prune(self, before: datetime) -> int:
        """Drop every client's answers older than ``before``: the daily job's sweep."""
        result = await self.session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < before)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def forget(self, client_id: uuid.UUID, scope: str, key: str) -> None:
        await self.session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.client_id == client_id,
                IdempotencyRecord.scope == scope,
                IdempotencyRecord.key == key,
            )
        )


def utc_day(column: Any, dialect: str) -> Any:
    """The UTC calendar day of a timestamp column, the same way on both databases."""
    if dialect == "postgresql":
        # A literal, not a bind parameter: GROUP BY must see the same expression as SELECT.
        return func.date(func.timezone(literal_column("'UTC'"), column))
    return func.date(column)  # SQLite stores ISO text with the offset; date() reads it


class FlagRepository(Repository[FeatureFlag]):
    """Feature flags (``platform/flags.py``): the platform's own table, beside the base."""

    model = FeatureFlag

    async def listed(self) -> list[FeatureFlag]:
        return list(
            (await self.session.scalars(select(FeatureFlag).order_by(FeatureFlag.key))).all()
        )

    async def keys(self) -> set[str]:
        return set((await self.session.scalars(select(FeatureFlag.key))).all())

    async def locked(self, key: str) -> FeatureFlag | None:
        return await self.session.get(FeatureFlag, key, with_for_update=True)


class SettingRepository(Repository[PlatformSetting]):
    """Platform settings (``platform/site_settings.py``): the platform's own table."""

    model = PlatformSetting

    async def values(self) -> dict[str, Any]:
        rows = await self.session.scalars(select(PlatformSetting))
        return {row.key: row.value.get("value") for row in rows}

    async def listed(self) -> list[PlatformSetting]:
        return list((await self.session.scalars(select(PlatformSetting))).all())

    async def locked(self, key: str) -> PlatformSetting | None:
        return await self.session.get(PlatformSetting, key, with_for_update=True)

    async def plan_exists(self, name: str) -> bool:
        found = await self.session.scalar(select(Plan.id).where(Plan.name == name))
        return found is not None


class ErrorRepository(Repository[ErrorEvent]):
    """Unexpected 500s (``platform/error_log.py``): the platform's own table."""

    model = ErrorEvent

    async def prune(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(ErrorEvent).where(ErrorEvent.occurred_at < before)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def groups(self, since: datetime) -> list[tuple[str, str, str, int, datetime]]:
        """(error_type, method, route, count, latest) since ``since``, most frequent first."""
        rows = await self.session.execute(
            select(
                ErrorEvent.error_type,
                ErrorEvent.method,
                ErrorEvent.route,
                func.count(),
                func.max(ErrorEvent.occurred_at),
            )
            .where(ErrorEvent.occurred_at >= since)
            .group_by(ErrorEvent.error_type, ErrorEvent.method, ErrorEvent.route)
            .order_by(func.count().desc())
            .limit(200)
        )
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]

    async def latest_of(self, error_type: str, method: str, route: str) -> ErrorEvent | None:
        return await self.one_or_none(
            select(ErrorEvent)
            .where(
                ErrorEvent.error_type == error_type,
                ErrorEvent.method == method,
                ErrorEvent.route == route,
            )
            .order_by(ErrorEvent.occurred_at.desc())
            .limit(1)
        )
