"""Accounts and sign-in: registration with emailed codes, throttled login, sessions with
rotating refresh tokens, magic links, password reset, profile and account deletion."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity import audit
from studioflow.identity.context import Context
from studioflow.identity.emails import InvalidEmail, canonical_email, normalise_email
from studioflow.identity.passwords import WeakPassword, check_password
from studioflow.identity.permissions import OWNER
from studioflow.identity.repository import (
    ActionTokenRepository,
    ApiKeyRepository,
    CodeRepository,
    MemberRepository,
    SessionRepository,
    UsageRepository,
    UserRepository,
)
from studioflow.identity.tokens import (
    AccessTokens,
    code_hash,
    random_token,
    sha256,
    six_digit_code,
)
from studioflow.models import (
    ActionToken,
    ApiKey,
    AuthSession,
    Client,
    Membership,
    OAuthIdentity,
    OneTimeCode,
    RefreshToken,
    User,
)
from studioflow.platform.errors import (
    AppError,
    BadRequest,
    Conflict,
    Forbidden,
    NotAuthenticated,
    NotFound,
    TooManyAttempts,
    Unprocessable,
)
from studioflow.platform.mail import build_message
from studioflow.platform.pagination import PageParams
from studioflow.platform.runtime import Platform
from studioflow.platform.tasks import send_mail_later

log = structlog.get_logger("studioflow.identity")

CODE_TTL = timedelta(minutes=10)
CODE_MAX_ATTEMPTS = 5
RESEND_INTERVAL = "1/minute"
# Sign-up codes an address receives for new registrations (each its own password): enough
# for a person retrying, too few to bury a mailbox.
REGISTRATIONS_PER_ADDRESS = "5/hour"
MAGIC_LINK_TTL = timedelta(minutes=15)
RESET_TTL = timedelta(minutes=30)
INVITE_TTL = timedelta(days=7)  # an admin's invitation: the password link in its email
SESSION_LIFETIME = timedelta(days=30)
REFRESH_GRACE = timedelta(seconds=10)
DELETION_GRACE = timedelta(days=7)
LOCK_AFTER_FAILURES = 3
MAX_LOCK = timedelta(minutes=15)
FAILURE_MEMORY_SECONDS = 24 * 3600

# Per-address limits (the seeds' 5 per 15 minutes for codes and links) and per-IP buckets.
IP_LOGIN_LIMIT = "30/15minutes"
IP_EMAIL_LIMIT = "10/15minutes"
ACCOUNT_LINK_LIMIT = "5/15minutes"
IP_CODE_CHECK_LIMIT = "30/15minutes"

VERIFY_EMAIL = "verify_email"
MAGIC_LINK = "magic_link"
PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose name


@dataclass(frozen=True)
class SignIn:
    user: User
    session: AuthSession
    access_token: str
    access_expires: datetime
    refresh_token: str


class InvalidCredentials(AppError):
    status, code, title = 401, "invalid_credentials", "Invalid credentials"


class EmailNotVerified(AppError):
    status, code, title = 403, "email_not_verified", "Email not verified"


class RefreshTokenReused(AppError):
    status, code, title = 401, "refresh_token_reused", "Refresh token reused"


def _now() -> datetime:
    return datetime.now(UTC)


def _identifier_key(identifier: str) -> str:
    """Throttle key for what was typed, identical for known and unknown accounts."""
    text = identifier.strip().lower()
    if "@" in text:
        with contextlib.suppress(InvalidEmail):
            text = canonical_email(normalise_email(text))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _valid_email(raw: str) -> str:
    try:
        return normalise_email(raw)
    except InvalidEmail as error:
        raise Unprocessable(
            "Enter a valid email address.",
            extra={
                "errors": [{"loc": ["body", "email"], "msg": str(error), "type": "value_error"}]
            },
        ) from None


def _valid_password(password: str, *, email: str | None, username: str | None) -> None:
    try:
        check_password(password, email=email, username=username)
    except WeakPassword as error:
        raise Unprocessable(
            str(error),
            code="weak_password",
            extra={
                "errors": [
                    {"loc": ["body", "password"], "msg": str(error), "type": "weak_password"}
                ]
            },
        ) from None


async def member_pairs(
    session: AsyncSession, user_ids: list[uuid.UUID]
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """(user_id, client_id) of every workspace these users belong to, in one query (the
    analytics flush leaves out the views a workspace's own members made)."""
    return await MemberRepository(session).pairs(user_ids)


async def invite_user(
    platform: Platform,
    session: AsyncSession,
    *,
    email: str,
    username: str | None,
    first_name: str | None,
    last_name: str | None,
    platform_role: str,
    invited_by: str,
) -> User:
    """An account made by a platform admin: no password yet, its personal workspace, and an
    email with a link (valid 7 days, once) to choose a password, which also confirms the
    address. 409 ``conflict`` when the address or username is taken."""
    address = _valid_email(email)
    if await user_by_email(session, address) is not None:
        raise Conflict("An account with this email address exists.")
    if username and await UserRepository(session).username_taken(username):
        raise Conflict("This username is taken.", code="username_taken")
    user = User(
        email=address,
        email_canonical=canonical_email(address),
        username=username or None,
        first_name=first_name or None,
        last_name=last_name or None,
        platform_role=platform_role,
    )
    session.add(user)
    await session.flush()
    await create_personal_client(session, user, plan=(await platform.site.get()).default_plan)
    token = await _action_token(session, user, PASSWORD_RESET, INVITE_TTL)
    link = f"{platform.settings.base_url}/reset-password?token={token}"
    _mail(
        platform,
        session,
        user.email,
        "You have a Studioflow account",
        f"{invited_by} made you a Studioflow account for {user.email}.\n\n"
        f"Choose your password with this link (valid for 7 days, once):\n{link}\n\n"
        "If you did not expect this, ignore this message: nothing happens without the link.",
    )
    return user


async def set_blocked(session: AsyncSession, user: User, blocked: bool) -> None:
    """Block or unblock an account. Blocked, its sessions end at once (revoked, so unblocking
    does not bring them back) and its API keys are refused on every request while it stays
    blocked (kept, so an unblocked account's integrations work again)."""
    user.is_active = not blocked
    if blocked:
        await revoke_all_sessions(session, user.id, reason="blocked")
    await session.flush()


async def api_keys_of_user(session: AsyncSession, user_id: uuid.UUID) -> list[ApiKey]:
    return await ApiKeyRepository(session).of_user(user_id)


async def has_users(session: AsyncSession) -> bool:
    return await UserRepository(session).any()


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await UserRepository(session).by_id(user_id)


async def user_by_address(session: AsyncSession, text: str) -> User | None:
    """The account with this email address as someone typed it, or None."""
    try:
        return await user_by_email(session, normalise_email(text))
    except InvalidEmail:
        return None


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await UserRepository(session).by_email(email)


async def _user_by_identifier(session: AsyncSession, identifier: str) -> User | None:
    text = identifier.strip()
    if "@" in text:
        try:
            return await user_by_email(session, normalise_email(text))
        except InvalidEmail:
            return None
    return await UserRepository(session).by_username(text)


# Registration and email verification ------------------------------------------------------


async def register(
    platform: Platform,
    session: AsyncSession,
    *,
    email: str,
    password: str,
    username: str | None,
    first_name: str | None,
    last_name: str | None,
    context: Context,
) -> None:
    """Create an unverified account and email a code; the answer never tells if it existed."""
    await _ip_limit(platform, "register", context.ip, IP_EMAIL_LIMIT)
    site = await platform.site.get()
    if not site.signup_open:
        raise Forbidden(
            "New accounts cannot be created on this site at the moment; ask an administrator "
            "for an invitation.",
            code="signup_closed",
        )
    address = _valid_email(email)
    _valid_password(password, email=address, username=username)
    # Hash before looking anything up, so a taken address costs the same time as a new one.
    password_hash = await platform.passwords.hash(password)
    existing = await user_by_email(session, address)
    if existing is not None:
        if existing.email_verified_at is not None:
            _mail(
                platform,
                session,
                existing.email,
                "Someone tried to sign up with your address",
                "Someone (maybe you) tried to create a Studioflow account with this address.\n"
                "You already have an account. If it was you, sign in or reset your password:\n"
                f"{platform.settings.base_url}/forgot-password\n\n"
                "If it was not you, you can ignore this message; nothing has changed.",
            )
        elif await _may_send(platform, "registration", str(existing.id), REGISTRATIONS_PER_ADDRESS):
            # A new registration of an address nobody has confirmed yet: its own code, bound
            # to this password and profile. The account is not changed until a code is used,
            # and then it takes the registration of that code, so a stranger who registered
            # the address first chose nothing the owner confirms.
            registration = Registration(
                password_hash,
                {"username": username, "first_name": first_name, "last_name": last_name},
            )
            await _send_code(platform, session, existing, registration=registration)
        return
    if username is not None and await UserRepository(session).username_taken(username):
        raise Conflict("This username is taken.", code="username_taken")
    user = User(
        email=address,
        email_canonical=canonical_email(address),
        username=username,
        first_name=first_name,
        last_name=last_name,
        password_hash=password_hash,
    )
    session.add(user)
    await session.flush()
    await create_personal_client(session, user, plan=site.default_plan)
    await audit.by_user(
        session,
        "user.registered",
        user,
        context,
    )
    profile = {"username": username, "first_name": first_name, "last_name": last_name}
    await _send_code(platform, session, user, registration=Registration(password_hash, profile))


async def create_personal_client(session: AsyncSession, user: User, *, plan: str) -> Client:
    name = " ".join(p for p in (user.first_name, user.last_name) if p) or user.email.split("@")[0]
    client = Client(name=f"{name}'s workspace"[:120], personal_owner_id=user.id, plan=plan)
    session.add(client)
    await session.flush()
    session.add(Membership(client_id=client.id, user_id=user.id, role=OWNER))
    await session.flush()
    return client


@dataclass(frozen=True)
class Registration:
    """What one sign-up asked for; its code sets it when used."""

    password_hash: str | None
    profile: dict[str, Any]


async def _send_code(
    platform: Platform, session: AsyncSession, user: User, *, registration: Registration | None
) -> None:
    """Mail a sign-up code. A new registration gets a code of its own (the codes of other
    registrations of the address stay usable, each for its own registration); a resend
    (``registration=None``) replaces the newest code with a new one for the same registration."""
    codes = CodeRepository(session)
    if registration is None:
        newest = await codes.newest_unused(user.id, VERIFY_EMAIL)
        registration = Registration(
            newest.password_hash if newest else None, dict(newest.profile or {}) if newest else {}
        )
        if newest is not None:
            newest.used_at = _now()  # replaced by the code below
    code = six_digit_code()
    session.add(
        OneTimeCode(
            user_id=user.id,
            purpose=VERIFY_EMAIL,
            code_hash=code_hash(platform.settings.secret, VERIFY_EMAIL, user.id, code),
            expires_at=_now() + CODE_TTL,
            password_hash=registration.password_hash,
            profile=registration.profile or None,
        )
    )
    await session.flush()
    _mail(
        platform,
        session,
        user.email,
        # The subject carries no code: subjects travel into logs and notification previews.
        "Your Studioflow sign-up code",
        f"Your verification code is {code}\n\n"
        f"It confirms a sign-up made at {_now():%Y-%m-%d %H:%M} UTC and expires in 10 minutes. "
        "If you did not sign up for Studioflow then, ignore this message: nothing happens "
        "without the code.",
    )


async def resend_code(
    platform: Platform, session: AsyncSession, *, email: str, context: Context
) -> None:
    await _ip_limit(platform, "resend", context.ip, IP_EMAIL_LIMIT)
    try:
        address = normalise_email(email)
    except InvalidEmail:
        return
    user = await user_by_email(session, address)
    if user is None or user.email_verified_at is not None:
        return
    if await _may_send(platform, "resend", str(user.id), RESEND_INTERVAL):
        await _send_code(platform, session, user, registration=None)


async def verify_email(
    platform: Platform, session: AsyncSession, *, email: str, code: str, context: Context
) -> User:
    await _ip_limit(platform, "verify", context.ip, IP_CODE_CHECK_LIMIT)
    invalid = BadRequest(
        "The code is wrong or has expired. Ask for a new one.", code="invalid_code", commit=True
    )
    try:
        address = normalise_email(email)
    except InvalidEmail:
        raise invalid from None
    user = await user_by_email(session, address)
    if user is None:
        raise invalid
    live = [
        c
        for c in await CodeRepository(session).live(user.id, VERIFY_EMAIL, _now())
        if c.attempts < CODE_MAX_ATTEMPTS
    ]
    expected = code_hash(platform.settings.secret, VERIFY_EMAIL, user.id, code.strip())
    record = next((c for c in live if hmac.compare_digest(expected, c.code_hash)), None)
    if record is None:
        # A wrong guess counts against every live code of the address: guesses are per
        # address, however many registrations it has.
        for candidate in live:
            candidate.attempts += 1
        if any(c.attempts >= CODE_MAX_ATTEMPTS for c in live):
            await audit.by_user(
                session,
                "auth.code_exhausted",
                user,
                context,
            )
        raise invalid
    for other in live:
        other.used_at = _now()  # the address is confirmed: other registrations are void
    await _apply_registration(session, user, record)
    if user.email_verified_at is None:
        user.email_verified_at = _now()
    await audit.by_user(
        session,
        "user.email_verified",
        user,
        context,
    )
    await session.flush()
    return user


async def _apply_registration(session: AsyncSession, user: User, record: OneTimeCode) -> None:
    """The account takes the password and profile of the registration whose code was used."""
    if record.password_hash is not None:
        user.password_hash = record.password_hash
    if record.profile is None:
        return  # a code from before registrations were kept with it
    user.first_name = record.profile.get("first_name")
    user.last_name = record.profile.get("last_name")
    username = record.profile.get("username")
    if username is not None and await UserRepository(session).username_taken(
        username, other_than=user.id
    ):
        username = None  # taken since the sign-up: the owner picks another in the profile
    user.username = username


# Login, sessions and refresh -------------------------------------------------------------


async def login(
    platform: Platform,
    read: AsyncSession,
    session: AsyncSession,
    *,
    identifier: str,
    password: str,
    context: Context,
) -> SignIn:
    """Sign in. The account is looked up through ``read`` and the password checked before the
    unit of work ``session`` writes anything, so argon2's ~0.15 s holds no write lock."""
    await _ip_limit(platform, "login", context.ip, IP_LOGIN_LIMIT)
    key = _identifier_key(identifier)
    lock_key, fail_key = f"login:lock:{key}", f"login:fail:{key}"
    now_ts = int(_now().timestamp())
    locked_until = await platform.counters.get(lock_key)
    if locked_until > now_ts:
        raise TooManyAttempts(
            "Too many failed sign-ins. Wait, or sign in with an emailed link.",
            retry_after=locked_until - now_ts,
        )
    found = await _user_by_identifier(read, identifier)
    passwords = platform.passwords
    stored = found.password_hash if found is not None and found.password_hash else None
    password_ok = await passwords.verify(stored or passwords.dummy_hash, password)
    if found is not None and password_ok and not found.is_active:
        # The right password: say why, so the person knows to ask, not to retry.
        await audit.by_user(session, "auth.login_blocked", found, context)
        raise Forbidden(
            "This account is blocked. Contact the platform's administrators.",
            code="account_blocked",
            commit=True,
        )
    if found is None or stored is None or not password_ok:
        failures = await platform.counters.incr(fail_key, ttl=FAILURE_MEMORY_SECONDS)
        await audit.by_user(
            session,
            "auth.login_failed",
            found,
            context,
        )
        if failures >= LOCK_AFTER_FAILURES:
            lock = min(timedelta(minutes=2 ** (failures - LOCK_AFTER_FAILURES)), MAX_LOCK)
            seconds = int(lock.total_seconds())
            await platform.counters.set(lock_key, now_ts + seconds, ttl=seconds)
            await audit.by_user(
                session,
                "auth.locked",
                found,
                context,
                minutes=seconds // 60,
            )
        raise InvalidCredentials("The email, username or password is wrong.", commit=True)
    if found.email_verified_at is None:
        raise EmailNotVerified("Confirm your email address with the code we sent first.")
    await platform.counters.reset(fail_key)
    await platform.counters.reset(lock_key)
    # The configured cost changed since this hash was made: bring it up to date.
    fresh_hash = await passwords.hash(password) if passwords.needs_rehash(stored) else None
    user = await _user(session, found.id)
    if fresh_hash is not None:
        user.password_hash = fresh_hash
    return await start_session(platform, session, user, method="password", context=context)


async def start_session(
    platform: Platform, session: AsyncSession, user: User, *, method: str, context: Context
) -> SignIn:
    now = _now()
    auth_session = AuthSession(
        user_id=user.id,
        expires_at=now + SESSION_LIFETIME,
        method=method,
        ip=context.ip,
        user_agent=(context.user_agent or "")[:300] or None,
    )
    session.add(auth_session)
    await session.flush()
    refresh = random_token(32)
    session.add(RefreshToken(session_id=auth_session.id, token_hash=sha256(refresh)))
    user.last_login_at = now
    await audit.by_user(
        session,
        "auth.login",
        user,
        context,
        method=method,
    )
    await session.flush()
    access, expires = AccessTokens(platform.settings.secret, platform.settings.base_url).issue(
        user.id, auth_session.id, now=now
    )
    return SignIn(
        user=user,
        session=auth_session,
        access_token=access,
        access_expires=expires,
        refresh_token=refresh,
    )


async def refresh(
    platform: Platform, session: AsyncSession, *, token: str, context: Context
) -> SignIn:
    """Rotate: the presented token is spent and a new pair is issued. A spent token seen
    again (after a short grace for parallel refreshes) revokes the whole session."""
    if not token:
        raise NotAuthenticated("No refresh token.")
    now = _now()
    row = await SessionRepository(session).by_refresh_token(sha256(token))
    if row is None:
        raise NotAuthenticated("This refresh token is not valid.")
    record, auth_session, user = row
    if auth_session.revoked_at is not None or auth_session.expires_at <= now or not user.is_active:
        raise NotAuthenticated("This session has ended. Sign in again.")
    if record.rotated_at is not None and now - record.rotated_at > REFRESH_GRACE:
        auth_session.revoked_at = now
        auth_session.revoked_reason = "refresh_token_reused"
        await audit.by_user(
            session,
            "auth.refresh_token_reused",
            user,
            context,
            session_id=str(auth_session.id),
        )
        raise RefreshTokenReused(
            "This refresh token was already used; the session is revoked. Sign in again.",
            commit=True,
        )
    if record.rotated_at is None:
        record.rotated_at = now
    new_refresh = random_token(32)
    session.add(RefreshToken(session_id=auth_session.id, token_hash=sha256(new_refresh)))
    auth_session.last_used_at = now
    await session.flush()
    access, expires = AccessTokens(platform.settings.secret, platform.settings.base_url).issue(
        user.id, auth_session.id, now=now
    )
    return SignIn(
        user=user,
        session=auth_session,
        access_token=access,
        access_expires=expires,
        refresh_token=new_refresh,
    )


async def revoke_session(session: AsyncSession, session_id: uuid.UUID, *, reason: str) -> None:
    await SessionRepository(session).revoke(session_id, reason=reason, now=_now())


async def revoke_user_session(
    session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID, *, reason: str = "revoked"
) -> None:
    if not await SessionRepository(session).owned(user_id, session_id):
        raise NotFound("No such session.")
    await revoke_session(session, session_id, reason=reason)


async def revoke_all_sessions(session: AsyncSession, user_id: uuid.UUID, *, reason: str) -> None:
    await SessionRepository(session).revoke_all(user_id, reason=reason, now=_now())


async def active_sessions(session: AsyncSession, user_id: uuid.UUID) -> list[AuthSession]:
    return await SessionRepository(session).active(user_id, _now())


async def memberships_of(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[Client, str]]:
    """The user's clients and role in each, the personal one first, then by name."""
    return await MemberRepository(session).clients_of(user_id)


async def page_of_sessions(
    session: AsyncSession, user_id: uuid.UUID, params: PageParams
) -> tuple[list[AuthSession], str | None]:
    return await SessionRepository(session).page_active(user_id, params, _now())


async def linked_identities(session: AsyncSession, user_id: uuid.UUID) -> list[OAuthIdentity]:
    return await UserRepository(session).identities(user_id)


# Magic links and password reset ----------------------------------------------------------


async def request_magic_link(
    platform: Platform, session: AsyncSession, *, email: str, context: Context
) -> None:
    await _ip_limit(platform, "magic", context.ip, IP_EMAIL_LIMIT)
    user = await _known_active(session, email)
    if user is None or not await _may_send(platform, "magic", str(user.id), ACCOUNT_LINK_LIMIT):
        return
    token = await _action_token(session, user, MAGIC_LINK, MAGIC_LINK_TTL)
    link = f"{platform.settings.base_url}/auth/callback?token={token}"
    _mail(
        platform,
        session,
        user.email,
        "Your Studioflow sign-in link",
        f"Sign in to Studioflow with this link (valid for 15 minutes, once):\n{link}\n\n"
        "If you did not ask for it, ignore this message.",
    )


async def magic_link_address(session: AsyncSession, token: str) -> str | None:
    """Whose sign-in link this is, if it still works (the confirmation page names them)."""
    if not _plausible_token(token):
        return None
    row = _working(await ActionTokenRepository(session).peek(sha256(token), MAGIC_LINK))
    return row[1].email if row is not None else None


async def consume_magic_link(
    platform: Platform, session: AsyncSession, *, token: str, context: Context
) -> SignIn:
    _, user = await _consume_action_token(session, token, MAGIC_LINK)
    # The link proves the mailbox: the address is verified and any sign-in lock is lifted
    # (the real owner can always get in this way).
    if user.email_verified_at is None:
        user.email_verified_at = _now()
    await _clear_lock(platform, user)
    return await start_session(platform, session, user, method="magic_link", context=context)


async def request_password_reset(
    platform: Platform, session: AsyncSession, *, email: str, context: Context
) -> None:
    await _ip_limit(platform, "reset", context.ip, IP_EMAIL_LIMIT)
    user = await _known_active(session, email)
    if user is None or not await _may_send(platform, "reset", str(user.id), ACCOUNT_LINK_LIMIT):
        return
    token = await _action_token(session, user, PASSWORD_RESET, RESET_TTL)
    link = f"{platform.settings.base_url}/reset-password?token={token}"
    _mail(
        platform,
        session,
        user.email,
        "Reset your Studioflow password",
        f"Choose a new password with this link (valid for 30 minutes, once):\n{link}\n\n"
        "Every device signed in to your account will be signed out, and your API keys revoked.\n"
        "If you did not ask for this, ignore this message.",
    )


async def reset_password(
    platform: Platform, session: AsyncSession, *, token: str, password: str, context: Context
) -> None:
    # Hashed before the first statement, so the write transaction never waits for argon2.
    _valid_password(password, email=None, username=None)
    password_hash = await platform.passwords.hash(password)
    record, user = await _peek_action_token(session, token, PASSWORD_RESET)
    _valid_password(password, email=user.email, username=user.username)
    record.used_at = _now()
    user.password_hash = password_hash
    if user.email_verified_at is None:
        user.email_verified_at = _now()
    await revoke_all_sessions(session, user.id, reason="password_reset")
    # Links asked for before the reset stop working with it: whoever had the old password
    # (or the mailbox, then) may have asked for them.
    await ActionTokenRepository(session).revoke_all(user.id, (MAGIC_LINK, PASSWORD_RESET), _now())
    await SessionRepository(session).revoke_api_keys_of(user.id, _now())
    await _clear_lock(platform, user)
    await audit.by_user(
        session,
        "auth.password_reset",
        user,
        context,
    )


async def _known_active(session: AsyncSession, email: str) -> User | None:
    try:
        address = normalise_email(email)
    except InvalidEmail:
        return None
    user = await user_by_email(session, address)
    return user if user is not None and user.is_active else None


async def _action_token(session: AsyncSession, user: User, purpose: str, ttl: timedelta) -> str:
    token = random_token(32)
    session.add(
        ActionToken(
            purpose=purpose, token_hash=sha256(token), user_id=user.id, expires_at=_now() + ttl
        )
    )
    await session.flush()
    return token


async def _peek_action_token(
    session: AsyncSession, token: str, purpose: str
) -> tuple[ActionToken, User]:
    invalid = BadRequest(
        "This link is invalid, used or expired. Ask for a new one.", code="invalid_token"
    )
    if not _plausible_token(token):
        raise invalid
    row = _working(await ActionTokenRepository(session).with_user(sha256(token), purpose))
    if row is None:
        raise invalid
    return row


def _plausible_token(token: str) -> bool:
    return bool(token) and len(token) <= 200


def _working(row: tuple[ActionToken, User] | None) -> tuple[ActionToken, User] | None:
    """The link and its user if the link can still be used: unused, unexpired, active user."""
    if row is None:
        return None
    record, user = row
    if record.used_at is not None or record.expires_at <= _now() or not user.is_active:
        return None
    return row


async def _consume_action_token(
    session: AsyncSession, token: str, purpose: str
) -> tuple[ActionToken, User]:
    record, user = await _peek_action_token(session, token, purpose)
    if not await ActionTokenRepository(session).spend(record.id, _now()):
        raise BadRequest(
            "This link is invalid, used or expired. Ask for a new one.", code="invalid_token"
        )
    return record, user


async def _clear_lock(platform: Platform, user: User) -> None:
    for identifier in filter(None, (user.email, user.username)):
        key = _identifier_key(identifier)
        await platform.counters.reset(f"login:lock:{key}")
        await platform.counters.reset(f"login:fail:{key}")


# Account ---------------------------------------------------------------------------------


async def _user(session: AsyncSession, user_id: uuid.UUID) -> User:
    """The user's row in this unit of work (principals carry a read-only snapshot)."""
    user = await UserRepository(session).fresh(user_id)
    if user is None:  # pragma: no cover - the principal was just authenticated
        raise NotAuthenticated("This account no longer exists.")
    return user


async def update_profile(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    username: str | None,
    first_name: str | None,
    last_name: str | None,
    fields: set[str],
) -> User:
    user = await _user(session, user_id)
    if "username" in fields and username != user.username:
        taken = username is not None and await UserRepository(session).username_taken(
            username, other_than=user.id
        )
        if taken:
            raise Conflict("This username is taken.", code="username_taken")
        user.username = username
    if "first_name" in fields:
        user.first_name = first_name
    if "last_name" in fields:
        user.last_name = last_name
    await session.flush()
    return user


async def request_deletion(
    platform: Platform, session: AsyncSession, user_id: uuid.UUID, *, context: Context
) -> datetime:
    """Schedule deletion after the grace period and email the address how to stop it;
    refused while the user is the only owner of a workspace that has other members (they
    must hand it over first)."""
    user = await _user(session, user_id)
    await _mark_for_deletion(
        session,
        user,
        at_once=False,
        refusal="You are the only owner of a workspace with other members. Make someone "
        "else an owner first.",
    )
    assert user.delete_after is not None
    await audit.by_user(
        session,
        "user.deletion_requested",
        user,
        context,
        delete_after=user.delete_after.isoformat(),
    )
    when = user.delete_after.strftime("%d %B %Y at %H:%M UTC")
    _mail(
        platform,
        session,
        user.email,
        "Your Studioflow account will be deleted",
        f"You asked to delete your Studioflow account. It will be deleted on {when}, with "
        "your data and files.\n\nChanged your mind, or was it not you? Sign in before then and "
        f"cancel on your account page: {platform.settings.base_url}/account#data-h\n",
    )
    return user.delete_after


async def schedule_deletion_by_admin(
    platform: Platform, session: AsyncSession, user: User, *, now: bool
) -> datetime:
    """A platform admin deletes an account: after the grace period (the owner is emailed and
    may still cancel from their account page), or, with ``now``, due at once (the caller
    deletes it in the same transaction, and no email says otherwise). Refused like the
    owner's own request while they alone own a workspace with other members."""
    await _mark_for_deletion(
        session,
        user,
        at_once=now,
        refusal="This user is the only owner of a workspace with other members. Make "
        "someone else an owner of it first.",
    )
    assert user.delete_after is not None
    if not now:
        when = user.delete_after.strftime("%d %B %Y at %H:%M UTC")
        _mail(
            platform,
            session,
            user.email,
            "Your Studioflow account will be deleted",
            f"An administrator of this Studioflow site started deleting your account. It "
            f"will be deleted on {when}, with your data and files.\n\nTo keep it, sign in "
            f"before then and cancel on your account page: "
            f"{platform.settings.base_url}/account#data-h\n",
        )
    return user.delete_after


async def _mark_for_deletion(
    session: AsyncSession, user: User, *, at_once: bool, refusal: str
) -> None:
    """Due after the grace period (or at once); refused (409 ``last_owner``) while the user
    alone owns a workspace with other members, who would be left without an owner."""
    if await MemberRepository(session).teams_owned_alone_with_others(user.id, OWNER):
        raise Conflict(refusal, code="last_owner")
    moment = _now()
    user.delete_requested_at = moment
    user.delete_after = moment if at_once else moment + DELETION_GRACE
    await session.flush()


async def username_taken(session: AsyncSession, username: str) -> bool:
    return await UserRepository(session).username_taken(username)


async def cancel_deletion(session: AsyncSession, user_id: uuid.UUID, *, context: Context) -> None:
    user = await _user(session, user_id)
    if user.delete_after is None:
        return
    user.delete_requested_at = None
    user.delete_after = None
    await audit.by_user(
        session,
        "user.deletion_cancelled",
        user,
        context,
    )


# Helpers ---------------------------------------------------------------------------------


def _mail(platform: Platform, session: AsyncSession, to: str, subject: str, text: str) -> None:
    message = build_message(sender=platform.settings.mail_from, to=to, subject=subject, text=text)
    send_mail_later(platform, session, message)


async def _ip_limit(platform: Platform, action: str, ip: str, limit: str) -> None:
    result = await platform.limiter.hit(limit, "ip", action, ip)
    if not result.allowed:
        raise TooManyAttempts(
            "Too many attempts from your network. Try again later.",
            retry_after=result.reset_after,
            headers=dict(result.headers),
        )


async def _may_send(platform: Platform, action: str, account: str, limit: str) -> bool:
    """Quietly skip an email over the per-account limit (the answer must not change)."""
    return (await platform.limiter.hit(limit, "account", action, account)).allowed


def deletion_pending(user: User) -> bool:
    return user.delete_after is not None


async def usage_figures(
    session: AsyncSession, client_id: uuid.UUID, since: datetime | None = None
) -> dict[str, Any]:
    """Profile statistics of a client (of the executions since ``since``, when given), read
    straight from the studio and credit tables."""
    from studioflow.models import ExecutionStatus, ItemStatus

    by_status, items, balance = await UsageRepository(session).figures(client_id, since)
    done = int(items.get(ItemStatus.completed, 0))
    failed = int(items.get(ItemStatus.failed, 0))
    return {
        "executions": int(sum(by_status.values())),
        "executions_completed": int(by_status.get(ExecutionStatus.completed, 0)),
        "executions_failed": int(by_status.get(ExecutionStatus.failed, 0)),
        "images_generated": done,
        "items_failed": failed,
        "success_rate": round(done / (done + failed), 4) if done + failed else None,
        "credit_balance": balance,
    }
