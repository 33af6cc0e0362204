"""The TraceStore's domain types: events, summaries, index rows, filters and statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

PHASES = frozenset({"", "spec", "build", "verify", "govern"})
TERMINAL_STATES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
SEVERITY_INFO, SEVERITY_MAX = 2, 6


class StoredEvent(NamedTuple):
    """An event read back: its sequence number and ``wire``, the whole event as the adapter's
    encoder wrote it (opaque here). A tuple, so that pages of thousands are cheap to build."""

    seq: int
    wire: bytes


class LiveEvent(NamedTuple):
    """An event just appended, on its way to live followers: with what their filters read."""

    seq: int
    wire: bytes
    type: str
    phase: str
    node_id: str
    severity: int


# A validated, encoded event without its sequence number:
# (event_id, type, phase, node_id, severity, wire).
PreparedEvent = tuple[str, str, str, str, int, bytes]


@dataclass(frozen=True, slots=True)
class AppendResult:
    seqs: list[int]
    duplicates: int
    last_seq: int
    # The events this append stored, numbered from first_seq.
    first_seq: int
    fresh: list[PreparedEvent]

    def live(self) -> list[LiveEvent]:
        first = self.first_seq
        return [
            LiveEvent(first + i, p[5], p[1], p[2], p[3], p[4]) for i, p in enumerate(self.fresh)
        ]


@dataclass(frozen=True, slots=True)
class EventFilter:
    types: frozenset[str] = frozenset()
    phases: frozenset[str] = frozenset()
    node_ids: frozenset[str] = frozenset()
    min_severity: int = 0

    @property
    def empty(self) -> bool:
        return not (self.types or self.phases or self.node_ids or self.min_severity)

    def matches(self, e: LiveEvent) -> bool:
        return (
            (not self.types or e.type in self.types)
            and (not self.phases or e.phase in self.phases)
            and (not self.node_ids or e.node_id in self.node_ids)
            and e.severity >= self.min_severity
        )


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[StoredEvent]
    # Sequence number up to which the log was examined: the next page starts after it.
    scanned_to: int
    has_more: bool
    last_seq: int
    state: str
    # The summary version the state was read from: newer versions win.
    version: int


@dataclass(frozen=True, slots=True)
class TaskIndex:
    """The indexed, queryable facts of a task, derived from its summary."""

    task_id: str
    owner: str
    tenant: str = ""
    mode: str = ""
    plan_id: str = ""
    plan_version: str = ""
    state: str = ""
    goal_status: str = ""
    failure_type: str = ""
    cost_usd: float = 0.0
    tokens: int = 0
    created_ns: int = 0
    updated_ns: int = 0
    ended_ns: int = 0
    degrade_count: int = 0
    pause_count: int = 0

    @property
    def duration_ms(self) -> int:
        end = self.ended_ns or self.updated_ns
        return max(0, (end - self.created_ns) // 1_000_000) if self.created_ns else 0


@dataclass(frozen=True, slots=True)
class Summary:
    """A task's summary: its index facts plus the document the UI shows first, in the adapter's
    wire form (opaque here; see WireEncoder)."""

    index: TaskIndex
    document: bytes
    version: int = 0
    last_seq: int = 0


@dataclass(frozen=True, slots=True)
class TaskRow:
    index: TaskIndex
    duration_ms: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class TaskFilter:
    task_ids: tuple[str, ...] = ()
    created_from_ns: int = 0
    created_to_ns: int = 0
    failure_types: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()
    min_cost_usd: float = 0.0
    max_cost_usd: float = 0.0
    states: tuple[str, ...] = ()
    goal_statuses: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    plan_ids: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()


class TaskSort:
    CREATED = "created"
    UPDATED = "updated"
    COST = "cost"
    DURATION = "duration"
    ALL = (CREATED, UPDATED, COST, DURATION)


@dataclass(frozen=True, slots=True)
class TaskPage:
    rows: list[TaskRow]
    next_cursor: str


@dataclass(frozen=True, slots=True)
class Stats:
    task_count: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    cost_usd_sum: float = 0.0
    tokens_sum: int = 0
    ended_count: int = 0
    duration_p50_ms: float = 0.0
    duration_p95_ms: float = 0.0
    degrade_rate: float = 0.0
    pause_rate: float = 0.0


@dataclass(frozen=True, slots=True)
class BlobInfo:
    sha256: str
    size: int
    content_type: str
    created: bool = False
