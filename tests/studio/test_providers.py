"""The Gemini and OpenAI clients against local servers speaking their wire formats."""

from __future__ import annotations

import pytest

from studioflow.studio.providers import FailureKind, GenerationRequest, ProviderError
from studioflow.studio.providers.base import Reference
from studioflow.studio.providers.gemini import GeminiProvider, parse_duration
from studioflow.studio.providers.openai import OpenAIProvider
from tests.fakes.image_apis import GEMINI_KEY, OPENAI_KEY, FakeImageAPIs

PNG = b"\x89PNG\r\n\x1a\n"


def request(prompt: str, **extra: object) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, model="gemini-2.5-flash-image", **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize("api", ["gemini", "openai"])
@pytest.mark.parametrize(
    ("outcome", "kind", "hint"),
    [
        ("429", FailureKind.RETRYABLE, 0.2),
        ("quota", FailureKind.QUOTA, None),
        ("500", FailureKind.RETRYABLE, None),
        ("safety", FailureKind.SAFETY, None),
        ("malformed", FailureKind.MALFORMED, None),
        ("auth", FailureKind.AUTH, None),
    ],
)
async def test_failures_are_classified(
    fake_apis: tuple[FakeImageAPIs, str],
    api: str,
    outcome: str,
    kind: FailureKind,
    hint: float | None,
) -> None:
    fake, url = fake_apis
    fake.scripts["a cat"] = [outcome]
    provider = (
        GeminiProvider(GEMINI_KEY, base_url=url)
        if api == "gemini"
        else OpenAIProvider(OPENAI_KEY, base_url=url)
    )
    try:
        with pytest.raises(ProviderError) as raised:
            await provider.generate(request("a cat"))
    finally:
        await provider.close()
    assert raised.value.kind is kind, raised.value.message
    assert raised.value.retry_after == hint
    assert raised.value.retryable is (kind in {FailureKind.RETRYABLE, FailureKind.MALFORMED})


async def test_gemini_sends_the_key_prompt_references_and_aspect_ratio(
    fake_apis: tuple[FakeImageAPIs, str],
) -> None:
    fake, url = fake_apis
    provider = GeminiProvider(GEMINI_KEY, base_url=url)
    try:
        made = await provider.generate(
            request("a cat", aspect_ratio="16:9", references=[Reference(PNG, "image/png")])
        )
    finally:
        await provider.close()
    assert made.data.startswith(PNG) and made.request_id == "resp-1"
    call = fake.calls[0]
    assert call.key == GEMINI_KEY and call.references == 1
    assert call.body["generationConfig"] == {
        "responseModalities": ["IMAGE"],
        "imageConfig": {"aspectRatio": "16:9"},
    }
    assert provider.limit_key.startswith("gemini:") and GEMINI_KEY not in provider.limit_key


async def test_a_wrong_key_is_an_auth_failure(fake_apis: tuple[FakeImageAPIs, str]) -> None:
    _, url = fake_apis
    for provider in (
        GeminiProvider("AIza-wrong", base_url=url),
        OpenAIProvider("sk-wrong", base_url=url),
    ):
        try:
            with pytest.raises(ProviderError) as raised:
                await provider.generate(request("x"))
        finally:
            await provider.close()
        assert raised.value.kind is FailureKind.AUTH


async def test_openai_uses_edits_for_references_and_keeps_the_request_id(
    fake_apis: tuple[FakeImageAPIs, str],
) -> None:
    fake, url = fake_apis
    provider = OpenAIProvider(OPENAI_KEY, base_url=url)
    try:
        made = await provider.generate(request("a dog", references=[Reference(PNG, "image/png")]))
        plain = await provider.generate(request("a dog"))
    finally:
        await provider.close()
    assert made.request_id == "req_000001" and plain.request_id == "req_000002"
    assert [c.references for c in fake.calls] == [1, 0]


async def test_unreachable_or_slow_providers_are_retryable(
    fake_apis: tuple[FakeImageAPIs, str],
) -> None:
    import httpx

    fake, url = fake_apis
    fake.scripts["slow"] = ["slow"]
    fake.slow_seconds = 2
    provider = GeminiProvider(
        GEMINI_KEY, base_url=url, client=httpx.AsyncClient(timeout=httpx.Timeout(0.3))
    )
    down = GeminiProvider(GEMINI_KEY, base_url="http://127.0.0.1:9")
    try:
        for p, prompt in ((provider, "slow"), (down, "x")):
            with pytest.raises(ProviderError) as raised:
                await p.generate(request(prompt))
            assert raised.value.kind is FailureKind.RETRYABLE
    finally:
        await provider.close()
        await down.close()


def test_retry_delay_durations() -> None:
    assert parse_duration("37s") == 37.0
    assert parse_duration("1.5s") == 1.5
    assert parse_duration("soon") is None
    assert parse_duration(None) is None
