"""The durable queue: workers claim runnable tasks under a lease they heart-beat.

The tasks table is the queue. A claim takes QUEUED tasks whose time has come, and RUNNING tasks
whose lease expired (their worker died), in priority then arrival order, within the global and
per-owner concurrency limits. On PostgreSQL candidates are locked `FOR UPDATE SKIP LOCKED` and
claimers serialize on an advisory lock while counting what runs, so limits hold across replicas;
on SQLite `BEGIN IMMEDIATE` serializes them. Each claim increments the task's lease epoch: the
fencing token every later write of the worker is conditional on.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from agentledger.core.clock import Clock
from services.engine.domain.ids import new_event_id
from services.engine.domain.model import SEVERITY_WARNING, Fence, OutboxEvent
from services.engine.domain.state_manager import StateManager
from services.engine.domain.states import State
from services.engine.domain.store import Control, EngineStore

CLAIM_LOCK = int.from_bytes(hashlib.sha256(b"agentledger.engine.claim").digest()[:4], "big")


@dataclass(frozen=True, slots=True)
class QueueLimits:
    max_running: int = 0  # across every engine process; 0 = no limit beyond workers
    max_per_owner: int = 0  # 0 = no limit


@dataclass(frozen=True, slots=True)
class Claim:
    task_id: str
    fence: Fence
    took_over: bool  # the previous holder's lease had expired
    events: tuple[tuple[int, OutboxEvent], ...]  # what the claim wrote, with outbox seqs


@dataclass(frozen=True, slots=True)
class Renewal:
    task_id: str
    held: bool  # False: the lease was lost, the worker must stop
    control: Control


class TaskQueue:
    def __init__(
        self,
        store: EngineStore,
        states: StateManager,
        clock: Clock,
        *,
        worker_id: str,
        lease_s: float,
        limits: QueueLimits,
    ) -> None:
        self._store = store
        self._states = states
        self._clock = clock
        self.worker_id = worker_id
        self._lease_ns = int(lease_s * 1e9)
        self._limits = limits

    def claim(self, slots: int) -> list[Claim]:
        """Claims up to `slots` tasks in one transaction."""
        if slots <= 0:
            return []
        now = self._clock.now_ns()
        claims: list[Claim] = []
        with self._store.write() as tx:
            limited = bool(self._limits.max_running or self._limits.max_per_owner)
            if limited and not tx.sqlite:
                tx.execute("SELECT pg_advisory_xact_lock(?)", (CLAIM_LOCK,))
            running: Counter[str] = Counter()
            if limited:
                for owner, n in tx.execute(
                    "SELECT owner, count(*) FROM en_tasks WHERE state = 'RUNNING'"
                    " AND lease_expires_ns >= ? GROUP BY owner",
                    (now,),
                ).fetchall():
                    running[owner] = int(n)
            rows = tx.execute(
                "SELECT task_id, state, owner, lease_epoch FROM en_tasks"
                " WHERE (state = 'QUEUED' AND available_ns <= ?)"
                " OR (state = 'RUNNING' AND lease_expires_ns < ?)"
                " ORDER BY priority DESC, available_ns, task_id LIMIT ?"
                + ("" if tx.sqlite else " FOR UPDATE SKIP LOCKED"),
                (now, now, slots * 4),
            ).fetchall()
            total = sum(running.values())
            for task_id, state, owner, epoch in rows:
                if len(claims) == slots:
                    break
                if self._limits.max_running and total >= self._limits.max_running:
                    break
                if self._limits.max_per_owner and running[owner] >= self._limits.max_per_owner:
                    continue
                fence = Fence(self.worker_id, int(epoch) + 1)
                expires = now + self._lease_ns
                if state == State.QUEUED.value:
                    _, event = self._states.transition(
                        tx,
                        task_id,
                        State.QUEUED,
                        State.RUNNING,
                        actor=f"worker:{self.worker_id}",
                        reason="claimed by a worker",
                        now_ns=now,
                        fence=None,
                        set_columns={
                            "lease_owner": fence.owner,
                            "lease_epoch": fence.epoch,
                            "lease_expires_ns": expires,
                        },
                    )
                    took_over = False
                else:
                    cur = tx.execute(
                        "UPDATE en_tasks SET lease_owner = ?, lease_epoch = ?,"
                        " lease_expires_ns = ? WHERE task_id = ? AND lease_epoch = ?",
                        (fence.owner, fence.epoch, expires, task_id, int(epoch)),
                    )
                    if cur.rowcount != 1:
                        continue
                    event = OutboxEvent(
                        new_event_id(),
                        "task.lease_taken_over",
                        {"epoch": fence.epoch, "previous_epoch": int(epoch)},
                        severity=SEVERITY_WARNING,
                        actor=f"worker:{self.worker_id}",
                        time_ns=now,
                    )
                    took_over = True
                rec = self._store.record(tx, task_id, fence, [event], now)
                claims.append(Claim(task_id, fence, took_over, ((rec.last, event),)))
                running[owner] += 1
                total += 1
        return claims

    def renew(self, held: Sequence[tuple[str, Fence]]) -> list[Renewal]:
        """Extends the leases of the tasks a worker runs; reports lost ones and pending
        control requests."""
        if not held:
            return []
        expires = self._clock.now_ns() + self._lease_ns
        out: list[Renewal] = []
        with self._store.write() as tx:
            for task_id, fence in held:
                row = tx.execute(
                    "UPDATE en_tasks SET lease_expires_ns = ? WHERE task_id = ?"
                    " AND lease_owner = ? AND lease_epoch = ?"
                    " RETURNING control, control_actor, control_reason",
                    (expires, task_id, fence.owner, fence.epoch),
                ).fetchone()
                if row is None:
                    out.append(Renewal(task_id, False, Control("", "", "")))
                else:
                    out.append(Renewal(task_id, True, Control(row[0], row[1], row[2])))
        return out

    def in_flight(self) -> int:
        """Tasks RUNNING under a live lease, across every worker."""
        with self._store.read() as tx:
            row = tx.execute(
                "SELECT count(*) FROM en_tasks WHERE state = 'RUNNING' AND lease_expires_ns >= ?",
                (self._clock.now_ns(),),
            ).fetchone()
        return int(row[0])
