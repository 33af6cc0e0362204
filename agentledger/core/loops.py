"""Background loops: one base whose ``run_once`` tests call directly, so no test sleeps."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger("agentledger.loops")


class PeriodicLoop:
    """Runs ``run_once`` every ``interval_s`` seconds until stopped; a failing round is logged
    and the loop goes on."""

    name = "loop"

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._forever(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception(
                    "%s: a round failed; trying again in %.0f s", self.name, self.interval_s
                )
            await asyncio.sleep(self.interval_s)
