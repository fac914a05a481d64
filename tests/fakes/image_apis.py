"""Local stand-ins for the Gemini and OpenAI image APIs, speaking their wire formats.

Each prompt can carry a script: a list of outcomes consumed one per call (the last repeats),
so a test says "this prompt gets a 429 with a retry hint, then succeeds". Outcomes:
``ok``, ``429`` (rate limit with a retry hint), ``quota`` (per-day quota / insufficient_quota),
``500``, ``safety``, ``malformed``, ``slow`` (answers after ``slow_seconds``), ``auth``.
Every call is recorded (time, prompt, the key it came with) for the assertions.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from studioflow.studio.providers import placeholder

GEMINI_KEY = "AIza-test-key-0123456789"
OPENAI_KEY = "sk-test-0123456789"


@dataclass
class Call:
    at: float
    api: str
    prompt: str
    key: str | None
    references: int
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeImageAPIs:
    scripts: dict[str, list[str]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    retry_seconds: float = 0.2
    slow_seconds: float = 5.0
    default: str = "ok"

    def outcome(self, prompt: str) -> str:
        script = self.scripts.get(prompt)
        if not script:
            return self.default
        return script.pop(0) if len(script) > 1 else script[0]

    def image(self, prompt: str) -> str:
        data = placeholder.generate(prompt, "1:1")
        return base64.b64encode(data).decode()

    # --- Gemini -----------------------------------------------------------------------

    async def gemini(self, request: Request) -> Response:
        body = await request.json()
        parts = body["contents"][0]["parts"]
        prompt = next(p["text"] for p in parts if "text" in p)
        key = request.headers.get("x-goog-api-key")
        self.calls.append(
            Call(
                time.time(),
                "gemini",
                prompt,
                key,
                sum(1 for p in parts if "inlineData" in p),
                body,
            )
        )
        if key != GEMINI_KEY:
            return self._gemini_error(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                    }
                ],
            )
        outcome = self.outcome(prompt)
        if outcome == "slow":
            await asyncio.sleep(self.slow_seconds)
            outcome = "ok"
        if outcome == "429":
            return self._gemini_error(
                429,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and billing details.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [
                            {
                                "quotaMetric": "generativelanguage.googleapis.com/"
                                "generate_content_free_tier_requests",
                                "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                            }
                        ],
                    },
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": f"{self.retry_seconds}s",
                    },
                ],
            )
        if outcome == "quota":
            return self._gemini_error(
                429,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [
                            {
                                "quotaMetric": "generativelanguage.googleapis.com/"
                                "generate_content_free_tier_requests",
                                "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                            }
                        ],
                    }
                ],
            )
        if outcome == "500":
            return self._gemini_error(500, "INTERNAL", "An internal error has occurred.", [])
        if outcome == "auth":
            return self._gemini_error(
                403, "PERMISSION_DENIED", "Permission denied on resource.", []
            )
        if outcome == "safety":
            return JSONResponse(
                {
                    "candidates": [{"finishReason": "IMAGE_SAFETY", "index": 0}],
                    "responseId": f"resp-{len(self.calls)}",
                    "modelVersion": "gemini-2.5-flash-image",
                }
            )
        if outcome == "malformed":
            return JSONResponse(
                {
                    "candidates": [
                        {
                            "content": {"parts": [{"text": "Here is your image!"}]},
                            "finishReason": "STOP",
                        }
                    ],
                    "responseId": f"resp-{len(self.calls)}",
                }
            )
        return JSONResponse(
            {
                "candidates": [
                    {
                        "content": {
                            "role": "model",
                            "parts": [
                                {
                                    "inlineData": {
                                        "mimeType": "image/png",
                                        "data": self.image(prompt),
                                    }
                                }
                            ],
                        },
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 1290},
                "modelVersion": "gemini-2.5-flash-image",
                "responseId": f"resp-{len(self.calls)}",
            }
        )

    @staticmethod
    def _gemini_error(code: int, status: str, message: str, details: list[Any]) -> Response:
        error: dict[str, Any] = {"code": code, "message": message, "status": status}
        if details:
            error["details"] = details
        return JSONResponse({"error": error}, status_code=code)

    # --- OpenAI -----------------------------------------------------------------------

    async def openai(self, request: Request) -> Response:
        references = 0
        if request.url.path.endswith("/edits"):
            form = await request.form()
            prompt = str(form["prompt"])
            references = len(form.getlist("image[]"))
        else:
            prompt = (await request.json())["prompt"]
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        self.calls.append(Call(time.time(), "openai", prompt, key, references))
        request_id = f"req_{len(self.calls):06d}"
        headers = {"x-request-id": request_id}
        if key != OPENAI_KEY:
            return self._openai_error(
                401,
                "Incorrect API key provided.",
                "invalid_request_error",
                "invalid_api_key",
                headers,
            )
        outcome = self.outcome(prompt)
        if outcome == "slow":
            await asyncio.sleep(self.slow_seconds)
            outcome = "ok"
        if outcome == "429":
            return self._openai_error(
                429,
                "Rate limit reached for images per minute.",
                "requests",
                "rate_limit_exceeded",
                {**headers, "retry-after": str(self.retry_seconds)},
            )
        if outcome == "quota":
            return self._openai_error(
                429,
                "You exceeded your current quota.",
                "insufficient_quota",
                "insufficient_quota",
                headers,
            )
        if outcome == "500":
            return self._openai_error(
                500, "The server had an error.", "server_error", None, headers
            )
        if outcome == "auth":
            return self._openai_error(
                401, "Invalid key.", "invalid_request_error", "invalid_api_key", headers
            )
        if outcome == "safety":
            return self._openai_error(
                400,
                "Your request was rejected by the safety system.",
                "image_generation_user_error",
                "moderation_blocked",
                headers,
            )
        if outcome == "malformed":
            return JSONResponse({"created": 1, "data": [{"url": None}]}, headers=headers)
        return JSONResponse(
            {"created": int(time.time()), "data": [{"b64_json": self.image(prompt)}]},
            headers=headers,
        )

    @staticmethod
    def _openai_error(
        status: int, message: str, kind: str, code: str | None, headers: dict[str, str]
    ) -> Response:
        return JSONResponse(
            {"error": {"message": message, "type": kind, "param": None, "code": code}},
            status_code=status,
            headers=headers,
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1beta/models/{model}:generateContent", self.gemini, methods=["POST"]),
                Route("/v1/images/generations", self.openai, methods=["POST"]),
                Route("/v1/images/edits", self.openai, methods=["POST"]),
            ]
        )
