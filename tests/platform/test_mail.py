"""Mail: the outbox embedded, SMTP (a local aiosmtpd server) at scale."""

from __future__ import annotations

import email
import logging
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from studioflow.platform.mail import OutboxMailer, SmtpMailer, build_message, create_mailer
from tests.conftest import free_port


def sample() -> EmailMessage:
    return build_message(
        sender="Studioflow <no-reply@studioflow.local>",
        to="ada@example.com",
        subject="Your code: 654321",
        text="Your code is 123456",
        html="<p>Your code is <b>123456</b></p>",
    )


async def test_outbox_writes_a_readable_eml(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    mailer = OutboxMailer(tmp_path / "outbox")
    await mailer.send(sample())
    files = list((tmp_path / "outbox").iterdir())
    assert len(files) == 1 and files[0].suffix == ".eml"
    parsed = email.message_from_bytes(files[0].read_bytes())
    assert parsed["To"] == "ada@example.com" and parsed["Subject"] == "Your code: 654321"
    assert parsed.is_multipart()
    lines = [r.getMessage() for r in caplog.records if "mail.outbox" in r.getMessage()]
    assert lines, "no log line for the outbox message"
    assert "123456" not in " ".join(lines), "the log must not carry the message body"
    assert "654321" not in " ".join(lines), "nor its subject (issue 12, item 7)"


class Inbox(Message):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[email.message.Message] = []

    def handle_message(self, message: email.message.Message) -> None:
        self.messages.append(message)


async def test_smtp_delivers_to_a_real_server() -> None:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mailer = create_mailer(
            f"smtp://127.0.0.1:{port}?starttls=false", outbox=Path("/nonexistent")
        )
        assert isinstance(mailer, SmtpMailer)
        await mailer.send(sample())
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    received = inbox.messages[0]
    assert received["To"] == "ada@example.com"
    assert "123456" in received.as_string()


async def test_smtp_failure_raises_so_the_job_retries() -> None:
    mailer = SmtpMailer(f"smtp://127.0.0.1:{free_port()}?starttls=false", timeout=2)
    with pytest.raises(OSError):
        await mailer.send(sample())


def test_smtp_url_parsing() -> None:
    mailer = SmtpMailer("smtps://user%40x.com:p%40ss@mail.example.com")
    assert mailer.implicit_tls and mailer.port == 465
    assert mailer.username == "user@x.com" and mailer.password == "p@ss"
    relay = SmtpMailer("smtp://relay.local:2525?starttls=required")
    assert relay.port == 2525 and relay.start_tls is True and not relay.implicit_tls
