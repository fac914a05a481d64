"""Settings: embedded defaults, validation with one-line errors, secrets."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from studioflow.settings import Settings, describe_error, normalise_database_url

STRONG = "Zq8#vN2!pL5@xR9$wT4%yU7^aB3&cD6*eF1"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("STUDIOFLOW_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_embedded_defaults(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert (
        settings.database_url
        == f"sqlite+aiosqlite:///{(tmp_path / 'data' / 'studioflow.db').resolve()}"
    )
    assert settings.storage_url == (tmp_path / "data" / "storage").resolve().as_uri()
    assert settings.redis_url is None and settings.smtp_url is None
    assert settings.embedded_queue
    assert settings.base_url == "http://127.0.0.1:8000"
    assert not settings.secure_cookies


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIOFLOW_PORT", "9000")
    monkeypatch.setenv("STUDIOFLOW_REDIS_URL", "redis://cache:6379/1")
    monkeypatch.setenv("STUDIOFLOW_CORS_ORIGINS", "https://a.example.com, https://b.example.com")
    settings = Settings()
    assert settings.port == 9000 and settings.base_url == "http://127.0.0.1:9000"
    assert settings.redis_url == "redis://cache:6379/1" and not settings.embedded_queue
    assert settings.cors_origins == ["https://a.example.com", "https://b.example.com"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db/app", "postgresql+asyncpg://u:p@db/app"),
        ("postgresql://u@db:5432/app", "postgresql+asyncpg://u@db:5432/app"),
        ("sqlite:////var/lib/sf.db", "sqlite+aiosqlite:////var/lib/sf.db"),
        ("postgresql+asyncpg://db/app", "postgresql+asyncpg://db/app"),
    ],
)
def test_database_urls_are_normalised(given: str, expected: str) -> None:
    assert normalise_database_url(given) == expected


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("port", "not-a-port", "STUDIOFLOW_PORT"),
        ("port", "70000", "STUDIOFLOW_PORT"),
        ("redis_url", "http://cache", "STUDIOFLOW_REDIS_URL"),
        ("smtp_url", "mail.example.com", "STUDIOFLOW_SMTP_URL"),
        ("cors_origins", "not a url", "STUDIOFLOW_CORS_ORIGINS"),
        ("database_url", "mysql://db/app", "STUDIOFLOW_DATABASE_URL"),
        ("storage_url", "ftp://files", "STUDIOFLOW_STORAGE_URL"),
        ("storage_url", "s3://ab", "STUDIOFLOW_STORAGE_URL"),
        ("log_level", "verbose", "STUDIOFLOW_LOG_LEVEL"),
        ("env", "staging", "STUDIOFLOW_ENV"),
    ],
)
def test_invalid_settings_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str, fragment: str
) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv(f"STUDIOFLOW_{field.upper()}", value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    line = describe_error(caught.value)
    assert fragment in line and "\n" not in line


def test_production_refuses_a_missing_or_weak_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("STUDIOFLOW_ENV", "production")
    for secret in ("", "changeme", "short-but-random-9x", "a" * 64):
        monkeypatch.setenv("STUDIOFLOW_SECRET_KEY", secret)
        with pytest.raises(ValidationError) as caught:
            Settings()
        assert "STUDIOFLOW_SECRET_KEY" in describe_error(caught.value)
    monkeypatch.setenv("STUDIOFLOW_SECRET_KEY", STRONG)
    assert Settings().secret == STRONG


def test_development_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path / "d").secret
    second = Settings(data_dir=tmp_path / "d").secret
    assert first == second and len(first) >= 48
    mode = stat.S_IMODE((tmp_path / "d" / "secret_key").stat().st_mode)
    assert mode == 0o600
    assert Settings(data_dir=tmp_path / "other").secret != first


def test_an_invalid_setting_stops_the_cli_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "STUDIOFLOW_PORT": "eighty", "STUDIOFLOW_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "studioflow", "config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "STUDIOFLOW_PORT" in lines[0]
    assert "Traceback" not in result.stderr
