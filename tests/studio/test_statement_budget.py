"""The per-item path's SQL, counted: throughput (bench/README.md) is mostly statements, so a
change that adds one to every execute or every item shows up here, not months later in a
benchmark. Counts, never timings."""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager

from sqlalchemy import select

from studioflow.models import Notification
from studioflow.platform.runtime import Platform
from studioflow.studio import runner
from tests.sql_seen import statements
from tests.studio.conftest import Studio

# POST …/execute of one prompt with a bearer token: session and user, membership and
# permissions, workflow, balance, ledger row, execution, item, first event. (BEGIN and
# savepoints are not counted, nor COMMIT.)
EXECUTE_BUDGET = 8
# One slice of a one-item execution: lease, claim (two statements on PostgreSQL), event
# numbering and rows; then the result image, the item, the counters, closing, event numbering
# and rows. SQLite's trace reports each row of a multi-row insert (2 + 3 event rows), so 13
# there; 11 on PostgreSQL, where a multi-row insert is one statement. One more for the cancel
# poll, which a slow machine may reach. Then, once per run (not per item), telling whoever
# started it: the in-app row, their preferences, their account, their push devices.
RUN_BUDGET = {"sqlite": 18, "postgresql": 16}


NOT_COUNTED = ("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT", "ROLLBACK", "PRAGMA")


def counting(platform: Platform) -> AbstractContextManager[list[str]]:
    return statements(platform, ignore=NOT_COUNTED)


async def test_one_item_costs_a_bounded_number_of_statements(studio_app: Studio) -> None:
    workflow = await studio_app.workflow_id()
    # The steady state: the client's credit account exists (it opens on first use).
    await studio_app.balance()
    with counting(studio_app.platform) as on_execute:
        response = await studio_app.client.post(
            f"/api/v1/workflows/{workflow}/execute",
            json={"prompts": ["one red apple"]},
            headers=studio_app.headers,
        )
    assert response.status_code == 202, response.text
    execution_id = uuid.UUID(response.json()["execution_id"])
    assert len(on_execute) <= EXECUTE_BUDGET, "\n".join(on_execute)

    with counting(studio_app.platform) as on_run:
        outcome = await runner.run_slice(studio_app.platform, execution_id, 0)
    assert outcome == "completed"
    assert len(on_run) <= RUN_BUDGET[studio_app.platform.db.dialect], "\n".join(on_run)

    body = await studio_app.wait(str(execution_id))
    assert body["progress"]["completed"] == 1
    # Whoever started it is told (in the app; push and mail as they chose).
    async with studio_app.platform.db.sessionmaker() as session:
        told = (await session.scalars(select(Notification.event))).all()
    assert list(told) == ["execution.completed"]
    await studio_app.assert_ledger_balanced()
