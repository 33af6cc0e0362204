"""What the product service reads and writes outside its own tables: the engine's tasks and
trace_store's traces. The service adapters (`services/product/sources.py`) speak gRPC; tests of
the domain may hand in anything with these methods.

Shapes are the REST API's JSON (`agentledger.core.protojson.to_dict`): a summary is a dict with
`cost`, `extra` and so on, an event a dict with its `payload` parsed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class TaskView:
    """One engine task with its node states and the text of the plan it ran."""

    task: Mapping[str, Any]  # engine Task: task_id, owner, tenant, goal, mode, inputs, budget...
    nodes: Sequence[Mapping[str, Any]]  # engine NodeState: node_id, status, variant...
    plan_text: str  # the plan snapshot the task ran
    plan_in_catalog: bool  # False: the plan was submitted with the task


@dataclass(frozen=True, slots=True)
class Submission:
    owner: str
    tenant: str
    goal: str
    mode: str
    inputs: Mapping[str, Any]
    budget: Mapping[str, Any]  # tokens / usd / seconds, None or absent: unlimited
    plan_id: str
    plan_version: int
    plan_yaml: str
    priority: int


@dataclass(frozen=True, slots=True)
class ChangedTask:
    """A row of trace_store's task index (enough to know what to refresh)."""

    task_id: str
    state: str
    goal_status: str
    updated_ns: int
    ended_ns: int


class Tasks(Protocol):
    async def get(self, task_id: str) -> TaskView: ...

    async def submit(self, s: Submission) -> object:
        """Submits as the service on behalf of `s.owner`; returns the engine's answer (the
        task), which the domain hands back untouched."""
        ...


class Traces(Protocol):
    async def summary(self, task_id: str) -> Mapping[str, Any]: ...

    def pages(
        self, task_id: str, *, types: Sequence[str] = (), upto: int = 0
    ) -> AsyncIterator[list[Any]]:
        """The task's events, a page at a time, in seq order, parsed (optionally only these
        types); with `upto` (the summary's last seq) only those up to it, read in one stream."""
        ...

    def raw_pages(self, task_id: str, *, upto: int = 0) -> AsyncIterator[list[bytes]]:
        """The task's events as JSON bytes, payload spliced in unparsed (exports)."""
        ...

    def blob(self, task_id: str, blob_id: str) -> AsyncIterator[bytes]: ...

    async def record_goal(
        self, task_id: str, *, event_id: str, payload: Mapping[str, Any], goal_status: str
    ) -> int:
        """Appends the `goal.evaluated` event (idempotent by `event_id`) and sets the summary's
        goal status and `extra.goal`; returns the event's seq."""
        ...

    async def active(self, *, owner: str = "", tenant: str = "") -> int:
        """How many of the owner's (or tenant's) tasks have not ended, by the task index."""
        ...

    async def changed(self, since_ns: int, limit: int) -> list[ChangedTask]:
        """Tasks updated at or after `since_ns`, most recently updated first."""
        ...
