"""The agent contract: `Agent.execute(context, task_id) -> AgentResult`. It never changes.

An agent gets everything through its context (inputs, upstream outputs, remaining budget,
rate-limited tools, an artifact writer, an event emitter, its working folder) and answers with
an `AgentResult`. A failure is either raised as an `AgentFailure` (or any exception, which the
engine classifies as an execution issue) or returned in `AgentResult.failure`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

FAILURE_KINDS = ("data_issue", "execution_issue", "cost_issue", "spec_issue", "tool_issue")


class AgentFailure(Exception):
    """A node failure with its kind and the signals it was classified from (exit code, HTTP
    status, exception type, validation errors...)."""

    kind = "execution_issue"

    def __init__(self, message: str, *, signals: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.signals: dict[str, Any] = dict(signals or {})


class DataIssue(AgentFailure):
    kind = "data_issue"


class ExecutionIssue(AgentFailure):
    kind = "execution_issue"


class CostIssue(AgentFailure):
    kind = "cost_issue"


class SpecIssue(AgentFailure):
    kind = "spec_issue"


class ToolIssue(AgentFailure):
    kind = "tool_issue"


@dataclass(frozen=True, slots=True)
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0
    usd: float = 0.0
    tool_seconds: float = 0.0
    tool_calls: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.tokens_in + other.tokens_in,
            self.tokens_out + other.tokens_out,
            self.usd + other.usd,
            self.tool_seconds + other.tool_seconds,
            self.tool_calls + other.tool_calls,
        )

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


@dataclass(frozen=True, slots=True)
class Failure:
    kind: str  # one of FAILURE_KINDS
    message: str
    signals: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InputRequest:
    """What a `human` node asks the user for: the task waits in WAITING_INPUT until
    `ResumeTask` supplies these fields."""

    question: str
    fields: tuple[str, ...]
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    name: str  # path under the task's artifacts/<node_id>/
    sha256: str  # also the blob id in trace_store
    size: int
    content_type: str


@dataclass(frozen=True, slots=True)
class AgentResult:
    output: Mapping[str, Any] = field(default_factory=dict)  # JSON; passed downstream
    usage: Usage = field(default_factory=Usage)
    success_proxy: float | None = None  # 0..1: the agent's own confidence, when it has one
    verified: bool | None = None  # verify-phase nodes: did the check pass?
    claims: Mapping[str, Any] = field(default_factory=dict)  # compared across nodes (conflicts)
    policy_violations: tuple[str, ...] = ()
    artifacts: tuple[ArtifactRef, ...] = ()
    needs_input: InputRequest | None = None
    failure: Failure | None = None


@dataclass(frozen=True, slots=True)
class RemainingBudget:
    tokens: int | None  # None: unlimited
    usd: float | None
    seconds: float | None


class ArtifactWriter(Protocol):
    async def write(
        self, name: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> ArtifactRef: ...


class EventEmitter(Protocol):
    def emit(
        self, type: str, payload: Mapping[str, Any] | None = None, *, severity: int = 2
    ) -> None: ...


class RateLimits(Protocol):
    async def acquire(self, key: str, cost: float = 1.0) -> None:
        """Waits until the token bucket for `key` (e.g. "llm:openai", "tool:http") allows the
        call."""


@dataclass(frozen=True)
class AgentContext:
    task_id: str
    node_id: str
    phase: str
    attempt: int  # 1 on the first run of the node
    variant: str
    config: Mapping[str, Any]  # the node's (or the variant's) agent config
    inputs: Mapping[str, Any]  # the task's inputs
    upstream: Mapping[str, Mapping[str, Any]]  # outputs of the nodes this one depends on
    budget: RemainingBudget
    work_dir: Path  # the task's working folder (shared by its nodes)
    artifacts: ArtifactWriter
    events: EventEmitter
    limits: RateLimits
    human_input: Mapping[str, Any] | None = None  # what ResumeTask supplied for this node
    timeout_s: float = 300.0


@runtime_checkable
class Agent(Protocol):
    async def execute(self, context: AgentContext, task_id: str) -> AgentResult: ...
