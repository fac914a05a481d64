from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _mail_is_delivered(mail_worker: None) -> None:
    """These tests sign up through the API: the emailed codes must arrive."""
