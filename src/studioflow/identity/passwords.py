"""Password policy (NIST 800-63B style: length and a blocklist, no composition rules)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

MIN_LENGTH = 8
MAX_LENGTH = 1024  # argon2 hashes any length; the cap only stops absurd request bodies
_LIST = Path(__file__).parent / "data" / "common_passwords.txt"


class WeakPassword(ValueError):
    pass


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    return frozenset(line.strip().lower() for line in _LIST.read_text().splitlines() if line)


def check_password(password: str, *, email: str | None = None, username: str | None = None) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    if lowered in common_passwords():
        raise WeakPassword("This password is too common. Choose one that is harder to guess.")
    personal = {p.lower() for p in (email, email.split("@")[0] if email else None, username) if p}
    if lowered in personal:
        raise WeakPassword("Do not use your email address or username as your password.")


__all__ = ["WeakPassword", "check_password"]
