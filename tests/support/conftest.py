from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _mail_is_delivered(mail_worker: None) -> None:
    """Invitations and deletion notices go through the real queue to the outbox."""
