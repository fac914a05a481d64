"""`studioflow upload` against a real server process: progress, then a resumed run skips."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from studioflow.settings import Settings
from tests.conftest import TEST_SECRET, subprocess_env
from tests.media import images
from tests.test_serve import server


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "studioflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_upload_a_folder_and_resume(tmp_path: Path, settings: Settings) -> None:
    if not settings.embedded_queue:
        pytest.skip("the command is a client of any server; once is enough")
    data_dir = tmp_path / "server"
    env = subprocess_env()
    env.update({"STUDIOFLOW_DATA_DIR": str(data_dir), "STUDIOFLOW_SECRET_KEY": TEST_SECRET})
    assert cli("migrate", env=env).returncode == 0
    assert (
        cli(
            "admin",
            "create",
            "--email",
            "cli@example.com",
            "--password",
            "a cli passphrase 42",
            env=env,
        ).returncode
        == 0
    )
    own = Settings(data_dir=data_dir, secret_key=TEST_SECRET)
    with server(own) as base:
        login = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"identifier": "cli@example.com", "password": "a cli passphrase 42"},
        )
        token = login.json()["access_token"]
        key = httpx.post(
            f"{base}/api/v1/api-keys",
            json={"key_name": "cli"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()["api_key"]
        folder = tmp_path / "photos"
        (folder / "nested").mkdir(parents=True)
        (folder / "a.png").write_bytes(images.noise_png((50, 40)))
        (folder / "nested" / "b.jpg").write_bytes(images.encode("JPEG", size=(60, 40)))
        (folder / "notes.txt").write_text("not an image")
        env_cli = {**env, "STUDIOFLOW_API_KEY": key, "COLUMNS": "120"}
        first = cli("upload", str(folder), "--server", base, "--private", env=env_cli)
        assert first.returncode == 0, first.stderr
        assert "uploaded 2, already there 0, not images 1, failed 0" in first.stderr
        (folder / "c.png").write_bytes(images.noise_png((30, 30)))
        second = cli("upload", str(folder), "--server", base, env=env_cli)
        assert "uploaded 1, already there 2, not images 1, failed 0" in second.stderr
        listed = httpx.get(f"{base}/api/v1/images", headers={"X-API-Key": key}).json()["items"]
        assert len(listed) == 3 and sum(not i["is_public"] for i in listed) == 2
        # Large files go as direct uploads (a signed PUT, then the completion).
        (folder / "large.png").write_bytes(images.noise_png((120, 90)))
        direct = cli("upload", str(folder), "--server", base, "--direct-from", "20000", env=env_cli)
        assert direct.returncode == 0, direct.stderr
        assert "uploaded 1, already there 3, not images 1, failed 0" in direct.stderr
        found = httpx.get(f"{base}/api/v1/images", headers={"X-API-Key": key}).json()["items"]
        assert {"large.png"} <= {i["filename"] for i in found}
        sent = (data_dir / "storage" / "uploads").rglob("*")
        assert not [p for p in sent if p.is_file()]  # the sent bytes went
        no_key = cli("upload", str(folder), "--server", base, env=env)
        assert no_key.returncode == 2 and "STUDIOFLOW_API_KEY" in no_key.stderr
        # A refusal prints the server's own words and code, not the HTTP library's message.
        wrong = cli(
            "upload",
            str(folder),
            "--server",
            base,
            env={**env, "STUDIOFLOW_API_KEY": "sf_" + "x" * 46, "COLUMNS": "200"},
        )
        assert wrong.returncode == 2
        assert "refused:" in wrong.stderr and "(invalid_api_key)" in wrong.stderr, wrong.stderr
        assert "HTTPStatusError" not in wrong.stderr and "Client error" not in wrong.stderr
