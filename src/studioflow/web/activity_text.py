"""Activity as sentences ("Leo joined Harbor Creative"), not event names: one template per
event the audit trail records; an event without one still reads, from its name."""

from __future__ import annotations

from typing import Any

# {actor}: who did it (a name or an address); {workspace}: the workspace's name; other
# fields come from the event's data.
SENTENCES: dict[str, str] = {
    "client.created": "{actor} created the workspace {workspace}",
    "client.renamed": "{actor} renamed the workspace to {name}",
    "client.settings_changed": "{actor} changed the workspace's settings",
    "client.provider_key_set": "{actor} set the {provider} key",
    "client.provider_key_removed": "{actor} removed the {provider} key",
    "member.invited": "{actor} invited {email} as {role}",
    "member.joined": "{actor} joined {workspace}",
    "member.left": "{actor} left {workspace}",
    "member.removed": "{actor} removed {email}",
    "member.role_changed": "{actor} made {email} {role}",
    "member.added": "{actor} added {email} as {role}",
    "admin.user_invited": "{actor} made an account for {email}",
    "admin.user_updated": "{actor} changed the account of {email}",
    "admin.user_blocked": "{actor} blocked {email}",
    "admin.user_unblocked": "{actor} unblocked {email}",
    "admin.user_deletion_started": "{actor} started deleting the account of {email}",
    "admin.user_deleted": "{actor} deleted the account of {email}",
    "admin.job_aborted": "{actor} aborted a {function} job",
    "admin.plan_moved": "{actor} moved {workspace} to the {plan} plan",
    "admin.plan_changed": "{actor} changed the limits of the {plan} plan",
    "admin.flag_changed": "{actor} changed the flag {key}",
    "admin.setting_changed": "{actor} changed the platform setting {key}",
    "admin.credits_granted": "{actor} granted {amount} credits ({reason})",
    "admin.template_created": "{actor} created the workflow template {name}",
    "admin.template_changed": "{actor} changed the workflow template {name}",
    "admin.workflow_assigned": "{actor} gave the workspace the {template} workflow",
    "admin.workflow_request_reviewed": "{actor} answered a workflow request: {decision}",
    "support.ticket_opened": "{actor} asked the support team for help",
    "support.ticket_updated": "{actor} set a support ticket to {status}",
    "support.staff_replied": "{actor} answered a support ticket",
    "auth.login_blocked": "A sign-in as {actor} was refused: the account is blocked",
    "api_key.created": "{actor} created the API key {name}",
    "api_key.revoked": "{actor} revoked the API key {name}",
    "auth.login": "{actor} signed in",
    "auth.login_failed": "A sign-in as {actor} failed",
    "auth.locked": "Sign-in as {actor} was locked after failed attempts",
    "auth.password_reset": "{actor} reset their password",
    "auth.code_exhausted": "A sign-up code for {actor} was tried too often and stopped working",
    "auth.refresh_token_reused": "A stolen sign-in of {actor} was stopped (a reused token)",
    "oauth.linked": "{actor} connected {provider}",
    "user.registered": "{actor} signed up",
    "user.email_verified": "{actor} confirmed their email address",
    "user.exported": "{actor} downloaded their data",
    "user.deletion_requested": "{actor} asked to delete their account",
    "user.deletion_cancelled": "{actor} kept their account",
    "user.deleted": "{actor}'s account was deleted",
    "studio.execute": "{actor} ran a batch of {total} images",
    "credits.requested": "{actor} asked the platform admins for {amount} credits",
    "credits.request_granted": "{actor} granted {amount} credits",
    "credits.request_declined": "{actor} declined a request for credits",
}


class _Blank(dict[str, Any]):
    """A missing field reads as "someone" rather than failing the page."""

    def __missing__(self, key: str) -> str:
        return "someone"


def sentence(
    event: Any, workspace: str = "this workspace", names: dict[Any, str] | None = None
) -> str:
    """The event as a sentence: ``event`` has ``event``, ``actor_user_id``, ``actor_label``
    and ``data``; ``names`` gives members' first names by user id (else the address)."""
    actor = (names or {}).get(event.actor_user_id) or event.actor_label or "Studioflow"
    template = SENTENCES.get(event.event)
    if template is None:
        return f"{actor}: {event.event.replace('.', ' ').replace('_', ' ')}"
    fields = _Blank({k: v for k, v in (event.data or {}).items() if v is not None})
    fields.update(actor=actor, workspace=workspace)
    return template.format_map(fields)
