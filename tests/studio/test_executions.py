"""Executions end to end through the real queue and worker, on both backends."""

from __future__ import annotations

import csv
import io
import zipfile

from tests.studio.conftest import Studio


async def test_a_batch_runs_to_completion_and_charges_once(studio: Studio) -> None:
    assert await studio.balance() == 3
    execution_id = await studio.execute(["a red fox", "a blue whale", "a green frog"])
    done = await studio.wait(execution_id)
    assert done["status"] == "completed", done
    assert done["progress"] == {"total": 3, "completed": 3, "failed": 0, "cancelled": 0}
    assert done["output_data"] == {"successful": 3, "failed": 0, "total": 3}
    assert done["cost"]["credits"] == 3 and done["placeholder"] is True
    assert done["started_at"] and done["completed_at"] and done["duration_seconds"] >= 0
    results = await studio.results(execution_id)
    assert [r["index"] for r in results] == [0, 1, 2]
    assert [r["prompt"] for r in results] == ["a red fox", "a blue whale", "a green frog"]
    assert all(r["status"] == "completed" and r["attempts"] == 1 for r in results)
    image = await studio.client.get(results[0]["result_url"].replace("http://testserver", ""))
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert await studio.balance() == 0
    await studio.assert_ledger_balanced()
    # The results are private images of the client, in its gallery.
    gallery = (await studio.client.get("/api/v1/images", headers=studio.headers)).json()
    assert len(gallery["items"]) == 3
    assert all(not i["is_public"] for i in gallery["items"])
    stats = (await studio.client.get("/api/v1/user/profile", headers=studio.headers)).json()[
        "stats"
    ]
    assert stats["executions"] == stats["executions_completed"] == 1
    assert stats["images_generated"] == 3 and stats["success_rate"] == 1.0
    assert stats["credit_balance"] == 0 and stats["storage_used"] > 0


async def test_download_streams_a_zip_with_a_manifest(studio: Studio) -> None:
    execution_id = await studio.execute(["one", "two"])
    await studio.wait(execution_id)
    response = await studio.client.get(
        f"/api/v1/executions/{execution_id}/download", headers=studio.headers
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["001.png", "002.png", "manifest.csv"]
    manifest = archive.read("manifest.csv").decode().splitlines()
    assert manifest[0] == "index,prompt,status,file,error"
    assert manifest[1] == "1,one,completed,001.png,"
    assert archive.read("001.png")[:8] == b"\x89PNG\r\n\x1a\n"


async def test_the_manifest_never_hands_a_spreadsheet_a_formula(studio: Studio) -> None:
    """Prompts written into manifest.csv start no formula (issue 12, item 10)."""
    prompts = ["=cmd|' /C calc'!A0", '=HYPERLINK("http://evil.example","x")', "+1", "@SUM(A1)"]
    await studio.grant(2)  # five prompts; an account starts with three credits
    execution_id = await studio.execute([*prompts, "-2 plain"])
    await studio.wait(execution_id)
    response = await studio.client.get(
        f"/api/v1/executions/{execution_id}/download", headers=studio.headers
    )
    rows = list(
        csv.reader(
            io.StringIO(zipfile.ZipFile(io.BytesIO(response.content)).read("manifest.csv").decode())
        )
    )
    cells = [row[1] for row in rows[1:]]
    assert cells == ["'" + p for p in prompts] + ["'-2 plain"]
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)


async def test_old_events_and_idempotency_answers_are_pruned(studio: Studio) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select

    from studioflow.models import ExecutionEvent, IdempotencyRecord, WorkflowExecution
    from studioflow.studio.tasks import prune_old

    workflow = await studio.workflow_id()
    response = await studio.client.post(
        f"/api/v1/workflows/{workflow}/execute",
        json={"prompts": ["kept"]},
        headers={**studio.headers, "Idempotency-Key": "prune-me"},
    )
    execution_id = response.json()["execution_id"]
    await studio.wait(execution_id)
    assert await prune_old(studio.platform) == {"events": 0, "idempotency": 0}
    later = datetime.now(UTC) + timedelta(days=31)
    assert (await prune_old(studio.platform, now=later))["idempotency"] == 1
    async with studio.platform.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(ExecutionEvent)) == 0
        assert await session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0
        assert await session.scalar(select(func.count()).select_from(WorkflowExecution)) == 1
