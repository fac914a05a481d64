"""What goes wrong at the provider, and what the runner makes of it: retries honouring the
provider's hints, items that fail at once, whole executions that fail fast, refunds once."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import pytest
from sqlalchemy import func, select

from studioflow.models import BatchResult, CreditEvent, Image
from tests.factories import create_account
from tests.fakes.image_apis import GEMINI_KEY, OPENAI_KEY, FakeImageAPIs
from tests.studio.conftest import Studio, use_provider

Fake = tuple[FakeImageAPIs, str]


@pytest.fixture
def quick(studio: Studio) -> Studio:
    """Short waits: backoff from 50 ms, 6,000 provider calls a minute, 2 s item timeout (the
    fake's slow answer takes 5 s; 1 s let a loaded two-core CI machine time out a fast one)."""
    studio.settings.studio_retry_base_seconds = 0.05
    studio.settings.studio_provider_rate_per_minute = 6000
    studio.settings.studio_item_timeout_seconds = 2.0
    studio.settings.gemini_api_key = GEMINI_KEY
    studio.settings.openai_api_key = OPENAI_KEY
    return studio


@pytest.mark.parametrize("provider", ["gemini", "openai"])
async def test_outcomes_of_one_batch(quick: Studio, fake_apis: Fake, provider: str) -> None:
    fake, url = fake_apis
    await use_provider(quick, provider, url)
    await quick.grant(10)
    fake.scripts.update(
        {
            "rate limited twice": ["429", "429", "ok"],
            "server trouble once": ["500", "ok"],
            "out of quota today": ["quota"],
            "not allowed": ["safety"],
            "garbled": ["malformed"],
            "always down": ["500"],
            "too slow": ["slow"],
        }
    )
    fake.slow_seconds = 3
    prompts = ["fine", *fake.scripts]
    execution_id = await quick.execute(prompts)
    done = await quick.wait(execution_id)
    results = {r["prompt"]: r for r in await quick.results(execution_id)}
    assert done["status"] == "completed"
    assert results["fine"]["status"] == "completed" and results["fine"]["attempts"] == 1
    assert results["rate limited twice"]["status"] == "completed"
    assert results["rate limited twice"]["attempts"] == 3
    assert results["server trouble once"]["attempts"] == 2
    assert results["out of quota today"]["status"] == "failed"
    assert results["out of quota today"]["error_code"] == "quota_exhausted"
    assert results["out of quota today"]["attempts"] == 1  # not retried
    assert results["not allowed"]["error_code"] == "blocked_by_safety"
    assert results["not allowed"]["attempts"] == 1
    assert results["garbled"]["error_code"] == "malformed_response"
    assert results["garbled"]["attempts"] == 4
    assert results["always down"]["status"] == "failed"
    assert results["always down"]["attempts"] == 4
    assert results["too slow"]["status"] == "failed" and results["too slow"]["attempts"] == 4
    assert "No answer within" in results["too slow"]["error"]
    if provider == "openai":
        assert results["fine"]["provider_request_id"].startswith("req_")
    # The 429 hint was honoured: the retry came no sooner than the provider asked.
    times = [c.at for c in fake.calls if c.prompt == "rate limited twice"]
    assert all(b - a >= fake.retry_seconds * 0.9 for a, b in itertools.pairwise(times))
    failed = [r for r in results.values() if r["status"] == "failed"]
    assert done["progress"]["failed"] == len(failed) == 5
    assert done["credits_refunded"] == 5 and done["cost"]["credits"] == 3
    assert done["cost"]["provider_micro_usd"] == 3 * 39_000 or provider == "openai"
    await quick.assert_ledger_balanced()
    assert await quick.balance() == 3 + 10 - 3


@pytest.mark.parametrize("key", [None, "AIza-wrong"])
async def test_missing_or_invalid_key_fails_fast_with_a_full_refund(
    quick: Studio, fake_apis: Fake, key: str | None
) -> None:
    fake, url = fake_apis
    await use_provider(quick, "gemini", url)
    quick.settings.gemini_api_key = key
    execution_id = await quick.execute(["one", "two", "three"])
    done = await quick.wait(execution_id)
    assert done["status"] == "failed"
    assert done["error_code"] == "invalid_provider_key"
    assert ("No Gemini API key" in done["error"]) is (key is None)
    assert done["credits_refunded"] == 3 and await quick.balance() == 3
    # Fast: at most the calls already in flight, not every item tried with a bad key.
    assert len(fake.calls) <= quick.settings.studio_prompt_concurrency
    await quick.assert_ledger_balanced()


async def test_a_429_storm_keeps_retrying_within_the_attempts(
    quick: Studio, fake_apis: Fake
) -> None:
    fake, url = fake_apis
    await use_provider(quick, "gemini", url)
    quick.settings.studio_max_attempts = 6
    # Nothing here is slow: a timeout would only be the machine's, and would add an attempt.
    quick.settings.studio_item_timeout_seconds = 30
    fake.retry_seconds = 0.05
    prompts = [f"storm {n}" for n in range(3)]
    for prompt in prompts:
        fake.scripts[prompt] = ["429", "429", "429", "429", "ok"]
    execution_id = await quick.execute(prompts)
    done = await quick.wait(execution_id)
    assert done["status"] == "completed" and done["progress"]["completed"] == 3
    assert all(r["attempts"] == 5 for r in await quick.results(execution_id))
    assert len(fake.calls) == 15
    await quick.assert_ledger_balanced()


async def test_every_item_failing_fails_the_execution(quick: Studio, fake_apis: Fake) -> None:
    fake, url = fake_apis
    await use_provider(quick, "openai", url)
    fake.default = "safety"
    execution_id = await quick.execute(["a", "b"])
    done = await quick.wait(execution_id)
    assert done["status"] == "failed" and done["error_code"] == "all_failed"
    assert await quick.balance() == 3
    await quick.assert_ledger_balanced()


async def test_cancel_stops_pending_items_and_refunds_each_once(
    quick: Studio, fake_apis: Fake
) -> None:
    fake, url = fake_apis
    await use_provider(quick, "gemini", url)
    quick.settings.studio_item_timeout_seconds = 30
    quick.settings.studio_prompt_concurrency = 2
    fake.default = "slow"
    fake.slow_seconds = 2
    await quick.grant(7)
    execution_id = await quick.execute([f"slow {n}" for n in range(10)])
    while not fake.calls:  # two items are at the provider now
        await asyncio.sleep(0.02)
    cancelled = await quick.client.post(
        f"/api/v1/executions/{execution_id}/cancel", headers=quick.headers
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = await quick.client.post(
        f"/api/v1/executions/{execution_id}/cancel", headers=quick.headers
    )
    assert again.status_code == 200
    done = await quick.wait(execution_id)
    await asyncio.sleep(0.6)  # the runner notices and aborts its two items
    results = await quick.results(execution_id)
    assert {r["status"] for r in results} == {"cancelled"}
    assert len(fake.calls) == 2
    assert done["status"] == "cancelled"
    assert await quick.balance() == 10
    async with quick.platform.db.transaction() as session:
        refunds = await session.scalar(
            select(func.count()).select_from(CreditEvent).where(CreditEvent.reason == "refund")
        )
    assert refunds == 10
    await quick.assert_ledger_balanced()


async def test_finished_executions_cannot_be_cancelled(studio: Studio) -> None:
    execution_id = await studio.execute(["done"])
    await studio.wait(execution_id)
    response = await studio.client.post(
        f"/api/v1/executions/{execution_id}/cancel", headers=studio.headers
    )
    assert response.status_code == 422 and response.json()["code"] == "execution_finished"


async def test_completed_items_are_never_redone(studio: Studio) -> None:
    execution_id = await studio.execute(["x", "y"])
    await studio.wait(execution_id)
    # A stale or duplicate job for the execution does nothing.
    from studioflow.studio import runner

    assert await runner.run_slice(studio.platform, uuid.UUID(execution_id), 0) == "skipped"
    async with studio.platform.db.transaction() as session:
        images = await session.scalar(select(func.count()).select_from(Image))
        attempts = await session.scalar(select(func.sum(BatchResult.attempts)))
    assert images == 2 and attempts == 2


async def test_one_clients_big_batch_does_not_hold_back_anothers_single_item(
    studio_app: Studio, fake_apis: Fake
) -> None:
    """One execution slot, half-second slices: the big batch takes turns, the small one runs
    in the next turn instead of after the whole batch."""

    studio = studio_app
    fake, url = fake_apis
    await use_provider(studio, "gemini", url)
    studio.settings.gemini_api_key = GEMINI_KEY
    studio.settings.studio_provider_rate_per_minute = 60_000
    studio.settings.studio_worker_concurrency = 1
    studio.settings.studio_prompt_concurrency = 2
    studio.settings.studio_slice_seconds = 0.5
    fake.default = "slow"
    fake.slow_seconds = 0.25
    await studio.grant(37)
    await studio.platform.start_worker(concurrency=2, dequeue_timeout=0.05)
    try:
        other = await create_account(studio.client, studio.platform, "small-client@example.com")
        big = await studio.execute([f"big {n}" for n in range(40)])
        while len(fake.calls) < 2:  # the big batch is running
            await asyncio.sleep(0.02)
        small = await studio.execute(["just one"], account=other)
        done_small = await studio.wait(small, account=other)
        big_now = (
            await studio.client.get(f"/api/v1/executions/{big}", headers=studio.headers)
        ).json()
        assert done_small["status"] == "completed"
        # The small one finished while most of the big one was still to do.
        assert big_now["status"] == "processing", big_now
        assert big_now["progress"]["completed"] < 30, big_now["progress"]
        done_big = await studio.wait(big, timeout=120)
        assert done_big["status"] == "completed" and done_big["progress"]["completed"] == 40
    finally:
        await studio.platform.stop_worker()
    await studio.assert_ledger_balanced()


async def test_an_unexpected_provider_error_is_retried_then_failed_and_refunded(
    quick: Studio,
) -> None:
    from studioflow.studio.providers import EXTRA

    class Broken:
        name = "broken"
        limit_key = "broken"
        rate_limited = False
        aspect_ratios = frozenset({"1:1"})
        calls = 0

        async def generate(self, request: object) -> object:
            Broken.calls += 1
            raise RuntimeError("a bug in a provider client")

        async def close(self) -> None:
            return None

    EXTRA["broken"] = lambda settings, key: Broken()  # type: ignore[assignment,return-value]
    try:
        await use_provider(quick, "broken", "http://127.0.0.1:9")
        quick.settings.studio_max_attempts = 2
        done = await quick.wait(await quick.execute(["will break"]))
    finally:
        EXTRA.pop("broken")
    (result,) = await quick.results(done["id"])
    assert result["status"] == "failed" and result["attempts"] == 2 and Broken.calls == 2
    assert result["error_code"] == "retryable" and "RuntimeError" in result["error"]
    assert done["status"] == "failed" and await quick.balance() == 3
    await quick.assert_ledger_balanced()
