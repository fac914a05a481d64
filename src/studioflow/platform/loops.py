"""asyncio primitives that belong to the running event loop.

A module-level ``asyncio.Semaphore`` binds to the first loop that waits on it; a process that
runs a second loop later (the CLI, benchmarks, a worker restarted in-process) then fails with
"bound to a different event loop". :class:`PerLoop` makes one per loop instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class PerLoop(Generic[T]):
    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = (
            weakref.WeakKeyDictionary()
        )

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        value = self._by_loop.get(loop)
        if value is None:
            value = self._by_loop[loop] = self._factory()
        return value


# Bulk CPU work nobody is waiting on interactively (checking uploads: hashing, decoding,
# stripping megabytes) runs on threads of their own with a lower scheduling priority: on a busy
# machine the cores go first to the event loop and the database threads, so a page or a
# cached image is answered while uploads are processed. Pillow and hashlib release the GIL for
# the heavy part, so the loop is not held meanwhile. A first render of an image size stays at
# normal priority: a viewer is waiting for it (and a niced render starved under load).
BACKGROUND_NICE = 10  # added to the process's own nice value, at most 19


def _lower_priority() -> None:
    # On Linux a thread has its own nice value (setpriority on its thread id); elsewhere, or
    # without permission, the work simply runs at normal priority.
    with contextlib.suppress(OSError, AttributeError):
        thread = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + BACKGROUND_NICE))


_background = ThreadPoolExecutor(
    max_workers=max(2, os.cpu_count() or 2),
    thread_name_prefix="background-cpu",
    initializer=_lower_priority,
)


async def in_background(function: Callable[..., R], /, *args: Any) -> R:
    """``function(*args)`` on a low-priority worker thread (see ``BACKGROUND_NICE``)."""
    return await asyncio.get_running_loop().run_in_executor(_background, function, *args)
