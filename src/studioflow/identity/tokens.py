"""Secrets we hand out: JWT access tokens, opaque refresh tokens, codes, links and API keys.

Everything we give a client is stored only as a SHA-256 hash (or an HMAC for the short
codes, which are too small to be safe as a plain hash).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from studioflow.platform.security import derive_key

ACCESS_TOKEN_TTL = timedelta(minutes=15)
AUDIENCE = "studioflow"
API_KEY_PREFIX = "sf_"
_API_SECRET_BYTES = 30
_FORBIDDEN_HEADERS = {"kid", "jku", "jwk", "x5u", "x5c", "crit"}


class InvalidToken(Exception):
    def __init__(self, code: str = "not_authenticated", detail: str = "Invalid token.") -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def random_token(nbytes: int = 32) -> str:
    """URL-safe random secret (256 bits by default)."""
    return secrets.token_urlsafe(nbytes)


def six_digit_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def code_hash(secret: str, purpose: str, user_id: uuid.UUID, code: str) -> str:
    """Keyed hash of a short code: a leaked table does not give 10^6 guesses for free."""
    key = derive_key(secret, f"one-time-code:{purpose}")
    return hmac.new(key, f"{user_id}:{code}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: datetime


class AccessTokens:
    # Tokens already verified, by their exact text. A client sends the same token with every
    # request for up to 15 minutes, and checking its signature and claims again each time cost
    # more than the rest of authentication (bench/README.md). Only a byte-identical token
    # hits; its expiry is checked on every use; revocation is the session row's business,
    # read on every request anyway.
    VERIFIED_MAX = 4096

    def __init__(self, secret: str, issuer: str) -> None:
        self._key = derive_key(secret, "jwt-access")  # 256-bit HS256 key
        self.issuer = issuer
        self._verified: dict[str, AccessClaims] = {}

    def issue(
        self, user_id: uuid.UUID, session_id: uuid.UUID, *, now: datetime | None = None
    ) -> tuple[str, datetime]:
        issued = now or datetime.now(UTC)
        expires = issued + ACCESS_TOKEN_TTL
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": str(user_id),
            "sid": str(session_id),
            "iat": int(issued.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": uuid.uuid4().hex,
            "typ": "access",
        }
        return jwt.encode(claims, self._key, algorithm="HS256"), expires

    def verify(self, token: str, *, now: datetime | None = None) -> AccessClaims:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token)
            if len(self._verified) >= self.VERIFIED_MAX:
                del self._verified[next(iter(self._verified))]  # the oldest
            self._verified[token] = claims
        # As PyJWT decides it: expired once ``exp <= now`` (no leeway).
        if claims.expires_at <= (now or datetime.now(UTC)):
            self._verified.pop(token, None)
            raise InvalidToken("token_expired", "The access token has expired.")
        return claims

    def _verify(self, token: str) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken() from None
        # Only our own shape: HS256, no key ids or key URLs an attacker could point elsewhere.
        if header.get("alg") != "HS256" or _FORBIDDEN_HEADERS & set(header):
            raise InvalidToken()
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "sid", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token_expired", "The access token has expired.") from None
        except jwt.PyJWTError:
            raise InvalidToken() from None
        if claims.get("typ") != "access":
            raise InvalidToken()
        try:
            return AccessClaims(
                user_id=uuid.UUID(claims["sub"]),
                session_id=uuid.UUID(claims["sid"]),
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        except (ValueError, TypeError):
            raise InvalidToken() from None


# API keys --------------------------------------------------------------------------------


def _checksum(body: str) -> str:
    crc = zlib.crc32(body.encode()) & 0xFFFFFFFF
    return base64.b32encode(crc.to_bytes(4, "big")).decode().rstrip("=").lower()


def new_api_key() -> str:
    """``sf_`` + 240 random bits + a CRC32 checksum, so scanners can tell a real key."""
    body = base64.b32encode(secrets.token_bytes(_API_SECRET_BYTES)).decode().rstrip("=").lower()
    return f"{API_KEY_PREFIX}{body}{_checksum(body)}"


def api_key_is_well_formed(key: str) -> bool:
    """Checksum check, done before any database lookup."""
    if not key.startswith(API_KEY_PREFIX) or len(key) != len(API_KEY_PREFIX) + 48 + 7:
        return False
    body, check = key[len(API_KEY_PREFIX) : -7], key[-7:]
    return hmac.compare_digest(_checksum(body), check)


def api_key_display_prefix(key: str) -> str:
    return key[:11]
