"""Browser session cookies and the signed double-submit CSRF token.

Over HTTPS the access and CSRF cookies take the ``__Host-`` prefix (Secure, path /, no
domain: a sibling subdomain cannot plant them) and the refresh cookie ``__Secure-`` (it is
scoped to ``/api/v1/auth``, which ``__Host-`` forbids). Over plain HTTP (development) the
names are bare, as browsers refuse prefixed cookies without Secure.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime

from starlette.responses import Response

from studioflow.platform.security import derive_key
from studioflow.settings import Settings

REFRESH_PATH = "/api/v1/auth"


def access_cookie_name(settings: Settings) -> str:
    return "__Host-access_token" if settings.secure_cookies else "access_token"


def refresh_cookie_name(settings: Settings) -> str:
    return "__Secure-refresh_token" if settings.secure_cookies else "refresh_token"


def csrf_cookie_name(settings: Settings) -> str:
    return "__Host-csrf_token" if settings.secure_cookies else "csrf_token"


def new_csrf_token(settings: Settings, session_id: uuid.UUID) -> str:
    """``nonce.mac``: bound to the session, so a token planted from elsewhere does not verify."""
    nonce = secrets.token_urlsafe(16)
    return f"{nonce}.{_mac(settings, session_id, nonce)}"


def csrf_token_valid(settings: Settings, session_id: uuid.UUID, token: str) -> bool:
    nonce, _, mac = token.partition(".")
    return bool(nonce and mac) and hmac.compare_digest(_mac(settings, session_id, nonce), mac)


def _mac(settings: Settings, session_id: uuid.UUID, nonce: str) -> str:
    key = derive_key(settings.secret, "csrf")
    return hmac.new(key, f"{session_id}:{nonce}".encode(), hashlib.sha256).hexdigest()


def set_session_cookies(
    response: Response,
    settings: Settings,
    *,
    session_id: uuid.UUID,
    access_token: str,
    access_expires: datetime,
    refresh_token: str,
    session_expires: datetime,
) -> None:
    secure = settings.secure_cookies
    response.set_cookie(
        access_cookie_name(settings),
        access_token,
        expires=access_expires,
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )
    response.set_cookie(
        refresh_cookie_name(settings),
        refresh_token,
        expires=session_expires,
        path=REFRESH_PATH,
        secure=secure,
        httponly=True,
        samesite="lax",
    )
    response.set_cookie(
        csrf_cookie_name(settings),
        new_csrf_token(settings, session_id),
        expires=session_expires,
        path="/",
        secure=secure,
        httponly=False,  # the page's script reads it to send X-CSRF-Token
        samesite="lax",
    )


def clear_session_cookies(response: Response, settings: Settings) -> None:
    secure = settings.secure_cookies
    response.delete_cookie(access_cookie_name(settings), path="/", secure=secure, httponly=True)
    response.delete_cookie(
        refresh_cookie_name(settings), path=REFRESH_PATH, secure=secure, httponly=True
    )
    response.delete_cookie(csrf_cookie_name(settings), path="/", secure=secure)
