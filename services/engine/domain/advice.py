"""What the engine asks the optimizer, and how it reads the answers: proposals with evidence,
never decisions (SPEC invariant 5). Governance rules may use them; the rules decide."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from services.engine.domain.decisions import NodeOutcome
from services.engine.domain.model import Budget
from services.engine.domain.plan import Plan


class Advisor(Protocol):
    """Each call returns a JSON-able proposal (with its module version and evidence), or an
    empty mapping when the optimizer could not answer: the engine goes on without it."""

    async def schedule(
        self, plan: Plan, budget: Budget, completed: Sequence[str]
    ) -> Mapping[str, Any]: ...

    async def frontier(self, plan: Plan) -> Mapping[str, Any]: ...

    async def forecast(self, plan: Plan, mode: str, goal: str) -> Mapping[str, Any]: ...

    async def recovery(
        self,
        plan: Plan,
        outcome: NodeOutcome,
        tried_variants: Sequence[str],
        completed_digests: Mapping[str, str],
        current_digests: Mapping[str, str],
    ) -> Mapping[str, Any]: ...

    async def reconcile(
        self, forecast: Mapping[str, Any], actual_tokens: int, actual_latency_s: float
    ) -> Mapping[str, Any]: ...


# What each mode asks of a path on the Pareto frontier: sort keys, best first.
MODE_PREFERENCES: dict[str, tuple[tuple[str, int], ...]] = {
    "fast": (("latency_s", 1), ("usd", 1), ("success_proxy", -1)),
    "balanced": (("success_proxy", -1), ("usd", 1), ("latency_s", 1)),
    "thorough": (("success_proxy", -1), ("risk", 1), ("latency_s", 1)),
}


def choose_path(paths: Sequence[Mapping[str, Any]], mode: str) -> dict[str, Any]:
    """The frontier path the task's mode prefers: {"choices": {node: variant}, "score": ...,
    "preference": [...]}; deterministic (ties broken by the choices themselves)."""
    if not paths:
        return {}
    prefs = MODE_PREFERENCES.get(mode, MODE_PREFERENCES["balanced"])

    def key(p: Mapping[str, Any]) -> tuple[Any, ...]:
        score = p["score"]
        return (
            *(sign * float(score.get(name, 0.0)) for name, sign in prefs),
            sorted(p["choices"].items()),
        )

    best = min(paths, key=key)
    return {
        "choices": dict(best["choices"]),
        "score": dict(best["score"]),
        "preference": [f"{'max' if s < 0 else 'min'} {n}" for n, s in prefs],
    }
