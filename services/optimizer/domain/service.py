"""The Optimizer as one object: each RPC's domain call, with its configuration and history.

The modules are pure functions; this runs them in a worker thread, so that a summary of
100,000 events does not hold the event loop (health checks and other calls keep answering).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import ParamSpec, TypeVar

from agentledger.core.errors import DeadlineExceeded, InvalidArgument, Unavailable
from services.optimizer.domain import forecaster, pareto, salience, scheduler, summarizer
from services.optimizer.domain.dominance import Candidate, CandidateFrontier, Objective
from services.optimizer.domain.dominance import candidate_frontier as _candidate_frontier
from services.optimizer.domain.events import Event
from services.optimizer.domain.forecaster import (
    CalibrationReport,
    Features,
    Forecast,
    ForecastConfig,
    Reconciliation,
)
from services.optimizer.domain.graph import PlanGraph, check_graph
from services.optimizer.domain.history import HistorySource
from services.optimizer.domain.pareto import ParetoConfig, PlanFrontier
from services.optimizer.domain.recovery import (
    RecoveryConfig,
    RecoveryInput,
    RecoveryPlan,
    plan_recovery,
)
from services.optimizer.domain.salience import SalienceConfig, SalienceRanking
from services.optimizer.domain.scheduler import Budget, SchedulePlan, SchedulerConfig
from services.optimizer.domain.summarizer import EventSummary

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OptimizerConfig:
    scheduler: SchedulerConfig
    recovery: RecoveryConfig
    pareto: ParetoConfig
    salience: SalienceConfig
    forecast: ForecastConfig
    history_limit: int = 1000  # past tasks read per forecast or calibration


class OptimizerService:
    def __init__(self, config: OptimizerConfig, history: HistorySource, *, workers: int) -> None:
        self.config = config
        self._history = history
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="optimizer")

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def plan_schedule(
        self,
        graph: PlanGraph,
        budget: Budget,
        completed: frozenset[str],
        top_k: int,
        phase_weights: Mapping[str, float] | None,
    ) -> SchedulePlan:
        return await self._run(
            scheduler.schedule,
            graph,
            self.config.scheduler,
            budget,
            completed,
            top_k=top_k,
            phase_weights=phase_weights,
        )

    async def plan_recovery(self, request: RecoveryInput) -> RecoveryPlan:
        return await self._run(plan_recovery, request, self.config.recovery)

    async def plan_frontier(self, graph: PlanGraph, record_limit: int) -> PlanFrontier:
        config = self.config.pareto
        if record_limit:
            config = replace(config, record_limit=record_limit)
        return await self._run(pareto.plan_frontier, graph, config)

    async def candidate_frontier(
        self, candidates: Sequence[Candidate], objectives: Sequence[Objective], record_limit: int
    ) -> CandidateFrontier:
        limit = record_limit or self.config.pareto.record_limit
        return await self._run(_candidate_frontier, candidates, objectives, limit)

    async def summarize(
        self, events: Sequence[Event], after_seq: int, page_size: int
    ) -> EventSummary:
        return await self._run(
            summarizer.summarize, events, after_seq=after_seq, page_size=page_size
        )

    async def rank_salience(
        self,
        events: Sequence[Event],
        top_k: int,
        offset: int,
        page_size: int,
        weights: Mapping[str, float] | None,
    ) -> SalienceRanking:
        return await self._run(
            salience.rank,
            events,
            self.config.salience,
            top_k=top_k,
            offset=offset,
            page_size=page_size,
            weights=weights,
        )

    async def forecast(self, plan_id: str, features: Features, graph: PlanGraph) -> Forecast:
        if not plan_id:
            raise InvalidArgument("plan_id is empty; name the plan the task will run")
        dag = check_graph(graph)
        if not features.node_count:
            features = replace(features, node_count=len(dag.nodes))
        rank = scheduler.upward_ranks(dag, [n.latency_s for n in dag.nodes])
        try:
            records = await self._history.completed_tasks(plan_id, self.config.history_limit)
            unavailable = ""
        except (Unavailable, DeadlineExceeded) as exc:
            # A forecast is a hint: without history it still has the plan's estimates.
            records, unavailable = (), f"history unavailable: {exc}"
        return await self._run(
            forecaster.forecast,
            plan_id,
            features,
            sum(n.tokens for n in dag.nodes),
            max(rank),
            records,
            self.config.forecast,
            history_note=unavailable,
        )

    async def reconcile(
        self,
        tokens_range: tuple[int, int],
        latency_range: tuple[float, float],
        source: str,
        actual_tokens: int,
        actual_latency_s: float,
    ) -> Reconciliation:
        return forecaster.reconcile(
            tokens_range, latency_range, source, actual_tokens, actual_latency_s
        )

    async def calibration_report(self, plan_id: str) -> CalibrationReport:
        records = await self._history.completed_tasks(plan_id, self.config.history_limit)
        return await self._run(forecaster.calibration, records, self.config.forecast)
