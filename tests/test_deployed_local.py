"""One machine with local storage behind the shipped nginx: Python decides, nginx sends.

``studioflow serve`` (SQLite, local storage) with ``STUDIOFLOW_DELIVERY_ACCEL_PREFIX`` answers
a large delivery with ``X-Accel-Redirect``; Debian's nginx runs ``deploy/nginx.conf`` with the
role addresses, the port and the ``/_stored/`` alias pointed at this machine, and sends the
file with the app's headers.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, subprocess_env
from tests.media.images import noise_png
from tests.test_deployed import shipped_config

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PASSWORD = "a local operator passphrase 1"

pytestmark = pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed")


def _wait(url: str, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{what} did not answer {url} within 60 s")


@pytest.fixture
def one_machine(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """(nginx's address, the app's own address, the storage folder)."""
    app_port, nginx_port = free_port(), free_port()
    data = tmp_path / "data"
    env = {
        **subprocess_env(),
        "STUDIOFLOW_ENV": "test",
        "STUDIOFLOW_DATA_DIR": str(data),
        "STUDIOFLOW_SECRET_KEY": secrets.token_hex(32),
        "STUDIOFLOW_BASE_URL": f"http://127.0.0.1:{nginx_port}",
        "STUDIOFLOW_TRUSTED_PROXIES": "127.0.0.1/32",
        "STUDIOFLOW_DELIVERY_ACCEL_PREFIX": "/_stored/",
        "STUDIOFLOW_PASSWORD_HASH_TIME_COST": "1",
        "STUDIOFLOW_PASSWORD_HASH_MEMORY_KIB": "8",
    }
    for argv in (
        ["migrate"],
        ["admin", "create", "--email", "one@example.com", "--password", PASSWORD],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "studioflow", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    storage = data / "storage"
    config = shipped_config(nginx_port, {"api": app_port, "upload": app_port, "view": app_port})
    config, found = re.subn(r"alias /var/lib/studioflow/storage/;", f"alias {storage}/;", config)
    assert found == 1, "the /_stored/ alias is not where the test expects it"
    if os.geteuid() == 0:
        # The test's folders are root's own (mode 700): nginx's workers read them as root.
        config = "user root;\n" + config
    (tmp_path / "nginx.conf").write_text(config)
    nginx = [
        NGINX,
        "-p",
        str(tmp_path),
        "-c",
        str(tmp_path / "nginx.conf"),
        "-e",
        str(tmp_path / "nginx.log"),
    ]
    nginx_globals = f"pid {tmp_path / 'nginx.pid'}; daemon off;"
    with open(tmp_path / "app.log", "w") as log:
        app = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "studioflow",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(app_port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        server = subprocess.Popen([*nginx, "-g", nginx_globals])
        try:
            _wait(f"http://127.0.0.1:{app_port}/health", "the app")
            _wait(f"http://127.0.0.1:{nginx_port}/health", "nginx")
            yield f"http://127.0.0.1:{nginx_port}", f"http://127.0.0.1:{app_port}", storage
        finally:
            server.send_signal(signal.SIGQUIT)
            app.send_signal(signal.SIGTERM)
            for process in (server, app):
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


def test_nginx_sends_large_files_that_the_app_decided_and_counted(
    one_machine: tuple[str, str, Path],
) -> None:
    base, app, storage = one_machine
    with httpx.Client(base_url=base, timeout=60) as http:
        login = http.post(
            "/api/v1/auth/login", json={"identifier": "one@example.com", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        http.cookies.clear()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        data = noise_png((400, 300))  # ~350 KB: past what is answered from memory
        uploaded = http.post(
            "/upload", files={"file": ("big.png", data, "image/png")}, headers=headers
        )
        assert uploaded.status_code == 201, uploaded.text
        image = uploaded.json()["image"]

        # The app alone: headers and an X-Accel-Redirect, no bytes.
        direct = httpx.get(f"{app}/i/{image['id']}")
        assert direct.status_code == 200 and direct.content == b""
        target = direct.headers["x-accel-redirect"]
        assert target.startswith("/_stored/clients/")
        on_disk = (storage / target.removeprefix("/_stored/")).read_bytes()
        assert len(on_disk) > 256 * 1024

        # Through nginx: the file, with the app's ETag and security headers.
        sent = http.get(f"/i/{image['id']}")
        assert sent.status_code == 200 and sent.content == on_disk
        assert sent.headers["etag"] == direct.headers["etag"]
        assert sent.headers["content-type"] == "image/png"
        assert sent.headers["content-security-policy"] == "default-src 'none'; sandbox"
        assert sent.headers["cross-origin-resource-policy"] == "cross-origin"
        assert sent.headers["x-content-type-options"] == "nosniff"
        assert sent.headers["x-request-id"]
        ranged = http.get(f"/i/{image['id']}", headers={"Range": "bytes=100-199"})
        assert ranged.status_code == 206 and ranged.content == on_disk[100:200]
        assert ranged.headers["content-range"] == f"bytes 100-199/{len(on_disk)}"
        again = http.get(f"/i/{image['id']}", headers={"If-None-Match": sent.headers["etag"]})
        assert again.status_code == 304

        # Counted by the app: the direct send, the one through nginx and the range.
        quota = http.get("/upload/quota", headers=headers).json()
        assert quota["bandwidth_used_month"] == 2 * len(on_disk) + 100
