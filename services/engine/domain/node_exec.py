"""Runs one node's agent: builds its context (artifacts, events, limits, budget), enforces the
timeout, and turns whatever happens (a result, a raise, a hang) into a `NodeOutcome`."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from agentledger.core.clock import Clock
from agentledger.core.errors import InvalidArgument
from services.engine.domain.agents.base import (
    Agent,
    AgentContext,
    AgentResult,
    ArtifactRef,
    Failure,
    RateLimits,
    RemainingBudget,
    Usage,
)
from services.engine.domain.decisions import NodeOutcome
from services.engine.domain.failures import classify_exception
from services.engine.domain.ids import new_event_id
from services.engine.domain.model import SEVERITY_INFO, OutboxEvent
from services.engine.domain.plan import PlanNode, Variant
from services.engine.domain.protect import RunRedactor
from services.engine.domain.relay import TraceSink


class EventBuffer:
    """Events agents emit, held until the run's next step writes them to the outbox."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.pending: list[OutboxEvent] = []

    def take(self) -> list[OutboxEvent]:
        out, self.pending = self.pending, []
        return out

    def for_node(self, node: PlanNode, redactor: RunRedactor | None = None) -> NodeEvents:
        return NodeEvents(self, node, redactor or RunRedactor())

    def add(self, e: OutboxEvent) -> None:
        self.pending.append(e)


class NodeEvents:
    """The EventEmitter an agent gets: its events carry the node id and phase."""

    def __init__(self, buffer: EventBuffer, node: PlanNode, redactor: RunRedactor) -> None:
        self._buffer = buffer
        self._node = node
        self._redactor = redactor

    def emit(
        self, type: str, payload: Mapping[str, Any] | None = None, *, severity: int = SEVERITY_INFO
    ) -> None:
        if not type or type.startswith(("task.", "node.", "governance.")):
            raise InvalidArgument(
                f"agents may not emit {type!r}: task.*, node.* and governance.* are the engine's"
            )
        self.record(
            type,
            self._redactor.value(dict(payload or {})),
            severity=severity,
            actor=f"agent:{self._node.agent}",
        )

    def record(
        self,
        type: str,
        payload: Mapping[str, Any],
        *,
        severity: int = SEVERITY_INFO,
        actor: str = "engine",
        blob_ids: tuple[str, ...] = (),
    ) -> None:
        """Any event of this node, the engine's own included (no namespace check)."""
        self._buffer.add(
            OutboxEvent(
                new_event_id(),
                type,
                dict(payload),
                phase=self._node.phase,
                node_id=self._node.id,
                severity=severity,
                actor=actor,
                time_ns=self._buffer.clock.now_ns(),
                blob_ids=blob_ids,
            )
        )


class NodeArtifacts:
    """Writes a node's artifacts under artifacts/<node_id>/ and into trace_store as blobs."""

    def __init__(
        self,
        root: Path,
        task_id: str,
        node: PlanNode,
        sink: TraceSink,
        ev: NodeEvents,
        redactor: RunRedactor,
    ) -> None:
        self._dir = root / node.id
        self._task_id = task_id
        self._sink = sink
        self._events = ev
        self._redactor = redactor
        self.written: list[ArtifactRef] = []

    async def write(
        self, name: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> ArtifactRef:
        rel = PurePosixPath(name)
        if not name or rel.is_absolute() or ".." in rel.parts or "\\" in name:
            raise InvalidArgument(
                f"artifact name {name!r} must be a relative path without '..' (e.g. 'report.md')"
            )
        path = self._dir / rel
        # Text is redacted before it reaches the disk or the blob store (off the loop: a
        # tool's output can be large); binary content is kept as it is.
        data = await asyncio.to_thread(self._redactor.data, data)
        await asyncio.to_thread(_write_file, path, data)
        sha = await self._sink.put_blob(self._task_id, data, content_type)
        ref = ArtifactRef(str(rel), sha, len(data), content_type)
        self.written.append(ref)
        self._events.record(
            "node.artifact_written",
            {"name": ref.name, "sha256": sha, "size": ref.size, "content_type": content_type},
            blob_ids=(sha,),
        )
        return ref


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@dataclass(frozen=True)
class NodeRun:
    """One attempt of one node, with everything its context needs."""

    task_id: str
    node: PlanNode
    variant: Variant
    attempt: int
    inputs: Mapping[str, Any]
    upstream: Mapping[str, Mapping[str, Any]]
    budget: RemainingBudget
    work_dir: Path
    artifacts_dir: Path
    human_input: Mapping[str, Any] | None
    timeout_s: float


async def execute_node(
    run: NodeRun,
    agent: Agent | None,
    agent_error: Exception | None,
    *,
    sink: TraceSink,
    limits: RateLimits,
    buffer: EventBuffer,
    clock: Clock,
    redactor: RunRedactor | None = None,
) -> NodeOutcome:
    """Never raises (except on cancellation): failures come back classified in the outcome,
    and everything the agent handed back has passed ``redactor``."""
    redactor = redactor or RunRedactor()
    outcome = await _execute(run, agent, agent_error, sink, limits, buffer, clock, redactor)
    failure = outcome.failure
    if failure is not None:
        failure = replace(
            failure,
            message=redactor.text(failure.message),
            signals=redactor.value(dict(failure.signals)),
        )
    return replace(
        outcome,
        output=redactor.value(dict(outcome.output)),
        claims=redactor.value(dict(outcome.claims)),
        failure=failure,
        policy_violations=tuple(redactor.text(v) for v in outcome.policy_violations),
    )


async def _execute(
    run: NodeRun,
    agent: Agent | None,
    agent_error: Exception | None,
    sink: TraceSink,
    limits: RateLimits,
    buffer: EventBuffer,
    clock: Clock,
    redactor: RunRedactor,
) -> NodeOutcome:
    started = clock.now_ns()
    events = buffer.for_node(run.node, redactor)
    artifacts = NodeArtifacts(run.artifacts_dir, run.task_id, run.node, sink, events, redactor)
    try:
        if agent is None:
            raise agent_error or InvalidArgument(f"no agent for {run.variant.agent!r}")
        ctx = AgentContext(
            task_id=run.task_id,
            node_id=run.node.id,
            phase=run.node.phase,
            attempt=run.attempt,
            variant=run.variant.name,
            config=run.variant.config,
            inputs=run.inputs,
            upstream=run.upstream,
            budget=run.budget,
            work_dir=run.work_dir,
            artifacts=artifacts,
            events=events,
            limits=limits,
            human_input=run.human_input,
            timeout_s=run.timeout_s,
        )
        # asyncio.timeout rather than wait_for, which on 3.11 can swallow a cancellation.
        async with asyncio.timeout(run.timeout_s):
            result = await _call(agent, ctx, run.task_id)
        if not isinstance(result, AgentResult):
            raise TypeError(
                f"agent {run.variant.agent!r} returned {type(result).__name__}, not AgentResult"
            )
    except asyncio.CancelledError:
        raise
    except TimeoutError:
        failure = Failure(
            "tool_issue",
            f"node {run.node.id} timed out after {run.timeout_s:g}s",
            {"timeout_s": run.timeout_s},
        )
        return _failed(run, failure, clock.now_ns() - started, artifacts)
    except Exception as exc:
        return _failed(run, classify_exception(exc), clock.now_ns() - started, artifacts)
    duration = (clock.now_ns() - started) / 1e9
    status = (
        "needs_input"
        if result.needs_input is not None
        else "failed"
        if result.failure is not None
        else "completed"
    )
    output: dict[str, Any] = dict(result.output)
    if result.needs_input is not None:
        output = {
            "question": result.needs_input.question,
            "fields": list(result.needs_input.fields),
            "evidence": dict(result.needs_input.evidence),
        }
    refs = {a.sha256: a for a in (*artifacts.written, *result.artifacts)}
    if refs:
        # The engine owns this key: downstream nodes and the system trace read it.
        output["artifacts"] = [{"name": a.name, "sha256": a.sha256} for a in refs.values()]
    return NodeOutcome(
        node_id=run.node.id,
        phase=run.node.phase,
        status=status,
        attempt=run.attempt,
        variant=run.variant.name,
        usage=result.usage,
        output=output,
        failure=result.failure,
        success_proxy=result.success_proxy,
        verified=result.verified,
        claims=dict(result.claims),
        policy_violations=tuple(result.policy_violations),
        duration_s=duration,
    )


async def _call(agent: Agent, ctx: AgentContext, task_id: str) -> Any:
    execute = agent.execute
    if inspect.iscoroutinefunction(execute):
        return await execute(ctx, task_id)
    # A user's agent with a plain `def execute`: keep the event loop free while it works.
    result = await asyncio.to_thread(execute, ctx, task_id)
    if inspect.isawaitable(result):
        return await result
    return result


def _failed(
    run: NodeRun, failure: Failure, elapsed_ns: int, artifacts: NodeArtifacts
) -> NodeOutcome:
    output: dict[str, Any] = {}
    if artifacts.written:
        output["artifacts"] = [{"name": a.name, "sha256": a.sha256} for a in artifacts.written]
    return NodeOutcome(
        node_id=run.node.id,
        phase=run.node.phase,
        status="failed",
        attempt=run.attempt,
        variant=run.variant.name,
        usage=Usage(),
        output=output,
        failure=failure,
        duration_s=elapsed_ns / 1e9,
    )


def input_digest(values: Mapping[str, Any]) -> str:
    """A digest of what a node ran on, recorded so a repair can skip unchanged nodes."""
    return hashlib.sha256(orjson.dumps(values, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
