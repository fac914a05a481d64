"""Client settings with write-only, encrypted provider keys that executions then use."""

from __future__ import annotations

import json
import uuid

from studioflow.models import Client
from tests.factories import create_account
from tests.fakes.image_apis import GEMINI_KEY, FakeImageAPIs
from tests.studio.conftest import Studio, use_provider


async def test_provider_keys_are_stored_encrypted_and_never_returned(
    studio: Studio, fake_apis: tuple[FakeImageAPIs, str]
) -> None:
    fake, url = fake_apis
    await use_provider(studio, "gemini", url)
    studio.settings.studio_provider_rate_per_minute = 6000
    before = (await studio.client.get("/api/v1/settings", headers=studio.headers)).json()
    assert before["provider_keys"]["gemini"] == {
        "configured": False,
        "hint": None,
        "platform_default": False,
    }
    saved = await studio.client.put(
        "/api/v1/settings",
        json={"provider_keys": {"gemini": GEMINI_KEY}, "images_public_by_default": False},
        headers=studio.headers,
    )
    assert saved.status_code == 200, saved.text
    assert GEMINI_KEY not in saved.text
    assert saved.json()["provider_keys"]["gemini"]["hint"] == "…" + GEMINI_KEY[-4:]
    assert saved.json()["images_public_by_default"] is False
    async with studio.platform.db.transaction() as session:
        client = await session.get(Client, uuid.UUID(studio.owner.client_id))
        assert client is not None
        stored = json.dumps(client.settings)
    assert GEMINI_KEY not in stored and "v1." in stored
    # The execution uses the client's key with the provider.
    execution_id = await studio.execute(["with my key"])
    done = await studio.wait(execution_id)
    assert done["status"] == "completed", done
    assert fake.calls[-1].key == GEMINI_KEY
    # Removing it: the next execution fails fast, refunded.
    await studio.client.put(
        "/api/v1/settings", json={"provider_keys": {"gemini": None}}, headers=studio.headers
    )
    failed = await studio.wait(await studio.execute(["no key now"]))
    assert failed["status"] == "failed" and failed["error_code"] == "invalid_provider_key"
    await studio.assert_ledger_balanced()


async def test_settings_refuse_unknown_fields_and_providers(studio: Studio) -> None:
    for body, code in (
        ({"provider_keys": {"midjourney": "abcdefgh1"}}, "unknown_provider"),
        ({"provider_keys": {"gemini": "short"}}, "validation_error"),
        ({"plan": "enterprise"}, "validation_error"),
    ):
        response = await studio.client.put("/api/v1/settings", json=body, headers=studio.headers)
        assert response.status_code == 422 and response.json()["code"] == code


async def test_collaborators_cannot_change_keys(studio: Studio) -> None:
    team = (
        await studio.client.post("/api/v1/clients", json={"name": "Team"}, headers=studio.headers)
    ).json()["id"]
    helper = await create_account(studio.client, studio.platform, "helper@example.com")
    invite = await studio.client.post(
        f"/api/v1/clients/{team}/members",
        json={"email": "helper@example.com", "role": "collaborator"},
        headers=studio.headers,
    )
    assert invite.status_code in (200, 201), invite.text
    from tests.identity.helpers import token_in, wait_for_mail

    token = token_in(await wait_for_mail(studio.platform, "helper@example.com", subject="Join"))
    accepted = await studio.client.post(
        "/api/v1/invitations/accept", json={"token": token}, headers=helper.headers
    )
    assert accepted.status_code == 200, accepted.text
    headers = {**helper.headers, "X-Client-Id": team}
    assert (await studio.client.get("/api/v1/settings", headers=headers)).status_code == 200
    refused = await studio.client.put(
        "/api/v1/settings", json={"provider_keys": {"gemini": GEMINI_KEY}}, headers=headers
    )
    assert refused.status_code == 403
