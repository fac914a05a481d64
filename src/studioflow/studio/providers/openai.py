"""OpenAI image generation over REST: ``/v1/images/generations``, and ``/v1/images/edits``
(multipart, ``image[]`` files) when the item has reference images.

Answers carry the image as ``data[0].b64_json`` and the request id in ``x-request-id``.
Failures: 429 with ``retry-after`` (or ``retry-after-ms``) for rate limits, 429
``insufficient_quota`` when the account is out of money (retrying will not help), 401 for a bad
key, 400 ``moderation_blocked`` / ``content_policy_violation`` for the safety system.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import httpx

from studioflow.studio.providers.base import (
    FailureKind,
    Generated,
    GenerationRequest,
    ProviderError,
)

# gpt-image-1 sizes by aspect ratio.
SIZES = {"1:1": "1024x1024", "3:2": "1536x1024", "2:3": "1024x1536"}
SAFETY_CODES = {"moderation_blocked", "content_policy_violation"}
QUOTA_CODES = {"insufficient_quota", "billing_hard_limit_reached"}


def retry_after(response: httpx.Response) -> float | None:
    for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = response.headers.get(header)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            continue
    return None


class OpenAIProvider:
    name = "openai"
    rate_limited = True
    aspect_ratios = frozenset(SIZES)

    def __init__(
        self, api_key: str, *, base_url: str, client: httpx.AsyncClient | None = None
    ) -> None:
        self._key = api_key
        self.base_url = base_url.rstrip("/")
        self.limit_key = "openai:" + hashlib.sha256(api_key.encode()).hexdigest()[:16]
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(180.0, connect=10.0))

    async def close(self) -> None:
        await self._client.aclose()

    async def generate(self, request: GenerationRequest) -> Generated:
        headers = {"Authorization": f"Bearer {self._key}"}
        size = SIZES.get(request.aspect_ratio, "1024x1024")
        try:
            if request.references:
                files = [
                    ("image[]", (f"reference-{n}", ref.data, ref.mime_type))
                    for n, ref in enumerate(request.references)
                ]
                response = await self._client.post(
                    f"{self.base_url}/v1/images/edits",
                    headers=headers,
                    data={"model": request.model, "prompt": request.prompt, "size": size},
                    files=files,
                )
            else:
                response = await self._client.post(
                    f"{self.base_url}/v1/images/generations",
                    headers=headers,
                    json={"model": request.model, "prompt": request.prompt, "size": size, "n": 1},
                )
        except httpx.TimeoutException:
            raise ProviderError(FailureKind.RETRYABLE, "OpenAI did not answer in time.") from None
        except httpx.TransportError as error:
            raise ProviderError(
                FailureKind.RETRYABLE, f"Could not reach OpenAI ({type(error).__name__})."
            ) from None
        request_id = response.headers.get("x-request-id")
        if response.status_code != 200:
            raise self._error(response, request_id)
        try:
            payload: Any = response.json()
            encoded = payload["data"][0]["b64_json"]
            data = base64.b64decode(encoded, validate=True)
        except (ValueError, KeyError, IndexError, TypeError, binascii.Error):
            raise ProviderError(
                FailureKind.MALFORMED,
                "OpenAI's answer has no usable image.",
                request_id=request_id,
            ) from None
        return Generated(data=data, mime_type="image/png", request_id=request_id)

    def _error(self, response: httpx.Response, request_id: str | None) -> ProviderError:
        status = response.status_code
        try:
            error = response.json().get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        code = str(error.get("code") or "")
        kind = str(error.get("type") or "")
        message = str(error.get("message") or response.reason_phrase or "error")[:300]
        text = f"OpenAI {status} {code or kind}: {message}".strip()

        def failure(kind_: FailureKind, delay: float | None = None) -> ProviderError:
            return ProviderError(
                kind_, text, retry_after=delay, request_id=request_id, status=status
            )

        if status in {401, 403}:
            return failure(FailureKind.AUTH)
        if code in QUOTA_CODES or kind in QUOTA_CODES:
            return failure(FailureKind.QUOTA)
        if code in SAFETY_CODES:
            return failure(FailureKind.SAFETY)
        if status == 429 or status >= 500 or status == 408:
            return failure(FailureKind.RETRYABLE, retry_after(response))
        return failure(FailureKind.INVALID)
