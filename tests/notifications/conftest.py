"""The messaging fakes on a loopback port, and platforms pointed at them."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest_asyncio
from py_vapid import Vapid

from studioflow.app import create_app, served
from studioflow.platform.runtime import Platform
from studioflow.settings import Settings
from tests.conftest import free_port
from tests.fakes.messaging import TWILIO_SID, TWILIO_TOKEN, FakeMessaging
from tests.fakes.oauth_server import ServerThread


@dataclass
class Messaging:
    fake: FakeMessaging
    url: str
    account_file: Path
    vapid_private_key: str

    def configure(self, s: Settings) -> None:
        """Point ``s`` at the fakes as an operator would at Twilio, FCM and the browsers'
        push services."""
        s.twilio_account_sid, s.twilio_auth_token = TWILIO_SID, TWILIO_TOKEN
        s.twilio_from, s.twilio_api_url = "+15005550006", self.url
        s.vapid_private_key = self.vapid_private_key
        s.webpush_hosts = s.webpush_insecure_hosts = ["127.0.0.1"]
        s.fcm_service_account_file, s.fcm_api_url = self.account_file, self.url


@pytest_asyncio.fixture
async def messaging(tmp_path: Path) -> AsyncIterator[Messaging]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    fake = FakeMessaging(base_url=url)
    account = tmp_path / "firebase.json"
    account.write_text(json.dumps(fake.service_account()))
    vapid = Vapid()
    vapid.generate_keys()
    raw = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    key = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    with ServerThread(fake.app(), port):
        yield Messaging(fake, url, account, key)


@dataclass
class Live:
    """A platform on a database that really commits, its worker running, and a client."""

    platform: Platform
    client: httpx.AsyncClient


@pytest_asyncio.fixture
async def live(committed: tuple[Settings, Platform]) -> AsyncIterator[Live]:
    settings, platform = committed
    app = create_app(settings, platform=platform, run_worker=False, configure_logs=False)
    await platform.start_worker(concurrency=4, dequeue_timeout=0.05)
    transport = httpx.ASGITransport(app=served(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Live(platform, client)
