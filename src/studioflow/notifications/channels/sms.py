"""SMS through Twilio's Messages API (its REST wire format over httpx: one form POST), or
a JSON file per message in the sms outbox when no account is configured."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Protocol

import httpx
import structlog

from studioflow.notifications.channels import TryLater, Undeliverable, retry_after_seconds
from studioflow.platform.mail import write_outbox_file
from studioflow.settings import Settings

log = structlog.get_logger("studioflow.sms")

# Twilio error codes that no retry fixes (https://www.twilio.com/docs/api/errors): not a
# valid number, not a mobile number, unsubscribed (STOP), not permitted to that region.
PERMANENT = {21211: "invalid_number", 21614: "not_mobile", 21610: "unsubscribed",
             21408: "region_not_permitted", 21612: "unreachable"}  # fmt: skip


class SmsSender(Protocol):
    kind: str

    async def send(self, to: str, body: str) -> str: ...


class TwilioSms:
    kind = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        sender: str,
        api_url: str = "https://api.twilio.com",
        timeout: float = 15.0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sender = sender
        self.url = f"{api_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.timeout = timeout

    async def send(self, to: str, body: str) -> str:
        """Send and answer Twilio's message SID."""
        form = {"To": to, "Body": body}
        form["MessagingServiceSid" if self.sender.startswith("MG") else "From"] = self.sender
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http:
                response = await http.post(
                    self.url, data=form, auth=(self.account_sid, self.auth_token)
                )
        except httpx.HTTPError as error:
            raise TryLater("twilio_unreachable") from error
        if response.status_code in (200, 201):
            sid: str = response.json()["sid"]
            log.info("sms.sent", provider="twilio", sid=sid)
            return sid
        try:
            code = int(response.json().get("code") or 0)
        except (ValueError, AttributeError):
            code = 0
        if response.status_code == 429 or response.status_code >= 500:
            raise TryLater(
                f"twilio_{response.status_code}",
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if response.status_code in (401, 403):
            log.error("sms.twilio_auth_failed", status=response.status_code)
            raise Undeliverable("provider_auth_failed")
        raise Undeliverable(PERMANENT.get(code, f"twilio_{code or response.status_code}"))


class OutboxSms:
    """What would have been sent, as ``{to, body}`` files: clearly no SMS left the machine."""

    kind = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, to: str, body: str) -> str:
        data = json.dumps({"to": to, "body": body, "sender": "outbox"}).encode()
        path = await asyncio.to_thread(write_outbox_file, self.directory, ".json", data)
        log.info("sms.outbox", path=str(path))
        return path.name


def sms_sender(settings: Settings) -> SmsSender:
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from:
        return TwilioSms(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            sender=settings.twilio_from,
            api_url=settings.twilio_api_url,
        )
    return OutboxSms(settings.data_dir / "outbox" / "sms")
