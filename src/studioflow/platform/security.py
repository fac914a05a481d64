"""Keys derived from the one secret, password hashing, and signing helpers.

Every purpose gets its own key (HKDF-style: HMAC of the purpose under the secret), so a
signature made for one use can never be replayed as another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's argon2id recommendation: m=19 MiB, t=2, p=1 (we use 64 MiB, t=3 for more margin).
_hasher = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=1)


def derive_key(secret: str, purpose: str) -> bytes:
    """A 256-bit key for ``purpose``, derived from the application secret."""
    return hmac.new(secret.encode(), f"studioflow:{purpose}".encode(), hashlib.sha256).digest()


def sign(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def verify_signature(key: bytes, message: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(key, message), signature)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def random_password(length: int = 20) -> str:
    """A password that is easy to copy from a terminal (no ambiguous characters)."""
    alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))
