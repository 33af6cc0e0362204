"""Typed asyncio client of the Optimizer, for the engine, the product service and tests.

Deadlines on every call; every RPC is a pure function of its request, so every call is retried
on UNAVAILABLE/RESOURCE_EXHAUSTED; failures arrive as ``agentledger.core.errors`` exceptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from agentledger.core.client import Identity, call_metadata, open_channel, with_retries
from agentledger.optimizer.v1 import optimizer_pb2 as pb
from agentledger.optimizer.v1 import optimizer_pb2_grpc as pb_grpc
from agentledger.trace_store.v1 import trace_store_pb2 as ts


def as_events(items: Iterable[pb.Event | ts.TraceEvent]) -> list[pb.Event]:
    """Optimizer events from trace_store events (the wire formats share field numbers)."""
    out = []
    for e in items:
        if isinstance(e, pb.Event):
            out.append(e)
            continue
        event = pb.Event.FromString(e.SerializeToString())
        event.DiscardUnknownFields()  # event_id, blob_ids, task_id, cursor: not needed here
        out.append(event)
    return out


class OptimizerClient:
    def __init__(self, target: str, *, timeout_s: float = 30.0, identity: Identity = "") -> None:
        self._channel = open_channel(target)
        self._stub = pb_grpc.OptimizerStub(self._channel)
        self._timeout = timeout_s
        self._identity = identity

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> OptimizerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _md(self) -> tuple[tuple[str, str], ...]:
        return call_metadata(self._identity)

    async def plan_schedule(
        self,
        plan: pb.PlanGraph,
        *,
        budget: pb.Budget | None = None,
        completed: Iterable[str] = (),
        top_k: int = 0,
        phase_weights: Mapping[str, float] | None = None,
    ) -> pb.SchedulePlan:
        request = pb.PlanScheduleRequest(
            plan=plan,
            budget=budget,
            completed=list(completed),
            top_k=top_k,
            phase_weights=dict(phase_weights or {}),
        )
        response: pb.PlanScheduleResponse = await with_retries(
            lambda: self._stub.PlanSchedule(request, timeout=self._timeout, metadata=self._md())
        )
        return response.schedule

    async def plan_recovery(
        self,
        plan: pb.PlanGraph,
        failure: pb.FailureSignals,
        *,
        completed_input_digests: Mapping[str, str] | None = None,
        current_input_digests: Mapping[str, str] | None = None,
    ) -> pb.RecoveryPlan:
        request = pb.PlanRecoveryRequest(
            plan=plan,
            failure=failure,
            completed_input_digests=dict(completed_input_digests or {}),
            current_input_digests=dict(current_input_digests or {}),
        )
        response: pb.PlanRecoveryResponse = await with_retries(
            lambda: self._stub.PlanRecovery(request, timeout=self._timeout, metadata=self._md())
        )
        return response.recovery

    async def plan_frontier(self, plan: pb.PlanGraph, *, record_limit: int = 0) -> pb.PlanFrontier:
        request = pb.ComputeFrontierRequest(plan=plan, record_limit=record_limit)
        return (await self._frontier(request)).plan

    async def candidate_frontier(
        self,
        objectives: Sequence[tuple[str, bool]],
        candidates: Iterable[tuple[str, Sequence[float]]],
        *,
        record_limit: int = 0,
    ) -> pb.CandidateFrontier:
        """`objectives` as (name, maximize); `candidates` as (id, one value per objective)."""
        request = pb.ComputeFrontierRequest(
            candidates=pb.CandidateSet(
                objectives=[pb.Objective(name=n, maximize=m) for n, m in objectives],
                candidates=[pb.Candidate(id=i, values=list(v)) for i, v in candidates],
            ),
            record_limit=record_limit,
        )
        return (await self._frontier(request)).candidates

    async def _frontier(self, request: pb.ComputeFrontierRequest) -> pb.ComputeFrontierResponse:
        return await with_retries(
            lambda: self._stub.ComputeFrontier(request, timeout=self._timeout, metadata=self._md())
        )

    async def summarize_events(
        self,
        events: Iterable[pb.Event | ts.TraceEvent],
        *,
        after_seq: int = 0,
        page_size: int = 0,
    ) -> pb.EventSummary:
        request = pb.SummarizeEventsRequest(
            events=as_events(events), after_seq=after_seq, page_size=page_size
        )
        response: pb.SummarizeEventsResponse = await with_retries(
            lambda: self._stub.SummarizeEvents(request, timeout=self._timeout, metadata=self._md())
        )
        return response.summary

    async def rank_salience(
        self,
        events: Iterable[pb.Event | ts.TraceEvent],
        *,
        top_k: int = 0,
        offset: int = 0,
        page_size: int = 0,
        weights: Mapping[str, float] | None = None,
    ) -> pb.RankSalienceResponse:
        request = pb.RankSalienceRequest(
            events=as_events(events),
            top_k=top_k,
            offset=offset,
            page_size=page_size,
            weights=dict(weights or {}),
        )
        return await with_retries(
            lambda: self._stub.RankSalience(request, timeout=self._timeout, metadata=self._md())
        )

    async def forecast_cost(
        self, plan_id: str, features: pb.ForecastFeatures, plan: pb.PlanGraph
    ) -> pb.ForecastCostResponse:
        request = pb.ForecastCostRequest(plan_id=plan_id, features=features, plan=plan)
        return await with_retries(
            lambda: self._stub.ForecastCost(request, timeout=self._timeout, metadata=self._md())
        )

    async def reconcile_forecast(
        self,
        forecast: pb.ForecastCostResponse,
        actual_tokens: int,
        actual_latency_s: float,
    ) -> pb.ReconcileForecastResponse:
        request = pb.ReconcileForecastRequest(
            tokens_range=forecast.cost_forecast_tokens_range,
            latency_range=forecast.latency_forecast_range,
            source=forecast.source,
            actual_tokens=actual_tokens,
            actual_latency_s=actual_latency_s,
        )
        return await with_retries(
            lambda: self._stub.ReconcileForecast(
                request, timeout=self._timeout, metadata=self._md()
            )
        )

    async def calibration_report(self, plan_id: str = "") -> pb.GetCalibrationReportResponse:
        request = pb.GetCalibrationReportRequest(plan_id=plan_id)
        return await with_retries(
            lambda: self._stub.GetCalibrationReport(
                request, timeout=self._timeout, metadata=self._md()
            )
        )
