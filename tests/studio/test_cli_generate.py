"""`studioflow generate` against a real server process: progress from the event stream, the
results downloaded at the end, and a second run that follows the same execution."""

from __future__ import annotations

import csv
from pathlib import Path

import httpx
import pytest

from studioflow.settings import Settings
from studioflow.studio.generator import sse_events
from tests.conftest import TEST_SECRET, subprocess_env
from tests.media.test_cli_upload import cli
from tests.test_serve import server


def test_sse_parsing() -> None:
    lines = [
        "retry: 2000",
        "",
        ": keep-alive",
        "",
        "id: 1",
        "event: progress",
        'data: {"a": 1}',
        "",
    ]
    assert list(sse_events(iter(lines))) == [{"id": 1, "event": "progress", "data": {"a": 1}}]


def test_generate_waits_and_downloads(tmp_path: Path, settings: Settings) -> None:
    if not settings.embedded_queue:
        pytest.skip("the command is a client of any server; once is enough")
    data_dir = tmp_path / "server"
    env = subprocess_env()
    env.update(
        {
            "STUDIOFLOW_DATA_DIR": str(data_dir),
            "STUDIOFLOW_SECRET_KEY": TEST_SECRET,
            "STUDIOFLOW_STUDIO_PLACEHOLDER_DELAY_SECONDS": "0.3",
        }
    )
    assert cli("migrate", env=env).returncode == 0
    created = cli(
        "admin",
        "create",
        "--email",
        "gen@example.com",
        "--password",
        "a gen passphrase 42",
        env=env,
    )
    assert created.returncode == 0, created.stderr
    own = Settings(data_dir=data_dir, secret_key=TEST_SECRET, studio_placeholder_delay_seconds=0.3)
    with server(own) as base:
        token = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"identifier": "gen@example.com", "password": "a gen passphrase 42"},
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        key = httpx.post(f"{base}/api/v1/api-keys", json={"key_name": "gen"}, headers=auth).json()[
            "api_key"
        ]
        workflow = httpx.get(f"{base}/api/v1/workflows", headers=auth).json()["items"][0]["id"]
        prompts = tmp_path / "prompts.txt"
        prompts.write_text("# my batch\na teapot\n\na kite over dunes\n", encoding="utf-8")
        out = tmp_path / "results"
        env_cli = {**env, "STUDIOFLOW_API_KEY": key, "COLUMNS": "120"}
        first = cli(
            "generate",
            str(prompts),
            "--workflow",
            workflow,
            "--out",
            str(out),
            "--aspect-ratio",
            "16:9",
            "--server",
            base,
            env=env_cli,
        )
        assert first.returncode == 0, first.stderr
        assert "2 prompts, 2 credits reserved" in first.stderr
        assert "completed: 2 done, 0 failed of 2" in first.stderr
        assert sorted(p.name for p in out.iterdir()) == ["001.png", "002.png", "manifest.csv"]
        rows = list(csv.DictReader((out / "manifest.csv").open(encoding="utf-8")))
        assert [r["prompt"] for r in rows] == ["a teapot", "a kite over dunes"]
        # Again: the same file follows the same execution, nothing is charged twice.
        again = cli(
            "generate",
            str(prompts),
            "--workflow",
            workflow,
            "--wait",
            "--aspect-ratio",
            "16:9",
            "--server",
            base,
            env=env_cli,
        )
        assert again.returncode == 0, again.stderr
        assert "ran this file before (nothing charged again): it is completed" in again.stderr
        assert "credits reserved" not in again.stderr
        # A finished run asked for its files downloads them without waiting on anything.
        again_out = tmp_path / "again"
        fetched = cli(
            "generate",
            str(prompts),
            "--workflow",
            workflow,
            "--out",
            str(again_out),
            "--aspect-ratio",
            "16:9",
            "--server",
            base,
            env=env_cli,
        )
        assert fetched.returncode == 0, fetched.stderr
        assert "downloading its results" in fetched.stderr
        assert sorted(p.name for p in again_out.iterdir()) == ["001.png", "002.png", "manifest.csv"]
        executions = httpx.get(f"{base}/api/v1/executions", headers=auth).json()["items"]
        assert len(executions) == 1
        balance = httpx.get(f"{base}/api/v1/credits", headers=auth).json()["balance"]
        assert balance == 1
        broke = tmp_path / "more.txt"
        broke.write_text("one\ntwo\n", encoding="utf-8")
        refused = cli("generate", str(broke), "--workflow", workflow, "--server", base, env=env_cli)
        assert refused.returncode == 2 and "insufficient_credits" in refused.stderr
