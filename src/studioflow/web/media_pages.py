"""Pages of image hosting: gallery with uploads, image detail with links and stats, albums."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from studioflow.billing.plans import plan_of
from studioflow.media import analytics, service, snippets, urls
from studioflow.platform import flags
from studioflow.platform.db import SessionDep
from studioflow.platform.pagination import PageParams
from studioflow.web.auth import Page, PageView, html_errors
from studioflow.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(html_errors)])
ImagesPage = Annotated[PageView, Depends(Page("images:read"))]
CreditsPage = Annotated[PageView, Depends(Page("billing:read"))]


CHART_LEFT, CHART_BAR, CHART_HEIGHT = 40, 20, 100


def _nice_ceiling(value: int) -> int:
    """The axis top: 1, 2 or 5 times a power of ten, at least ``value`` (and at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def bar_chart(
    per_day: list[dict[str, Any]], *, days: int = 30, today: date | None = None
) -> dict[str, Any]:
    """An inline SVG bar chart (no script, so nothing for the CSP to block) over a fixed
    window of ``days`` ending today, missing days as zero, so one day of data is one narrow
    bar, not the whole width; a y axis from 0 to a round top and dates under it."""
    end = today or datetime.now(UTC).date()
    by_day = {str(d["day"]): int(d["views"]) for d in per_day}
    series = [(end - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]
    values = [by_day.get(day, 0) for day in series]
    top = _nice_ceiling(max([*values, 1]))
    bars = [
        {
            "x": CHART_LEFT + i * CHART_BAR + 3,
            "height": round(views / top * CHART_HEIGHT),
            "day": day,
            "views": views,
        }
        for i, (day, views) in enumerate(zip(series, values, strict=True))
    ]
    ticks = [
        {"value": value, "y": 10 + CHART_HEIGHT - round(value / top * CHART_HEIGHT)}
        for value in sorted({0, top // 2, top})
    ]
    labels = [
        {"x": CHART_LEFT + i * CHART_BAR + CHART_BAR // 2, "text": series[i][5:]}
        for i in (0, days // 2, days - 1)
    ]
    return {
        "bars": bars,
        "ticks": ticks,
        "labels": labels,
        "width": CHART_LEFT + days * CHART_BAR + 8,
        "base": 10 + CHART_HEIGHT,
        "left": CHART_LEFT,
        "top": top,
        "total": sum(values),
    }


@router.get("/images", response_class=HTMLResponse)
async def gallery(
    request: Request,
    session: SessionDep,
    page: ImagesPage,
    album: uuid.UUID | None = None,
    cursor: str | None = None,
    q: str = "",
    sort: str = "newest",
    last_day: str = "",
) -> Response:
    principal, context = page.principal, page.context
    sort = sort if sort in service.IMAGE_SORTS else "newest"  # an unknown one sorts by date
    images, next_cursor = await service.list_images(
        session,
        principal,
        PageParams(limit=48, cursor=cursor),
        album_id=album,
        search=q[:100],
        sort=sort,
    )
    platform = request.app.state.platform

    def link(image: Any, size: str) -> str:
        return urls.link(platform, image, size=size, relative=True)

    context.update(
        images=images,
        tiles=[
            (
                image,
                link(image, "thumb"),
                link(image, "small"),
                link(image, "large"),
                urls.signed_url(platform, image.id, download=True, relative=True),
            )
            for image in images
        ],
        next_cursor=next_cursor,
        q=q[:100],
        sort=sort,
        sorts=[
            ("newest", "Newest first"),
            ("oldest", "Oldest first"),
            ("largest", "Largest"),
            ("name", "File name"),
        ],
        # Grouped by upload day when sorted by date; the next page carries the last day so
        # it does not repeat the heading.
        grouped=sort in ("newest", "oldest"),
        last_day=last_day,
        album=album,
        can_write=principal.can("images:write"),
    )
    if request.headers.get("hx-request") and cursor:
        return render(request, "media/gallery_tiles.html", context)  # the next page's tiles
    albums = await service.list_albums(session, principal)
    context.update(
        archive_enabled=await flags.enabled(platform.db, "media.archive_download", principal),
        albums=albums,
        current_album=next((a for a, _ in albums if a.id == album), None),
        plan=await plan_of(session, principal.client_id),
        uploads_today=await service.uploads_today(session, principal.client_id),
        storage_used=await service.storage_used(session, principal.client_id),
    )
    return render(request, "media/gallery.html", context)


@router.get("/images/{image_id}", response_class=HTMLResponse)
async def detail(
    request: Request, session: SessionDep, page: ImagesPage, image_id: uuid.UUID
) -> Response:
    principal, context = page.principal, page.context
    image = await service.get_image(session, principal, image_id)
    platform = request.app.state.platform
    url = urls.link(platform, image)
    stats = await analytics.image_stats(session, image, days=30)
    title = image.title or image.filename
    context.update(
        image=image,
        url=url,
        links=[
            ("URL", url),
            ("Markdown", snippets.markdown_image(title, url)),
            ("HTML", snippets.html_image(title, url, image.width, image.height)),
            ("BBCode", snippets.bbcode_image(url)),
        ],
        stats=stats,
        chart=bar_chart(stats["per_day"]),
        albums=await service.list_albums(session, principal),
        image_albums=(await service.image_albums(session, principal, [image.id])).get(image.id, []),
        can_write=principal.can("images:write"),
        now=datetime.now(UTC),
    )
    return render(request, "media/detail.html", context)


@router.get("/albums", response_class=HTMLResponse)
async def albums(request: Request, session: SessionDep, page: ImagesPage) -> Response:
    principal, context = page.principal, page.context
    albums = await service.list_albums(session, principal)
    covers = await service.album_covers(session, principal, [a for a, _ in albums])
    platform = request.app.state.platform
    context.update(
        albums=[
            (
                album,
                count,
                urls.link(platform, covers[album.id], size="thumb", relative=True)
                if album.id in covers
                else None,
            )
            for album, count in albums
        ],
        can_write=principal.can("images:write"),
    )
    return render(request, "media/albums.html", context)


@router.get("/credits", response_class=HTMLResponse)
async def credits_page(request: Request, session: SessionDep, page: CreditsPage) -> Response:
    from studioflow.billing import credits

    principal, context = page.principal, page.context
    balance, events = await credits.summary(
        request.app.state.platform.db, session, principal.client_id
    )
    from studioflow.billing import requests
    from studioflow.payments import service as payments

    asked = await requests.of_workspace(session, principal)
    context.update(
        packs=await payments.packs(session),
        balance=balance,
        events=events,
        requests=asked,
        open_request=next((r for r in asked if r.status == "open"), None),
        can_ask=principal.can("billing:manage"),
    )
    return render(request, "billing/credits.html", context)
