"""The served app against its own OpenAPI document, with schemathesis (PyPI).

A real server process (``studioflow serve --demo``) on each backend, signed in as the demo
platform administrator so every operation reaches its logic. Schemathesis generates requests
from the document (examples, boundary coverage, fuzzing) and fails on any 5xx, any status
or content type the document does not list, and any body that does not match its schema.
The seed is fixed so a failure here reproduces; run ``st run`` by hand with more examples to
search further (the README says how).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from studioflow.platform.runtime import Platform
from studioflow.settings import Settings
from tests.test_serve import server

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,"
CHECKS += "response_schema_conformance"
# These end the run's own session or shrink the limits the rest of the run needs; they get a
# pass of their own, after the others.
DESTRUCTIVE = "^/api/v1/auth/logout|^/api/v1/admin/plans/|^/api/v1/account/sessions/"
# Endless live streams (public, no id to miss): a generated request would wait for the
# request timeout every time. tests/shop/test_live.py and the shop's browser test cover it.
STREAMS = "|^/api/v1/products/events$"
SEED = "20261201"


def schemathesis(base: str, token: str, *selection: str, examples: int) -> None:
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{base}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(examples),
        "--seed",
        SEED,
        "--request-timeout",
        "20",
        "--no-color",
        *selection,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    # The report names each failing operation with a curl line that reproduces it.
    assert done.returncode == 0, done.stdout[-20_000:] + done.stderr[-5_000:]


# Two schemathesis runs over ~210 operations; the coverage phase alone generates cases per
# operation whatever --max-examples says (~2 minutes embedded, more at scale, and more on a
# loaded machine): the suite's default 300 s is too short a ceiling for it.
@pytest.mark.timeout(900)
def test_the_served_app_keeps_its_documented_contract(
    committed: tuple[Settings, Platform],
) -> None:
    # A database of its own: the run commits for real (the demo, plan changes, thousands of
    # fuzzed writes), and on the run's shared database it changed the plans later tests met.
    settings, _ = committed
    quiet = {"STUDIOFLOW_RATE_LIMIT_PER_IP": "1000000/minute"}
    with server(settings, "--demo", env=quiet) as base:
        credentials = (Path(settings.data_dir) / "demo-credentials.txt").read_text()
        fields = dict(line.split(": ", 1) for line in credentials.splitlines() if ": " in line)
        login = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"identifier": fields["email"], "password": fields["password"].strip()},
        )
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        roomy = {"api_requests_per_hour": 1_000_000, "uploads_per_day": 100_000}
        plan = httpx.patch(
            f"{base}/api/v1/admin/plans/free",
            json=roomy,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert plan.status_code == 200, plan.text
        schemathesis(base, token, "--exclude-path-regex", DESTRUCTIVE + STREAMS, examples=10)
        schemathesis(base, token, "--include-path-regex", DESTRUCTIVE, examples=10)
