"""Runs blocking database work off the event loop, in bounded thread pools.

Writes get their own pool: one thread on SQLite, where writers serialize anyway and a single
writer avoids lock waits; reads get a wider one.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class Offloader:
    def __init__(
        self, *, readers: int, writers: int, name: str, inline_writes: bool = False
    ) -> None:
        self._read = ThreadPoolExecutor(max_workers=readers, thread_name_prefix=f"{name}-read")
        self._write = ThreadPoolExecutor(max_workers=writers, thread_name_prefix=f"{name}-write")
        self._inline = inline_writes

    async def read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read, functools.partial(fn, *args, **kwargs))

    async def write(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._inline:
            return fn(*args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._write, functools.partial(fn, *args, **kwargs))

    def shutdown(self) -> None:
        self._read.shutdown(wait=True, cancel_futures=True)
        self._write.shutdown(wait=True, cancel_futures=True)
