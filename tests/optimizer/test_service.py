"""Every Optimizer RPC through a real server and the typed client, byte-identical answers, and
INVALID_ARGUMENT naming the problem for bad input over the wire."""

from __future__ import annotations

import math

import orjson
import pytest
from grpc import StatusCode
from grpc.aio import AioRpcError
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agentledger.core.client import open_channel
from agentledger.core.errors import InvalidArgument, Unavailable
from agentledger.optimizer.v1 import optimizer_pb2 as pb
from agentledger.optimizer.v1.optimizer_pb2_grpc import OptimizerStub
from agentledger.trace_store.v1 import trace_store_pb2 as ts
from services.optimizer import server, wiring
from services.optimizer.client import OptimizerClient
from services.optimizer.domain.history import HistoryRecord
from services.optimizer.settings import OptimizerSettings
from tests.optimizer.conftest import Optimizer
from tests.optimizer.events import small_trace
from tests.optimizer.wire import plan


async def test_it_answers_health_checks(optimizer: Optimizer) -> None:
    async with open_channel(optimizer.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(
            health_pb2.HealthCheckRequest(service="agentledger.optimizer.v1.Optimizer")
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_plan_schedule(optimizer: Optimizer) -> None:
    s = await optimizer.client.plan_schedule(
        plan(), budget=pb.Budget(tokens=1000, usd=1.0), completed=["spec"], top_k=2
    )
    assert s.scheduler_version == "scheduler-1.0.0"
    assert [p.node_id for p in s.priorities] == ["spec", "build", "verify"]
    assert [p.node_id for p in s.priorities_topk] == ["spec", "build"]
    assert list(s.critical_path) == ["spec", "build", "verify"]
    assert s.critical_path_latency_s == 15.0
    assert sum(b.tokens for b in s.budget_allocation) == 1000
    assert s.anytime.node_id == "spec"
    assert orjson.loads(s.evidence_json)["top_k"] == 2
    again = await optimizer.client.plan_schedule(
        plan(), budget=pb.Budget(tokens=1000, usd=1.0), completed=["spec"], top_k=2
    )
    assert again.SerializeToString(deterministic=True) == s.SerializeToString(deterministic=True)


async def test_plan_recovery(optimizer: Optimizer) -> None:
    r = await optimizer.client.plan_recovery(
        plan(),
        pb.FailureSignals(node_id="build", http_status=503),
        completed_input_digests={"spec": "h1"},
    )
    assert r.recovery_policy_mapper_version == "recovery-policy-mapper-1.0.0"
    assert (r.failure_type, r.selected_policy.strategy) == ("tool_issue", "retry_with_backoff")
    assert r.selected_policy.delay_s == 1.5
    assert [p.strategy for p in r.available_policies] == [
        "retry_with_backoff", "switch_variant", "degrade"
    ]  # fmt: skip
    assert r.classification.rule == "http_status"
    assert orjson.loads(r.classification.evidence_json) == {"http_status": 503}
    data = await optimizer.client.plan_recovery(
        plan(),
        pb.FailureSignals(node_id="verify", validation_errors=["bad field"], exit_code=0),
        completed_input_digests={"spec": "h1", "build": "h2"},
        current_input_digests={"spec": "h1", "build": "h2"},
    )
    assert data.selected_policy.strategy == "rerun_upstream"
    assert list(data.selected_policy.rerun) == ["build", "verify"]
    assert list(data.selected_policy.reused) == ["spec"]


async def test_compute_frontier_of_a_plan_and_of_candidates(optimizer: Optimizer) -> None:
    f = await optimizer.client.plan_frontier(plan(), record_limit=5)
    assert f.exact and f.candidate_space == 2.0
    assert [[c.variant for c in p.choices] for p in f.frontier] == [
        ["primary", "primary", "primary"], ["primary", "cheap", "primary"]
    ]  # fmt: skip
    c = await optimizer.client.candidate_frontier(
        [("quality", True), ("usd", False)],
        [("a", [0.9, 1.0]), ("b", [0.8, 2.0]), ("c", [0.95, 3.0])],
    )
    assert [x.id for x in c.frontier] == ["a", "c"] and c.pruned == 1
    assert [(r.id, r.dominated_by) for r in c.rejected] == [("b", "a")]


def trace_events() -> list[ts.TraceEvent]:
    """The small trace as trace_store returns it, with its own fields filled in."""
    return [
        ts.TraceEvent(
            event_id=f"e{e.seq}",
            task_id="t1",
            seq=e.seq,
            cursor=f"c{e.seq}",
            type=e.type,
            phase=e.phase,
            node_id=e.node_id,
            severity=e.severity,  # type: ignore[arg-type]
            actor=e.actor,
            time_unix_nano=e.time_unix_nano,
            payload_json=e.payload_json,
            blob_ids=["ab" * 32],
        )
        for e in small_trace()
    ]


async def test_summarize_trace_store_events(optimizer: Optimizer) -> None:
    s = await optimizer.client.summarize_events(trace_events(), page_size=3)
    assert s.summarizer_version == "summarizer-1.0.0" and s.event_count == 10
    assert s.level0[1].text == "The task is COMPLETED: every node completed."
    assert [(r.first, r.last) for r in s.level0[1].seqs] == [(10, 10)]
    assert [line.seq for line in s.level2] == [1, 2, 3] and s.next_after_seq == 3
    again = await optimizer.client.summarize_events(trace_events(), page_size=3)
    assert again.SerializeToString(deterministic=True) == s.SerializeToString(deterministic=True)


async def test_rank_salience(optimizer: Optimizer) -> None:
    r = await optimizer.client.rank_salience(trace_events(), top_k=2, page_size=3)
    assert [e.seq for e in r.top] == [5, 7] and r.total == 10
    assert len(r.page) == 3 and r.next_offset == 3
    top = r.top[0]
    parts = top.parts
    total = parts.severity + parts.user_impact + parts.cost_delta + parts.failure_relatedness
    assert math.isclose(total, top.score)
    weighted = await optimizer.client.rank_salience(trace_events(), weights={"cost_delta": 1.0})
    assert weighted.top[0].seq == 7


async def test_forecast_reconcile_and_calibration(optimizer: Optimizer) -> None:
    features = pb.ForecastFeatures(mode="fast", tool_calls=0)
    thin = await optimizer.client.forecast_cost("report", features, plan())
    assert thin.source == "plan_estimates"
    assert (thin.cost_forecast_tokens_range.low, thin.cost_forecast_tokens_range.high) == (
        920,
        1495,
    )  # 1,150 tokens x (0.8, 1.3)
    optimizer.history.records = [
        HistoryRecord(f"t{i}", "report", "fast", 1000 + 10 * i, 20.0 + i, 10**18 + i)
        for i in range(40)
    ]
    f = await optimizer.client.forecast_cost("report", features, plan())
    assert (f.source, f.history_used) == ("history:plan+mode", 40)
    # Type 6: positions 0.1 x 41 = 4.1 and 0.9 x 41 = 36.9 between the sorted actuals.
    assert (f.cost_forecast_tokens_range.low, f.cost_forecast_tokens_range.high) == (1031, 1359)
    r = await optimizer.client.reconcile_forecast(f, actual_tokens=5000, actual_latency_s=30.0)
    assert (r.tokens_within, r.latency_within, r.source) == (False, True, "history:plan+mode")
    report = await optimizer.client.calibration_report("report")
    assert report.evaluated == 30 and report.skipped == 10 and report.nominal == 0.8


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("cycle", "cycle: a -> b -> a"),
        ("unknown_ref", "depends on 'ghost', which is not a node"),
        ("nan", "latency_s is nan"),
        ("negative", "usd is -1"),
        ("empty_graph", "no nodes"),
        ("empty_candidates", "candidate set is empty"),
        ("mismatched", "has 1 objective values, but there are 2"),
        ("no_source", "either a plan or a candidate set"),
        ("no_failure", "failure is required"),
        ("bad_mode", "mode 'turbo'"),
        ("no_events", "no events"),
    ],
)
async def test_bad_input_is_invalid_argument_over_the_wire(
    optimizer: Optimizer, call: str, message: str
) -> None:
    def node(id: str, *deps: str, latency_s: float = 1.0, usd: float = 0.0) -> pb.PlanNode:
        return pb.PlanNode(id=id, phase="build", depends_on=deps, latency_s=latency_s, usd=usd)

    requests = {
        "cycle": ("PlanSchedule", pb.PlanScheduleRequest(
            plan=pb.PlanGraph(nodes=[node("a", "b"), node("b", "a")]))),
        "unknown_ref": ("PlanSchedule", pb.PlanScheduleRequest(
            plan=pb.PlanGraph(nodes=[node("a", "ghost")]))),
        "nan": ("ComputeFrontier", pb.ComputeFrontierRequest(
            plan=pb.PlanGraph(nodes=[node("a", latency_s=math.nan)]))),
        "negative": ("PlanSchedule", pb.PlanScheduleRequest(
            plan=pb.PlanGraph(nodes=[node("a", usd=-1.0)]))),
        "empty_graph": ("PlanSchedule", pb.PlanScheduleRequest()),
        "empty_candidates": ("ComputeFrontier", pb.ComputeFrontierRequest(
            candidates=pb.CandidateSet(objectives=[pb.Objective(name="x")]))),
        "mismatched": ("ComputeFrontier", pb.ComputeFrontierRequest(
            candidates=pb.CandidateSet(
                objectives=[pb.Objective(name="x"), pb.Objective(name="y")],
                candidates=[pb.Candidate(id="a", values=[1.0])]))),
        "no_source": ("ComputeFrontier", pb.ComputeFrontierRequest()),
        "no_failure": ("PlanRecovery", pb.PlanRecoveryRequest(plan=plan())),
        "bad_mode": ("ForecastCost", pb.ForecastCostRequest(
            plan_id="p", features=pb.ForecastFeatures(mode="turbo"), plan=plan())),
        "no_events": ("SummarizeEvents", pb.SummarizeEventsRequest()),
    }  # fmt: skip
    method, request = requests[call]
    async with open_channel(optimizer.target) as channel:
        with pytest.raises(AioRpcError) as raised:
            await getattr(OptimizerStub(channel), method)(request)
    assert raised.value.code() == StatusCode.INVALID_ARGUMENT
    assert message in (raised.value.details() or "")


async def test_the_client_raises_domain_errors(optimizer: Optimizer) -> None:
    with pytest.raises(InvalidArgument, match="cycle"):
        await optimizer.client.plan_schedule(
            pb.PlanGraph(
                nodes=[
                    pb.PlanNode(id="a", phase="spec", depends_on=["b"]),
                    pb.PlanNode(id="b", phase="spec", depends_on=["a"]),
                ]
            )
        )


class DownHistory:
    async def completed_tasks(self, plan_id: str, limit: int) -> list[HistoryRecord]:
        raise Unavailable("trace_store at 127.0.0.1:1 is not answering")


async def test_a_forecast_without_history_falls_back_and_says_why() -> None:
    built = wiring.build(OptimizerSettings.from_env({}), history=DownHistory())
    running = await server.start(built.service, "127.0.0.1:0")
    try:
        async with OptimizerClient(f"127.0.0.1:{running.port}") as client:
            f = await client.forecast_cost("report", pb.ForecastFeatures(mode="fast"), plan())
            assert f.source == "plan_estimates"
            assert "not answering" in orjson.loads(f.evidence_json)["history_note"]
            with pytest.raises(Unavailable, match="not answering"):
                await client.calibration_report()
    finally:
        await running.stop(0)
        await built.close()
