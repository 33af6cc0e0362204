"""StateManager: the only code that writes a task's state (SPEC invariant 1).

Every transition is checked against the declared table, written together with a transition row
(unique per task and sequence number, so none is ever written twice) and a `task.state_changed`
event carrying the actor and the reason, in the caller's transaction. A worker's transitions are
fenced by its lease epoch; transitions made on behalf of a user (submit, cancel, resume, retry)
require that no worker holds the task.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentledger.core.db import Driver
from agentledger.core.errors import FailedPrecondition, NotFound
from services.engine.domain.ids import new_event_id
from services.engine.domain.model import (
    SEVERITY_ERROR,
    SEVERITY_INFO,
    SEVERITY_NOTICE,
    Fence,
    LeaseLost,
    OutboxEvent,
    TaskRecord,
    Transition,
)
from services.engine.domain.states import State, check_transition, parse_state
from services.engine.domain.store import TASK_COLUMNS, dumps

# Columns a transition may set along with the state (what the new state means).
TRANSITION_COLUMNS = frozenset(
    {
        "lease_owner",
        "lease_epoch",
        "lease_expires_ns",
        "available_ns",
        "started_ns",
        "ended_ns",
        "failure_type",
        "failure_message",
        "result_json",
        "pending_json",
        "human_input_json",
        "inputs_json",
        "control",
        "control_actor",
        "control_reason",
        "pause_count",
        "run_seconds",
    }
)


class StateManager:
    @staticmethod
    def create(tx: Driver, t: TaskRecord) -> None:
        """Inserts a new task in CREATED; its first transition follows in the same transaction."""
        tx.execute(
            f"INSERT INTO en_tasks ({TASK_COLUMNS}) VALUES ({', '.join('?' * 40)})",
            (
                t.task_id,
                t.owner,
                t.tenant,
                t.goal,
                t.mode,
                dumps(t.inputs),
                t.budget.tokens,
                t.budget.usd,
                t.budget.seconds,
                t.plan_id,
                t.plan_version,
                t.plan_rule,
                dumps(t.plan_evidence),
                State.CREATED.value,
                0,
                "",
                "",
                "",
                "",
                0,
                0,
                t.priority,
                t.available_ns,
                t.created_ns,
                t.updated_ns,
                0,
                0,
                0.0,
                0,
                0,
                0.0,
                0.0,
                0,
                0,
                "",
                "",
                "{}",
                "",
                "{}",
                "",
            ),
        )

    def transition(
        self,
        tx: Driver,
        task_id: str,
        current: State,
        target: State,
        *,
        actor: str,
        reason: str,
        now_ns: int,
        fence: Fence | None,
        set_columns: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> tuple[Transition, OutboxEvent]:
        """Moves the task from `current` to `target` inside `tx`; returns the transition and
        the event to put in the outbox. Raises FailedPrecondition when the table forbids it or
        the task is no longer in `current`, LeaseLost when `fence` no longer holds."""
        check_transition(task_id, current, target)
        columns = dict(set_columns or {})
        unknown = set(columns) - TRANSITION_COLUMNS
        if unknown:
            raise ValueError(f"a transition cannot set {sorted(unknown)}")
        assignments = "".join(f", {c} = ?" for c in columns)
        sql = (
            "UPDATE en_tasks SET state = ?, state_seq = state_seq + 1, updated_ns = ?"
            f"{assignments} WHERE task_id = ? AND state = ?"
        )
        params: list[Any] = [target.value, now_ns, *columns.values(), task_id, current.value]
        if fence is None:
            sql += " AND lease_owner = ''"
        else:
            sql += " AND lease_owner = ? AND lease_epoch = ?"
            params += [fence.owner, fence.epoch]
        row = tx.execute(sql + " RETURNING state_seq, lease_epoch", params).fetchone()
        if row is None:
            self._explain_refusal(tx, task_id, current, fence)
        seq, epoch = int(row[0]), int(row[1])
        tx.execute(
            "INSERT INTO en_transitions (task_id, seq, from_state, to_state, actor, reason,"
            " epoch, at_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (task_id, seq, current.value, target.value, actor, reason, epoch, now_ns),
        )
        t = Transition(task_id, seq, current, target, actor, reason, epoch, now_ns)
        severity = (
            SEVERITY_ERROR
            if target is State.FAILED
            else SEVERITY_NOTICE
            if target in (State.PAUSED, State.WAITING_INPUT, State.CANCELLED)
            else SEVERITY_INFO
        )
        event = OutboxEvent(
            new_event_id(),
            "task.state_changed",
            {
                "from": current.value,
                "to": target.value,
                "reason": reason,
                "transition_seq": seq,
                "epoch": epoch,
                **(payload or {}),
            },
            severity=severity,
            actor=actor,
            time_ns=now_ns,
        )
        return t, event

    @staticmethod
    def _explain_refusal(tx: Driver, task_id: str, current: State, fence: Fence | None) -> None:
        row = tx.execute(
            "SELECT state, lease_owner, lease_epoch FROM en_tasks WHERE task_id = ?", (task_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"task {task_id} does not exist")
        state, owner, epoch = parse_state(row[0]), row[1], int(row[2])
        if fence is not None and (owner, epoch) != (fence.owner, fence.epoch):
            raise LeaseLost(
                f"task {task_id}: the lease of {fence.owner} (epoch {fence.epoch}) was taken"
                f" over (now {owner or 'nobody'}, epoch {epoch})"
            )
        if state is not current:
            raise FailedPrecondition(f"task {task_id} is {state}, not {current}")
        raise FailedPrecondition(f"task {task_id} is held by worker {owner} (epoch {epoch})")
