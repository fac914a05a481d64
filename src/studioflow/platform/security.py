"""Keys derived from the one secret, password hashing, and signing helpers.

Every purpose gets its own key (HKDF-style: HMAC of the purpose under the secret), so a
signature made for one use can never be replayed as another.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from studioflow.platform.loops import PerLoop


def derive_key(secret: str, purpose: str) -> bytes:
    """A 256-bit key for ``purpose``, derived from the application secret."""
    return hmac.new(secret.encode(), f"studioflow:{purpose}".encode(), hashlib.sha256).digest()


def sign(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def verify_signature(key: bytes, message: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(key, message), signature)


class Passwords:
    """argon2id hashing and verification in worker threads, a bounded number at once.

    One check costs ~100-180 ms of CPU and ``memory_kib`` of memory at the default cost. On
    the event loop it would stall every request of the process (SSE, delivery) for that
    long; in a thread it does not (argon2-cffi releases the GIL), and the bound keeps a burst
    of sign-ins from taking every core and ``concurrency`` x 64 MiB of memory.
    """

    def __init__(self, *, time_cost: int, memory_kib: int, concurrency: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._slots = PerLoop(lambda: asyncio.Semaphore(concurrency))
        # Verified against when an account is unknown, so that every failure costs alike.
        self.dummy_hash = self._hasher.hash("studioflow-dummy-password-for-timing")

    async def hash(self, password: str) -> str:
        async with self._slots.get():
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        async with self._slots.get():
            return await asyncio.to_thread(self._verify, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made at another cost (the settings changed since)."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
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
