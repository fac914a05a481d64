"""What execute refuses, and how: problem+json with stable codes, nothing charged or queued."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select

from studioflow.models import WorkflowExecution
from tests.factories import create_account
from tests.media import images
from tests.studio.conftest import Studio


async def executions_count(studio: Studio) -> int:
    async with studio.platform.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(WorkflowExecution)) or 0)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"prompts": []}, "empty_batch"),
        ({"prompts": ["  ", ""]}, "empty_batch"),
        ({"prompts_text": "# only a comment\n\n"}, "empty_batch"),
        ({"prompts": [f"p{n}" for n in range(10_000)]}, "too_many_prompts"),
        ({"prompts": ["x" * 100_000]}, "prompt_too_long"),
        ({}, "invalid_prompts"),
        ({"prompts": ["a"], "prompts_text": "b"}, "invalid_prompts"),
        ({"prompts": ["a"], "config": {"aspect_ratio": "7:5"}}, "invalid_aspect_ratio"),
        ({"prompts_text": "prompt,aspect_ratio\na cat,99:1\n"}, "invalid_aspect_ratio"),
        ({"prompts": ["a"], "config": {"seed": 3}}, "validation_error"),
        ({"prompts": ["a"], "reference_image_ids": [str(uuid.uuid4())]}, "invalid_reference_image"),
        ({"prompts": "not a list"}, "validation_error"),
    ],
)
async def test_bad_input_is_refused_clearly(
    studio: Studio, body: dict[str, object], code: str
) -> None:
    workflow = await studio.workflow_id()
    response = await studio.client.post(
        f"/api/v1/workflows/{workflow}/execute", json=body, headers=studio.headers
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert await studio.balance() == 3 and await executions_count(studio) == 0


async def test_another_clients_reference_image_is_unknown(studio: Studio) -> None:
    other = await create_account(studio.client, studio.platform, "other-maker@example.com")
    theirs = (
        await studio.client.post(
            "/upload",
            files={"file": ("t.png", images.encode("PNG"), "image/png")},
            headers=other.headers,
        )
    ).json()["image"]["id"]
    mine = (
        await studio.client.post(
            "/upload",
            files={"file": ("m.png", images.encode("PNG", size=(40, 30)), "image/png")},
            headers=studio.headers,
        )
    ).json()["image"]["id"]
    workflow = await studio.workflow_id()
    refused = await studio.client.post(
        f"/api/v1/workflows/{workflow}/execute",
        json={"prompts": ["a"], "reference_image_ids": [mine, theirs]},
        headers=studio.headers,
    )
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_reference_image"
    assert refused.json()["image_ids"] == [theirs]
    accepted = await studio.client.post(
        f"/api/v1/workflows/{workflow}/execute",
        json={"prompts": ["a"], "reference_image_ids": [mine]},
        headers=studio.headers,
    )
    assert accepted.status_code == 202
    done = await studio.wait(accepted.json()["execution_id"])
    assert done["status"] == "completed"


async def test_csv_rows_keep_their_aspect_ratio(studio: Studio) -> None:
    workflow = await studio.workflow_id()
    response = await studio.client.post(
        f"/api/v1/workflows/{workflow}/execute",
        json={
            "prompts_text": "prompt,aspect_ratio\nwide,16:9\nsquare,\n",
            "config": {"aspect_ratio": "3:4"},
        },
        headers=studio.headers,
    )
    assert response.status_code == 202 and response.json()["total"] == 2
    execution_id = response.json()["execution_id"]
    await studio.wait(execution_id)
    results = await studio.results(execution_id)
    assert [r["aspect_ratio"] for r in results] == ["16:9", "3:4"]


async def test_short_balance_is_402_and_nothing_is_queued(studio: Studio) -> None:
    workflow = await studio.workflow_id()
    response = await studio.client.post(
        f"/api/v1/workflows/{workflow}/execute",
        json={"prompts": ["a", "b", "c", "d"]},
        headers=studio.headers,
    )
    assert response.status_code == 402 and response.json()["code"] == "insufficient_credits"
    assert await studio.balance() == 3 and await executions_count(studio) == 0
    await studio.assert_ledger_balanced()


async def test_two_executions_racing_for_the_last_credit(studio: Studio) -> None:
    workflow = await studio.workflow_id()
    await studio.execute(["a", "b"])  # 1 credit left

    async def one(n: int) -> int:
        response = await studio.client.post(
            f"/api/v1/workflows/{workflow}/execute",
            json={"prompts": [f"race {n}"]},
            headers=studio.headers,
        )
        return response.status_code

    statuses = await asyncio.gather(*(one(n) for n in range(4)))
    assert sorted(statuses) == [202, 402, 402, 402], statuses
    assert await studio.balance() == 0
    await studio.assert_ledger_balanced()


async def test_idempotency_key_replays_the_first_answer(studio: Studio) -> None:
    workflow = await studio.workflow_id()
    url = f"/api/v1/workflows/{workflow}/execute"
    headers = {**studio.headers, "Idempotency-Key": "batch-7"}
    first = await studio.client.post(url, json={"prompts": ["a"]}, headers=headers)
    second = await studio.client.post(url, json={"prompts": ["a"]}, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert await executions_count(studio) == 1 and await studio.balance() == 2
    changed = await studio.client.post(url, json={"prompts": ["b"]}, headers=headers)
    assert changed.status_code == 409 and changed.json()["code"] == "idempotency_key_reused"
    # The key belongs to the client: another client may use the same string.
    other = await create_account(studio.client, studio.platform, "idem@example.com")
    theirs = await studio.client.post(
        f"/api/v1/workflows/{await studio.workflow_id(other)}/execute",
        json={"prompts": ["a"]},
        headers={**other.headers, "Idempotency-Key": "batch-7"},
    )
    assert theirs.status_code == 202 and theirs.json() != first.json()


async def test_executions_list_filters_and_pages(studio: Studio) -> None:
    await studio.grant(10)
    first = await studio.execute(["a"])
    await studio.wait(first)
    workflow = await studio.workflow_id()
    refused = await studio.client.post(
        f"/api/v1/workflows/{workflow}/execute",
        json={"prompts": ["b"]},
        headers=studio.headers,
    )
    second = refused.json()["execution_id"]
    await studio.wait(second)
    await studio.client.post("/api/v1/jobs", json={"prompt": "c job"}, headers=studio.headers)
    listed = (await studio.client.get("/api/v1/executions?limit=2", headers=studio.headers)).json()
    assert len(listed["items"]) == 2 and listed["next_cursor"]
    rest = (
        await studio.client.get(
            f"/api/v1/executions?limit=2&cursor={listed['next_cursor']}", headers=studio.headers
        )
    ).json()
    assert [e["id"] for e in rest["items"]] == [first]
    batches = (
        await studio.client.get("/api/v1/executions?kind=batch", headers=studio.headers)
    ).json()
    assert {e["id"] for e in batches["items"]} == {first, second}
    bad = await studio.client.get("/api/v1/executions?status=exploded", headers=studio.headers)
    assert bad.status_code == 422


async def test_jobs_give_a_download_url_when_done(studio: Studio) -> None:
    created = await studio.client.post(
        "/api/v1/jobs",
        json={"prompt": "a lighthouse", "aspect_ratio": "16:9"},
        headers=studio.headers,
    )
    assert created.status_code == 202, created.text
    job = created.json()
    assert job["status"] == "queued" and job["download_url"] is None
    await studio.wait(job["id"])
    done = (await studio.client.get(f"/api/v1/jobs/{job['id']}", headers=studio.headers)).json()
    assert done["status"] == "completed" and done["aspect_ratio"] == "16:9"
    image = await studio.client.get(done["download_url"].replace("http://testserver", ""))
    assert image.status_code == 200 and "attachment" in image.headers["content-disposition"]
    # A batch execution is not a job.
    batch = await studio.execute(["b"])
    assert (
        await studio.client.get(f"/api/v1/jobs/{batch}", headers=studio.headers)
    ).status_code == 404
    bad = await studio.client.post(
        "/api/v1/jobs", json={"prompt": "a", "aspect_ratio": "1:9"}, headers=studio.headers
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_aspect_ratio"
