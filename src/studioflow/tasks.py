"""Imports every feature's task module so the worker knows every task. Add new ones here."""

from studioflow.billing import tasks as billing_tasks
from studioflow.booking import tasks as booking_tasks
from studioflow.identity import tasks as identity_tasks
from studioflow.media import tasks as media_tasks
from studioflow.notifications import tasks as notifications_tasks
from studioflow.payments import tasks as payments_tasks
from studioflow.platform import tasks as platform_tasks
from studioflow.shop import tasks as shop_tasks
from studioflow.studio import tasks as studio_tasks
from studioflow.support import tasks as support_tasks

__all__ = [
    "billing_tasks",
    "booking_tasks",
    "identity_tasks",
    "media_tasks",
    "notifications_tasks",
    "payments_tasks",
    "platform_tasks",
    "shop_tasks",
    "studio_tasks",
    "support_tasks",
]
