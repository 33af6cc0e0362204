"""The Optimizer gRPC servicer: validate and convert, one domain call, convert back."""

from __future__ import annotations

from grpc import aio

from agentledger.core.errors import InvalidArgument
from agentledger.optimizer.v1 import optimizer_pb2 as pb
from agentledger.optimizer.v1 import optimizer_pb2_grpc as pb_grpc
from services.optimizer import convert
from services.optimizer.domain.service import OptimizerService

DEFAULT_SUMMARY_PAGE = 100
DEFAULT_SALIENCE_PAGE = 50


def _require(request: object, field: str, what: str) -> None:
    if not request.HasField(field):  # type: ignore[attr-defined]
        raise InvalidArgument(f"{field} is required: {what}")


class OptimizerServicer(pb_grpc.OptimizerServicer):  # type: ignore[misc]  # no stubs for *_grpc
    def __init__(self, service: OptimizerService) -> None:
        self._svc = service

    async def PlanSchedule(
        self, request: pb.PlanScheduleRequest, context: aio.ServicerContext
    ) -> pb.PlanScheduleResponse:
        plan = await self._svc.plan_schedule(
            convert.graph(request.plan),
            convert.budget(request.budget),
            frozenset(request.completed),
            request.top_k,
            convert.weights(request.phase_weights, "phase_weights"),
        )
        return pb.PlanScheduleResponse(schedule=convert.schedule(plan))

    async def PlanRecovery(
        self, request: pb.PlanRecoveryRequest, context: aio.ServicerContext
    ) -> pb.PlanRecoveryResponse:
        _require(request, "failure", "the signals of the node that failed")
        plan = await self._svc.plan_recovery(convert.recovery_input(request))
        return pb.PlanRecoveryResponse(recovery=convert.recovery(plan))

    async def ComputeFrontier(
        self, request: pb.ComputeFrontierRequest, context: aio.ServicerContext
    ) -> pb.ComputeFrontierResponse:
        if request.record_limit < 0:
            raise InvalidArgument(f"record_limit is {request.record_limit}; it must be >= 0")
        source = request.WhichOneof("source")
        if source == "plan":
            frontier = await self._svc.plan_frontier(
                convert.graph(request.plan), request.record_limit
            )
            return convert.plan_frontier(frontier)
        if source == "candidates":
            candidates, objectives = convert.candidates(request.candidates)
            result = await self._svc.candidate_frontier(
                candidates, objectives, request.record_limit
            )
            return convert.candidate_frontier(result)
        raise InvalidArgument("send either a plan or a candidate set")

    async def SummarizeEvents(
        self, request: pb.SummarizeEventsRequest, context: aio.ServicerContext
    ) -> pb.SummarizeEventsResponse:
        summary = await self._svc.summarize(
            convert.events(request.events),
            request.after_seq,
            request.page_size or DEFAULT_SUMMARY_PAGE,
        )
        return pb.SummarizeEventsResponse(summary=convert.summary(summary))

    async def RankSalience(
        self, request: pb.RankSalienceRequest, context: aio.ServicerContext
    ) -> pb.RankSalienceResponse:
        ranking = await self._svc.rank_salience(
            convert.events(request.events),
            request.top_k,
            request.offset,
            request.page_size or DEFAULT_SALIENCE_PAGE,
            convert.weights(request.weights, "weights"),
        )
        return convert.salience(ranking)

    async def ForecastCost(
        self, request: pb.ForecastCostRequest, context: aio.ServicerContext
    ) -> pb.ForecastCostResponse:
        _require(request, "features", "at least the task's mode")
        result = await self._svc.forecast(
            request.plan_id, convert.features(request.features), convert.graph(request.plan)
        )
        return convert.forecast(result)

    async def ReconcileForecast(
        self, request: pb.ReconcileForecastRequest, context: aio.ServicerContext
    ) -> pb.ReconcileForecastResponse:
        tokens, latency = convert.ranges(request.tokens_range, request.latency_range)
        result = await self._svc.reconcile(
            tokens, latency, request.source, request.actual_tokens, request.actual_latency_s
        )
        return convert.reconciliation(result)

    async def GetCalibrationReport(
        self, request: pb.GetCalibrationReportRequest, context: aio.ServicerContext
    ) -> pb.GetCalibrationReportResponse:
        return convert.calibration(await self._svc.calibration_report(request.plan_id))
