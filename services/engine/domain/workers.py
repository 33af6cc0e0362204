"""The worker pool of one engine process: claims tasks into free slots, runs each as a
`TaskRun`, and heart-beats the leases it holds (a lost lease stops its run at once)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from agentledger.core.loops import PeriodicLoop
from agentledger.core.offload import Offloader
from services.engine.domain.queue import Claim, TaskQueue
from services.engine.domain.runner import RunnerDeps, TaskRun
from services.engine.domain.summary import summary_of

log = logging.getLogger("agentledger.engine.workers")


class Heartbeat(PeriodicLoop):
    name = "engine-heartbeat"

    def __init__(self, pool: WorkerPool, interval_s: float) -> None:
        super().__init__(interval_s)
        self._pool = pool

    async def run_once(self) -> None:
        await self._pool.renew()


class OutboxSweeper(PeriodicLoop):
    """Relays what no worker will: the last steps of a run that ended while trace_store was
    away, the events of an engine that died after its final commit, a submit whose relay
    failed. Idempotent (event ids), so racing a live relay costs a duplicate send, no more."""

    name = "engine-outbox-sweeper"

    def __init__(self, pool: WorkerPool, interval_s: float) -> None:
        super().__init__(interval_s)
        self._pool = pool

    async def run_once(self) -> None:
        await self._pool.sweep()


class WorkerPool:
    def __init__(
        self,
        queue: TaskQueue,
        deps: RunnerDeps,
        offload: Offloader,
        *,
        slots: int,
        poll_s: float,
        lease_s: float,
    ) -> None:
        self._queue = queue
        self._deps = deps
        self._offload = offload
        self.slots = slots
        self._poll_s = poll_s
        self._runs: dict[str, tuple[TaskRun, asyncio.Task[None]]] = {}
        self._wake = asyncio.Event()
        self._claimer: asyncio.Task[None] | None = None
        self.heartbeat = Heartbeat(self, lease_s / 3)
        self.sweeper = OutboxSweeper(self, lease_s)
        self._quiet_ns = int(lease_s * 1e9)
        self.started = 0
        self._stopping = False

    @property
    def running(self) -> int:
        return len(self._runs)

    def wake(self) -> None:
        """Look for work now (a task was just queued in this process)."""
        self._wake.set()

    def start(self) -> None:
        self._claimer = asyncio.get_running_loop().create_task(self._claim_forever())
        self.heartbeat.start()
        self.sweeper.start()

    async def stop(self) -> None:
        """Stops claiming and abandons the runs in flight: their leases lapse and another
        worker resumes them from their last checkpoint (a restart is a crash, made safe)."""
        self._stopping = True
        if self._claimer is not None:
            self._claimer.cancel()
            await asyncio.wait([self._claimer])
        await self.heartbeat.stop()
        await self.sweeper.stop()
        runs = [t for _, t in self._runs.values()]
        for t in runs:
            t.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        self._runs.clear()

    async def claim_once(self) -> list[Claim]:
        free = self.slots - len(self._runs)
        if free <= 0:
            return []
        claims = await self._offload.write(self._queue.claim, free)
        for c in claims:
            self._start_run(c)
        return claims

    async def renew(self) -> None:
        held = [(task_id, run.fence) for task_id, (run, _) in self._runs.items()]
        for r in await self._offload.write(self._queue.renew, held):
            entry = self._runs.get(r.task_id)
            if entry is None:
                continue
            if not r.held:
                entry[0].on_lease_lost()
            else:
                entry[0].on_control(r.control)

    async def sweep(self, quiet_ns: int | None = None) -> int:
        """One round of the sweeper; returns how many tasks it relayed."""
        deps = self._deps
        quiet = self._quiet_ns if quiet_ns is None else quiet_ns
        orphans = await self._offload.read(
            deps.store.orphaned_outboxes, deps.clock.now_ns(), quiet, 100
        )
        relayed = 0
        for task_id in orphans:
            if task_id in self._runs:
                continue  # its run here relays them
            task = await self._offload.read(deps.store.get_task, task_id)
            await deps.relay.drain(task_id, summary_of(task, now_ns=deps.clock.now_ns()))
            relayed += 1
        return relayed

    def control(self, task_id: str) -> TaskRun | None:
        entry = self._runs.get(task_id)
        return entry[0] if entry else None

    def _start_run(self, claim: Claim) -> None:
        run = TaskRun(self._deps, claim)
        task = asyncio.get_running_loop().create_task(self._run(run), name=f"run {claim.task_id}")
        self._runs[claim.task_id] = (run, task)
        self.started += 1

    async def _run(self, run: TaskRun) -> None:
        try:
            await run.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            # The task stays RUNNING under a lease that will lapse: another round (here or on
            # another worker) resumes it from its checkpoints.
            log.exception("run of %s failed; it will be resumed when its lease lapses", run.task_id)
        finally:
            self._runs.pop(run.task_id, None)
            self._wake.set()

    async def _claim_forever(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                claims = await self.claim_once()
            except Exception:
                log.exception("claiming tasks failed; trying again")
                claims = []
            if claims and len(self._runs) < self.slots:
                continue
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the
            # cancellation that stop() sends when the wait ends in the same loop turn.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_s):
                    await self._wake.wait()
