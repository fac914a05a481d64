"""The ways out: email (the platform's mailer), SMS (Twilio), push (Web Push, FCM). Each
has an outbox stand-in in the data dir for an installation without credentials.

Senders raise :class:`Undeliverable` for what no retry can fix (an invalid number),
:class:`DeviceGone` for a push device the service no longer knows (it is disabled), and
:class:`TryLater` for what may pass (rate limits, the service away): the job retries it.
"""

from __future__ import annotations


class DeliveryError(Exception):
    def __init__(self, code: str, *, retry_after: float | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.retry_after = retry_after


class Undeliverable(DeliveryError):
    pass


class DeviceGone(DeliveryError):
    pass


class TryLater(DeliveryError):
    pass


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (the services send seconds, not dates)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
