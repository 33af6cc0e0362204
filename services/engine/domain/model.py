"""The engine's records: a task as stored (also its queue entry), node checkpoints, outbox
events, budgets and the lease that fences a worker's writes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentledger.core.errors import Conflict
from services.engine.domain.agents.base import Usage
from services.engine.domain.states import State

SEVERITY_DEBUG, SEVERITY_INFO, SEVERITY_NOTICE, SEVERITY_WARNING, SEVERITY_ERROR = 1, 2, 3, 4, 5


class LeaseLost(Conflict):
    """The worker's claim on a task was taken over (its lease expired): it must stop writing."""


@dataclass(frozen=True, slots=True)
class Fence:
    """Who holds a task's lease, and the epoch its claim got: every write of the holder is
    conditional on both, so a worker whose lease was taken over can write nothing."""

    owner: str
    epoch: int


@dataclass(frozen=True, slots=True)
class Budget:
    tokens: int | None = None
    usd: float | None = None
    seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "usd": self.usd, "seconds": self.seconds}


@dataclass(frozen=True, slots=True)
class TaskRecord:
    task_id: str
    owner: str
    tenant: str
    goal: str
    mode: str
    inputs: Mapping[str, Any]
    budget: Budget
    plan_id: str
    plan_version: int
    plan_rule: str
    plan_evidence: Mapping[str, Any]
    state: State
    state_seq: int
    control: str
    control_actor: str
    control_reason: str
    lease_owner: str
    lease_epoch: int
    lease_expires_ns: int
    priority: int
    available_ns: int
    created_ns: int
    updated_ns: int
    started_ns: int
    ended_ns: int
    run_seconds: float
    usage: Usage
    degrade_count: int
    pause_count: int
    failure_type: str
    failure_message: str
    result: Mapping[str, Any]
    pending: Mapping[str, Any] | None
    human_input: Mapping[str, Mapping[str, Any]]
    forecast: Mapping[str, Any] = field(default_factory=dict)  # the optimizer's, when asked

    @property
    def fence(self) -> Fence:
        return Fence(self.lease_owner, self.lease_epoch)


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """A node's checkpoint. `completed` nodes never run again in this task."""

    node_id: str
    status: str  # completed | failed | waiting
    attempt: int
    variant: str
    tried_variants: tuple[str, ...]
    output: Mapping[str, Any]
    claims: Mapping[str, Any]
    failure: Mapping[str, Any] | None
    usage: Usage
    started_ns: int
    ended_ns: int
    epoch: int
    artifacts: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """An event on its way to trace_store: written in the same transaction as the change it
    records, then relayed (idempotently, by event id)."""

    event_id: str
    type: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    phase: str = ""
    node_id: str = ""
    severity: int = SEVERITY_INFO
    actor: str = ""
    time_ns: int = 0
    blob_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Transition:
    task_id: str
    seq: int
    from_state: State
    to_state: State
    actor: str
    reason: str
    epoch: int
    at_ns: int
