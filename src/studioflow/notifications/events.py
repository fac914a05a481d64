"""The events a user can be told about, with each channel's default. A user's preference
overrides a default; a ``locked`` channel cannot be turned off (security mail)."""

from __future__ import annotations

from dataclasses import dataclass

from studioflow.models import Channel


@dataclass(frozen=True)
class EventSpec:
    label: str
    email: bool
    sms: bool
    push: bool
    locked: frozenset[Channel] = frozenset()

    def default(self, channel: Channel) -> bool:
        return bool(getattr(self, channel.value))


EVENTS: dict[str, EventSpec] = {
    "appointment.created": EventSpec("An appointment is booked", True, False, True),
    "appointment.confirmed": EventSpec("An appointment is confirmed", True, False, True),
    "appointment.cancelled": EventSpec("An appointment is cancelled", True, True, True),
    "appointment.rescheduled": EventSpec("An appointment moves", True, True, True),
    "appointment.reminder": EventSpec("Reminders before an appointment", True, False, True),
    "execution.completed": EventSpec("A generation run finished", False, False, True),
    "execution.failed": EventSpec("A generation run failed", True, False, True),
    "support.reply": EventSpec("Support answered your ticket", True, False, True),
    # Sign-in codes, password resets, new devices: always mailed.
    "security": EventSpec(
        "Security of your account", True, False, False, frozenset({Channel.email})
    ),
}


def spec(event: str) -> EventSpec:
    try:
        return EVENTS[event]
    except KeyError:
        raise LookupError(f"unknown notification event {event!r}") from None
