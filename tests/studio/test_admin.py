"""Platform admins: templates, assigning workflows, reviewing requests, the queue monitor."""

from __future__ import annotations

import time

from studioflow.demo import create_admin
from tests.factories import create_account
from tests.fakes.image_apis import OPENAI_KEY, FakeImageAPIs
from tests.identity.helpers import Account, sign_in
from tests.studio.conftest import Studio, use_provider


async def admin_of(studio: Studio) -> Account:
    async with studio.platform.db.transaction() as session:
        await create_admin(
            session,
            email="boss@example.com",
            password_hash=await studio.platform.passwords.hash("a boss passphrase 42"),
        )
    return await sign_in(studio.client, "boss@example.com", "a boss passphrase 42")


async def test_templates_assignment_and_requests(studio: Studio) -> None:
    admin = await admin_of(studio)
    created = await studio.client.post(
        "/api/v1/admin/workflow-templates",
        json={
            "name": "Posters",
            "provider": "placeholder",
            "model": "poster-1",
            "default_config": {"aspect_ratio": "2:3"},
            "price_credits": 2,
        },
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    template = created.json()
    assert template["workflows"] == 0
    bad = await studio.client.post(
        "/api/v1/admin/workflow-templates",
        json={"name": "X", "provider": "dall-e-9", "model": "m"},
        headers=admin.headers,
    )
    assert bad.status_code == 422 and bad.json()["code"] == "unknown_provider"
    # Renaming onto another template's name is a clear conflict, and changes nothing.
    other = await studio.client.post(
        "/api/v1/admin/workflow-templates",
        json={"name": "Flyers", "provider": "placeholder", "model": "flyer-1"},
        headers=admin.headers,
    )
    clash = await studio.client.patch(
        f"/api/v1/admin/workflow-templates/{other.json()['id']}",
        json={"name": "Posters", "price_credits": 9},
        headers=admin.headers,
    )
    assert clash.status_code == 409 and "has that name" in clash.json()["detail"]
    listed = (
        await studio.client.get("/api/v1/admin/workflow-templates", headers=admin.headers)
    ).json()["items"]
    assert {t["name"]: t["price_credits"] for t in listed}["Flyers"] == 1
    # A client asks; the admin approves with the template: the client now has it.
    asked = await studio.client.post(
        "/api/v1/workflow-requests",
        json={"title": "Posters please", "description": "Tall posters for our campaigns."},
        headers=studio.headers,
    )
    assert asked.status_code == 201 and asked.json()["status"] == "pending"
    queue = (
        await studio.client.get(
            "/api/v1/admin/workflow-requests?status=pending", headers=admin.headers
        )
    ).json()
    assert [r["id"] for r in queue["items"]] == [asked.json()["id"]]
    reviewed = await studio.client.post(
        f"/api/v1/admin/workflow-requests/{asked.json()['id']}/review",
        json={"decision": "approve", "note": "Done", "template_id": template["id"]},
        headers=admin.headers,
    )
    assert reviewed.status_code == 200 and reviewed.json()["status"] == "approved"
    twice = await studio.client.post(
        f"/api/v1/admin/workflow-requests/{asked.json()['id']}/review",
        json={"decision": "decline"},
        headers=admin.headers,
    )
    assert twice.status_code == 409
    mine = (await studio.client.get("/api/v1/workflow-requests", headers=studio.headers)).json()
    assert mine["items"][0]["status"] == "approved" and mine["items"][0]["admin_note"] == "Done"
    workflows = (await studio.client.get("/api/v1/workflows", headers=studio.headers)).json()[
        "items"
    ]
    posters = next(w for w in workflows if w["name"] == "Posters")
    assert posters["price_credits"] == 2 and posters["config"] == {"aspect_ratio": "2:3"}
    # Price changes apply to new executions only.
    await studio.client.patch(
        f"/api/v1/admin/workflow-templates/{template['id']}",
        json={"price_credits": 3},
        headers=admin.headers,
    )
    listed = (
        await studio.client.get("/api/v1/admin/workflow-templates", headers=admin.headers)
    ).json()["items"]
    assert next(t for t in listed if t["name"] == "Posters")["price_credits"] == 3
    # Non-admins see none of it.
    for path in ("/api/v1/admin/workflow-templates", "/api/v1/admin/workflow-requests"):
        assert (await studio.client.get(path, headers=studio.headers)).status_code == 403


async def test_assign_a_template_with_overrides(studio: Studio) -> None:
    admin = await admin_of(studio)
    template = (
        await studio.client.get("/api/v1/admin/workflow-templates", headers=admin.headers)
    ).json()["items"][0]
    other = await create_account(studio.client, studio.platform, "assigned@example.com")
    assigned = await studio.client.post(
        f"/api/v1/admin/clients/{other.client_id}/workflows",
        json={"template_id": template["id"], "config_overrides": {"aspect_ratio": "16:9"}},
        headers=admin.headers,
    )
    assert assigned.status_code == 201, assigned.text
    workflows = (await studio.client.get("/api/v1/workflows", headers=other.headers)).json()[
        "items"
    ]
    assert workflows[0]["config"] == {"aspect_ratio": "16:9"}


async def test_admins_see_the_queues_and_abort_a_waiting_job(studio: Studio) -> None:
    admin = await admin_of(studio)
    # A job for an hour from now: waiting, abortable.
    waiting = await studio.platform.queue.enqueue(
        "media.purge_expired", key="test-abort-me", scheduled=time.time() + 3600
    )
    assert waiting is not None
    for who in ({}, studio.headers):
        assert (await studio.client.get("/api/v1/admin/jobs", headers=who)).status_code in {
            401,
            403,
        }
    listed = await studio.client.get("/api/v1/admin/jobs", headers=admin.headers)
    assert listed.status_code == 200
    queues = {q["name"]: q for q in listed.json()["queues"]}
    assert set(queues) == {"default", "studio"}
    (job,) = [j for j in queues["default"]["jobs"] if j["key"] == "test-abort-me"]
    assert job["function"] == "media.purge_expired" and job["abortable"] is True
    assert "kwargs" not in job  # never the arguments

    path = "/api/v1/admin/jobs/default/test-abort-me/abort"
    refused = await studio.client.post(path, headers=studio.headers)
    assert refused.status_code == 403
    aborted = await studio.client.post(path, headers=admin.headers)
    assert aborted.status_code == 202, aborted.text
    assert aborted.json()["status"] == "aborting"
    after = await studio.platform.queue.queues["default"].job("test-abort-me")
    assert after is None or after.status.value in {"aborting", "aborted"}
    again = await studio.client.post(path, headers=admin.headers)
    assert again.status_code in {404, 409}
    assert (
        await studio.client.post("/api/v1/admin/jobs/nope/x/abort", headers=admin.headers)
    ).status_code == 404
    # The aborted job is no longer listed as waiting; SAQ's own monitor is gone (replaced).
    listed = await studio.client.get("/api/v1/admin/jobs", headers=admin.headers)
    keys = {j["key"] for q in listed.json()["queues"] for j in q["jobs"] if j["abortable"]}
    assert "test-abort-me" not in keys
    assert (await studio.client.get("/admin/queues/", headers=admin.headers)).status_code == 404


async def test_the_queue_never_holds_a_code_or_a_link(studio_app: Studio) -> None:
    """Mail jobs carry the message sealed and vanish when done: an admin reading the queues
    in the console (or Redis) sees no sign-up code and no sign-in link (issue 12, item 6)."""
    from studioflow.platform.tasks import send_mail
    from tests.identity.helpers import code_in, wait_for_mail

    admin = await admin_of(studio_app)
    client, platform = studio_app.client, studio_app.platform
    registered = await client.post(
        "/api/v1/auth/register",
        json={"email": "newcomer@example.com", "password": "a newcomer passphrase 7"},
    )
    assert registered.status_code == 202, registered.text
    linked = await client.post("/api/v1/auth/magic-link", json={"email": "maker@example.com"})
    assert linked.status_code == 202, linked.text

    queue = studio_app.settings.queue_name
    jobs = [job async for job in platform.queue.saq.iter_jobs() if job.function == "mail.send"]
    assert len(jobs) == 2
    # What an admin can read of the queue: the console's API and page.
    listed = await client.get("/api/v1/admin/jobs", headers=admin.headers)
    assert listed.status_code == 200, listed.text
    mail = [j for q in listed.json()["queues"] for j in q["jobs"] if j["function"] == "mail.send"]
    assert len(mail) == 2
    signed_in = await client.post(
        "/api/v1/auth/login", json={"identifier": admin.email, "password": admin.password}
    )
    assert signed_in.status_code == 200
    page = await client.get("/admin/jobs")
    client.cookies.clear()
    assert page.status_code == 200 and "<code>mail.send</code>" in page.text
    shown = [listed.text, page.text]
    for job in jobs:
        assert set(job.kwargs or {}) == {"sealed"}
        assert await send_mail(platform, **(job.kwargs or {}))  # what the worker does
    code = code_in(await wait_for_mail(platform, "newcomer@example.com", subject="code"))
    link = await wait_for_mail(platform, "maker@example.com", subject="sign-in link")
    token = str(link.get_payload()).split("token=")[1].split()[0]
    for text in shown:
        assert "sealed" not in text and code not in text and token not in text
    if platform.redis is not None:
        for key in await platform.redis.keys(f"saq:job:{queue}:*"):
            stored = await platform.redis.get(key) or b""
            assert code.encode() not in stored and token.encode() not in stored


async def test_the_jobs_page_shows_the_queues_in_the_shell(studio: Studio) -> None:
    """Our page over SAQ's public Queue.info: each queue's depth and jobs, no arguments."""
    await admin_of(studio)
    # Scheduled an hour ahead, so it is still listed when the page is read.
    await studio.platform.queue.saq.enqueue(
        "mail.send", scheduled=int(time.time()) + 3600, sealed="not-for-eyes"
    )
    anonymous = await studio.client.get("/admin/jobs")
    assert anonymous.status_code in (303, 307)  # to sign in
    login = await studio.client.post(
        "/api/v1/auth/login",
        json={"identifier": "boss@example.com", "password": "a boss passphrase 42"},
    )
    assert login.status_code == 200
    page = await studio.client.get("/admin/jobs")
    assert page.status_code == 200 and 'aria-current="page"' in page.text
    main = page.text.split("<main", 1)[1].split("</main>", 1)[0]
    assert studio.settings.queue_name in main and "<code>mail.send</code>" in main, main
    assert "<code>media.flush_views</code>" in main and ">queued<" in main
    assert "not-for-eyes" not in page.text  # job arguments are never shown
    assert 'data-api="/api/v1/admin/jobs/default/' in main and ">Abort<" in main
    studio.client.cookies.clear()


async def test_failed_runs_and_items_are_grouped_by_code_for_admins(
    studio: Studio, fake_apis: tuple[FakeImageAPIs, str]
) -> None:
    fake, url = fake_apis
    studio.settings.studio_retry_base_seconds = 0.05
    studio.settings.studio_provider_rate_per_minute = 6000
    studio.settings.openai_api_key = OPENAI_KEY
    await use_provider(studio, "openai", url)
    fake.default = "safety"
    execution_id = await studio.execute(["a", "b"])
    done = await studio.wait(execution_id)
    assert done["status"] == "failed"
    admin = await admin_of(studio)
    runs = await studio.client.get("/api/v1/admin/errors?kind=execution", headers=admin.headers)
    assert runs.status_code == 200
    (group,) = runs.json()["groups"]
    assert (group["code"], group["count"], group["execution_id"]) == (
        "all_failed",
        1,
        execution_id,
    )
    items = (
        await studio.client.get("/api/v1/admin/errors?kind=item", headers=admin.headers)
    ).json()["groups"]
    assert sum(g["count"] for g in items) == 2 and all(g["code"] != "unknown" for g in items)
    assert all(g["execution_id"] == execution_id for g in items)
