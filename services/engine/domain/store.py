"""The engine's tables behind plain methods: tasks, node checkpoints, the outbox, plan
snapshots and transitions. State columns are written only by `state_manager`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine

from agentledger.core.db import Driver, driver_transaction
from agentledger.core.errors import NotFound
from agentledger.security.redaction import DEFAULT_POLICY
from services.engine.domain.agents.base import Usage
from services.engine.domain.model import (
    Budget,
    Fence,
    LeaseLost,
    NodeRecord,
    OutboxEvent,
    TaskRecord,
    Transition,
)
from services.engine.domain.states import TERMINAL, State

TASK_COLUMNS = (
    "task_id, owner, tenant, goal, mode, inputs_json, budget_tokens, budget_usd,"
    " budget_seconds, plan_id, plan_version, plan_rule, plan_evidence_json, state, state_seq,"
    " control, control_actor, control_reason, lease_owner, lease_epoch, lease_expires_ns,"
    " priority, available_ns, created_ns, updated_ns, started_ns, ended_ns, run_seconds,"
    " tokens_in, tokens_out, usd, tool_seconds, degrade_count, pause_count, failure_type,"
    " failure_message, result_json, pending_json, human_input_json, forecast_json"
)
NODE_COLUMNS = (
    "node_id, status, attempt, variant, tried_variants, output_json, claims_json,"
    " failure_json, tokens_in, tokens_out, usd, tool_seconds, started_ns, ended_ns, epoch,"
    " artifacts_json"
)


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def task_from_row(r: Sequence[Any]) -> TaskRecord:
    return TaskRecord(
        task_id=r[0],
        owner=r[1],
        tenant=r[2],
        goal=r[3],
        mode=r[4],
        inputs=orjson.loads(r[5]),
        budget=Budget(r[6], r[7], r[8]),
        plan_id=r[9],
        plan_version=int(r[10]),
        plan_rule=r[11],
        plan_evidence=orjson.loads(r[12]),
        state=State(r[13]),
        state_seq=int(r[14]),
        control=r[15],
        control_actor=r[16],
        control_reason=r[17],
        lease_owner=r[18],
        lease_epoch=int(r[19]),
        lease_expires_ns=int(r[20]),
        priority=int(r[21]),
        available_ns=int(r[22]),
        created_ns=int(r[23]),
        updated_ns=int(r[24]),
        started_ns=int(r[25]),
        ended_ns=int(r[26]),
        run_seconds=float(r[27]),
        usage=Usage(int(r[28]), int(r[29]), float(r[30]), float(r[31])),
        degrade_count=int(r[32]),
        pause_count=int(r[33]),
        failure_type=r[34],
        failure_message=r[35],
        result=orjson.loads(r[36]),
        pending=orjson.loads(r[37]) if r[37] else None,
        human_input=orjson.loads(r[38]),
        forecast=orjson.loads(r[39]) if r[39] else {},
    )


def node_from_row(r: Sequence[Any]) -> NodeRecord:
    return NodeRecord(
        node_id=r[0],
        status=r[1],
        attempt=int(r[2]),
        variant=r[3],
        tried_variants=tuple(v for v in r[4].split(",") if v),
        output=orjson.loads(r[5]),
        claims=orjson.loads(r[6]),
        failure=orjson.loads(r[7]) if r[7] else None,
        usage=Usage(int(r[8]), int(r[9]), float(r[10]), float(r[11])),
        started_ns=int(r[12]),
        ended_ns=int(r[13]),
        epoch=int(r[14]),
        artifacts=tuple(orjson.loads(r[15])),
    )


def encode_event(e: OutboxEvent) -> bytes:
    """The outbox row of an event, redacted: the outbox is on disk until the event is relayed."""
    return DEFAULT_POLICY.redact_json(_encode_event(e))


def _encode_event(e: OutboxEvent) -> bytes:
    return orjson.dumps(
        {
            "id": e.event_id,
            "type": e.type,
            "payload": e.payload,
            "phase": e.phase,
            "node_id": e.node_id,
            "severity": e.severity,
            "actor": e.actor,
            "time_ns": e.time_ns,
            "blob_ids": list(e.blob_ids),
        },
        option=orjson.OPT_NON_STR_KEYS,
    )


def decode_event(body: bytes) -> OutboxEvent:
    d = orjson.loads(body)
    return OutboxEvent(
        d["id"],
        d["type"],
        d["payload"],
        d["phase"],
        d["node_id"],
        d["severity"],
        d["actor"],
        d["time_ns"],
        tuple(d["blob_ids"]),
    )


@dataclass(frozen=True, slots=True)
class Control:
    """A pending user request for the lease holder: "", "pause" or "cancel"."""

    action: str
    actor: str
    reason: str


@dataclass(frozen=True, slots=True)
class Recorded:
    """What `record` wrote: the outbox seqs of its events (first..last) and the pending
    control request."""

    first: int
    last: int
    control: Control


class EngineStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def read(self) -> Any:
        return driver_transaction(self.engine, write=False)

    def write(self) -> Any:
        return driver_transaction(self.engine, write=True)

    # ------------------------------------------------------------------ tasks

    @staticmethod
    def load_task(tx: Driver, task_id: str) -> TaskRecord:
        row = tx.execute(
            f"SELECT {TASK_COLUMNS} FROM en_tasks WHERE task_id = ?", (task_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"task {task_id} does not exist")
        return task_from_row(row)

    def get_task(self, task_id: str) -> TaskRecord:
        with self.read() as tx:
            return self.load_task(tx, task_id)

    def list_tasks(
        self, *, owner: str, states: Sequence[str], limit: int, before: str
    ) -> list[TaskRecord]:
        """Newest first; `before` is the last task id of the previous page (keyset)."""
        where, params = ["1 = 1"], []
        if owner:
            where.append("owner = ?")
            params.append(owner)
        if states:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            params += list(states)
        if before:
            where.append("task_id < ?")
            params.append(before)
        sql = (
            f"SELECT {TASK_COLUMNS} FROM en_tasks WHERE {' AND '.join(where)}"
            " ORDER BY task_id DESC LIMIT ?"
        )
        with self.read() as tx:
            return [task_from_row(r) for r in tx.execute(sql, (*params, limit)).fetchall()]

    def count_active(self, owner: str, tenant: str) -> tuple[int, int]:
        """Tasks not yet ended (queued, running, paused or waiting for input) of the owner,
        and of the tenant (0 when there is none): what the concurrency quota counts."""
        marks = ", ".join("?" * len(TERMINAL))
        sql = f"SELECT COUNT(*) FROM en_tasks WHERE {{}} = ? AND state NOT IN ({marks})"
        ended = sorted(TERMINAL)
        with self.read() as tx:
            mine = int(tx.execute(sql.format("owner"), (owner, *ended)).fetchone()[0])
            theirs = (
                int(tx.execute(sql.format("tenant"), (tenant, *ended)).fetchone()[0])
                if tenant
                else 0
            )
        return mine, theirs

    @staticmethod
    def save_forecast(tx: Driver, task_id: str, forecast: Mapping[str, Any]) -> None:
        tx.execute(
            "UPDATE en_tasks SET forecast_json = ? WHERE task_id = ?", (dumps(forecast), task_id)
        )

    @staticmethod
    def set_control(tx: Driver, task_id: str, action: str, actor: str, reason: str) -> None:
        """Records a pause/cancel request for the worker holding the task (not a state write)."""
        tx.execute(
            "UPDATE en_tasks SET control = ?, control_actor = ?, control_reason = ?"
            " WHERE task_id = ?",
            (action, actor, reason, task_id),
        )

    def transitions(self, task_id: str) -> list[Transition]:
        with self.read() as tx:
            rows = tx.execute(
                "SELECT seq, from_state, to_state, actor, reason, epoch, at_ns"
                " FROM en_transitions WHERE task_id = ? ORDER BY seq",
                (task_id,),
            ).fetchall()
        return [
            Transition(task_id, int(r[0]), State(r[1]), State(r[2]), r[3], r[4], int(r[5]), r[6])
            for r in rows
        ]

    # ------------------------------------------------------------------ nodes

    @staticmethod
    def load_nodes(tx: Driver, task_id: str) -> dict[str, NodeRecord]:
        rows = tx.execute(
            f"SELECT {NODE_COLUMNS} FROM en_nodes WHERE task_id = ?", (task_id,)
        ).fetchall()
        return {r[0]: node_from_row(r) for r in rows}

    def nodes(self, task_id: str) -> dict[str, NodeRecord]:
        with self.read() as tx:
            return self.load_nodes(tx, task_id)

    @staticmethod
    def save_nodes(tx: Driver, task_id: str, nodes: Sequence[NodeRecord]) -> None:
        if not nodes:
            return
        tx.executemany(
            "DELETE FROM en_nodes WHERE task_id = ? AND node_id = ?",
            [(task_id, n.node_id) for n in nodes],
        )
        tx.executemany(
            f"INSERT INTO en_nodes (task_id, {NODE_COLUMNS}) VALUES ({', '.join('?' * 17)})",
            [
                (
                    task_id,
                    n.node_id,
                    n.status,
                    n.attempt,
                    n.variant,
                    ",".join(n.tried_variants),
                    dumps(n.output),
                    dumps(n.claims),
                    dumps(n.failure) if n.failure is not None else "",
                    n.usage.tokens_in,
                    n.usage.tokens_out,
                    n.usage.usd,
                    n.usage.tool_seconds,
                    n.started_ns,
                    n.ended_ns,
                    n.epoch,
                    dumps(list(n.artifacts)),
                )
                for n in nodes
            ],
        )

    @staticmethod
    def forget_unfinished_nodes(tx: Driver, task_id: str) -> int:
        """For a retry: every node that did not complete runs again."""
        cur = tx.execute(
            "DELETE FROM en_nodes WHERE task_id = ? AND status <> 'completed'", (task_id,)
        )
        return int(cur.rowcount or 0)

    # ------------------------------------------------------------------ outbox

    @staticmethod
    def record(
        tx: Driver,
        task_id: str,
        fence: Fence | None,
        events: Sequence[OutboxEvent],
        now_ns: int,
        *,
        usage: Usage | None = None,
        degrades: int = 0,
    ) -> Recorded:
        """Appends events to the task's outbox and adds usage to its counters, conditional on
        `fence` (None: written on behalf of a user, no worker involved). Returns the control
        request pending for the task. Raises LeaseLost when the fence no longer holds."""
        u = usage or Usage()
        sql = (
            "UPDATE en_tasks SET updated_ns = ?, outbox_seq = outbox_seq + ?,"
            " tokens_in = tokens_in + ?, tokens_out = tokens_out + ?, usd = usd + ?,"
            " tool_seconds = tool_seconds + ?, degrade_count = degrade_count + ?"
            " WHERE task_id = ?"
        )
        params: list[Any] = [
            now_ns,
            len(events),
            u.tokens_in,
            u.tokens_out,
            u.usd,
            u.tool_seconds,
            degrades,
            task_id,
        ]
        if fence is not None:
            sql += " AND lease_owner = ? AND lease_epoch = ?"
            params += [fence.owner, fence.epoch]
        row = tx.execute(
            sql + " RETURNING outbox_seq, control, control_actor, control_reason", params
        ).fetchone()
        if row is None:
            if fence is None:
                raise NotFound(f"task {task_id} does not exist")
            raise LeaseLost(f"task {task_id}: lease epoch {fence.epoch} no longer holds")
        last = int(row[0])
        first = last - len(events) + 1
        if events:
            tx.executemany(
                "INSERT INTO en_outbox (task_id, oseq, event_id, body) VALUES (?, ?, ?, ?)",
                [(task_id, first + i, e.event_id, encode_event(e)) for i, e in enumerate(events)],
            )
        return Recorded(first, last, Control(row[1], row[2], row[3]))

    def pending_events(
        self, task_id: str, limit: int, upto: int | None = None
    ) -> list[tuple[int, OutboxEvent]]:
        with self.read() as tx:
            return self.load_pending(tx, task_id, limit, upto)

    @staticmethod
    def load_pending(
        tx: Driver, task_id: str, limit: int, upto: int | None = None
    ) -> list[tuple[int, OutboxEvent]]:
        rows = tx.execute(
            "SELECT oseq, body FROM en_outbox WHERE task_id = ? AND oseq <= ?"
            " ORDER BY oseq LIMIT ?",
            (task_id, upto if upto is not None else 2**62, limit),
        ).fetchall()
        return [(int(r[0]), decode_event(bytes(r[1]))) for r in rows]

    @staticmethod
    def forget_relayed(tx: Driver, task_id: str, first: int, last: int) -> None:
        """Drops outbox rows trace_store has confirmed (by range: rows another writer added
        meanwhile stay until their own writer relays them)."""
        tx.execute(
            "DELETE FROM en_outbox WHERE task_id = ? AND oseq BETWEEN ? AND ?",
            (task_id, first, last),
        )

    def last_outbox_seq(self, task_id: str) -> int:
        with self.read() as tx:
            row = tx.execute(
                "SELECT outbox_seq FROM en_tasks WHERE task_id = ?", (task_id,)
            ).fetchone()
        return int(row[0]) if row else 0

    def orphaned_outboxes(self, now_ns: int, quiet_ns: int, limit: int) -> list[str]:
        """Tasks whose outbox holds events no worker is relaying: no live lease, and no change
        for `quiet_ns` (a run that just ended may still be relaying its last step)."""
        with self.read() as tx:
            rows = tx.execute(
                "SELECT DISTINCT o.task_id FROM en_outbox o JOIN en_tasks t"
                " ON t.task_id = o.task_id WHERE (t.lease_owner = '' OR t.lease_expires_ns < ?)"
                " AND t.updated_ns < ? ORDER BY o.task_id LIMIT ?",
                (now_ns, now_ns - quiet_ns, limit),
            ).fetchall()
        return [r[0] for r in rows]

    # ------------------------------------------------------------------ plans

    @staticmethod
    def save_plan(
        tx: Driver, plan_id: str, version: int, digest: str, source: str, text: str, now: int
    ) -> str:
        """Stores the plan text a task runs (once per id and version); returns the digest
        already stored, so the caller can refuse a different plan under the same version."""
        # Insert-or-keep in one statement: concurrent first submissions of a plan both succeed.
        tx.execute(
            "INSERT INTO en_plans (plan_id, version, digest, source, text, created_ns)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (plan_id, version) DO NOTHING",
            (plan_id, version, digest, source, text, now),
        )
        row = tx.execute(
            "SELECT digest FROM en_plans WHERE plan_id = ? AND version = ?", (plan_id, version)
        ).fetchone()
        return str(row[0])

    def plan_text(self, plan_id: str, version: int) -> tuple[str, str]:
        with self.read() as tx:
            row = tx.execute(
                "SELECT text, source FROM en_plans WHERE plan_id = ? AND version = ?",
                (plan_id, version),
            ).fetchone()
        if row is None:
            raise NotFound(f"plan {plan_id} version {version} is not stored")
        return str(row[0]), str(row[1])

    @staticmethod
    def stored_plans(tx: Driver) -> list[tuple[str, int, str, str]]:
        return [
            (r[0], int(r[1]), r[2], r[3])
            for r in tx.execute("SELECT plan_id, version, text, source FROM en_plans").fetchall()
        ]


def human_inputs_json(current: Mapping[str, Mapping[str, Any]], node_id: str, values: Any) -> str:
    merged = {k: dict(v) for k, v in current.items()}
    merged[node_id] = {**merged.get(node_id, {}), **values}
    return dumps(merged)
