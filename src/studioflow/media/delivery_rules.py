"""What every answer with an image's bytes shares, on the route and on the hot path:
headers, hotlink rules, and the counting of bytes and views."""

from __future__ import annotations

import functools
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

from starlette.requests import Request

from studioflow.identity.auth import access_tokens
from studioflow.identity.cookies import access_cookie_name
from studioflow.identity.tokens import InvalidToken
from studioflow.media import analytics
from studioflow.models import Image
from studioflow.platform.client_ip import client_ip
from studioflow.platform.runtime import Platform


def referrer_allowed(referer: str | None, allowed: list[str], own_host: str | None) -> bool:
    """No list, no Referer (privacy settings strip it), our own pages, or a listed domain
    (and its subdomains)."""
    if not allowed or not referer:
        return True
    host = (urlsplit(referer).hostname or "").lower()
    if not host or host == own_host:
        return True
    for domain in allowed:
        bare = domain.removeprefix("*.")
        if host == bare or host.endswith("." + bare):
            return True
    return False


def month_key(image: Image) -> str:
    """The counter of the bytes sent for the image's client this month."""
    return f"bandwidth:{image.client_id}:{_this_month()}"


_month: tuple[str, float] = ("", 0.0)


def _this_month() -> str:
    """``YYYYMM`` in UTC, worked out again once a minute (a thumbnail asked for it twice;
    reading the clock and formatting a date were a twentieth of its time)."""
    global _month
    label, until = _month
    now = time.time()
    if now >= until:
        moment = datetime.fromtimestamp(now, UTC)
        label = f"{moment.year:04d}{moment.month:02d}"
        # Good to the next whole minute: a month turns on one (POSIX time has no leap
        # seconds), so the label is never a minute late.
        _month = (label, now - now % 60 + 60)
    return label


def cache_headers(
    content_hash: str, is_public: bool, tag: str, *, versioned: bool
) -> dict[str, str]:
    """The headers of every answer with an image's bytes (``tag``: which copy or variant)."""
    return {
        "ETag": f'"{content_hash[:32]}-{tag}"',
        "Accept-Ranges": "bytes",
        "Cache-Control": (
            "private, max-age=300"
            if not is_public
            else "public, max-age=31536000, immutable"
            if versioned
            else "public, max-age=86400"
        ),
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }


def not_modified(request: Request, etag: str) -> bool:
    return etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]


def from_own_pages(referrer: str | None, base_url: str) -> bool:
    """Whether a request for an image came from Studioflow's own pages (the gallery, an
    image's page, the studio): bytes count towards bandwidth, but not as a view. The embed
    page is the exception: it is our page, shown on someone else's site."""
    if not referrer or not base_url:
        return False
    own = base_url.rstrip("/")
    if not referrer.startswith(own + "/") and referrer != own:
        return False
    return not referrer[len(own) :].startswith("/embed/")


def count_delivery(platform: Platform, request: Request, image: Image, tag: str, sent: int) -> None:
    """Bytes sent towards the plan's bandwidth, and the view for analytics: added to the
    platform's tally (no I/O here), which writes them to the counter and the view buffer in
    one go; a job writes the views to the database in batches."""
    tally = platform.tally
    tally.add(month_key(image), sent, ttl=40 * 24 * 3600)
    settings = platform.settings
    referrer = request.headers.get("referer")
    if from_own_pages(referrer, settings.base_url):
        return  # the workspace browsing its own gallery is not an audience
    viewer = signed_in_viewer(platform, request)
    tally.record(
        functools.partial(
            analytics.make_event,
            secret=settings.secret,
            image_id=image.id,
            client_id=image.client_id,
            variant=tag,
            referrer=referrer,
            user_agent=request.headers.get("user-agent"),
            country=request.headers.get(settings.country_header)
            if settings.country_header
            else None,
            ip=client_ip(request, settings.trusted_proxies),
            sent=sent,
            at=datetime.now(UTC),
            viewer=viewer,
        )
    )


def signed_in_viewer(platform: Platform, request: Request) -> uuid.UUID | None:
    """The user behind a valid access-token cookie on an image request (the owner opening a
    link to their own image), or None. No SQL here: the token's signature is checked (once
    per token text, then remembered), and the analytics flush decides membership in bulk."""
    token = request.cookies.get(access_cookie_name(platform.settings))
    if not token:
        return None
    try:
        return access_tokens(platform).verify(token).user_id
    except InvalidToken:
        return None
