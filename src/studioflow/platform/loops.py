"""asyncio primitives that belong to the running event loop.

A module-level ``asyncio.Semaphore`` binds to the first loop that waits on it; a process that
runs a second loop later (the CLI, benchmarks, a worker restarted in-process) then fails with
"bound to a different event loop". :class:`PerLoop` makes one per loop instead.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


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
