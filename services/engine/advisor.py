"""The engine's Advisor over the Optimizer service: plans to PlanGraph messages, answers to
JSON-able proposals. When the optimizer cannot answer, the engine goes on without a proposal
(it only ever proposes) and says so in the log."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from agentledger.core.errors import AgentLedgerError
from agentledger.optimizer.v1 import optimizer_pb2 as pb
from services.engine.domain.decisions import NodeOutcome
from services.engine.domain.model import Budget
from services.engine.domain.plan import Plan
from services.optimizer.client import OptimizerClient

log = logging.getLogger("agentledger.engine.advisor")


def plan_graph(plan: Plan) -> pb.PlanGraph:
    return pb.PlanGraph(
        nodes=[
            pb.PlanNode(
                id=n.id,
                phase=n.phase,
                depends_on=list(n.depends_on),
                latency_s=n.estimates.latency_s,
                tokens=n.estimates.tokens,
                usd=n.estimates.usd,
                risk=n.risk,
                success_proxy=n.success_proxy,
                variants=[
                    pb.Variant(
                        name=v.name,
                        latency_s=v.estimates.latency_s,
                        tokens=v.estimates.tokens,
                        usd=v.estimates.usd,
                        risk=v.risk,
                        success_proxy=v.success_proxy,
                        kind=v.kind,
                    )
                    for v in n.variants
                ],
                subgoal=n.subgoal,
                max_attempts=n.retry.max_attempts,
                backoff_s=n.retry.backoff_s,
                max_backoff_s=n.retry.max_backoff_s,
            )
            for n in plan.nodes
        ]
    )


def _dict(message: Any) -> dict[str, Any]:
    """A message as JSON-able values: every field (defaults included), int64 as numbers, and
    `*_json` byte fields parsed (as `evidence` and the like)."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.name.endswith("_json") and field.type == field.TYPE_BYTES:
            out[field.name.removesuffix("_json")] = orjson.loads(value) if value else {}
        elif field.message_type is not None and field.message_type.GetOptions().map_entry:
            vtype = field.message_type.fields_by_name["value"]
            out[field.name] = {
                k: _dict(v) if vtype.message_type is not None else v for k, v in value.items()
            }
        elif field.message_type is not None:
            if field.is_repeated:
                out[field.name] = [_dict(v) for v in value]
            elif message.HasField(field.name):
                out[field.name] = _dict(value)
        elif field.is_repeated:
            out[field.name] = list(value)
        else:
            out[field.name] = value
    return out


class OptimizerAdvisor:
    def __init__(self, client: OptimizerClient) -> None:
        self.client = client
        self._plan_cache: dict[tuple[str, str], dict[str, Any]] = {}

    async def _ask(self, what: str, call: Any) -> dict[str, Any]:
        try:
            return _dict(await call)
        except AgentLedgerError as exc:
            log.warning("optimizer gave no %s proposal: %s", what, exc)
            return {}

    async def schedule(
        self, plan: Plan, budget: Budget, completed: Sequence[str]
    ) -> Mapping[str, Any]:
        return await self._ask(
            "schedule",
            self.client.plan_schedule(
                plan_graph(plan),
                budget=pb.Budget(
                    tokens=budget.tokens or 0, usd=budget.usd or 0.0, seconds=budget.seconds or 0.0
                ),
                completed=completed,
                top_k=5,
            ),
        )

    async def frontier(self, plan: Plan) -> Mapping[str, Any]:
        # A plan's frontier depends on the plan only: asked once per plan version.
        key = (plan.ref, plan.digest)
        if key not in self._plan_cache:
            answer = await self._ask(
                "Pareto", self.client.plan_frontier(plan_graph(plan), record_limit=20)
            )
            if not answer:
                return {}
            self._plan_cache[key] = answer
        return self._plan_cache[key]

    async def forecast(self, plan: Plan, mode: str, goal: str) -> Mapping[str, Any]:
        features = pb.ForecastFeatures(
            spec_length=len(goal),
            node_count=len(plan.nodes),
            tool_calls=sum(n.agent in ("command", "http", "llm") for n in plan.nodes),
            historical_retries=0.0,
            mode=mode,
        )
        return await self._ask(
            "forecast", self.client.forecast_cost(plan.id, features, plan_graph(plan))
        )

    async def recovery(
        self,
        plan: Plan,
        outcome: NodeOutcome,
        tried_variants: Sequence[str],
        completed_digests: Mapping[str, str],
        current_digests: Mapping[str, str],
    ) -> Mapping[str, Any]:
        f = outcome.failure
        signals: Mapping[str, Any] = f.signals if f is not None else {}
        exit_code = signals.get("exit_code")
        failure = pb.FailureSignals(
            node_id=outcome.node_id,
            kind_hint=f.kind if f is not None else "",
            exception_type=str(signals.get("exception_type", "")),
            exit_code=exit_code if isinstance(exit_code, int) else None,
            http_status=int(signals.get("http_status", 0) or 0),
            validation_errors=[str(e) for e in signals.get("validation_errors", []) or []],
            message=f.message if f is not None else "",
            attempt=outcome.attempt,
            variant=outcome.variant,
            tried_variants=list(tried_variants),
        )
        return await self._ask(
            "recovery",
            self.client.plan_recovery(
                plan_graph(plan),
                failure,
                completed_input_digests=completed_digests,
                current_input_digests=current_digests,
            ),
        )

    async def reconcile(
        self, forecast: Mapping[str, Any], actual_tokens: int, actual_latency_s: float
    ) -> Mapping[str, Any]:
        response = pb.ForecastCostResponse(
            cost_forecast_tokens_range=pb.TokenRange(
                **forecast.get("cost_forecast_tokens_range", {})
            ),
            latency_forecast_range=pb.LatencyRange(**forecast.get("latency_forecast_range", {})),
            source=str(forecast.get("source", "")),
        )
        return await self._ask(
            "reconciliation",
            self.client.reconcile_forecast(response, actual_tokens, actual_latency_s),
        )
