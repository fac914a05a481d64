"""Push: Web Push to browsers (VAPID, ``pywebpush``) and FCM HTTP v1 to the apps (a
service account's OAuth token from ``google-auth``, the send over httpx). A platform
without keys for one of them writes that platform's pushes to the push outbox."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any, Protocol

import httpx
import requests
import structlog
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2 import service_account
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from studioflow.notifications.channels import (
    DeviceGone,
    TryLater,
    Undeliverable,
    retry_after_seconds,
)
from studioflow.platform.mail import write_outbox_file
from studioflow.settings import Settings

log = structlog.get_logger("studioflow.push")

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
# How long a push service keeps a message for an offline device.
PUSH_TTL_SECONDS = 24 * 3600


class PushSender(Protocol):
    kind: str

    async def send(self, token: str, payload: dict[str, Any]) -> None: ...


class WebPushSender:
    kind = "webpush"

    def __init__(self, *, private_key: str, subject: str, timeout: float = 15.0) -> None:
        key = private_key.strip()
        self.vapid = (
            Vapid.from_pem(key.encode()) if key.startswith("-----") else Vapid.from_string(key)
        )
        self.subject = subject
        self.timeout = timeout

    async def send(self, token: str, payload: dict[str, Any]) -> None:
        """``token`` is the browser's PushSubscription JSON (endpoint and keys)."""
        try:
            subscription = json.loads(token)
        except ValueError:
            raise DeviceGone("invalid_subscription") from None
        await asyncio.to_thread(self._send, subscription, json.dumps(payload))

    def _send(self, subscription: dict[str, Any], data: str) -> None:
        try:
            webpush(
                subscription_info=subscription,
                data=data,
                vapid_private_key=self.vapid,
                # A fresh dict each time: webpush adds the audience and expiry to it.
                vapid_claims={"sub": self.subject},
                ttl=PUSH_TTL_SECONDS,
                timeout=self.timeout,
            )
        except WebPushException as error:
            status = error.response.status_code if error.response is not None else 0
            if status in (404, 410):
                raise DeviceGone("unsubscribed") from None
            if status == 429 or status >= 500 or status == 0:
                retry = error.response.headers.get("Retry-After") if error.response else None
                raise TryLater(
                    f"webpush_{status}", retry_after=retry_after_seconds(retry)
                ) from None
            raise Undeliverable(f"webpush_{status}") from None
        except (requests.RequestException, ValueError, KeyError) as error:
            if isinstance(error, requests.RequestException):
                raise TryLater("webpush_unreachable") from None
            # A subscription without the keys the payload is encrypted to.
            raise DeviceGone("invalid_subscription") from None


class FcmSender:
    """FCM HTTP v1: ``POST /v1/projects/{project}/messages:send`` with a bearer token the
    service account's key obtains (and google-auth caches until it nearly expires)."""

    kind = "fcm"
    _lock = threading.Lock()

    def __init__(self, *, service_account_file: Path, api_url: str, timeout: float = 15.0) -> None:
        self.credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            str(service_account_file), scopes=[FCM_SCOPE]
        )
        project = self.credentials.project_id
        self.url = f"{api_url.rstrip('/')}/v1/projects/{project}/messages:send"
        self.timeout = timeout

    def _token(self) -> str:
        with self._lock:
            if not self.credentials.valid:
                self.credentials.refresh(GoogleRequest())
            return str(self.credentials.token)

    async def send(self, token: str, payload: dict[str, Any]) -> None:
        try:
            bearer = await asyncio.to_thread(self._token)
        except Exception as error:  # google.auth.exceptions.* and transport errors
            log.error("push.fcm_token_failed", error=type(error).__name__)
            raise TryLater("fcm_token_failed") from None
        message = {
            "message": {
                "token": token,
                "notification": {"title": payload["title"], "body": payload["body"]},
                # FCM data values must be strings.
                "data": {k: str(v) for k, v in payload.items() if v is not None},
            }
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http:
                response = await http.post(
                    self.url, json=message, headers={"Authorization": f"Bearer {bearer}"}
                )
        except httpx.HTTPError:
            raise TryLater("fcm_unreachable") from None
        if response.status_code == 200:
            return
        code = _fcm_error_code(response)
        if code in {"UNREGISTERED", "SENDER_ID_MISMATCH"} or response.status_code == 404:
            raise DeviceGone(code.lower() or "unregistered")
        if response.status_code == 429 or response.status_code >= 500:
            raise TryLater(
                code.lower() or f"fcm_{response.status_code}",
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if code == "INVALID_ARGUMENT":
            raise DeviceGone("invalid_token")  # a malformed registration token
        raise Undeliverable(code.lower() or f"fcm_{response.status_code}")


def _fcm_error_code(response: httpx.Response) -> str:
    """FCM's ``errorCode`` from the error details, else the error's status."""
    try:
        error = response.json().get("error", {})
    except ValueError:
        return ""
    for detail in error.get("details", []):
        if str(detail.get("@type", "")).endswith("FcmError") and detail.get("errorCode"):
            return str(detail["errorCode"])
    return str(error.get("status", ""))


class OutboxPush:
    kind = "outbox"

    def __init__(self, directory: Path, platform: str) -> None:
        self.directory = directory
        self.platform = platform

    async def send(self, token: str, payload: dict[str, Any]) -> None:
        # The token is the device's address: the outbox keeps only which platform it was.
        data = json.dumps({"platform": self.platform, "sender": "outbox", **payload}).encode()
        path = await asyncio.to_thread(write_outbox_file, self.directory, ".json", data)
        log.info("push.outbox", path=str(path))


_fcm_senders: dict[tuple[str, str], FcmSender] = {}


def push_sender(settings: Settings, platform: str) -> PushSender:
    """The sender for a device of ``platform`` (web, android, ios)."""
    outbox = OutboxPush(settings.data_dir / "outbox" / "push", platform)
    if platform == "web":
        if settings.vapid_private_key:
            return WebPushSender(
                private_key=settings.vapid_private_key, subject=settings.vapid_subject
            )
        return outbox
    if settings.fcm_service_account_file is None:
        return outbox
    # One per key file: its credentials hold the cached OAuth token.
    key = (str(settings.fcm_service_account_file), settings.fcm_api_url)
    if key not in _fcm_senders:
        _fcm_senders[key] = FcmSender(
            service_account_file=settings.fcm_service_account_file, api_url=settings.fcm_api_url
        )
    return _fcm_senders[key]
