"""Demo data for a new embedded install: one platform administrator with a printed password."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity.emails import canonical_email, normalise_email
from studioflow.identity.service import create_personal_client, has_users
from studioflow.models import PlatformRole, User
from studioflow.platform.db import Database
from studioflow.platform.security import Passwords, random_password

DEMO_EMAIL = "admin@example.com"  # a reserved domain: the demo never mails anyone real
CREDENTIALS_FILE = "demo-credentials.txt"


@dataclass(frozen=True)
class DemoCredentials:
    email: str
    password: str


async def create_admin(
    session: AsyncSession, *, email: str, password_hash: str, username: str | None = None
) -> User:
    """A verified platform administrator; hash the password (``Passwords.hash``) before the
    transaction that calls this."""
    address = normalise_email(email)
    user = User(
        email=address,
        email_canonical=canonical_email(address),
        username=username,
        password_hash=password_hash,
        platform_role=PlatformRole.admin.value,
        email_verified_at=datetime.now(UTC),
        first_name="Studioflow",
        last_name="Admin",
    )
    session.add(user)
    await session.flush()
    await create_personal_client(session, user, plan="free")
    return user


async def needs_demo(session: AsyncSession) -> bool:
    """A database with no users yet gets the demo administrator."""
    return not await has_users(session)


async def seed_demo(
    database: Database, data_dir: Path, passwords: Passwords
) -> DemoCredentials | None:
    """Seed a database that has no users yet; return the credentials, or None if not new."""
    async with database.read() as session:
        if not await needs_demo(session):
            return None
    password = random_password()
    password_hash = await passwords.hash(password)  # before the write transaction
    async with database.transaction() as session:
        if not await needs_demo(session):
            return None  # another process seeded it meanwhile
        await create_admin(session, email=DEMO_EMAIL, password_hash=password_hash, username="admin")
    credentials = DemoCredentials(email=DEMO_EMAIL, password=password)
    _keep(data_dir / CREDENTIALS_FILE, credentials)
    return credentials


def _keep(path: Path, credentials: DemoCredentials) -> None:
    """Keep the demo credentials beside the database (owner-only) for when the terminal is gone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"email: {credentials.email}\npassword: {credentials.password}\n")


def read_kept(data_dir: Path) -> DemoCredentials | None:
    path = data_dir / CREDENTIALS_FILE
    if not path.exists():
        return None
    fields = dict(line.split(": ", 1) for line in path.read_text().splitlines() if ": " in line)
    if "email" in fields and "password" in fields:
        return DemoCredentials(email=fields["email"], password=fields["password"])
    return None
