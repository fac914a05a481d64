"""Browser tests: Playwright for Python driving Debian's Chromium against a real server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from tests.conftest import TEST_SECRET, free_port, subprocess_env

CHROMIUM = Path(os.environ.get("STUDIOFLOW_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    reason = f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)"
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def live_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-data")


@pytest.fixture(scope="session")
def live_server(live_data_dir: Path) -> Iterator[str]:
    """`studioflow serve --demo` in embedded mode, as `make run` starts it."""
    data_dir = live_data_dir
    port = free_port()
    env = subprocess_env()
    env.update(
        {
            "STUDIOFLOW_DATA_DIR": str(data_dir),
            "STUDIOFLOW_SECRET_KEY": TEST_SECRET,
            # Long enough that the browser sees a batch in progress, not only its end.
            "STUDIOFLOW_STUDIO_PLACEHOLDER_DELAY_SECONDS": "1.5",
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "studioflow", "serve", "--demo", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("the server for browser tests did not start")
        time.sleep(0.2)
    try:
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield instance
        await instance.close()


class ConsoleErrors(list[str]):
    """Console errors and CSP violations seen by a page; a clean page has none."""


@pytest_asyncio.fixture
async def page(browser):  # type: ignore[no-untyped-def]
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    errors = ConsoleErrors()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.console_errors = errors
    yield page
    await context.close()


@pytest_asyncio.fixture
async def phone(browser):  # type: ignore[no-untyped-def]
    context = await browser.new_context(
        viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True
    )
    page = await context.new_page()
    yield page
    await context.close()
