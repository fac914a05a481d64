"""The platform's generations-an-hour limit (issue 15, seed 001's 5/hour as a setting): a
run or a job past it answers 429 with Retry-After; an idempotent replay is not counted."""

from __future__ import annotations

from tests.factories import admin_client
from tests.studio.conftest import Studio


async def test_runs_and_jobs_an_hour_are_limited_per_user(studio: Studio) -> None:
    async with admin_client(studio.settings, studio.platform, "boss@example.com") as (
        admin,
        headers,
    ):
        answer = await admin.put(
            "/api/v1/admin/settings", json={"generations_per_hour": 2}, headers=headers
        )
        assert answer.status_code == 200
    run = f"/api/v1/workflows/{await studio.workflow_id()}/execute"
    first = {**studio.headers, "Idempotency-Key": "run-1"}
    assert (
        await studio.client.post(run, json={"prompts": ["a cat"]}, headers=first)
    ).status_code == 202
    replay = await studio.client.post(run, json={"prompts": ["a cat"]}, headers=first)
    assert replay.headers.get("Idempotent-Replayed") == "true"  # not counted
    job = await studio.client.post("/api/v1/jobs", json={"prompt": "a dog"}, headers=studio.headers)
    assert job.status_code == 202
    refused = await studio.client.post(run, json={"prompts": ["a bird"]}, headers=studio.headers)
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert "2 generations an hour" in refused.json()["detail"]
    assert int(refused.headers["Retry-After"]) >= 1
    refused_job = await studio.client.post(
        "/api/v1/jobs", json={"prompt": "a fish"}, headers=studio.headers
    )
    assert refused_job.status_code == 429
