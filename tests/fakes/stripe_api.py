"""A local stand-in for Stripe's API as the ``stripe`` package calls it, stateful, speaking
its wire format: form-encoded requests with nested ``a[b]`` keys, Bearer secret keys,
``Idempotency-Key`` (the same key answers the same object), JSON objects and Stripe's error
envelope ``{"error": {"type", "code", "message"}}``.

- ``POST /v1/payment_intents``: an intent ``requires_payment_method`` with a client secret.
- ``GET /v1/payment_intents/{id}``, ``POST /v1/payment_intents/{id}/cancel``.
- ``POST /v1/refunds``: a refund of an intent (more than is left: 400
  ``charge_already_refunded``).
- A wrong key answers 401; while ``busy`` is set every call answers 429 ``rate_limit``.

``event()`` and ``signature()`` build a webhook event about an intent and its
``Stripe-Signature`` header as Stripe does (HMAC-SHA256 of ``{t}.{body}``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SECRET_KEY = "sk_test_" + "fake" * 6
WEBHOOK_SECRET = "whsec_" + "fake" * 8


def _error(status: int, kind: str, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "code": code, "message": message}}, status)


def _nested(form: list[tuple[str, str]]) -> dict[str, Any]:
    """``metadata[payment_id]=x`` → ``{"metadata": {"payment_id": "x"}}`` (one level)."""
    out: dict[str, Any] = {}
    for key, value in form:
        if "[" in key:
            outer, inner = key.split("[", 1)
            out.setdefault(outer, {})[inner.rstrip("]")] = value
        else:
            out[key] = value
    return out


@dataclass
class FakeStripe:
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    by_key: dict[str, Any] = field(default_factory=dict)
    busy: bool = False
    calls: int = 0

    async def _guard(self, request: Request) -> JSONResponse | None:
        self.calls += 1
        if request.headers.get("authorization") != f"Bearer {SECRET_KEY}":
            return _error(401, "invalid_request_error", "", "Invalid API Key provided.")
        if self.busy:
            return _error(
                429, "invalid_request_error", "rate_limit", "Too many requests hit the API."
            )
        return None

    async def create_intent(self, request: Request) -> Response:
        if (refused := await self._guard(request)) is not None:
            return refused
        key = request.headers.get("idempotency-key")
        if key and key in self.by_key:
            return JSONResponse(self.by_key[key])
        form = _nested(parse_qsl((await request.body()).decode()))
        try:
            amount = int(form["amount"])
        except (KeyError, ValueError):
            return _error(400, "invalid_request_error", "parameter_missing", "Missing amount.")
        if amount < 50:
            return _error(400, "invalid_request_error", "amount_too_small", "Amount too small.")
        intent_id = "pi_" + secrets.token_hex(12)
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": form.get("currency", "eur"),
            "status": "requires_payment_method",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "metadata": form.get("metadata", {}),
            "livemode": False,
        }
        self.intents[intent_id] = intent
        if key:
            self.by_key[key] = intent
        return JSONResponse(intent)

    async def get_intent(self, request: Request) -> Response:
        if (refused := await self._guard(request)) is not None:
            return refused
        intent = self.intents.get(request.path_params["id"])
        if intent is None:
            return _error(404, "invalid_request_error", "resource_missing", "No such intent.")
        return JSONResponse(intent)

    async def cancel_intent(self, request: Request) -> Response:
        if (refused := await self._guard(request)) is not None:
            return refused
        intent = self.intents.get(request.path_params["id"])
        if intent is None:
            return _error(404, "invalid_request_error", "resource_missing", "No such intent.")
        intent["status"] = "canceled"
        return JSONResponse(intent)

    async def create_refund(self, request: Request) -> Response:
        if (refused := await self._guard(request)) is not None:
            return refused
        key = request.headers.get("idempotency-key")
        if key and key in self.by_key:
            return JSONResponse(self.by_key[key])
        form = _nested(parse_qsl((await request.body()).decode()))
        intent = self.intents.get(form.get("payment_intent", ""))
        if intent is None or intent["status"] != "succeeded":
            return _error(400, "invalid_request_error", "resource_missing", "Nothing to refund.")
        amount = int(form.get("amount", intent["amount"]))
        given = sum(r["amount"] for r in self.refunds if r["payment_intent"] == intent["id"])
        if given + amount > intent["amount"]:
            return _error(
                400, "invalid_request_error", "charge_already_refunded", "Refund too large."
            )
        refund = {
            "id": "re_" + secrets.token_hex(12),
            "object": "refund",
            "amount": amount,
            "payment_intent": intent["id"],
            "status": "succeeded",
        }
        self.refunds.append(refund)
        if key:
            self.by_key[key] = refund
        return JSONResponse(refund)

    def pay(self, intent_id: str) -> dict[str, Any]:
        """The card network said yes: the intent succeeded (as after Stripe.js confirmed)."""
        intent = self.intents[intent_id]
        intent["status"], intent["amount_received"] = "succeeded", intent["amount"]
        return intent

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/payment_intents", self.create_intent, methods=["POST"]),
                Route("/v1/payment_intents/{id}", self.get_intent, methods=["GET"]),
                Route("/v1/payment_intents/{id}/cancel", self.cancel_intent, methods=["POST"]),
                Route("/v1/refunds", self.create_refund, methods=["POST"]),
            ]
        )


def event(kind: str, intent: dict[str, Any], **changes: Any) -> bytes:
    """A webhook event's body about ``intent`` (with ``changes`` to the intent)."""
    return json.dumps(
        {
            "id": "evt_" + secrets.token_hex(12),
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": {**intent, **changes}},
        }
    ).encode()


def signature(body: bytes, *, secret: str = WEBHOOK_SECRET, at: float | None = None) -> str:
    stamp = int(time.time() if at is None else at)
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"
