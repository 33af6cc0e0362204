"""In-memory artifact writer, event emitter and rate limits, and a context builder for agents."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.engine.domain.agents.base import AgentContext, ArtifactRef, RemainingBudget


class MemoryArtifacts:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}

    async def write(
        self, name: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> ArtifactRef:
        self.blobs[name] = data
        self.content_types[name] = content_type
        return ArtifactRef(name, hashlib.sha256(data).hexdigest(), len(data), content_type)


@dataclass(frozen=True)
class Event:
    type: str
    payload: Mapping[str, Any]
    severity: int


class MemoryEvents:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(
        self, type: str, payload: Mapping[str, Any] | None = None, *, severity: int = 2
    ) -> None:
        self.events.append(Event(type, dict(payload or {}), severity))

    def of_type(self, type: str) -> list[Event]:
        return [e for e in self.events if e.type == type]


class RecordingLimits:
    """Lets every call through at once and remembers which buckets were asked."""

    def __init__(self) -> None:
        self.acquired: list[tuple[str, float]] = []

    async def acquire(self, key: str, cost: float = 1.0) -> None:
        self.acquired.append((key, cost))


@dataclass
class Harness:
    """What an engine hands an agent, kept so a test can look at what the agent did."""

    work_dir: Path
    artifacts: MemoryArtifacts = field(default_factory=MemoryArtifacts)
    events: MemoryEvents = field(default_factory=MemoryEvents)
    limits: RecordingLimits = field(default_factory=RecordingLimits)

    def context(
        self,
        config: Mapping[str, Any],
        *,
        inputs: Mapping[str, Any] | None = None,
        upstream: Mapping[str, Mapping[str, Any]] | None = None,
        budget: RemainingBudget | None = None,
        human_input: Mapping[str, Any] | None = None,
        timeout_s: float = 30.0,
    ) -> AgentContext:
        return AgentContext(
            task_id="t-1",
            node_id="n-1",
            phase="build",
            attempt=1,
            variant="primary",
            config=config,
            inputs=inputs or {},
            upstream=upstream or {},
            budget=budget or RemainingBudget(tokens=None, usd=None, seconds=None),
            work_dir=self.work_dir,
            artifacts=self.artifacts,
            events=self.events,
            limits=self.limits,
            human_input=human_input,
            timeout_s=timeout_s,
        )
