"""Every query of the media feature: images, their variants, albums, views and roll-ups.

Tenant scoping is ``readable(scope)`` (the principal's client) or ``of_client(client_id)``
(system work: quotas, generated results); see ``platform/repository.py``.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from studioflow.models import (
    Album,
    AlbumImage,
    Client,
    Image,
    ImageDaily,
    ImageSource,
    ImageVariant,
    ImageView,
    PendingUpload,
    UsageDaily,
)
from studioflow.models.base import table_of
from studioflow.platform.pagination import PageParams
from studioflow.platform.repository import ClientScoped, Repository, Scope, utc_day

# Built once: it runs for every generated image and upload. The same bytes are one image per
# client, so a second insert of them changes nothing.
_INSERT_IMAGE = {
    dialect: insert(table_of(Image))
    .on_conflict_do_nothing(index_elements=["client_id", "content_hash"])
    .returning(table_of(Image).c.id)
    for dialect, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}

# An execution option for bulk statements that change nothing delivery caches (views): the
# delivery cache (media/delivery_cache.py) drops every entry on any other bulk change.
DELIVERY_UNAFFECTED = "delivery_unaffected"


class ImageRepository(ClientScoped[Image]):
    model = Image

    async def by_hash(self, client_id: uuid.UUID, content_hash: str) -> Image | None:
        return await self.one_or_none(
            self.of_client(client_id).where(Image.content_hash == content_hash)
        )

    async def known(self, scope: Scope, hashes: list[str]) -> dict[str, uuid.UUID]:
        """Which of these SHA-256 hashes the client has, and as which image."""
        rows = await self.session.execute(
            select(Image.content_hash, Image.id)
            .where(Image.client_id == scope.client_id)
            .where(Image.content_hash.in_(hashes))
        )
        return {content_hash: image_id for content_hash, image_id in rows}

    async def ids(self, scope: Scope, image_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        rows = await self.session.scalars(
            select(Image.id).where(Image.client_id == scope.client_id, Image.id.in_(image_ids))
        )
        return list(rows.all())

    async def readable_many(self, scope: Scope, image_ids: list[uuid.UUID]) -> list[Image]:
        """These images of the scope's client, in the order asked (others left out)."""
        rows = await self.all(self.readable(scope).where(Image.id.in_(image_ids)))
        by_id = {image.id: image for image in rows}
        return [by_id[i] for i in dict.fromkeys(image_ids) if i in by_id]

    async def insert(self, dialect: str, values: dict[str, Any]) -> uuid.UUID | None:
        """Insert an image row; None when the client has these bytes already."""
        inserted = (await self.session.execute(_INSERT_IMAGE[dialect], values)).scalar()
        return uuid.UUID(str(inserted)) if inserted is not None else None

    async def page(
        self,
        scope: Scope,
        params: PageParams,
        *,
        album_id: uuid.UUID | None = None,
        public: bool | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        search: str | None = None,
        sort: str = "newest",
    ) -> tuple[list[Image], str | None]:
        statement = self.readable(scope)
        if search:
            # Title or file name, case-insensitive; % and _ in the text are literal.
            needle = search.lower()
            statement = statement.where(
                or_(
                    func.lower(Image.title).contains(needle, autoescape=True),
                    func.lower(Image.filename).contains(needle, autoescape=True),
                )
            )
        if album_id is not None:
            statement = statement.where(
                Image.id.in_(select(AlbumImage.image_id).where(AlbumImage.album_id == album_id))
            )
        if public is not None:
            statement = statement.where(Image.is_public == public)
        if created_after is not None:
            statement = statement.where(Image.created_at >= created_after)
        if created_before is not None:
            statement = statement.where(Image.created_at < created_before)
        if sort == "newest":
            return await self.newest_first(statement, params)
        # Keyset pages in the other orders, the id breaking ties.
        orders: dict[str, tuple[list[Any], bool]] = {
            "oldest": ([Image.id], False),
            "largest": ([Image.bytes, Image.id], True),
            "name": ([Image.filename, Image.id], False),
        }
        order, descending = orders[sort]
        names = [column.key for column in order]
        rows, cursor = await self.page_by(
            statement,
            order,
            params,
            key=lambda row: [getattr(row[0], name) for name in names],
            descending=descending,
        )
        return [row[0] for row in rows], cursor

    async def for_delivery(self, image_id: uuid.UUID) -> tuple[Image, Client] | None:
        """An image and its client by id alone, for the view role: a delivery URL carries the
        id, and visibility (public, or a valid signature) decides who sees it, not a
        principal."""
        row = (
            await self.session.execute(
                select(Image, Client)
                .join(Client, Client.id == Image.client_id)
                .where(Image.id == image_id)
            )
        ).first()
        return (row[0], row[1]) if row is not None else None

    async def storage_of(self, client_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        """``storage_used`` of many clients in two grouped queries."""
        if not client_ids:
            return {}
        totals = {client_id: 0 for client_id in client_ids}
        images = await self.session.execute(
            select(Image.client_id, func.sum(Image.bytes + Image.public_bytes))
            .where(Image.client_id.in_(client_ids))
            .group_by(Image.client_id)
        )
        variants = await self.session.execute(
            select(Image.client_id, func.sum(ImageVariant.bytes))
            .join(Image, Image.id == ImageVariant.image_id)
            .where(Image.client_id.in_(client_ids))
            .group_by(Image.client_id)
        )
        for client_id, used in [*images.all(), *variants.all()]:
            totals[client_id] += int(used or 0)
        return totals

    async def storage_used(self, client_id: uuid.UUID) -> int:
        """Bytes a client stores: originals, public copies and cached variants."""
        images = await self.session.scalar(
            select(func.coalesce(func.sum(Image.bytes + Image.public_bytes), 0)).where(
                Image.client_id == client_id
            )
        )
        variants = await self.session.scalar(
            select(func.coalesce(func.sum(ImageVariant.bytes), 0))
            .join(Image, Image.id == ImageVariant.image_id)
            .where(Image.client_id == client_id)
        )
        return int(images or 0) + int(variants or 0)

    async def uploads_since(self, client_id: uuid.UUID, since: datetime) -> int:
        count = await self.session.scalar(
            select(func.count())
            .select_from(Image)
            .where(
                Image.client_id == client_id,
                Image.source == ImageSource.upload,
                Image.created_at >= since,
            )
        )
        return int(count or 0)

    async def lock_client(self, client_id: uuid.UUID) -> None:
        """The client's row lock (PostgreSQL), so racing uploads are counted one by one;
        SQLite's one writer at a time does the same by itself."""
        await self.session.execute(
            select(Client.id).where(Client.id == client_id).with_for_update()
        )

    async def by_id(self, image_id: uuid.UUID) -> Image | None:
        """An image by id, for the system's own work (the row it just wrote, fsck)."""
        found: Image | None = await self.session.get(Image, image_id)
        return found

    async def every(self) -> list[Image]:
        """Every image of every client: the storage check (``studioflow fsck``)."""
        return await self.all(select(Image))

    async def expired(self, now: datetime, *, limit: int) -> list[Image]:
        """Images past their expiry, locked for the purge (``FOR UPDATE`` on PostgreSQL)."""
        return await self.all(
            select(Image).where(Image.expires_at <= now).limit(limit).with_for_update()
        )

    async def variant(self, variant_id: uuid.UUID) -> ImageVariant | None:
        found: ImageVariant | None = await self.session.get(ImageVariant, variant_id)
        return found

    async def every_variant(self) -> list[ImageVariant]:
        return list((await self.session.scalars(select(ImageVariant))).all())

    async def cached_variant(self, image_id: uuid.UUID, spec: str) -> ImageVariant | None:
        found: ImageVariant | None = await self.session.scalar(
            select(ImageVariant).where(ImageVariant.image_id == image_id, ImageVariant.spec == spec)
        )
        return found

    async def old_result_previews(self, before: datetime, *, limit: int) -> list[ImageVariant]:
        """Rendered sizes of studio results that still expire (not kept), made before
        ``before``: the previews the results' TTL lets go early."""
        rows = await self.session.scalars(
            select(ImageVariant)
            .join(Image, Image.id == ImageVariant.image_id)
            .where(
                Image.source == ImageSource.generated,
                Image.expires_at.is_not(None),
                ImageVariant.created_at < before,
            )
            .limit(limit)
        )
        return list(rows.all())

    async def variant_keys(self, image_id: uuid.UUID) -> list[str]:
        rows = await self.session.scalars(
            select(ImageVariant.storage_key).where(ImageVariant.image_id == image_id)
        )
        return list(rows.all())


_ADD_TO_ALBUM = {
    dialect: insert(table_of(AlbumImage)).on_conflict_do_nothing(
        index_elements=["album_id", "image_id"]
    )
    for dialect, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


class AlbumRepository(ClientScoped[Album]):
    """Albums and what is in them. Memberships are checked here against the scope's client on
    both sides: an album of one client never holds another client's image."""

    model = Album

    def _with_counts(self, scope: Scope) -> Any:  # Select of (Album, count)
        counts = (
            select(AlbumImage.album_id, func.count().label("n"))
            .join(Image, Image.id == AlbumImage.image_id)
            .where(Image.client_id == scope.client_id)
            .group_by(AlbumImage.album_id)
            .subquery()
        )
        return (
            select(Album, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.album_id == Album.id)
            .where(Album.client_id == scope.client_id)
        )

    async def with_counts(
        self, scope: Scope, params: PageParams | None
    ) -> tuple[list[tuple[Album, int]], str | None]:
        """The client's albums by title with their image counts (all, without ``params``)."""
        statement = self._with_counts(scope)
        if params is None:
            rows = await self.session.execute(statement.order_by(Album.title, Album.id))
            return [(album, int(n)) for album, n in rows], None
        page, cursor = await self.page_by(
            statement, [Album.title, Album.id], params, key=lambda row: (row[0].title, row[0].id)
        )
        return [(album, int(n)) for album, n in page], cursor

    async def count_of(self, scope: Scope, album_id: uuid.UUID) -> int:
        """How many of the scope's images are in the album."""
        found = await self.session.scalar(
            select(func.count())
            .select_from(AlbumImage)
            .join(Image, Image.id == AlbumImage.image_id)
            .where(AlbumImage.album_id == album_id, Image.client_id == scope.client_id)
        )
        return int(found or 0)

    async def covers(self, scope: Scope, album_ids: list[uuid.UUID]) -> dict[uuid.UUID, Image]:
        """The newest image of each album (its cover), in one query."""
        if not album_ids:
            return {}
        ranked = (
            select(
                AlbumImage.album_id,
                AlbumImage.image_id,
                func.row_number()
                .over(partition_by=AlbumImage.album_id, order_by=AlbumImage.image_id.desc())
                .label("rank"),
            )
            .join(Image, Image.id == AlbumImage.image_id)
            .where(Image.client_id == scope.client_id, AlbumImage.album_id.in_(album_ids))
            .subquery()
        )
        rows = await self.session.execute(
            select(ranked.c.album_id, Image)
            .join(ranked, ranked.c.image_id == Image.id)
            .where(ranked.c.rank == 1)
        )
        return {album_id: image for album_id, image in rows}

    async def memberships(
        self, scope: Scope, image_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[uuid.UUID]]:
        """The albums of each image, in the order it was put in them (one query)."""
        if not image_ids:
            return {}
        rows = await self.session.execute(
            select(AlbumImage.image_id, AlbumImage.album_id)
            .join(Album, Album.id == AlbumImage.album_id)
            .where(Album.client_id == scope.client_id, AlbumImage.image_id.in_(image_ids))
            .order_by(AlbumImage.added_at, AlbumImage.album_id)
        )
        found: dict[uuid.UUID, list[uuid.UUID]] = {}
        for image_id, album_id in rows:
            found.setdefault(image_id, []).append(album_id)
        return found

    async def add_images(
        self, dialect: str, album_id: uuid.UUID, image_ids: list[uuid.UUID], at: datetime
    ) -> int:
        """Put images in an album (those already in it stay as they were): how many went in.
        The caller has checked that the album and the images are the scope's."""
        if not image_ids:
            return 0
        # One multi-row statement: an executemany's rowcount is -1 on asyncpg.
        rows = [{"album_id": album_id, "image_id": i, "added_at": at} for i in image_ids]
        result = await self.session.execute(
            _ADD_TO_ALBUM[dialect].values(rows).returning(table_of(AlbumImage).c.image_id)
        )
        return len(result.all())

    async def remove_images(self, album_id: uuid.UUID, image_ids: list[uuid.UUID]) -> int:
        if not image_ids:
            return 0
        result = await self.session.execute(
            delete(AlbumImage).where(
                AlbumImage.album_id == album_id, AlbumImage.image_id.in_(image_ids)
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def leave_all_but(self, image_id: uuid.UUID, keep: list[uuid.UUID]) -> None:
        """Take an image out of every album but ``keep``."""
        await self.session.execute(
            delete(AlbumImage).where(
                AlbumImage.image_id == image_id, AlbumImage.album_id.not_in(keep)
            )
        )


class ViewRepository(Repository[ImageView]):
    """Image views and their daily roll-ups (the analytics jobs and the stats answer)."""

    model = ImageView

    async def existing_images(self, image_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        rows = await self.session.scalars(select(Image.id).where(Image.id.in_(image_ids)))
        return set(rows.all())

    async def record(self, rows: list[dict[str, Any]]) -> None:
        await self.session.execute(insert(ImageView), rows)

    async def count_views(self, image_id: uuid.UUID, count: int) -> None:
        await self.session.execute(
            update(Image)
            .where(Image.id == image_id)
            .values(views=Image.views + count)
            .execution_options(**{DELIVERY_UNAFFECTED: True})
        )

    async def per_image_day(self, since: datetime, dialect: str) -> list[Any]:
        day = utc_day(ImageView.viewed_at, dialect)
        return list(
            (
                await self.session.execute(
                    select(
                        ImageView.image_id,
                        day.label("day"),
                        func.count().label("views"),
                        func.count(func.distinct(ImageView.visitor)).label("unique"),
                        func.coalesce(func.sum(ImageView.bytes), 0).label("bytes"),
                    )
                    .where(ImageView.viewed_at >= since)
                    .group_by(ImageView.image_id, day)
                )
            ).all()
        )

    async def per_client_day(self, since: datetime, dialect: str) -> list[Any]:
        day = utc_day(ImageView.viewed_at, dialect)
        return list(
            (
                await self.session.execute(
                    select(
                        ImageView.client_id,
                        day.label("day"),
                        func.count().label("views"),
                        func.coalesce(func.sum(ImageView.bytes), 0).label("bytes"),
                    )
                    .where(ImageView.viewed_at >= since)
                    .group_by(ImageView.client_id, day)
                )
            ).all()
        )

    async def uploads_per_client_day(self, since: datetime, dialect: str) -> list[Any]:
        day = utc_day(Image.created_at, dialect)
        return list(
            (
                await self.session.execute(
                    select(Image.client_id, day.label("day"), func.count())
                    .where(Image.created_at >= since)
                    .group_by(Image.client_id, day)
                )
            ).all()
        )

    async def replace_daily(
        self, since: date, images: list[ImageDaily], clients: list[UsageDaily]
    ) -> None:
        """The roll-ups from ``since`` on, recomputed: the old rows go, the new ones come."""
        await self.session.execute(delete(ImageDaily).where(ImageDaily.day >= since))
        await self.session.execute(delete(UsageDaily).where(UsageDaily.day >= since))
        self.session.add_all([*images, *clients])

    async def prune_before(self, cutoff: datetime) -> int:
        result = await self.session.execute(delete(ImageView).where(ImageView.viewed_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)

    async def daily_of(self, image_id: uuid.UUID, since: date) -> list[Any]:
        return list(
            (
                await self.session.execute(
                    select(
                        ImageDaily.day,
                        ImageDaily.views,
                        ImageDaily.unique_viewers,
                        ImageDaily.bytes,
                    )
                    .where(ImageDaily.image_id == image_id, ImageDaily.day >= since)
                    .order_by(ImageDaily.day)
                )
            ).all()
        )

    async def top(self, image_id: uuid.UUID, since: datetime, column: Any) -> list[Any]:
        """The ten most frequent values of ``column`` among an image's views since then."""
        return list(
            (
                await self.session.execute(
                    select(column, func.count())
                    .where(
                        ImageView.image_id == image_id,
                        ImageView.viewed_at >= since,
                        column.is_not(None),
                    )
                    .group_by(column)
                    .order_by(func.count().desc())
                    .limit(10)
                )
            ).all()
        )

    async def unique_viewers(self, image_id: uuid.UUID, since: datetime) -> int:
        value = await self.session.scalar(
            select(func.count(func.distinct(ImageView.visitor))).where(
                ImageView.image_id == image_id, ImageView.viewed_at >= since
            )
        )
        return int(value or 0)


class UploadRepository(ClientScoped[PendingUpload]):
    """Direct uploads (``media/direct_uploads.py``), scoped to their workspace."""

    model = PendingUpload

    async def locked(self, scope: Scope, upload_id: uuid.UUID) -> PendingUpload | None:
        """The scope's upload, locked while it is completed (two completions take turns)."""
        found: PendingUpload | None = await self.session.scalar(
            self.readable(scope)
            .where(PendingUpload.id == upload_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return found

    async def delete_older_than(self, before: datetime) -> int:
        """Forget uploads made before ``before`` (their bytes are gone by then)."""
        result = await self.session.execute(
            delete(PendingUpload).where(PendingUpload.created_at < before)
        )
        return int(getattr(result, "rowcount", 0) or 0)
