"""What one notification says on each channel, and its sealing: deliveries keep their content
encrypted (an email may carry a single-use link), opened only by the job that sends it."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from studioflow.platform.security import decrypt_secret, encrypt_secret

PURPOSE = "notification-content"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "text/calendar; method=REQUEST"
    data: bytes


@dataclass(frozen=True)
class Message:
    """``title``/``body``/``link`` are the in-app and push text (no secrets: the bell and the
    push services show them); ``email_*`` may hold single-use links; ``sms`` is kept short."""

    title: str
    body: str
    link: str | None = None
    email_subject: str = ""
    email_text: str = ""
    email_html: str | None = None
    sms: str = ""
    # Where the SMS goes when not to the user's verified number (the code that verifies one).
    sms_to: str | None = None
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)

    def to_json(self) -> str:
        return json.dumps(
            {
                "title": self.title,
                "body": self.body,
                "link": self.link,
                "email_subject": self.email_subject or self.title,
                "email_text": self.email_text or self.body,
                "email_html": self.email_html,
                "sms": self.sms or f"{self.title}: {self.body}"[:300],
                "sms_to": self.sms_to,
                "attachments": [
                    {
                        "filename": a.filename,
                        "content_type": a.content_type,
                        "data": base64.b64encode(a.data).decode(),
                    }
                    for a in self.attachments
                ],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Message:
        data = json.loads(text)
        return cls(
            title=data["title"],
            body=data["body"],
            link=data["link"],
            email_subject=data["email_subject"],
            email_text=data["email_text"],
            email_html=data["email_html"],
            sms=data["sms"],
            sms_to=data.get("sms_to"),
            attachments=tuple(
                Attachment(a["filename"], a["content_type"], base64.b64decode(a["data"]))
                for a in data["attachments"]
            ),
        )


def seal(secret: str, message: Message) -> str:
    return encrypt_secret(secret, PURPOSE, message.to_json())


def unseal(secret: str, sealed: str) -> Message:
    """The message; ``ValueError`` if it was sealed under another secret key."""
    return Message.from_json(decrypt_secret(secret, PURPOSE, sealed))
