"""The forecaster reading real history from a trace_store server, and the settings."""

from __future__ import annotations

import pytest

from agentledger.common.v1 import common_pb2
from agentledger.core.errors import InvalidArgument
from agentledger.optimizer.v1 import optimizer_pb2 as pb
from agentledger.trace_store.v1 import trace_store_pb2 as ts
from services.optimizer import server, wiring
from services.optimizer.client import OptimizerClient
from services.optimizer.history_source import TraceStoreHistory
from services.optimizer.settings import OptimizerSettings
from services.trace_store.client import TraceStoreClient
from tests.conftest import Store
from tests.optimizer.wire import plan

T0 = 1_767_225_600_000_000_000


async def record_tasks(client: TraceStoreClient, count: int) -> None:
    for i in range(count):
        await client.put_summary(
            ts.TraceSummary(
                task_id=f"r{i:03d}", owner="alice", plan_id="report", mode="fast",
                state="COMPLETED" if i % 5 else "FAILED",
                cost=common_pb2.Cost(tokens_in=1000 + i, tokens_out=100),
                created_unix_nano=T0 + i * 10**9,
                ended_unix_nano=T0 + i * 10**9 + (20 + i) * 10**9,
            )
        )  # fmt: skip
    await client.put_summary(
        ts.TraceSummary(task_id="other", owner="bob", plan_id="etl", mode="fast",
                        state="COMPLETED", created_unix_nano=T0, ended_unix_nano=T0 + 10**9)
    )  # fmt: skip


async def test_trace_store_history_reads_completed_tasks_of_a_plan(store: Store) -> None:
    await record_tasks(store.client, 30)
    history = TraceStoreHistory(TraceStoreClient(store.target))
    try:
        records = await history.completed_tasks("report", 1000)
        assert len(records) == 24  # every fifth task failed
        assert all(r.plan_id == "report" and r.mode == "fast" for r in records)
        newest = records[0]
        assert newest.task_id == "r029" and newest.tokens == 1129 and newest.latency_s == 49.0
        assert [r.task_id for r in await history.completed_tasks("report", 3)] == [
            "r029", "r028", "r027"
        ]  # fmt: skip
        assert len(await history.completed_tasks("", 1000)) == 25
    finally:
        await history.close()


async def test_forecast_over_the_wire_from_trace_store_history(store: Store) -> None:
    await record_tasks(store.client, 30)
    settings = OptimizerSettings.from_env({"AGENTLEDGER_TRACE_STORE_ADDR": store.target})
    built = wiring.build(settings)
    running = await server.start(built.service, "127.0.0.1:0")
    try:
        async with OptimizerClient(f"127.0.0.1:{running.port}") as client:
            f = await client.forecast_cost("report", pb.ForecastFeatures(mode="fast"), plan())
            assert (f.source, f.history_used) == ("history:plan+mode", 24)
            assert 1100 <= f.cost_forecast_tokens_range.low < f.cost_forecast_tokens_range.high
            assert f.cost_forecast_tokens_range.high <= 1229
            report = await client.calibration_report()
            assert report.evaluated == 14  # 24 completed "report" tasks, the first 10 to learn
    finally:
        await running.stop(0)
        await built.close()


def test_settings_defaults_and_overrides() -> None:
    s = OptimizerSettings.from_env({})
    assert s.listen == "127.0.0.1:50053" and s.trace_store_target == "127.0.0.1:50051"
    assert s.config.scheduler.phase_weights["build"] == 0.5
    custom = OptimizerSettings.from_env(
        {
            "AGENTLEDGER_OPTIMIZER_LISTEN": "0.0.0.0:6000",
            "AGENTLEDGER_OPTIMIZER_PHASE_WEIGHTS": "build=2, verify=1",
            "AGENTLEDGER_OPTIMIZER_SALIENCE_WEIGHTS": "severity=1",
            "AGENTLEDGER_OPTIMIZER_SALIENCE_TOP_K": "3",
            "AGENTLEDGER_OPTIMIZER_PARETO_MAX_STATES": "64",
        }
    )
    assert custom.listen == "0.0.0.0:6000"
    assert custom.config.scheduler.phase_weights == {
        "spec": 0.0, "build": 2.0, "verify": 1.0, "govern": 0.0
    }  # fmt: skip
    assert custom.config.salience.weights["user_impact"] == 0.0
    assert custom.config.salience.top_k == 3 and custom.config.pareto.max_states == 64


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AGENTLEDGER_OPTIMIZER_PHASE_WEIGHTS": "deploy=1"}, "not NAME=WEIGHT"),
        ({"AGENTLEDGER_OPTIMIZER_PHASE_WEIGHTS": "build=x"}, "'x' is not a number"),
        ({"AGENTLEDGER_OPTIMIZER_PHASE_WEIGHTS": "build=-1"}, "must be a number >= 0"),
        ({"AGENTLEDGER_OPTIMIZER_PHASE_WEIGHTS": "build=0"}, "give a phase a weight"),
        ({"AGENTLEDGER_OPTIMIZER_SALIENCE_WEIGHTS": "severity=0"}, "every salience weight is 0"),
        ({"AGENTLEDGER_OPTIMIZER_PARETO_EPSILON": "2"}, "use < 1"),
        ({"AGENTLEDGER_OPTIMIZER_WORKERS": "0"}, "below its minimum"),
    ],
)
def test_bad_settings_stop_the_process_with_the_variable_named(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        OptimizerSettings.from_env(env)
