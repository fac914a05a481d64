"""What delivery needs to know of an image, kept in memory so a cached hit reads no database.

A hit on ``/i/{id}`` needs the image (owner, visibility, expiry, stored keys, ETag), its
client's allowed referrers, its plan's bandwidth limit and the variant it asks for. Reading
them costs two or three statements a request; here they come from a bounded LRU cache with a
TTL per entry.

Freshness is by invalidation, not by the TTL: every unit of work that changes any of it
(an image's row, a variant deleted, a client's settings or plan, a plan's limits, a client
deleted) is noticed by SQLAlchemy session events, and once it has committed, every cache in
this process drops the entries at once and the change is published on the event bus
(``media-delivery``; Redis at scale), so the caches of the other processes drop them as the
message arrives. The TTL only bounds how long a lost message (Redis restarting) can leave an
entry stale. A load that began before an invalidation is not stored (a generation counter),
so a slow read cannot put back what a change just removed.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from cachetools import LRUCache, TTLCache
from sqlalchemy import event, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from studioflow.billing.plans import plan_of
from studioflow.media.repository import DELIVERY_UNAFFECTED, ImageRepository
from studioflow.models import Client, Image, ImageVariant, Plan
from studioflow.platform.runtime import Platform

log = structlog.get_logger("studioflow.media")

CHANNEL = "media-delivery"
_CHANGES = "studioflow.delivery_changes"
_TABLES = frozenset({"images", "image_variants", "clients", "plans"})
# What delivery reads of an image and of a client; other columns change without a message.
_IMAGE_FIELDS = frozenset(
    {
        "client_id",
        "filename",
        "content_hash",
        "format",
        "mime_type",
        "bytes",
        "public_bytes",
        "is_public",
        "keep_metadata",
        "expires_at",
        "original_key",
        "public_key",
    }
)
_CLIENT_FIELDS = frozenset({"settings", "plan"})


@dataclass
class Deliverable:
    """A detached, read-only image with what its delivery depends on."""

    image: Image
    allowed_referrers: tuple[str, ...]
    bandwidth_bytes_month: int
    # Rendered variants by spec key, filled as they are asked for.
    variants: dict[str, ImageVariant] = field(default_factory=dict)

    def expired(self) -> bool:
        expires_at = self.image.expires_at
        return expires_at is not None and expires_at <= datetime.now(UTC)


@dataclass
class _Changes:
    images: set[str] = field(default_factory=set)
    clients: set[str] = field(default_factory=set)
    everything: bool = False

    def message(self) -> dict[str, Any]:
        return {
            "images": sorted(self.images),
            "clients": sorted(self.clients),
            "all": self.everything,
        }


# Objects up to this size are answered in one piece (and kept in memory when there is room);
# larger ones stream in chunks.
SMALL_OBJECT = 256 * 1024


class DeliveryCache:
    def __init__(self, *, maxsize: int, ttl: float, bytes_budget: int = 0) -> None:
        # maxsize 0 turns caching off (every request reads the database).
        self._entries: TTLCache[uuid.UUID, Deliverable] = TTLCache(maxsize=max(1, maxsize), ttl=ttl)
        self._enabled = maxsize > 0
        # The bytes of small stored objects (thumbnails, small variants), by storage key. A
        # key's content never changes (a new image or variant gets a new key), and a key is
        # reached only through a live entry above, so nothing here needs invalidating.
        self._bodies: LRUCache[str, bytes] = LRUCache(maxsize=max(1, bytes_budget), getsizeof=len)
        self._bodies_enabled = bytes_budget > 0
        self._generation = 0
        _caches.add(self)

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, image_id: uuid.UUID) -> Deliverable | None:
        """The entry if it is in memory (no database)."""
        return self._entries.get(image_id)

    def peek_body(self, key: str) -> bytes | None:
        return self._bodies.get(key)

    async def deliverable(self, platform: Platform, image_id: uuid.UUID) -> Deliverable | None:
        """The image and what its delivery needs; None when there is no such image."""
        found = self._entries.get(image_id)
        if found is not None:
            return found
        generation = self._generation
        async with platform.db.read() as session:
            row = await ImageRepository(session).for_delivery(image_id)
            if row is None:
                return None
            image, client = row
            plan = await plan_of(session, client.id)
        found = Deliverable(
            image=image,
            allowed_referrers=tuple(client.settings.get("allowed_referrers", [])),
            bandwidth_bytes_month=plan.bandwidth_bytes_month,
        )
        if self._enabled and generation == self._generation:  # nothing changed meanwhile
            self._entries[image_id] = found
        return found

    async def variant(
        self, platform: Platform, deliverable: Deliverable, spec: str
    ) -> ImageVariant | None:
        """The stored variant of this spec, if it was rendered."""
        found = deliverable.variants.get(spec)
        if found is not None:
            return found
        generation = self._generation
        async with platform.db.read() as session:
            found = await ImageRepository(session).cached_variant(deliverable.image.id, spec)
        if found is not None and generation == self._generation:
            deliverable.variants[spec] = found
        return found

    async def body(self, platform: Platform, key: str) -> bytes:
        """A small stored object whole, from memory when it was read before."""
        found = self._bodies.get(key)
        if found is None:
            found = await platform.storage.read(key)
            if self._bodies_enabled and len(found) <= self._bodies.maxsize:
                self._bodies[key] = found
        return found

    def remember_variant(self, deliverable: Deliverable, variant: ImageVariant) -> None:
        deliverable.variants[variant.spec] = variant

    def evict(self, message: dict[str, Any]) -> None:
        self._generation += 1
        if message.get("all"):
            self._entries.clear()
            return
        for image_id in message.get("images", ()):
            self._entries.pop(uuid.UUID(image_id), None)
        clients = {uuid.UUID(c) for c in message.get("clients", ())}
        if clients:
            for key in [k for k, v in self._entries.items() if v.image.client_id in clients]:
                self._entries.pop(key, None)

    async def follow(self, platform: Platform) -> None:
        """Drop what other processes changed, for as long as this process serves."""
        while True:
            try:
                async with platform.events.subscribe(CHANNEL) as changes:
                    # Messages missed while (re)subscribing are unknown: start clean.
                    self.evict({"all": True})
                    async for message in changes:
                        self.evict(message)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the bus blinked: resubscribe
                log.warning("delivery_cache.follow_failed", error=type(error).__name__)
                await asyncio.sleep(1.0)


_caches: weakref.WeakSet[DeliveryCache] = weakref.WeakSet()


def publish_changes(platform: Platform) -> None:
    """Make this platform's committed changes known to every delivery cache: the app, the
    worker and the CLI call it (again is harmless). A process that did not would leave other
    processes' entries stale for up to the TTL."""

    async def publish(session: AsyncSession) -> None:
        changes: _Changes | None = session.info.pop(_CHANGES, None)
        if changes is None:
            return
        message = changes.message()
        for cache in list(_caches):
            cache.evict(message)
        try:
            await platform.events.publish(CHANNEL, message)
        except Exception as error:  # the other processes' entries run out with their TTL
            log.warning("delivery_cache.publish_failed", error=type(error).__name__)

    platform.db.on_commit("media.delivery_cache", publish)


def _changes(session: Session) -> _Changes:
    changes: _Changes | None = session.info.get(_CHANGES)
    if changes is None:
        changes = session.info[_CHANGES] = _Changes()
    return changes


def _changed(instance: Any, fields: frozenset[str]) -> bool:
    state = inspect(instance)
    return any(state.attrs[name].history.has_changes() for name in fields)


@event.listens_for(Session, "after_flush")
def _note_flushed(session: Session, _context: Any) -> None:
    for instance in session.dirty:
        if isinstance(instance, Image) and _changed(instance, _IMAGE_FIELDS):
            _changes(session).images.add(str(instance.id))
        elif isinstance(instance, Client) and _changed(instance, _CLIENT_FIELDS):
            _changes(session).clients.add(str(instance.id))
        elif isinstance(instance, Plan):
            _changes(session).everything = True
        elif isinstance(instance, ImageVariant):
            _changes(session).images.add(str(instance.image_id))
    for instance in session.deleted:
        if isinstance(instance, Image):
            _changes(session).images.add(str(instance.id))
        elif isinstance(instance, ImageVariant):
            _changes(session).images.add(str(instance.image_id))
        elif isinstance(instance, Client):
            _changes(session).clients.add(str(instance.id))
        elif isinstance(instance, Plan):
            _changes(session).everything = True


@event.listens_for(Session, "do_orm_execute")
def _note_bulk(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _TABLES and not state.execution_options.get(
        DELIVERY_UNAFFECTED
    ):
        # Which rows a bulk statement touched is not known here: every entry goes.
        _changes(state.session).everything = True
