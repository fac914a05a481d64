"""Platform settings: the values a platform admin changes without a deploy (issue 15).

``SPECS`` declares each setting: its kind, bounds and default (mostly the environment's
value, so a site that never opens the settings page behaves as configured). A row of
``platform_settings`` exists only for a value an admin set; clearing it returns to the
default. Provider keys are secrets: stored AES-GCM encrypted under a key derived for the
setting (as a client's keys are), never answered, only a hint of their last characters.

Every process reads the values through ``SiteConfig``: a snapshot in memory, loaded at
start, reloaded when any process announces a change on the event bus (``CHANNEL``) and at
the latest every ``REFRESH_SECONDS`` (a missed message costs at most that). The hot paths
(the Edge's per-address limit) read the snapshot without a query.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import structlog
from limits import parse
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.models import PlatformSetting
from studioflow.platform.db import Database, after_commit
from studioflow.platform.errors import Unprocessable
from studioflow.platform.events import EventBus
from studioflow.platform.repository import SettingRepository
from studioflow.platform.security import decrypt_secret, encrypt_secret
from studioflow.settings import Settings

log = structlog.get_logger("studioflow.site_settings")

CHANNEL = "platform.settings"
REFRESH_SECONDS = 60.0
MIN_API_PER_HOUR = 600
SECRET_PURPOSE = "platform-setting:{}"  # noqa: S105  (a key-derivation label)

Kind = Literal["bool", "int", "text", "plan", "limit", "secret"]


@dataclass(frozen=True)
class Spec:
    kind: Kind
    label: str
    help: str
    default: Callable[[Settings], Any]
    low: int = 0
    high: int = 1_000_000_000
    max_length: int = 300
    pattern: str | None = None


def _env(name: str) -> Callable[[Settings], Any]:
    return lambda settings: getattr(settings, name)


def _fixed(value: Any) -> Callable[[Settings], Any]:
    return lambda settings: value


SPECS: dict[str, Spec] = {
    "signup_open": Spec(
        "bool",
        "Sign-up open",
        "Anyone may create an account (email or Google/GitHub). Closed: only invited people "
        "and existing accounts get in.",
        _fixed(True),
    ),
    "default_plan": Spec(
        "plan", "Plan of new workspaces", "The plan a new workspace starts on.", _fixed("free")
    ),
    "maintenance_banner": Spec(
        "text",
        "Maintenance banner",
        "Shown at the top of every page while set (empty: no banner).",
        _fixed(""),
        max_length=300,
    ),
    "rate_limit_per_ip": Spec(
        "limit",
        "API requests per address",
        "Every address's limit on /api/, as an amount per period: 600/minute, 10000/hour.",
        _env("rate_limit_per_ip"),
        max_length=40,
    ),
    "provider_rate_per_minute": Spec(
        "int",
        "Provider calls a minute",
        "The most generation calls the workers make to one provider a minute, all together.",
        _env("studio_provider_rate_per_minute"),
        low=1,
        high=100_000,
    ),
    "gemini_api_key": Spec(
        "secret",
        "Gemini API key",
        "The platform's Gemini key, used when a workspace has none of its own; overrides "
        "STUDIOFLOW_GEMINI_API_KEY. Never shown again once saved.",
        _env("gemini_api_key"),
        max_length=500,
    ),
    "openai_api_key": Spec(
        "secret",
        "OpenAI API key",
        "The platform's OpenAI key, used when a workspace has none of its own; overrides "
        "STUDIOFLOW_OPENAI_API_KEY. Never shown again once saved.",
        _env("openai_api_key"),
        max_length=500,
    ),
    "credit_price_cents": Spec(
        "int",
        "Price of a credit (cents)",
        "What a credit is sold for, in hundredths of the currency: the revenue of a spent "
        "credit on the dashboard and in finances.",
        _fixed(10),
        high=1_000_000,
    ),
    "currency": Spec(
        "text",
        "Currency",
        "ISO 4217 code of the credit price (USD, EUR, ...).",
        _fixed("USD"),
        max_length=3,
        pattern=r"^[A-Z]{3}$",
    ),
    "uploads_per_hour": Spec(
        "int",
        "Uploads an hour (per user and per address)",
        "POST /api/v1/upload, /upload/batch and /uploads by one user, and from one address; "
        "0: no limit. Plans' daily upload limits apply as well.",
        _fixed(600),
        high=1_000_000,
    ),
    "generations_per_hour": Spec(
        "int",
        "Generations an hour (per user and per address)",
        "Runs and jobs started (POST …/execute, /api/v1/jobs) by one user, and from one "
        "address; 0: no limit.",
        _fixed(60),
        high=1_000_000,
    ),
    "ttl_artifacts_days": Spec(
        "int",
        "Studio results kept (days)",
        "A generated image is deleted this many days after it was made unless someone keeps "
        "it (Keep moves it into the gallery for good); 0: results never expire.",
        _fixed(90),
        high=3650,
    ),
    "ttl_originals_days": Spec(
        "int",
        "Reference uploads kept (days)",
        "An image uploaded as a studio reference (purpose=reference) is deleted after this "
        "many days; 0: never.",
        _fixed(30),
        high=3650,
    ),
    "max_original_bytes": Spec(
        "int",
        "Largest reference upload (bytes)",
        "A reference upload larger than this is refused (413), whatever the plan allows.",
        _fixed(50 * 1024 * 1024),
        low=1024,
        high=5 * 1024**3,
    ),
    "ttl_previews_days": Spec(
        "int",
        "Studio result previews kept (days)",
        "The rendered sizes of a studio result (thumbnails, gallery sizes) are dropped after "
        "this many days and rendered again when next asked for; 0: kept with the result.",
        _fixed(90),
        high=3650,
    ),
    "ttl_intermediates_hours": Spec(
        "int",
        "Unfinished uploads kept (hours)",
        "Bytes sent to an upload URL (POST /api/v1/uploads) that was never completed are "
        "deleted after this many hours.",
        _fixed(48),
        low=1,
        high=24 * 365,
    ),
}


class Site:
    """The values in force: an admin's where set, else the default, read from the
    environment's settings when asked (so a default follows the settings object). Secrets
    are decrypted once, here, and kept out of ``repr``."""

    def __init__(self, settings: Settings, values: dict[str, Any]) -> None:
        self._settings = settings
        self._values = values

    def value(self, key: str) -> Any:
        if key in self._values:
            return self._values[key]
        return SPECS[key].default(self._settings)

    @property
    def signup_open(self) -> bool:
        return bool(self.value("signup_open"))

    @property
    def default_plan(self) -> str:
        return str(self.value("default_plan"))

    @property
    def maintenance_banner(self) -> str:
        return str(self.value("maintenance_banner"))

    @property
    def rate_limit_per_ip(self) -> str:
        return str(self.value("rate_limit_per_ip"))

    @property
    def provider_rate_per_minute(self) -> int:
        return int(self.value("provider_rate_per_minute"))

    @property
    def credit_price_cents(self) -> int:
        return int(self.value("credit_price_cents"))

    @property
    def currency(self) -> str:
        return str(self.value("currency"))

    @property
    def uploads_per_hour(self) -> int:
        return int(self.value("uploads_per_hour"))

    @property
    def generations_per_hour(self) -> int:
        return int(self.value("generations_per_hour"))

    @property
    def ttl_artifacts_days(self) -> int:
        return int(self.value("ttl_artifacts_days"))

    @property
    def ttl_originals_days(self) -> int:
        return int(self.value("ttl_originals_days"))

    @property
    def max_original_bytes(self) -> int:
        return int(self.value("max_original_bytes"))

    @property
    def ttl_previews_days(self) -> int:
        return int(self.value("ttl_previews_days"))

    @property
    def ttl_intermediates_hours(self) -> int:
        return int(self.value("ttl_intermediates_hours"))

    def expiry(self, days: int, now: datetime) -> datetime | None:
        """``now`` plus ``days``, or None (never) for 0."""
        return now + timedelta(days=days) if days > 0 else None

    @property
    def gemini_api_key(self) -> str | None:
        found = self.value("gemini_api_key")
        return str(found) if found else None

    @property
    def openai_api_key(self) -> str | None:
        found = self.value("openai_api_key")
        return str(found) if found else None

    def __repr__(self) -> str:  # the keys must never reach a log line
        shown = {k: self.value(k) for k, spec in SPECS.items() if spec.kind != "secret"}
        return f"Site({shown})"


def _secret_value(settings: Settings, key: str, stored: Any) -> str | None:
    if not isinstance(stored, dict) or not stored.get("sealed"):
        return None
    try:
        return decrypt_secret(settings.secret, SECRET_PURPOSE.format(key), stored["sealed"])
    except ValueError:
        log.warning("site_settings.undecryptable", key=key)  # encrypted under an older secret
        return None


def build_site(settings: Settings, stored: dict[str, Any]) -> Site:
    values: dict[str, Any] = {}
    for key, spec in SPECS.items():
        if key not in stored:
            continue
        if spec.kind == "secret":
            secret = _secret_value(settings, key, stored[key])
            if secret is not None:  # undecryptable: as if unset (the default applies)
                values[key] = secret
        else:
            values[key] = stored[key]
    return Site(settings, values)


class SiteConfig:
    """This process's copy of the platform settings."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.current = build_site(settings, {})
        self._loaded_at: float | None = None

    @property
    def loaded(self) -> bool:
        """Whether the values were read from the database at least once."""
        return self._loaded_at is not None

    async def reload(self) -> Site:
        async with self.db.read() as session:
            stored = await SettingRepository(session).values()
        self.current = build_site(self.settings, stored)
        self._loaded_at = time.monotonic()
        return self.current

    async def get(self) -> Site:
        """The values, reloaded first when this copy is older than ``REFRESH_SECONDS``."""
        if self._loaded_at is None or time.monotonic() - self._loaded_at >= REFRESH_SECONDS:
            return await self.reload()
        return self.current

    async def follow(self, events: EventBus) -> None:
        """Reload on every announced change and every ``REFRESH_SECONDS``, for as long as
        this process runs (the app's lifespan and the worker start it)."""
        while True:
            try:
                async with events.subscribe(CHANNEL) as changes:
                    await self.reload()  # what changed while (re)subscribing is unknown
                    while True:
                        await changes.get(timeout=REFRESH_SECONDS)
                        await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the bus or the database blinked: again shortly
                log.warning("site_settings.follow_failed", error=type(error).__name__)
                await asyncio.sleep(1.0)


def describe(settings: Settings, site: Site, rows: list[PlatformSetting]) -> list[dict[str, Any]]:
    """Every setting for the admins' page and API: the value in force (secrets: only
    whether one is set and its hint), the default, and whether an admin changed it."""
    by_key = {row.key: row for row in rows}
    described = []
    for key, spec in SPECS.items():
        row = by_key.get(key)
        item: dict[str, Any] = {
            "key": key,
            "kind": spec.kind,
            "label": spec.label,
            "help": spec.help,
            "overridden": row is not None,
            "updated_at": row.updated_at if row else None,
        }
        if spec.kind == "secret":
            item["value"] = None
            item["default"] = None
            item["is_set"] = site.value(key) is not None
            item["hint"] = (
                row.value["value"].get("hint")
                if row is not None
                else ("…" + site.value(key)[-4:] + " (environment)")
                if site.value(key)
                else None
            )
        else:
            item["value"] = site.value(key)
            item["default"] = spec.default(settings)
            if spec.kind == "int":
                item["min"], item["max"] = spec.low, spec.high
        described.append(item)
    return described


async def _checked(session: AsyncSession, key: str, spec: Spec, value: Any) -> Any:
    def invalid(message: str) -> Unprocessable:
        return Unprocessable(message, code="invalid_setting", extra={"setting": key})

    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise invalid(f"{spec.label}: true or false.")
        return value
    if spec.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(f"{spec.label}: a whole number.")
        if not spec.low <= value <= spec.high:
            raise invalid(f"{spec.label}: from {spec.low} to {spec.high}.")
        return value
    if not isinstance(value, str):
        raise invalid(f"{spec.label}: text.")
    value = value.strip()
    if len(value) > spec.max_length:
        raise invalid(f"{spec.label}: at most {spec.max_length} characters.")
    if spec.pattern and not re.fullmatch(spec.pattern, value):
        raise invalid(f"{spec.label}: not a valid value.")
    if spec.kind == "plan" and not await SettingRepository(session).plan_exists(value):
        raise invalid(f"{spec.label}: no plan named {value!r}.")
    if spec.kind == "limit":
        try:
            item = parse(value)
        except ValueError:
            raise invalid(f"{spec.label}: an amount per period, like 600/minute.") from None
        # The settings page itself is behind this limit: a tiny one would lock the admins
        # out of undoing it.
        if item.amount * 3600 / item.get_expiry() < MIN_API_PER_HOUR:
            raise invalid(f"{spec.label}: at least {MIN_API_PER_HOUR} an hour.")
    if spec.kind == "secret" and not value:
        raise invalid(f"{spec.label}: empty (send null to remove the key).")
    return value


async def put(
    config: SiteConfig,
    events: EventBus,
    session: AsyncSession,
    changes: dict[str, Any],
    *,
    user_id: uuid.UUID | None,
) -> list[str]:
    """Set (or, with None, reset to the default) each of ``changes``; all checked before
    any is written. Once committed, this process reloads and every other is told. Returns
    the keys whose value changed (the caller audits them, without the secrets)."""
    unknown = sorted(set(changes) - set(SPECS))
    if unknown:
        raise Unprocessable(
            f"No setting named {unknown[0]!r}.",
            code="unknown_setting",
            extra={"setting": unknown[0]},
        )
    checked = {
        key: None if value is None else await _checked(session, key, SPECS[key], value)
        for key, value in changes.items()
    }
    settings = config.settings
    repository = SettingRepository(session)
    changed: list[str] = []
    now = datetime.now(UTC)
    for key, value in checked.items():
        row = await repository.locked(key)
        if value is None:
            if row is not None:
                await session.delete(row)
                changed.append(key)
            continue
        if SPECS[key].kind == "secret":
            stored: Any = {
                "sealed": encrypt_secret(settings.secret, SECRET_PURPOSE.format(key), value),
                "hint": "…" + value[-4:],
            }
        else:
            stored = value
        if row is None:
            session.add(
                PlatformSetting(
                    key=key, value={"value": stored}, updated_at=now, updated_by=user_id
                )
            )
        elif row.value.get("value") != stored:
            row.value = {"value": stored}
            row.updated_at, row.updated_by = now, user_id
        else:
            continue
        changed.append(key)
    await session.flush()

    async def announce() -> None:
        await config.reload()
        try:
            await events.publish(CHANNEL, {"keys": changed})
        except Exception as error:  # the others reload within REFRESH_SECONDS anyway
            log.warning("site_settings.publish_failed", error=type(error).__name__)

    if changed:
        after_commit(session, announce)
    return changed


async def rows(session: AsyncSession) -> list[PlatformSetting]:
    return await SettingRepository(session).listed()
