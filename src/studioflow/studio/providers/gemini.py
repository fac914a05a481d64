"""Gemini image generation over REST: ``models/{model}:generateContent`` with an API key.

Request: the prompt as a text part, reference images as ``inlineData`` parts, the aspect ratio
in ``generationConfig.imageConfig``. Answer: the image comes back as an ``inlineData`` part.
Failures follow google.rpc: ``error.status`` plus typed ``details`` — ``RetryInfo`` carries the
delay to wait after a 429, ``QuotaFailure`` says which quota ran out (per minute: wait; per
day: give up), ``ErrorInfo`` with ``API_KEY_INVALID`` marks a bad key (answered as 400).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any

import httpx

from studioflow.studio.providers.base import (
    FailureKind,
    Generated,
    GenerationRequest,
    ProviderError,
)

# gemini-2.5-flash-image's documented aspect ratios.
ASPECT_RATIOS = frozenset({"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"})
SAFETY_FINISH = {"SAFETY", "IMAGE_SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION"}


def parse_duration(value: Any) -> float | None:
    """google.protobuf.Duration in JSON: ``"37s"`` or ``"1.5s"``."""
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)s", value.strip())
    return float(match.group(1)) if match else None


class GeminiProvider:
    name = "gemini"
    rate_limited = True
    aspect_ratios = ASPECT_RATIOS

    def __init__(
        self, api_key: str, *, base_url: str, client: httpx.AsyncClient | None = None
    ) -> None:
        self._key = api_key
        self.base_url = base_url.rstrip("/")
        self.limit_key = "gemini:" + hashlib.sha256(api_key.encode()).hexdigest()[:16]
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(180.0, connect=10.0))

    async def close(self) -> None:
        await self._client.aclose()

    async def generate(self, request: GenerationRequest) -> Generated:
        parts: list[dict[str, Any]] = [{"text": request.prompt}]
        for reference in request.references:
            parts.append(
                {
                    "inlineData": {
                        "mimeType": reference.mime_type,
                        "data": base64.b64encode(reference.data).decode(),
                    }
                }
            )
        body = {
            "contents": [{"role": "user", "parts": parts}],
            "generationConfig": {
                "responseModalities": ["IMAGE"],
                "imageConfig": {"aspectRatio": request.aspect_ratio},
            },
        }
        url = f"{self.base_url}/v1beta/models/{request.model}:generateContent"
        try:
            response = await self._client.post(
                url, json=body, headers={"x-goog-api-key": self._key}
            )
        except httpx.TimeoutException:
            raise ProviderError(FailureKind.RETRYABLE, "Gemini did not answer in time.") from None
        except httpx.TransportError as error:
            raise ProviderError(
                FailureKind.RETRYABLE, f"Could not reach Gemini ({type(error).__name__})."
            ) from None
        if response.status_code != 200:
            raise self._error(response)
        try:
            payload = response.json()
        except ValueError:
            raise ProviderError(
                FailureKind.MALFORMED, "Gemini answered with something that is not JSON."
            ) from None
        return self._image(payload)

    def _image(self, payload: Any) -> Generated:
        if not isinstance(payload, dict):
            raise ProviderError(FailureKind.MALFORMED, "Gemini's answer is not an object.")
        request_id = payload.get("responseId")
        feedback = payload.get("promptFeedback") or {}
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            raise ProviderError(
                FailureKind.SAFETY,
                f"Gemini blocked the prompt ({feedback['blockReason']}).",
                request_id=request_id,
            )
        candidates = payload.get("candidates")
        if not isinstance(candidates, list) or not candidates:
            raise ProviderError(
                FailureKind.MALFORMED, "Gemini's answer has no candidates.", request_id=request_id
            )
        candidate = candidates[0] if isinstance(candidates[0], dict) else {}
        finish = candidate.get("finishReason")
        parts = (candidate.get("content") or {}).get("parts") or []
        for part in parts if isinstance(parts, list) else []:
            inline = part.get("inlineData") if isinstance(part, dict) else None
            if isinstance(inline, dict) and isinstance(inline.get("data"), str):
                try:
                    data = base64.b64decode(inline["data"], validate=True)
                except (binascii.Error, ValueError):
                    raise ProviderError(
                        FailureKind.MALFORMED,
                        "Gemini's image data is not valid base64.",
                        request_id=request_id,
                    ) from None
                return Generated(
                    data=data,
                    mime_type=str(inline.get("mimeType") or "image/png"),
                    request_id=request_id,
                )
        if finish in SAFETY_FINISH:
            raise ProviderError(
                FailureKind.SAFETY,
                f"Gemini withheld the image ({finish}).",
                request_id=request_id,
            )
        raise ProviderError(
            FailureKind.MALFORMED,
            f"Gemini's answer has no image (finish reason {finish or 'none'}).",
            request_id=request_id,
        )

    def _error(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        try:
            error = response.json().get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        message = str(error.get("message") or response.reason_phrase or "error")[:300]
        raw_details = error.get("details")
        details: list[Any] = raw_details if isinstance(raw_details, list) else []
        retry_after: float | None = None
        quota_ids: list[str] = []
        reasons: set[str] = set()
        for detail in details:
            if not isinstance(detail, dict):
                continue
            kind = str(detail.get("@type", ""))
            if kind.endswith("google.rpc.RetryInfo"):
                retry_after = parse_duration(detail.get("retryDelay"))
            elif kind.endswith("google.rpc.QuotaFailure"):
                for violation in detail.get("violations") or []:
                    if isinstance(violation, dict):
                        quota_ids.append(str(violation.get("quotaId", "")))
            elif kind.endswith("google.rpc.ErrorInfo"):
                reasons.add(str(detail.get("reason", "")))
        text = f"Gemini {status} {error.get('status', '')}: {message}".strip()
        if status in {401, 403} or "API_KEY_INVALID" in reasons:
            return ProviderError(FailureKind.AUTH, text, status=status)
        if status == 429:
            per_day = any("PerDay" in q for q in quota_ids)
            per_minute = any("PerMinute" in q for q in quota_ids)
            if per_day and not per_minute and retry_after is None:
                return ProviderError(FailureKind.QUOTA, text, status=status)
            return ProviderError(
                FailureKind.RETRYABLE, text, retry_after=retry_after, status=status
            )
        if status >= 500 or status == 408:
            return ProviderError(
                FailureKind.RETRYABLE, text, retry_after=retry_after, status=status
            )
        return ProviderError(FailureKind.INVALID, text, status=status)
