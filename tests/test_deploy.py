"""The production deployment files agree with the code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from studioflow.cli import app

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
OURS = ("api", "upload", "view", "worker", "migrate")


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((DEPLOY / "docker-compose.production.yml").read_text())  # type: ignore[no-any-return]


def resolve(argv: list[str]) -> Any:
    """The CLI command that ``studioflow ARGV`` runs; raises on unknown commands or options."""
    command: Any = typer.main.get_command(app)
    args = list(argv)
    # Typer vendors its own click: go by behaviour (a group has get_command), not by class.
    while hasattr(command, "get_command") and args and not args[0].startswith("-"):
        name = args.pop(0)
        context = command.make_context("studioflow", [name], resilient_parsing=True)
        sub = command.get_command(context, name)
        if sub is None:
            raise LookupError(f"`studioflow {' '.join(argv)}`: no command {name!r}")
        command = sub
    # Parsing the options for real catches unknown flags and bad values (e.g. a role).
    command.make_context("studioflow", args, resilient_parsing=False)
    return command


def test_every_required_service_is_there() -> None:
    services = compose()["services"]
    for name in (*OURS, "postgres", "redis", "minio", "nginx"):
        assert name in services, f"service {name} missing"


def test_every_studioflow_command_exists_in_the_cli() -> None:
    services = compose()["services"]
    for name in OURS:
        command = services[name]["command"]
        assert isinstance(command, list) and command
        resolve(command)


@pytest.mark.parametrize(
    "argv", [["serve", "--role", "bogus"], ["frobnicate"], ["worker", "--nope"], ["admin", "zap"]]
)
def test_the_check_itself_catches_wrong_commands(argv: list[str]) -> None:
    with pytest.raises(Exception):  # noqa: B017 - click raises several kinds
        resolve(argv)


def test_roles_of_the_split_services() -> None:
    services = compose()["services"]
    for role in ("api", "upload", "view"):
        assert services[role]["command"][:3] == ["serve", "--role", role]


def test_services_run_on_postgres_redis_and_s3() -> None:
    environment = compose()["services"]["api"]["environment"]
    assert environment["STUDIOFLOW_DATABASE_URL"].startswith("postgresql://")
    assert environment["STUDIOFLOW_REDIS_URL"].startswith("redis://")
    assert environment["STUDIOFLOW_STORAGE_URL"].startswith("s3://")
    assert environment["STUDIOFLOW_ENV"] == "production"


def test_nginx_routes_every_role() -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    for upstream in ("api", "upload", "view"):
        assert f"proxy_pass http://${upstream}_role;" in conf
        assert f"map $host ${upstream}_role" in conf
    assert "location = /metrics {" in conf
    # Nothing newer than Debian 12's nginx 1.22: no `server … resolve` upstreams.
    assert " resolve;" not in conf and "upstream " not in conf
