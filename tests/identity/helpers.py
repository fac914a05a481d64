"""Helpers to drive sign-up and sign-in through the real API and the real outbox."""

from __future__ import annotations

import asyncio
import email
import re
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import httpx

from studioflow.platform.runtime import Platform

PASSWORD = "correct horse battery staple 42"


async def wait_for_mail(
    platform: Platform, to: str, *, subject: str = "", seen: int = 0, timeout: float = 10.0
) -> Message:
    """The newest message to ``to`` whose subject contains ``subject`` (waits for the job)."""
    outbox: Path = platform.outbox
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = []
        if outbox.exists():
            for path in sorted(outbox.glob("*.eml")):
                message = email.message_from_bytes(path.read_bytes())
                if message["To"] == to and subject in (message["Subject"] or ""):
                    found.append(message)
        if len(found) > seen:
            return found[-1]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no mail to {to} with {subject!r} (found {len(found)})")
        await asyncio.sleep(0.05)


def mails_to(platform: Platform, to: str, subject: str = "") -> list[Message]:
    outbox: Path = platform.outbox
    if not outbox.exists():
        return []
    messages = [email.message_from_bytes(p.read_bytes()) for p in sorted(outbox.glob("*.eml"))]
    return [m for m in messages if m["To"] == to and subject in (m["Subject"] or "")]


def body_of(message: Message) -> str:
    payload = message.get_payload(decode=True) if not message.is_multipart() else None
    if payload is None:
        part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
        payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def code_in(message: Message) -> str:
    match = re.search(r"\b(\d{6})\b", body_of(message))
    assert match, "no code in the message"
    return match.group(1)


def token_in(message: Message) -> str:
    match = re.search(r"token=([A-Za-z0-9_\-]+)", body_of(message))
    assert match, "no link in the message"
    return match.group(1)


@dataclass
class Account:
    email: str
    password: str
    user_id: str
    access_token: str
    refresh_token: str
    client_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def sign_up(
    client: httpx.AsyncClient,
    platform: Platform,
    address: str,
    password: str = PASSWORD,
    **extra: Any,
) -> Account:
    response = await client.post(
        "/api/v1/auth/register", json={"email": address, "password": password, **extra}
    )
    assert response.status_code == 202, response.text
    code = code_in(await wait_for_mail(platform, address.lower(), subject="code"))
    verified = await client.post("/api/v1/auth/verify-email", json={"email": address, "code": code})
    assert verified.status_code == 200, verified.text
    return await sign_in(client, address, password)


async def sign_in(client: httpx.AsyncClient, identifier: str, password: str = PASSWORD) -> Account:
    response = await client.post(
        "/api/v1/auth/login", json={"identifier": identifier, "password": password}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200, me.text
    client.cookies.clear()  # tests pick Bearer or cookies explicitly
    return Account(
        email=body["user"]["email"],
        password=password,
        user_id=body["user"]["id"],
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
        client_id=me.json()["active_client_id"],
    )
