"""A run's dealings with the optimizer: proposals asked at the start without holding up the
first nodes (schedule, Pareto choice, forecast), a recovery proposal for each failed node, and
the forecast reconciled with the actuals at the end. All of it is evidence: governance decides.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from services.engine.domain.advice import Advisor, choose_path
from services.engine.domain.decisions import NodeOutcome
from services.engine.domain.model import NodeRecord, OutboxEvent, TaskRecord
from services.engine.domain.node_exec import input_digest
from services.engine.domain.plan import Plan, PlanNode
from services.engine.domain.run_events import Events
from services.engine.domain.states import TERMINAL, State

log = logging.getLogger("agentledger.engine.advice")


class RunAdvice:
    def __init__(self, advisor: Advisor, events: Events, task: TaskRecord, plan: Plan) -> None:
        self._advisor = advisor
        self._events = events
        self._task = task
        self._plan = plan
        self._start: asyncio.Task[list[OutboxEvent]] | None = None
        self.pareto: dict[str, str] = {}  # node -> variant on the path the mode prefers
        self.forecast: dict[str, Any] = dict(task.forecast)
        self.forecast_dirty = False  # to be saved with the next step
        self.digests: dict[str, str] = {}  # what each node ran on, in this run

    def start(self, completed: Sequence[str]) -> None:
        self._start = asyncio.get_running_loop().create_task(self._ask(sorted(completed)))

    def cancel(self) -> None:
        if self._start is not None:
            self._start.cancel()

    async def _ask(self, completed: list[str]) -> list[OutboxEvent]:
        out: list[OutboxEvent] = []
        schedule = await self._advisor.schedule(self._plan, self._task.budget, completed)
        if schedule:
            out.append(self._events.event("optimizer.schedule", schedule, "optimizer"))
        frontier = await self._advisor.frontier(self._plan)
        if frontier:
            paths = [
                {
                    "choices": {c["node_id"]: c["variant"] for c in p["choices"]},
                    "score": p.get("score", {}),
                }
                for p in frontier.get("frontier", [])
            ]
            chosen = choose_path(paths, self._task.mode)
            self.pareto = dict(chosen.get("choices", {}))
            payload = {
                k: frontier.get(k)
                for k in ("pareto_version", "candidate_space", "pruned", "exact", "error_bound")
            }
            payload |= {"frontier_size": len(paths), "mode": self._task.mode, "chosen": chosen}
            payload["rejected"] = frontier.get("rejected", [])[:5]
            out.append(self._events.event("optimizer.pareto", payload, "optimizer"))
        if not self.forecast:
            forecast = await self._advisor.forecast(self._plan, self._task.mode, self._task.goal)
            if forecast:
                self.forecast, self.forecast_dirty = dict(forecast), True
                out.append(self._events.event("optimizer.forecast", forecast, "optimizer"))
        return out

    def ready(self) -> list[OutboxEvent]:
        """The start's proposals once they have arrived (once)."""
        t = self._start
        if t is None or not t.done() or t.cancelled():
            return []
        self._start = None
        if t.exception() is not None:
            log.warning("optimizer advice for %s failed: %s", self._task.task_id, t.exception())
            return []
        return t.result()

    async def finish(self, target: State, tokens: int, seconds: float) -> list[OutboxEvent]:
        """At the end: the start's proposals if still on their way, then forecast vs actual."""
        out: list[OutboxEvent] = []
        if self._start is not None:
            await asyncio.wait([self._start])
            out += self.ready()
        if self.forecast and target in TERMINAL:
            reconciled = await self._advisor.reconcile(self.forecast, tokens, seconds)
            if reconciled:
                self.forecast = {**self.forecast, "reconciled": dict(reconciled)}
                self.forecast_dirty = True
                out.append(
                    self._events.event("optimizer.forecast_reconciled", reconciled, "optimizer")
                )
        return out

    async def recovery(
        self,
        outcomes: Sequence[tuple[PlanNode, NodeOutcome]],
        completed: Mapping[str, NodeRecord],
        inputs: Mapping[str, Any],
        tried: Mapping[str, Sequence[str]],
    ) -> dict[str, Mapping[str, Any]]:
        """A recovery proposal per failed node, with the digests a repair path compares."""
        failed = [(n, o) for n, o in outcomes if o.status == "failed"]
        if not failed:
            return {}
        nodes = {n.id: n for n in self._plan.nodes}
        current = {
            k: input_digest(
                {"inputs": inputs, "up": {d: completed[d].output for d in nodes[k].depends_on}}
            )
            for k in completed
        }
        ran = {k: v for k, v in self.digests.items() if k in completed}
        out: dict[str, Mapping[str, Any]] = {}
        for node, outcome in failed:
            proposal = await self._advisor.recovery(
                self._plan, outcome, tuple(tried.get(node.id, ())), ran, current
            )
            if proposal:
                out[node.id] = proposal
        return out

    def proposals(self, recovery: Mapping[str, Any] | None) -> dict[str, Any]:
        """What a governance checkpoint gets to cite."""
        proposals: dict[str, Any] = {}
        if recovery:
            proposals["recovery"] = recovery
        if self.pareto:
            proposals["pareto"] = self.pareto
        return proposals
