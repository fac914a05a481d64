"""Cached hits of ``GET|HEAD /i/{id}`` answered before the framework.

A cached thumbnail needs no routing among the app's routes, no validation of thirteen query
parameters and no response class: everything it needs is in memory (media/delivery_cache.py).
This ASGI middleware answers exactly those requests — a public image in the delivery cache,
no parameters but ``size`` and ``v``, no ``Range``, its bytes in memory, an allowed
referrer, bandwidth left — with the same headers, counting and analytics as the route
(media/delivery.py, whose helpers it calls). Anything else, including every error, goes on
to the route, which has the full rules: the fast path can only ever say yes to what the
route would say yes to.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

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
from studioflow.platform.runtime import Platform

_PREFIX = "/i/"
_ALLOWED_PARAMS = frozenset({"size", "v"})
# What the access log and the metrics call the route (Starlette puts the matched route here).
_ROUTE = SimpleNamespace(path_format="/i/{image_id}")


class HotDelivery:
    def __init__(self, app: ASGIApp, *, platform: Platform, cache: DeliveryCache) -> None:
        self.app = app
        self.platform = platform
        self.cache = cache
        self.own_host = urlsplit(platform.settings.base_url).hostname

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"].startswith(_PREFIX)
            and scope["method"] in ("GET", "HEAD")
            and await self._answer(scope, send)
        ):
            return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, send: Send) -> bool:
        try:
            image_id = uuid.UUID(scope["path"][len(_PREFIX) :])
        except ValueError:
            return False
        found = self.cache.peek(image_id)
        if found is None or found.expired() or not found.image.is_public:
            return False
        # Blank values kept: `?size=` is the route's 422, not the original.
        pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        params = dict(pairs)
        if len(params) != len(pairs) or not params.keys() <= _ALLOWED_PARAMS:
            return False
        request = Request(scope)
        if "range" in request.headers:
            return False
        referer = request.headers.get("referer")
        if not referrer_allowed(referer, list(found.allowed_referrers), self.own_host):
            return False
        image = found.image
        size = params.get("size")
        if size is not None:
            if size not in PRESETS:
                return False
            spec = VariantSpec.preset(size, image.format)
            variant = found.variants.get(spec.key)
            if variant is None:
                return False
            key, total, tag = variant.storage_key, variant.bytes, spec.key
            mime = MIME[variant.format]
        elif image.keep_metadata:
            key, total, tag, mime = image.original_key, image.bytes, "o", image.mime_type
        else:
            key, total, tag, mime = image.public_key, image.public_bytes, "p", image.mime_type
        if total > SMALL_OBJECT:
            return False
        body = self.cache.peek_body(key)
        if body is None:
            return False
        platform = self.platform
        if await platform.counters.get(month_key(image)) >= found.bandwidth_bytes_month:
            return False
        headers = cache_headers(image, tag, versioned=bool(params.get("v")))  # as the route
        scope["route"] = _ROUTE
        if not_modified(request, headers["ETag"]):
            await _send(send, 304, headers, b"")
            return True
        headers["Content-Type"] = mime
        headers["Content-Length"] = str(len(body))
        if scope["method"] == "HEAD":
            await _send(send, 200, headers, b"")
            return True
        await count_delivery(platform, request, image, tag, len(body))
        await _send(send, 200, headers, body)
        return True


async def _send(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
        }
    )
    await send({"type": "http.response.body", "body": body})
