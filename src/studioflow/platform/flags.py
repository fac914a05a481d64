"""Feature flags (seed 001): switch a capability on or off, for everyone, for a share of
users, or for named workspaces, without a deploy.

Code declares the flags it checks in ``DEFAULT_FLAGS``; they are seeded at every migration
when missing and never overwritten, so an admin's change stands. Code asks
``await flags.enabled(platform, key, scope)``; the answer is

* off when the flag is off (or unknown);
* on for a workspace on its allow-list;
* otherwise on for ``rollout_percent`` % of users, decided by a stable hash of the flag's
  key and the user's id (the same user gets the same answer on every request and process;
  raising the percentage only adds users); without a user (signed out), on only at 100 %.

Reads go through a per-process cache of the whole table (a few rows) for ``CACHE_SECONDS``;
a change drops this process's copy at once, other processes see it within that time.
"""

from __future__ import annotations

import hashlib
import time
import uuid
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.models import FeatureFlag
from studioflow.platform.db import Database, after_commit
from studioflow.platform.errors import Forbidden
from studioflow.platform.repository import FlagRepository

CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class FlagSpec:
    description: str
    enabled: bool = True
    public: bool = True
    rollout_percent: int = 100


# The flags code checks (a key names its feature). Seeded when missing.
DEFAULT_FLAGS: dict[str, FlagSpec] = {
    "media.archive_download": FlagSpec(
        "Download chosen originals as one ZIP from the gallery (POST /api/v1/images/archive)."
    ),
    "studio.pdf_export": FlagSpec(
        "Export a run's results as a PDF (POST /api/v1/pdf/export and the run page's button)."
    ),
}


class Reader(Protocol):
    """Who asks: a principal, or anything with its ids."""

    @property
    def client_id(self) -> uuid.UUID: ...

    @property
    def user_id(self) -> uuid.UUID: ...


@dataclass(frozen=True)
class Flag:
    key: str
    enabled: bool
    description: str
    public: bool
    rollout_percent: int
    client_ids: frozenset[str]

    @classmethod
    def of(cls, row: FeatureFlag) -> Flag:
        return cls(
            key=row.key,
            enabled=row.enabled,
            description=row.description,
            public=row.public,
            rollout_percent=row.rollout_percent,
            client_ids=frozenset(str(c) for c in row.client_ids or []),
        )

    def decide(self, reader: Reader | None) -> bool:
        if not self.enabled:
            return False
        if reader is not None and str(reader.client_id) in self.client_ids:
            return True
        if self.rollout_percent >= 100:
            return True
        if reader is None or self.rollout_percent <= 0:
            return False
        return bucket(self.key, reader.user_id) < self.rollout_percent


def bucket(key: str, user_id: uuid.UUID) -> int:
    """The user's place, 0 to 99, for this flag: stable, and independent between flags."""
    digest = hashlib.sha256(f"{key}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


class _Cache:
    def __init__(self) -> None:
        self.flags: dict[str, Flag] | None = None
        self.until = 0.0


# One copy per database handle; it goes with the handle (ids can be reused, handles not).
_caches: weakref.WeakKeyDictionary[Database, _Cache] = weakref.WeakKeyDictionary()


def _cache(db: Database) -> _Cache:
    found = _caches.get(db)
    if found is None:
        found = _caches[db] = _Cache()
    return found


async def all_flags(db: Database) -> dict[str, Flag]:
    cache = _cache(db)
    if cache.flags is None or time.monotonic() >= cache.until:
        async with db.read() as session:
            found = await FlagRepository(session).listed()
            cache.flags = {row.key: Flag.of(row) for row in found}
        cache.until = time.monotonic() + CACHE_SECONDS
    return cache.flags


async def enabled(db: Database, key: str, reader: Reader | None) -> bool:
    flag = (await all_flags(db)).get(key)
    return flag is not None and flag.decide(reader)


async def require(db: Database, key: str, reader: Reader | None) -> None:
    """403 ``feature_disabled`` unless the flag is on for ``reader``."""
    if not await enabled(db, key, reader):
        raise Forbidden("This feature is turned off on this site.", code="feature_disabled")


async def public_flags(db: Database, reader: Reader | None) -> dict[str, bool]:
    """Every public flag, decided for ``reader`` (anyone, when None)."""
    return {key: flag.decide(reader) for key, flag in (await all_flags(db)).items() if flag.public}


async def seed_flags(session: AsyncSession) -> None:
    """Insert the declared flags that are missing; never overwrite an admin's values."""
    existing = await FlagRepository(session).keys()
    for key, spec in DEFAULT_FLAGS.items():
        if key not in existing:
            session.add(
                FeatureFlag(
                    key=key,
                    enabled=spec.enabled,
                    description=spec.description,
                    public=spec.public,
                    rollout_percent=spec.rollout_percent,
                    client_ids=[],
                )
            )
    await session.flush()


async def rows(session: AsyncSession) -> list[FeatureFlag]:
    return await FlagRepository(session).listed()


async def put(db: Database, session: AsyncSession, key: str, values: dict[str, Any]) -> FeatureFlag:
    """Create or change a flag (an admin's PUT; the caller audits it). This process forgets
    its cached flags once the change commits (before, a read could cache the old values)."""
    row = await FlagRepository(session).locked(key)
    if row is None:
        row = FeatureFlag(key=key, description="", public=False, rollout_percent=100, client_ids=[])
        session.add(row)
    for field, value in values.items():
        setattr(row, field, value)
    row.updated_at = datetime.now(UTC)
    await session.flush()

    async def forget() -> None:
        _caches.pop(db, None)

    after_commit(session, forget)
    return row
