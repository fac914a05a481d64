"""The event loop watcher sees a stall: a blocking call in the loop's thread shows as lag."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from studioflow.platform.observability import Metrics, watch_loop_lag


async def test_a_blocking_call_shows_up_as_lag() -> None:
    metrics = Metrics()
    watcher = asyncio.create_task(watch_loop_lag(metrics, interval=0.001))
    try:
        await asyncio.sleep(0.02)  # a few quiet ticks
        time.sleep(0.2)
        await asyncio.sleep(0.02)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    worst = metrics.registry.get_sample_value("studioflow_event_loop_lag_max_seconds")
    assert worst is not None and worst >= 0.15
    slow = metrics.registry.get_sample_value(
        "studioflow_event_loop_lag_seconds_bucket", {"le": "0.1"}
    )
    total = metrics.registry.get_sample_value("studioflow_event_loop_lag_seconds_count")
    assert slow is not None and total is not None and total > slow  # one tick was > 0.1 s


async def test_bulk_cpu_work_runs_at_a_lower_priority() -> None:
    """Decoding and hashing uploads yields the cores to the event loop (Linux thread nice)."""
    import os
    import threading

    from studioflow.platform.loops import BACKGROUND_NICE, in_background

    ours = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    theirs = await in_background(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
    assert theirs == min(19, ours + BACKGROUND_NICE)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == ours  # ours untouched


def test_an_error_logs_a_plain_traceback_without_locals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Console logs (``make run``) print the standard library's traceback: rich's pretty one
    cost 0.1-0.2 s per error on the event loop (issue 12, item 8). Locals never appear."""
    import logging

    import structlog

    from studioflow.platform.observability import configure_logging

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging(json_logs=False)
        secret_token = "tok-do-not-print"
        try:
            raise ValueError(f"boom {len(secret_token)}")
        except ValueError:
            structlog.get_logger("test").exception("request.failed")
        printed = capsys.readouterr().err
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
        configure_logging(json_logs=True)
    assert "Traceback (most recent call last):" in printed and "ValueError: boom 16" in printed
    assert "tok-do-not-print" not in printed and "╭" not in printed
