"""Outgoing mail: SMTP (aiosmtplib) at scale, ``.eml`` files in the outbox embedded.

Requests never talk to SMTP themselves: they defer the ``mail.send`` job, which retries
with backoff when the server is away. The outbox writes each message atomically (a staging
file renamed into place) so a reader never opens half a message.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
import structlog

log = structlog.get_logger("studioflow.mail")


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


def build_message(
    *, sender: str, to: str, subject: str, text: str, html: str | None = None
) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain="studioflow.local")
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


class OutboxMailer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, message: EmailMessage) -> None:
        path = await asyncio.to_thread(self._write, message)
        # The log names the recipient only: subject and body may hold a code or a link.
        log.info("mail.outbox", to=message["To"], path=str(path))

    def _write(self, message: EmailMessage) -> Path:
        return write_outbox_file(self.directory, ".eml", message.as_bytes())


def write_outbox_file(directory: Path, suffix: str, data: bytes) -> Path:
    """Write one outbox entry atomically (a staging ``.part`` renamed into place, so a
    reader never opens half of one); entries sort by the time they were written."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = directory / f"{stamp}-{uuid.uuid4().hex[:8]}{suffix}"
    fd, staging = tempfile.mkstemp(dir=directory, prefix=".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return path


class SmtpMailer:
    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.hostname = parts.hostname or "localhost"
        self.implicit_tls = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.implicit_tls else 587)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        # smtp:// upgrades with STARTTLS when the server offers it; ?starttls=false forbids it
        # (only for a relay on localhost), ?starttls=true requires it.
        starttls = query.get("starttls", [""])[0].lower()
        self.start_tls: bool | None = (
            None if starttls == "" else starttls in {"1", "true", "yes", "required"}
        )
        self.timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message,
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.implicit_tls,
            start_tls=False if self.implicit_tls else self.start_tls,
            timeout=self.timeout,
        )
        log.info("mail.sent", to=message["To"], host=self.hostname)


def create_mailer(smtp_url: str | None, *, outbox: Path) -> Mailer:
    return SmtpMailer(smtp_url) if smtp_url else OutboxMailer(outbox)
