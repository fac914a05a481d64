"""Feature flags (seed 001): seeded from code without overwriting an admin, public flags for
anyone, rollout by a stable hash of the user, a workspace allow-list, and code that asks
(the ZIP download and the PDF export answer 403 ``feature_disabled`` when theirs is off)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy.exc import IntegrityError

from studioflow.models import FeatureFlag
from studioflow.platform import flags
from studioflow.platform.runtime import Platform
from tests.admin.test_users import PASSPHRASE, make_admin
from tests.factories import create_account
from tests.media import images


async def test_the_seeded_flags_are_public_and_on(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    answer = await client.get("/api/v1/flags")
    assert answer.status_code == 200
    assert answer.json()["flags"] == {"media.archive_download": True, "studio.pdf_export": True}


async def test_an_admin_turns_a_feature_off_and_the_code_obeys(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    owner = await create_account(client, platform, "zipper@example.com")
    image = (
        await client.post(
            "/upload",
            files={"file": ("z.png", images.noise_png((20, 20)), "image/png")},
            headers=owner.headers,
        )
    ).json()["image"]["id"]
    archive = {"image_ids": [image]}
    assert (
        await client.post("/api/v1/images/archive", json=archive, headers=owner.headers)
    ).status_code == 200
    assert (
        await client.put(
            "/api/v1/admin/flags/media.archive_download",
            json={"enabled": False},
            headers=owner.headers,
        )
    ).status_code == 403
    off = await client.put(
        "/api/v1/admin/flags/media.archive_download",
        json={"enabled": False},
        headers=admin.headers,
    )
    assert off.status_code == 200 and off.json()["enabled"] is False
    assert off.json()["description"].startswith("Download chosen originals")  # kept
    refused = await client.post("/api/v1/images/archive", json=archive, headers=owner.headers)
    assert refused.status_code == 403 and refused.json()["code"] == "feature_disabled"
    assert (await client.get("/api/v1/flags")).json()["flags"]["media.archive_download"] is False
    # The gallery stops offering it.
    await client.post(
        "/api/v1/auth/login", json={"identifier": owner.email, "password": owner.password}
    )
    assert "Download ZIP" not in (await client.get("/images")).text
    client.cookies.clear()
    # Seeding again (every migration) does not undo the admin's change.
    async with platform.db.transaction() as session:
        await flags.seed_flags(session)
    listed = await client.get("/api/v1/admin/flags", headers=admin.headers)
    states = {f["key"]: f["enabled"] for f in listed.json()["items"]}
    assert states == {"media.archive_download": False, "studio.pdf_export": True}
    assert (
        await client.put(
            "/api/v1/admin/flags/media.archive_download",
            json={"enabled": True},
            headers=admin.headers,
        )
    ).status_code == 200
    assert (
        await client.post("/api/v1/images/archive", json=archive, headers=owner.headers)
    ).status_code == 200


async def test_rollout_and_allow_list(client: httpx.AsyncClient, platform: Platform) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    people = [await create_account(client, platform, f"tester{n}@example.com") for n in range(8)]
    made = await client.put(
        "/api/v1/admin/flags/beta.canvas",
        json={
            "enabled": True,
            "public": True,
            "rollout_percent": 50,
            "description": "The new canvas",
        },
        headers=admin.headers,
    )
    assert made.status_code == 200, made.text
    assert (await client.get("/api/v1/flags")).json()["flags"]["beta.canvas"] is False
    for person in people:
        expected = flags.bucket("beta.canvas", uuid.UUID(person.user_id)) < 50
        for _ in range(2):  # the same answer every time
            seen = (await client.get("/api/v1/flags", headers=person.headers)).json()
            assert seen["flags"]["beta.canvas"] is expected
    # A workspace on the allow-list gets it whatever the share.
    outside = next(p for p in people if flags.bucket("beta.canvas", uuid.UUID(p.user_id)) >= 50)
    await client.put(
        "/api/v1/admin/flags/beta.canvas",
        json={"enabled": True, "rollout_percent": 0, "client_ids": [outside.client_id]},
        headers=admin.headers,
    )
    flags_of = {
        p.email: (await client.get("/api/v1/flags", headers=p.headers)).json()["flags"][
            "beta.canvas"
        ]
        for p in people
    }
    assert [email for email, on in flags_of.items() if on] == [outside.email]
    for bad in ({"enabled": True, "rollout_percent": 101}, {}):
        refused = await client.put(
            "/api/v1/admin/flags/beta.canvas", json=bad, headers=admin.headers
        )
        assert refused.status_code == 422
    badly_named = await client.put(
        "/api/v1/admin/flags/Not A Key", json={"enabled": True}, headers=admin.headers
    )
    assert badly_named.status_code == 422
    # The admin's console page lists them with their forms.
    await client.post(
        "/api/v1/auth/login", json={"identifier": admin.email, "password": PASSPHRASE}
    )
    page = await client.get("/admin/settings")
    assert page.status_code == 200 and 'data-api="/api/v1/admin/flags/beta.canvas"' in page.text
    client.cookies.clear()


def test_the_hash_spreads_users_evenly() -> None:
    """Not a timing: the share of 2,000 ids under 30 is near 30 %, and flags are independent."""
    ids = [uuid.UUID(int=n * 7919 + 17) for n in range(2000)]
    share = sum(flags.bucket("a.flag", i) < 30 for i in ids) / len(ids)
    assert 0.26 < share < 0.34
    both = sum(flags.bucket("a.flag", i) < 50 and flags.bucket("b.flag", i) < 50 for i in ids)
    assert 0.2 < both / len(ids) < 0.3


async def test_the_rollout_share_is_a_constraint(platform: Platform) -> None:
    with pytest.raises(IntegrityError):
        async with platform.db.transaction() as session:
            session.add(FeatureFlag(key="x.bad", enabled=True, rollout_percent=150, client_ids=[]))
