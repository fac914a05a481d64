"""Cached hits of ``GET|HEAD /i/{id}`` answered before the framework.

A cached thumbnail needs no routing among the app's routes, no validation of thirteen query
parameters and no response class: everything it needs is in memory (media/delivery_cache.py).
This fast answer of the Edge (platform/edge.py) answers exactly those requests — a public
image in the delivery cache, no parameters but ``size`` and ``v``, no ``Range``, its bytes in
memory, an allowed
referrer, bandwidth left — with the same headers, counting and analytics as the route
(media/delivery.py, whose helpers it calls). Anything else, including every error, goes on
to the route, which has the full rules: the fast path can only ever say yes to what the
route would say yes to.
"""

from __future__ import annotations

import functools
import uuid
from urllib.parse import parse_qsl, quote, urlsplit

from starlette.requests import Request
from starlette.types import Scope

from studioflow.media.delivery_cache import SMALL_OBJECT, DeliveryCache
from studioflow.media.delivery_rules import (
    cache_headers,
    count_delivery,
    month_key,
    not_modified,
    referrer_allowed,
)
from studioflow.media.sniff import MIME
from studioflow.media.variants import PRESETS, VariantSpec
from studioflow.platform.edge import Answer
from studioflow.platform.runtime import Platform

_PREFIX = "/i/"
_ALLOWED_PARAMS = frozenset({"size", "v"})
# What the access log and the metrics call it: the route's template.
_ROUTE = "/i/{image_id}"


class HotDelivery:
    """A fast answer of the Edge (platform/edge.py) for cached public images."""

    def __init__(self, *, platform: Platform, cache: DeliveryCache) -> None:
        self.platform = platform
        self.cache = cache
        self.own_host = urlsplit(platform.settings.base_url).hostname
        # With CORS configured, the route (behind CORSMiddleware) answers requests that
        # carry an Origin: the fast path adds no CORS headers.
        self.cors = bool(platform.settings.cors_origins)
        self.local = platform.storage.kind == "local"

    async def __call__(self, scope: Scope) -> Answer | None:
        if not scope["path"].startswith(_PREFIX):
            return None
        try:
            image_id = uuid.UUID(scope["path"][len(_PREFIX) :])
        except ValueError:
            return None
        found = self.cache.peek(image_id)
        if found is None or found.expired() or not found.image.is_public:
            return None
        # Blank values kept: `?size=` is the route's 422, not the original.
        pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        params = dict(pairs)
        if len(params) != len(pairs) or not params.keys() <= _ALLOWED_PARAMS:
            return None
        request = Request(scope)
        request_headers = request.headers
        if "range" in request_headers or (self.cors and "origin" in request_headers):
            return None
        referer = request_headers.get("referer")
        if not referrer_allowed(referer, list(found.allowed_referrers), self.own_host):
            return None
        image = found.image
        size = params.get("size")
        if size is not None:
            if size not in PRESETS:
                return None
            spec = VariantSpec.preset(size, image.format)
            variant = found.variants.get(spec.key)
            if variant is None:
                return None
            key, total, tag = variant.storage_key, variant.bytes, spec.key
            mime = MIME[variant.format]
        elif image.keep_metadata:
            key, total, tag, mime = image.original_key, image.bytes, "o", image.mime_type
        else:
            key, total, tag, mime = image.public_key, image.public_bytes, "p", image.mime_type
        platform = self.platform
        versioned = bool(params.get("v"))
        if total > SMALL_OBJECT:
            # A large object is nginx's to send (X-Accel-Redirect, as the route answers it);
            # without that, the route streams it.
            accel = self.local and platform.settings.delivery_accel_prefix
            if not accel or scope["method"] == "HEAD":
                return None
            if await platform.tally.total(month_key(image)) >= found.bandwidth_bytes_month:
                return None
            etag, accel_headers = _accel_headers(
                image.content_hash, tag, versioned, mime, accel + quote(key)
            )
            if not_modified(request, etag):
                return Answer(304, list(accel_headers[:-3]), b"", _ROUTE)
            count_delivery(platform, request, image, tag, total)
            return Answer(200, list(accel_headers), b"", _ROUTE)
        body = self.cache.peek_body(key)
        if body is None:
            return None
        if await platform.tally.total(month_key(image)) >= found.bandwidth_bytes_month:
            return None
        etag, answer_headers = _headers(
            image.content_hash, image.is_public, tag, versioned, mime, len(body)
        )
        if not_modified(request, etag):
            return Answer(304, list(answer_headers[:-2]), b"", _ROUTE)
        if scope["method"] == "HEAD":
            return Answer(200, list(answer_headers), b"", _ROUTE)
        count_delivery(platform, request, image, tag, len(body))
        return Answer(200, list(answer_headers), body, _ROUTE)


@functools.lru_cache(maxsize=4096)
def _headers(
    content_hash: str, is_public: bool, tag: str, versioned: bool, mime: str, length: int
) -> tuple[str, tuple[tuple[bytes, bytes], ...]]:
    """The ETag and the encoded headers of a 200 (the last two, type and length, left off
    for a 304): the route's, built once per copy of an image instead of once a request."""
    headers = cache_headers(content_hash, is_public, tag, versioned=versioned)
    headers["Content-Type"] = mime
    headers["Content-Length"] = str(length)
    encoded = tuple((k.lower().encode(), v.encode("latin-1")) for k, v in headers.items())
    return headers["ETag"], encoded


@functools.lru_cache(maxsize=4096)
def _accel_headers(
    content_hash: str, tag: str, versioned: bool, mime: str, location: str
) -> tuple[str, tuple[tuple[bytes, bytes], ...]]:
    """The route's X-Accel-Redirect answer for a public object (the last three headers left
    off for a 304): nginx sends the file with our ETag and security headers."""
    headers = cache_headers(content_hash, True, tag, versioned=versioned)
    headers["Content-Type"] = mime
    headers["Content-Length"] = "0"
    headers["X-Accel-Redirect"] = location
    encoded = tuple((k.lower().encode(), v.encode("latin-1")) for k, v in headers.items())
    return headers["ETag"], encoded
