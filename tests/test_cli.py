"""The ``studioflow`` command, run as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_SECRET, subprocess_env


def run(
    *args: str, data_dir: Path, extra: dict[str, str] | None = None, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    env = subprocess_env()
    env.update({"STUDIOFLOW_DATA_DIR": str(data_dir), "COLUMNS": "200", **(extra or {})})
    return subprocess.run(
        [sys.executable, "-m", "studioflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = run("--help", data_dir=tmp_path)
    assert result.returncode == 0
    for command in ("serve", "worker", "migrate", "demo", "admin", "config", "version"):
        assert command in result.stdout
    serve = run("serve", "--help", data_dir=tmp_path)
    assert "--role" in serve.stdout and "--workers" in serve.stdout
    assert "all" in serve.stdout and "upload" in serve.stdout and "view" in serve.stdout


def test_console_script_is_installed(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "studioflow"
    result = subprocess.run([str(script), "version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip()


def test_demo_seeds_a_new_database_once(tmp_path: Path) -> None:
    first = run("demo", data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "A demo administrator was created" in first.stderr
    assert "admin@example.com" in first.stderr and "password:" in first.stderr
    kept = (tmp_path / "demo-credentials.txt").read_text()
    password = kept.split("password: ")[1].strip()
    assert password in first.stderr
    second = run("demo", data_dir=tmp_path)
    assert second.returncode == 0
    assert "was created" not in second.stderr
    assert password in second.stderr  # shown again from the kept file


def test_migrate_then_admin_create(tmp_path: Path) -> None:
    assert run("migrate", data_dir=tmp_path).returncode == 0
    created = run("admin", "create", "--email", "Ops@Example.com", data_dir=tmp_path)
    assert created.returncode == 0, created.stderr
    assert "Password (shown once)" in created.stderr
    again = run("admin", "create", "--email", "ops@example.com", data_dir=tmp_path)
    assert again.returncode == 2
    assert "IntegrityError" in again.stderr and "Traceback" not in again.stderr


def test_config_masks_secrets(tmp_path: Path) -> None:
    result = run(
        "config",
        data_dir=tmp_path,
        extra={
            "STUDIOFLOW_SECRET_KEY": TEST_SECRET,
            "STUDIOFLOW_DATABASE_URL": "postgresql://app:hunter2@db:5432/app",
            "STUDIOFLOW_REDIS_URL": "redis://:redispass@cache:6379/0",
        },
    )
    assert result.returncode == 0, result.stderr
    assert TEST_SECRET not in result.stdout and "hunter2" not in result.stdout
    assert "redispass" not in result.stdout
    assert "STUDIOFLOW_DATABASE_URL=postgresql+asyncpg://app:********@db:5432/app" in result.stdout


def test_several_server_processes_need_redis(tmp_path: Path) -> None:
    result = run("serve", "--workers", "2", data_dir=tmp_path)
    assert result.returncode == 2
    assert "STUDIOFLOW_REDIS_URL" in result.stderr


def test_worker_process_needs_redis(tmp_path: Path) -> None:
    result = run("worker", data_dir=tmp_path)
    assert result.returncode == 2
    assert "STUDIOFLOW_REDIS_URL" in result.stderr


def test_production_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    result = run(
        "serve",
        data_dir=tmp_path,
        extra={
            "STUDIOFLOW_ENV": "production",
            "STUDIOFLOW_SECRET_KEY": "Zq8#vN2!pL5@xR9$wT4%yU7^aB3&cD6*eF1",
            # Production refuses the suite's cheap password hashing.
            "STUDIOFLOW_PASSWORD_HASH_TIME_COST": "3",
            "STUDIOFLOW_PASSWORD_HASH_MEMORY_KIB": "65536",
        },
    )
    assert result.returncode == 2
    assert "studioflow migrate" in result.stderr


@pytest.mark.parametrize("args", [["--help"], ["version"]])
def test_python_dash_m(args: list[str], tmp_path: Path) -> None:
    assert run(*args, data_dir=tmp_path).returncode == 0


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    result = run(
        "migrate",
        data_dir=tmp_path,
        extra={"STUDIOFLOW_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"},
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "did not answer" in result.stderr


def test_migrate_creates_the_data_dir(tmp_path: Path) -> None:
    target = tmp_path / "fresh" / "data"
    assert run("migrate", data_dir=target).returncode == 0
    assert (target / "studioflow.db").exists()


def test_fsck_command(tmp_path: Path) -> None:
    assert run("migrate", data_dir=tmp_path).returncode == 0
    result = run("fsck", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "checked 0 objects and 0 rows" in result.stderr
    orphan = tmp_path / "storage" / "clients" / "c" / "images" / "i"
    orphan.mkdir(parents=True)
    (orphan / "original.png").write_bytes(b"x")
    found = run("fsck", data_dir=tmp_path)
    assert found.returncode == 1 and "1 objects without a row" in found.stderr


def test_start_up_lines_are_json_in_production(capsys: pytest.CaptureFixture[str]) -> None:
    """`studioflow worker` printed a plain banner line into production's JSON log stream
    (issue 12, item 18): there it is a log event; for a person, a readable line."""
    import json
    import logging

    from studioflow.cli import announce
    from studioflow.platform.observability import configure_logging
    from studioflow.settings import Environment, Settings

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging(json_logs=True)
        announce(Settings.model_construct(env=Environment.production), "worker.started", queue="q")
        production = capsys.readouterr().err.strip().splitlines()
        announce(Settings.model_construct(env=Environment.development), "worker.started", queue="q")
        development = capsys.readouterr().err
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
        configure_logging(json_logs=True)
    assert [json.loads(line)["event"] for line in production] == ["worker.started"]
    assert "worker started" in development and "'q'" in development
