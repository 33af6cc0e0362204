"""The engine with a real Optimizer service: its proposals (schedule, Pareto choice, recovery,
forecast and its reconciliation) arrive as events with their versions and evidence, and
governance, which decides, cites them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.optimizer import server as optimizer_server
from services.optimizer import wiring as optimizer_wiring
from services.optimizer.settings import OptimizerSettings
from tests.conftest import Database, Store
from tests.engine.harness import EngineUnderTest, start_engine


@pytest.fixture
async def advised(
    database: Database, tmp_path: Path, store: Store
) -> AsyncIterator[EngineUnderTest]:
    settings = OptimizerSettings.from_env({"AGENTLEDGER_TRACE_STORE_ADDR": store.target})
    built = optimizer_wiring.build(settings)
    running = await optimizer_server.start(built.service, "127.0.0.1:0")
    engine = await start_engine(
        database, tmp_path, store, AGENTLEDGER_OPTIMIZER_ADDR=f"127.0.0.1:{running.port}"
    )
    try:
        yield engine
    finally:
        await engine.close()
        await running.stop(0)
        await built.close()


async def test_proposals_are_recorded_and_cited(advised: EngineUnderTest) -> None:
    task = await advised.submit("flaky")
    done = await advised.wait_state(task.task_id, {"COMPLETED", "FAILED"})
    assert done.state == "COMPLETED", done.failure_message
    events = await advised.events(task.task_id)
    by_type: dict[str, list[dict[str, object]]] = {}
    for t, _, p in events:
        by_type.setdefault(t, []).append(p)

    schedule = by_type["optimizer.schedule"][0]
    assert schedule["scheduler_version"] and schedule["critical_path"] == ["call", "after"]
    pareto = by_type["optimizer.pareto"][0]
    assert pareto["pareto_version"] and pareto["chosen"]["choices"] == {
        "call": "primary", "after": "primary"
    }  # fmt: skip
    forecast = by_type["optimizer.forecast"][0]
    assert forecast["forecaster_version"] and forecast["source"] == "plan_estimates"

    recoveries = by_type["optimizer.recovery"]
    assert len(recoveries) == 2  # one per failed attempt
    assert recoveries[0]["recovery_policy_mapper_version"]
    assert recoveries[0]["failure_type"] == "tool_issue"
    retries = [p for p in by_type["governance.decision"] if p["action"] == "retry"]
    assert len(retries) == 2
    # Governance decided; the proposal rides along as its evidence.
    proposal = retries[0]["conditions_evidence"]["proposal"]
    assert (
        proposal["recovery_policy_mapper_version"]
        == recoveries[0]["recovery_policy_mapper_version"]
    )

    reconciled = by_type["optimizer.forecast_reconciled"][0]
    assert reconciled["actual_tokens"] == 0
    summary = await advised.store.client.get_summary(task.task_id)
    assert summary.forecast.source == "plan_estimates"
    assert summary.forecast.latency_high_s >= summary.forecast.latency_low_s > 0
    # Every proposal is in the trace before the task's last transition.
    types = [t for t, _, _ in events]
    assert types.index("optimizer.forecast_reconciled") < len(types) - 1
    assert types[-1] == "task.state_changed"
