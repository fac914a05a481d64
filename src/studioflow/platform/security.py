"""Keys derived from the one secret, password hashing, and signing helpers.

Every purpose gets its own key (HKDF-style: HMAC of the purpose under the secret), so a
signature made for one use can never be replayed as another.
"""

from __future__ import annotations

import base64
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


def encrypt_secret(secret: str, purpose: str, plaintext: str) -> str:
    """AES-256-GCM under a key derived for ``purpose``; the purpose is also the associated
    data, so a value encrypted for one field cannot be moved to another."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(12)
    sealed = AESGCM(derive_key(secret, f"aead:{purpose}")).encrypt(
        nonce, plaintext.encode(), purpose.encode()
    )
    return "v1." + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt_secret(secret: str, purpose: str, token: str) -> str:
    """The plaintext of :func:`encrypt_secret`; ``ValueError`` if it was tampered with."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not token.startswith("v1."):
        raise ValueError("unknown secret format")
    try:
        raw = base64.urlsafe_b64decode(token[3:].encode())
        opened = AESGCM(derive_key(secret, f"aead:{purpose}")).decrypt(
            raw[:12], raw[12:], purpose.encode()
        )
    except (InvalidTag, ValueError) as error:
        raise ValueError("the secret cannot be decrypted with this key") from error
    return opened.decode()
