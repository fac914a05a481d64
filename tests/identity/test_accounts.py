"""Sign-up, codes, sign-in throttling, magic links and password reset, attacks included."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from studioflow.identity import service
from studioflow.models import AuditEvent, Client, Membership, OneTimeCode, User
from studioflow.platform.client_ip import client_ip
from studioflow.platform.runtime import Platform
from tests.identity.helpers import (
    PASSWORD,
    body_of,
    code_in,
    mails_to,
    sign_in,
    sign_up,
    token_in,
    wait_for_mail,
)


async def register(
    client: httpx.AsyncClient, address: str, password: str = PASSWORD, **extra: object
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/register", json={"email": address, "password": password, **extra}
    )


async def users_with(platform: Platform, canonical: str) -> int:
    async with platform.db.sessionmaker() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(User).where(User.email_canonical == canonical)
            )
            or 0
        )


async def test_sign_up_verify_and_sign_in(client: httpx.AsyncClient, platform: Platform) -> None:
    response = await register(
        client, "Ada@Example.com", username="ada", first_name="Ada", last_name="Lovelace"
    )
    assert response.status_code == 202
    assert response.json() == {"status": "pending_verification"}
    message = await wait_for_mail(platform, "ada@example.com", subject="code")
    code = code_in(message)
    # Not verified yet: the right password still does not sign in.
    early = await client.post(
        "/api/v1/auth/login", json={"identifier": "ada", "password": PASSWORD}
    )
    assert early.status_code == 403 and early.json()["code"] == "email_not_verified"
    verified = await client.post(
        "/api/v1/auth/verify-email", json={"email": "ADA@example.com", "code": code}
    )
    assert verified.status_code == 200
    assert verified.json()["email_verified"] is True
    by_username = await sign_in(client, "ada")
    by_email = await sign_in(client, "ada@EXAMPLE.com")
    assert by_username.user_id == by_email.user_id
    # A personal client, owned by the new user, is the default client.
    me = (await client.get("/api/v1/auth/me", headers=by_email.headers)).json()
    assert me["memberships"] == [
        {
            "client_id": me["active_client_id"],
            "name": "Ada Lovelace's workspace",
            "role": "owner",
            "personal": True,
        }
    ]
    assert "members:manage" in me["permissions"] and "platform:admin" not in me["permissions"]


async def test_registration_does_not_reveal_existing_accounts(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await sign_up(client, platform, "grace@example.com")
    again = await register(client, "grace@example.com", password="another fine passphrase")
    fresh = await register(client, "someone.new@example.com")
    assert again.status_code == fresh.status_code == 202
    assert again.json() == fresh.json()
    notice = await wait_for_mail(platform, "grace@example.com", subject="tried to sign up")
    assert "already have an account" in body_of(notice)
    assert await users_with(platform, "grace@example.com") == 1
    # The original password still works; the second attempt changed nothing.
    await sign_in(client, "grace@example.com")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Linus@Example.com", "linus@example.com"),
        ("linus@example.com", "linus+spam@example.com"),
        ("linus.torvalds@gmail.com", "LinusTorvalds@googlemail.com"),
    ],
)
async def test_look_alike_addresses_are_one_account(
    client: httpx.AsyncClient, platform: Platform, first: str, second: str
) -> None:
    await sign_up(client, platform, first)
    assert (await register(client, second)).status_code == 202
    async with platform.db.sessionmaker() as session:
        canonical = await session.scalar(
            select(User.email_canonical).where(User.email == first.lower())
        )
    assert canonical is not None
    assert await users_with(platform, canonical) == 1


@pytest.mark.parametrize(
    "address",
    [
        "not-an-email",
        "ünïcode@exämple.com",
        "a@localhost",
        "a" * 330 + "@x.com",
        "alice@ex\u0430mple.org",  # a Cyrillic a in the domain: looks like example.org
    ],
)
async def test_invalid_addresses_are_refused(client: httpx.AsyncClient, address: str) -> None:
    response = await register(client, address)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short7!", "at least 8"),
        ("password123", "too common"),
        ("iloveyou2", "too common"),
        ("x" * 1025, "at most"),
    ],
)
async def test_weak_passwords_are_refused(
    client: httpx.AsyncClient, password: str, why: str
) -> None:
    response = await register(client, "weak@example.com", password=password)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "weak_password"
    assert why in body["detail"]


async def test_password_equal_to_the_email_is_refused(client: httpx.AsyncClient) -> None:
    response = await register(client, "samepass@example.com", password="samepass@example.com")
    assert response.status_code == 422 and response.json()["code"] == "weak_password"


async def test_long_passwords_are_never_truncated(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    long_password = "Ω" + "long-passphrase-" * 63  # 1009 characters, far past bcrypt's 72 bytes
    await sign_up(client, platform, "long@example.com", password=long_password)
    near = await client.post(
        "/api/v1/auth/login",
        json={"identifier": "long@example.com", "password": long_password[:-1]},
    )
    assert near.status_code == 401


async def test_wrong_codes_die_after_five_tries(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await register(client, "brute@example.com")
    code = code_in(await wait_for_mail(platform, "brute@example.com", subject="code"))
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        response = await client.post(
            "/api/v1/auth/verify-email", json={"email": "brute@example.com", "code": wrong}
        )
        assert response.status_code == 400 and response.json()["code"] == "invalid_code"
    # The right code is dead now too.
    dead = await client.post(
        "/api/v1/auth/verify-email", json={"email": "brute@example.com", "code": code}
    )
    assert dead.status_code == 400 and dead.json()["code"] == "invalid_code"
    async with platform.db.sessionmaker() as session:
        attempts = await session.scalar(
            select(OneTimeCode.attempts).join(User).where(User.email == "brute@example.com")
        )
    assert attempts == 5


async def test_codes_expire_and_are_single_use(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await register(client, "once@example.com")
    code = code_in(await wait_for_mail(platform, "once@example.com", subject="code"))
    async with platform.db.transaction() as session:
        await session.execute(
            update(OneTimeCode).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    expired = await client.post(
        "/api/v1/auth/verify-email", json={"email": "once@example.com", "code": code}
    )
    assert expired.status_code == 400

    await client.post("/api/v1/auth/resend-code", json={"email": "once@example.com"})
    fresh = code_in(await wait_for_mail(platform, "once@example.com", subject="code", seen=1))
    assert (
        await client.post(
            "/api/v1/auth/verify-email", json={"email": "once@example.com", "code": fresh}
        )
    ).status_code == 200
    reused = await client.post(
        "/api/v1/auth/verify-email", json={"email": "once@example.com", "code": fresh}
    )
    assert reused.status_code == 400


async def test_a_code_only_works_for_its_own_account(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await register(client, "alice@example.com")
    await register(client, "mallory@example.com")
    code = code_in(await wait_for_mail(platform, "mallory@example.com", subject="code"))
    stolen = await client.post(
        "/api/v1/auth/verify-email", json={"email": "alice@example.com", "code": code}
    )
    assert stolen.status_code == 400


async def verify(client: httpx.AsyncClient, address: str, code: str) -> httpx.Response:
    return await client.post("/api/v1/auth/verify-email", json={"email": address, "code": code})


async def can_sign_in(client: httpx.AsyncClient, address: str, password: str) -> bool:
    response = await client.post(
        "/api/v1/auth/login", json={"identifier": address, "password": password}
    )
    client.cookies.clear()
    return response.status_code == 200


async def test_a_stranger_who_registered_first_chooses_nothing(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    """Pre-registration takeover: the password that counts is the one of the registration
    whose code was used, not the first registrant's (issue 12, item 1)."""
    victim, theirs, mine = (
        "victim@example.com",
        "attacker passphrase 4711",
        "victim passphrase 0815",
    )
    assert (await register(client, victim, theirs, username="mallory")).status_code == 202
    await wait_for_mail(platform, victim, subject="code")
    assert not await can_sign_in(client, victim, theirs)  # unverified: 403, no session
    assert (await register(client, victim, mine, first_name="Vic")).status_code == 202
    message = await wait_for_mail(platform, victim, subject="code", seen=1)
    code = code_in(message)
    # The subject carries no code (subjects reach logs and previews); the body says which
    # sign-up the code confirms.
    assert code not in message["Subject"] and "confirms a sign-up made at" in body_of(message)
    verified = await verify(client, victim, code)
    assert verified.status_code == 200, verified.text
    assert verified.json()["first_name"] == "Vic" and verified.json()["username"] is None
    assert await can_sign_in(client, victim, mine)
    assert not await can_sign_in(client, victim, theirs)
    # The stranger's code (sent to the victim, unknown to the stranger) is void now.
    first = code_in(mails_to(platform, victim, "code")[0])
    assert (await verify(client, victim, first)).status_code == 400


async def test_each_registration_keeps_its_own_code(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    """The owner registers first, a stranger after: the owner's own (older) code still sets
    the owner's password, and a resend stays with the registration it re-sends."""
    owner, mine, theirs = "owner1@example.com", "owner passphrase 1234", "stranger passphrase 98"
    await register(client, owner, mine)
    own_code = code_in(await wait_for_mail(platform, owner, subject="code"))
    await register(client, owner, theirs)
    await wait_for_mail(platform, owner, subject="code", seen=1)
    assert (await verify(client, owner, own_code)).status_code == 200
    assert await can_sign_in(client, owner, mine)
    assert not await can_sign_in(client, owner, theirs)

    # A resend after the code expired is still for that registration's password.
    other = "owner2@example.com"
    await register(client, other, theirs)
    await wait_for_mail(platform, other, subject="code")
    await register(client, other, mine)
    await wait_for_mail(platform, other, subject="code", seen=1)
    async with platform.db.transaction() as session:
        await session.execute(
            update(OneTimeCode).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    await client.post("/api/v1/auth/resend-code", json={"email": other})
    fresh = code_in(await wait_for_mail(platform, other, subject="code", seen=2))
    assert (await verify(client, other, fresh)).status_code == 200
    assert await can_sign_in(client, other, mine)
    assert not await can_sign_in(client, other, theirs)


async def test_resend_at_most_once_a_minute(client: httpx.AsyncClient, platform: Platform) -> None:
    await register(client, "resend@example.com")
    await wait_for_mail(platform, "resend@example.com", subject="code")
    for _ in range(3):
        assert (
            await client.post("/api/v1/auth/resend-code", json={"email": "resend@example.com"})
        ).status_code == 202
    unknown = await client.post("/api/v1/auth/resend-code", json={"email": "nobody@example.com"})
    assert unknown.status_code == 202
    await wait_for_mail(platform, "resend@example.com", subject="code", seen=1)
    assert len(mails_to(platform, "resend@example.com", "code")) == 2


async def test_unknown_user_and_wrong_password_answer_alike(
    client: httpx.AsyncClient, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sign_up(client, platform, "alike@example.com")
    verified: list[str] = []
    real = platform.passwords.verify

    async def counting(hashed: str, password: str) -> bool:
        verified.append(hashed)
        return await real(hashed, password)

    monkeypatch.setattr(platform.passwords, "verify", counting)
    wrong = await client.post(
        "/api/v1/auth/login", json={"identifier": "alike@example.com", "password": "nope-nope-nope"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"identifier": "ghost@example.com", "password": "nope-nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"
    # The unknown account still pays for one password hash check (the dummy hash).
    assert len(verified) == 2 and verified[1] == platform.passwords.dummy_hash


async def test_backoff_after_three_failures_for_known_and_unknown(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await sign_up(client, platform, "locked@example.com")
    for identifier in ("locked@example.com", "ghost2@example.com"):
        codes = []
        for _ in range(4):
            response = await client.post(
                "/api/v1/auth/login",
                json={"identifier": identifier, "password": "wrong-password-1"},
            )
            codes.append(response.status_code)
        assert codes == [401, 401, 401, 429], identifier
        assert 1 <= int(response.headers["retry-after"]) <= 60
        assert response.json()["code"] == "too_many_attempts"
    # Locked: even the right password waits.
    right = await client.post(
        "/api/v1/auth/login", json={"identifier": "locked@example.com", "password": PASSWORD}
    )
    assert right.status_code == 429
    async with platform.db.sessionmaker() as session:
        events = (
            await session.scalars(
                select(AuditEvent.event).where(AuditEvent.actor_label == "locked@example.com")
            )
        ).all()
    # Failures and the lockout are in the audit log (they commit although the answer is an error).
    assert events.count("auth.login_failed") == 3 and "auth.locked" in events


async def test_lock_doubles_up_to_fifteen_minutes(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    key = service._identifier_key("doubling@example.com")
    minutes = []
    for failures in range(3, 9):
        await platform.counters.set(f"login:fail:{key}", failures - 1, ttl=3600)
        await platform.counters.reset(f"login:lock:{key}")
        await client.post(
            "/api/v1/auth/login",
            json={"identifier": "doubling@example.com", "password": "wrong-password-1"},
        )
        until = await platform.counters.get(f"login:lock:{key}")
        minutes.append(round((until - datetime.now(UTC).timestamp()) / 60))
    assert minutes == [1, 2, 4, 8, 15, 15]


async def test_the_owner_gets_in_by_magic_link_while_locked(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await sign_up(client, platform, "owner@example.com")
    for _ in range(3):
        await client.post(
            "/api/v1/auth/login",
            json={"identifier": "owner@example.com", "password": "attacker-guess-1"},
        )
    assert (
        await client.post(
            "/api/v1/auth/login", json={"identifier": "owner@example.com", "password": PASSWORD}
        )
    ).status_code == 429
    assert (
        await client.post("/api/v1/auth/magic-link", json={"email": "owner@example.com"})
    ).status_code == 202
    token = token_in(await wait_for_mail(platform, "owner@example.com", subject="sign-in link"))
    # Opening the link signs nobody in (mail scanners open links; a planted link is a login
    # CSRF): it shows whose link it is, and its button posts from our own page.
    page = await client.get(f"/auth/callback?token={token}")
    assert page.status_code == 200 and "owner@example.com" in page.text
    assert not page.cookies
    elsewhere = await client.post(
        "/auth/callback", data={"token": token}, headers={"Origin": "https://evil.example"}
    )
    assert elsewhere.headers["location"] == "/login?link=invalid" and not elsewhere.cookies
    landed = await client.post(
        "/auth/callback", data={"token": token}, headers={"Origin": "http://testserver"}
    )
    assert landed.status_code == 303 and landed.headers["location"] == "/start"
    assert "access_token" in landed.cookies
    # The lock is lifted for the owner, and the link is spent.
    client.cookies.clear()
    assert (
        await client.post(
            "/api/v1/auth/login", json={"identifier": "owner@example.com", "password": PASSWORD}
        )
    ).status_code == 200
    client.cookies.clear()
    again = await client.get(f"/auth/callback?token={token}")
    assert again.status_code == 303 and again.headers["location"] == "/login?link=invalid"
    spent = await client.post(
        "/auth/callback", data={"token": token}, headers={"Origin": "http://testserver"}
    )
    assert spent.headers["location"] == "/login?link=invalid"


async def test_magic_link_for_unknown_email_answers_the_same(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    response = await client.post("/api/v1/auth/magic-link", json={"email": "unknown@example.com"})
    assert response.status_code == 202
    assert mails_to(platform, "unknown@example.com") == []


async def test_magic_link_expires(client: httpx.AsyncClient, platform: Platform) -> None:
    await sign_up(client, platform, "late@example.com")
    await client.post("/api/v1/auth/magic-link", json={"email": "late@example.com"})
    token = token_in(await wait_for_mail(platform, "late@example.com", subject="sign-in link"))
    async with platform.db.transaction() as session:
        await session.execute(
            update(service.ActionToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    response = await client.post("/api/v1/auth/magic-link/consume", json={"token": token})
    assert response.status_code == 400 and response.json()["code"] == "invalid_token"


async def test_sign_in_codes_and_links_are_limited_per_address(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await sign_up(client, platform, "spam@example.com")
    for _ in range(7):
        assert (
            await client.post("/api/v1/auth/magic-link", json={"email": "spam@example.com"})
        ).status_code in (202, 429)
    await wait_for_mail(platform, "spam@example.com", subject="sign-in link", seen=4)
    assert len(mails_to(platform, "spam@example.com", "sign-in link")) == 5


async def test_per_ip_limit_answers_429_with_headers(
    client: httpx.AsyncClient, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "IP_LOGIN_LIMIT", "3/15minutes")
    statuses = []
    for n in range(4):
        response = await client.post(
            "/api/v1/auth/login",
            json={"identifier": f"u{n}@example.com", "password": "whatever-123"},
        )
        statuses.append(response.status_code)
    assert statuses == [401, 401, 401, 429]
    assert response.headers["ratelimit-limit"] == "3"
    assert response.headers["ratelimit-remaining"] == "0"
    assert int(response.headers["retry-after"]) > 0


async def test_password_reset_revokes_sessions_and_keys(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    account = await sign_up(client, platform, "reset@example.com")
    key = (
        await client.post("/api/v1/api-keys", json={"key_name": "ci"}, headers=account.headers)
    ).json()["api_key"]
    assert (
        await client.post("/api/v1/auth/password/forgot", json={"email": "reset@example.com"})
    ).status_code == 202
    token = token_in(await wait_for_mail(platform, "reset@example.com", subject="Reset"))
    # A sign-in link and a second reset link asked for before the reset die with it.
    await client.post("/api/v1/auth/magic-link", json={"email": "reset@example.com"})
    link = token_in(await wait_for_mail(platform, "reset@example.com", subject="sign-in link"))
    await client.post("/api/v1/auth/password/forgot", json={"email": "reset@example.com"})
    second = token_in(await wait_for_mail(platform, "reset@example.com", subject="Reset", seen=1))
    weak = await client.post(
        "/api/v1/auth/password/reset", json={"token": token, "password": "password"}
    )
    assert weak.status_code == 422
    done = await client.post(
        "/api/v1/auth/password/reset", json={"token": token, "password": "a brand new passphrase"}
    )
    assert done.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=account.headers)).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers={"X-API-Key": key})).status_code == 401
    assert (
        await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    ).status_code == 401
    await sign_in(client, "reset@example.com", "a brand new passphrase")
    reused = await client.post(
        "/api/v1/auth/password/reset", json={"token": token, "password": "yet another passphrase"}
    )
    assert reused.status_code == 400
    stale = await client.post("/api/v1/auth/magic-link/consume", json={"token": link})
    assert stale.status_code == 400 and stale.json()["code"] == "invalid_token"
    other = await client.post(
        "/api/v1/auth/password/reset", json={"token": second, "password": "the third passphrase"}
    )
    assert other.status_code == 400


async def test_forgot_password_for_unknown_email_answers_the_same(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    assert (
        await client.post("/api/v1/auth/password/forgot", json={"email": "nobody@example.com"})
    ).status_code == 202
    assert mails_to(platform, "nobody@example.com") == []


async def test_personal_client_is_created_with_the_account(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    account = await sign_up(client, platform, "personal@example.com")
    async with platform.db.sessionmaker() as session:
        personal = await session.scalar(
            select(Client).where(Client.personal_owner_id == uuid.UUID(account.user_id))
        )
        assert personal is not None and str(personal.id) == account.client_id
        role = await session.scalar(
            select(Membership.role).where(Membership.client_id == personal.id)
        )
    assert role == "owner"


class FakeRequest:
    def __init__(self, peer: str, forwarded: str | None) -> None:
        self.client = type("C", (), {"host": peer})()
        self.headers = {"x-forwarded-for": forwarded} if forwarded else {}


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.9", "1.2.3.4", [], "203.0.113.9"),  # no proxies configured: header ignored
        ("10.0.0.5", "198.51.100.7", ["10.0.0.0/8"], "198.51.100.7"),
        ("10.0.0.5", "6.6.6.6, 198.51.100.7", ["10.0.0.0/8"], "198.51.100.7"),  # spoofed left part
        ("203.0.113.9", "198.51.100.7", ["10.0.0.0/8"], "203.0.113.9"),  # untrusted peer
        ("10.0.0.5", "not-an-ip", ["10.0.0.0/8"], "10.0.0.5"),
    ],
)
def test_forwarded_for_is_trusted_only_from_proxies(
    peer: str, forwarded: str | None, trusted: list[str], expected: str
) -> None:
    assert client_ip(FakeRequest(peer, forwarded), trusted) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "target",
    [
        "/\\evil.example/x",
        "/\t/evil.example",
        "//evil.example",
        "/\\/evil.example",
        "https://evil.example/",
        "/\n/evil.example",
        " /images",
    ],
)
async def test_sign_in_sends_nobody_off_site(
    client: httpx.AsyncClient, platform: Platform, target: str
) -> None:
    """``next`` after sign-in is a path on this site as a browser parses it (issue 12, 3)."""
    page = await client.get("/login", params={"next": target})
    assert page.status_code == 200
    assert 'data-success="redirect:/start"' in page.text
    await sign_up(client, platform, "nav@example.com")
    # Signed in by cookies, as a browser is: the page sends the visitor on at once.
    login = await client.post(
        "/api/v1/auth/login", json={"identifier": "nav@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200
    signed_in = await client.get("/login", params={"next": target}, follow_redirects=False)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/start"
    kept = await client.get("/login", params={"next": "/images?album=1"}, follow_redirects=False)
    assert kept.headers["location"] == "/images?album=1"
