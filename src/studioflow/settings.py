"""One settings class, read from the environment (prefix ``STUDIOFLOW_``) and ``.env``.

An invalid setting must stop the process with one line naming the setting and why; that is
what :func:`load_settings` does for the CLI.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import stat
import sys
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Secrets that must never protect a production deployment: the shapes people paste from docs.
WEAK_SECRETS = frozenset(
    {"changeme", "change-me", "secret", "password", "development", "dev", "test", "studioflow"}
)
MIN_SECRET_LENGTH = 32
SECRET_FILE_NAME = "secret_key"  # noqa: S105 - a file name, not a secret
# OWASP's lowest recommended argon2id cost (m=19 MiB, t=2, p=1).
MIN_PASSWORD_MEMORY_KIB = 19 * 1024
MIN_PASSWORD_TIME_COST = 2


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Role(StrEnum):
    """Process roles of the hosting seed: one codebase, separately deployable parts."""

    all = "all"
    api = "api"
    upload = "upload"
    view = "view"


def _csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="STUDIOFLOW_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    env: Environment = Environment.development
    data_dir: Path = Path("./data")
    database_url: str = ""
    storage_url: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    redis_url: str | None = None
    smtp_url: str | None = None
    mail_from: str = "Studioflow <no-reply@studioflow.local>"
    secret_key: str = Field(default="", repr=False)
    base_url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "info"
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Proxies (addresses or CIDR ranges) whose X-Forwarded-For we believe; none by default.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Who may read /metrics (by the connecting address, never X-Forwarded-For): loopback by
    # default; add the scraper's network at scale. Everyone else gets a 404.
    metrics_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"]
    )
    # Ordinary API bodies stay small; upload routes get their own, larger limit.
    # Every /api/ request counts against its client address (limits syntax, e.g. 600/minute).
    rate_limit_per_ip: str = "600/minute"
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    # OAuth sign-in; a provider shows up once its client id and secret are set. The URLs
    # are only overridden to point at a test or self-hosted stand-in.
    google_client_id: str | None = None
    google_client_secret: str | None = Field(default=None, repr=False)
    google_metadata_url: str = "https://accounts.google.com/.well-known/openid-configuration"
    github_client_id: str | None = None
    github_client_secret: str | None = Field(default=None, repr=False)
    github_base_url: str = "https://github.com"
    github_api_url: str = "https://api.github.com"
    # SMS through Twilio's Messages API; unset: messages go to the sms outbox in the data
    # dir. ``twilio_from`` is a number (E.164) or a Messaging Service SID (MG...).
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = Field(default=None, repr=False)
    twilio_from: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    # Web Push (VAPID): the application server's P-256 key pair, base64url (the private key
    # as its raw 32 bytes or a PEM file's text), and the contact the push services see.
    vapid_private_key: str | None = Field(default=None, repr=False)
    vapid_public_key: str | None = None
    vapid_subject: str = "mailto:admin@studioflow.local"
    # The push services a browser subscription may point at (the server POSTs there, so
    # not anywhere a user names): Chrome/Edge (FCM), Firefox, Safari, Windows.
    webpush_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "fcm.googleapis.com",
            "android.googleapis.com",
            "push.services.mozilla.com",
            "push.apple.com",
            "notify.windows.com",
        ]
    )
    # Hosts reached over plain http (a local stand-in in tests only).
    webpush_insecure_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # FCM HTTP v1 for the apps: the Firebase service account's JSON key file.
    fcm_service_account_file: Path | None = None
    fcm_api_url: str = "https://fcm.googleapis.com"
    # Analytics: the header a trusted proxy/CDN puts the viewer's country in (e.g.
    # CF-IPCountry), and how long raw view events are kept.
    country_header: str | None = None
    analytics_retention_days: int = Field(default=90, ge=1, le=3650)
    # Delivery keeps what it needs of this many images in memory per process (a few KB
    # each); changes reach every process through the event bus at once, and the TTL only
    # bounds how long a lost message can leave an entry stale.
    delivery_cache_entries: int = Field(default=10_000, ge=0, le=10_000_000)
    delivery_cache_ttl_seconds: float = Field(default=60.0, gt=0, le=86_400)
    # Memory for the bytes of small stored objects (up to 256 KB each: thumbnails, small
    # variants) per process, so a hot thumbnail is not read from storage each time.
    delivery_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0, le=64 * 1024**3)
    # Behind the shipped nginx with local storage: Python decides and counts, nginx sends the
    # bytes of objects too big for memory (`X-Accel-Redirect` to this internal location,
    # which deploy/nginx.conf maps onto the storage folder). Unset: Python streams them.
    delivery_accel_prefix: str | None = Field(default=None, pattern=r"^/[A-Za-z0-9_/-]*/$")
    # Render the sizes pages show (thumb, small) in a job right after each upload, so a
    # gallery of fresh images is served from stored variants, not dozens of renders at once.
    media_render_at_upload: bool = True
    # On S3: answer large objects with a redirect to a presigned URL valid this long instead
    # of streaming them through the view role (0: stream, with ranges).
    delivery_s3_redirect_seconds: int = Field(default=0, ge=0, le=3600)
    # argon2id cost of password hashes (OWASP's floor, 19 MiB and t=2, is enforced in
    # production) and how many hash at once per process (each takes memory_kib).
    password_hash_time_cost: int = Field(default=3, ge=1, le=20)
    password_hash_memory_kib: int = Field(default=64 * 1024, ge=8, le=4 * 1024 * 1024)
    password_hash_concurrency: int = Field(default=2, ge=1, le=64)
    queue_name: str = "studioflow"
    worker_concurrency: int = Field(default=10, ge=1, le=1000)
    # On SIGTERM a worker gives its running jobs this long, then stops them (a batch slice
    # hands its items back). Keep it under the orchestrator's stop timeout (Docker: 10 s).
    worker_shutdown_grace_seconds: int = Field(default=8, ge=0, le=600)
    redis_prefix: str = "studioflow"
    # AI studio. Executions run on their own queue so that a backlog of batches never holds
    # back mail and housekeeping jobs.
    studio_worker_concurrency: int = Field(default=3, ge=1, le=100)
    studio_prompt_concurrency: int = Field(default=5, ge=1, le=100)
    # Provider calls per minute per provider key, shared by every worker process.
    studio_provider_rate_per_minute: int = Field(default=15, ge=1, le=100_000)
    studio_item_timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    studio_max_attempts: int = Field(default=4, ge=1, le=20)
    # Exponential backoff between attempts starts here (doubling, capped at 2 minutes) when
    # the provider gives no retry hint of its own.
    studio_retry_base_seconds: float = Field(default=2.0, gt=0, le=600)
    studio_max_items: int = Field(default=500, ge=1, le=100_000)
    studio_max_prompt_chars: int = Field(default=4000, ge=10, le=100_000)
    # An execution runs in slices this long, then goes to the back of the queue: one
    # client's 500-item batch takes turns with everyone else's work.
    studio_slice_seconds: float = Field(default=20.0, gt=0, le=600)
    # A worker holds an execution by a lease it renews; a dead worker's lease runs out and
    # the recovery sweep (every minute, and when a worker starts) hands the execution on.
    studio_lease_seconds: float = Field(default=60.0, gt=0, le=3600)
    # The offline placeholder answers after this long: lets a demo show a batch in progress.
    studio_placeholder_delay_seconds: float = Field(default=0.0, ge=0, le=60)
    # The platform's provider keys; a client's own key (settings page) takes precedence.
    gemini_api_key: str | None = Field(default=None, repr=False)
    gemini_base_url: str = "https://generativelanguage.googleapis.com"
    openai_api_key: str | None = Field(default=None, repr=False)
    openai_base_url: str = "https://api.openai.com"
    # Commerce (issue 17). Without a Stripe key, card payments go to the offline TEST MODE
    # page (provider `test`): the embedded default sells end to end with no account.
    stripe_secret_key: str | None = Field(default=None, repr=False)
    stripe_webhook_secret: str | None = Field(default=None, repr=False)
    stripe_api_base: str = "https://api.stripe.com"
    # The platform's share of each paid order, in basis points (1000 = 10 %).
    shop_commission_bps: int = Field(default=1000, ge=0, le=10_000)
    # An order not paid this long after checkout is cancelled and its stock given back.
    shop_payment_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # Wallets hold one currency (ISO 4217), the one top-ups and wallet payments use.
    wallet_currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    wallet_max_topup: int = Field(default=100_000_00, ge=100, le=10**12)

    @field_validator(
        "cors_origins",
        "trusted_proxies",
        "metrics_allow",
        "webpush_hosts",
        "webpush_insecure_hosts",
        mode="before",
    )
    @classmethod
    def _split_lists(cls, value: Any) -> Any:
        return _csv(value)

    @field_validator("trusted_proxies", "metrics_allow")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not an IP address or CIDR range") from None
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path:
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return value

    @field_validator("rate_limit_per_ip")
    @classmethod
    def _check_rate(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError("must look like 600/minute or 10000/hour") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        level = value.lower()
        if level not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return level

    @field_validator(
        "redis_url",
        "smtp_url",
        "s3_endpoint_url",
        "twilio_account_sid",
        "twilio_auth_token",
        "twilio_from",
        "vapid_private_key",
        "vapid_public_key",
        "fcm_service_account_file",
        "stripe_secret_key",
        "stripe_webhook_secret",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("redis_url")
    @classmethod
    def _check_redis(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
                raise ValueError("must look like smtp://user:password@host:587 or smtps://host:465")
        return value

    @model_validator(mode="after")
    def _derive_defaults(self) -> Settings:
        self.data_dir = self.data_dir.expanduser()
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{(self.data_dir / 'studioflow.db').resolve()}"
        self.database_url = normalise_database_url(self.database_url)
        if not self.storage_url:
            self.storage_url = (self.data_dir / "storage").resolve().as_uri()
        scheme = urlsplit(self.storage_url).scheme
        if scheme not in {"file", "s3"}:
            raise ValueError("STORAGE_URL must be file:///path or s3://bucket")
        if scheme == "s3" and len(urlsplit(self.storage_url).netloc) < 3:
            raise ValueError("STORAGE_URL s3://bucket needs a bucket name of 3 or more characters")
        if not self.base_url:
            self.base_url = f"http://{self.host}:{self.port}"
        self.base_url = self.base_url.rstrip("/")
        if self.env is Environment.production:
            check_production_secret(self.secret_key)
            if (
                self.password_hash_memory_kib < MIN_PASSWORD_MEMORY_KIB
                or self.password_hash_time_cost < MIN_PASSWORD_TIME_COST
            ):
                raise ValueError(
                    "PASSWORD_HASH_MEMORY_KIB and _TIME_COST must be at least "
                    f"{MIN_PASSWORD_MEMORY_KIB} and {MIN_PASSWORD_TIME_COST} in production"
                )
        return self

    # Derived values -------------------------------------------------------------------------

    @property
    def is_production(self) -> bool:
        return self.env is Environment.production

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def embedded_queue(self) -> bool:
        """No Redis: the queue, events and limits live in this process."""
        return self.redis_url is None

    @property
    def card_provider(self) -> str:
        """Who takes card payments: Stripe with a key, else the offline test mode."""
        return "stripe" if self.stripe_secret_key else "test"

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    @cached_property
    def secret(self) -> str:
        """The secret key; in development it is generated once and kept in the data dir."""
        if self.secret_key:
            return self.secret_key
        if self.is_production:  # pragma: no cover - refused by the validator already
            raise RuntimeError("STUDIOFLOW_SECRET_KEY is required in production")
        return _development_secret(self.data_dir)


def normalise_database_url(url: str) -> str:
    """Accept the URLs people write and pick the async driver we support for each."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        return url
    raise ValueError("DATABASE_URL must be a postgresql:// or sqlite:/// URL")


def check_production_secret(secret: str) -> None:
    if not secret:
        raise ValueError("SECRET_KEY is required when ENV=production (use: openssl rand -hex 32)")
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters")
    if secret.lower() in WEAK_SECRETS or len(set(secret)) < 10:
        raise ValueError("SECRET_KEY is a well-known or low-entropy value; generate a random one")


def _development_secret(data_dir: Path) -> str:
    path = data_dir / SECRET_FILE_NAME
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting together must not write two different secrets.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def describe_error(error: ValidationError) -> str:
    """One line naming the first bad setting and why."""
    first = error.errors()[0]
    loc = [str(part) for part in first.get("loc", ()) if part != "__root__"]
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    if loc:
        return f"invalid setting STUDIOFLOW_{loc[0].upper()}: {message}"
    # Cross-field checks raise messages that start with the setting's name.
    return f"invalid setting STUDIOFLOW_{message}"


def load_settings(**overrides: Any) -> Settings:
    """Read settings; on a bad one print a single line and exit with status 2."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        print(f"studioflow: {describe_error(error)}", file=sys.stderr)
        raise SystemExit(2) from None
