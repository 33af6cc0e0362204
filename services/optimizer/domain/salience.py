"""SPEC 2.5: salience of each event: severity + user impact + cost delta + failure relatedness,
weighted by configuration, with each part of the score returned; Top-K, then the rest paged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentledger.core.errors import InvalidArgument
from services.optimizer.domain.events import (
    SEVERITY_MAX,
    Event,
    check_events,
    input_hash,
    is_failure,
    may_carry_usage,
    payload,
    usage,
)
from services.optimizer.domain.graph import check_number

SALIENCE_VERSION = "salience-1.0.0"
PARTS = ("severity", "user_impact", "cost_delta", "failure_relatedness")
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "severity": 0.35,
    "user_impact": 0.35,
    "cost_delta": 0.15,
    "failure_relatedness": 0.15,
}
MAX_PAGE = 1000

# How much an event changes what the user sees or must do, 0..1. Decisions and state changes
# are scored by their outcome; other types by kind; anything unknown counts a little.
DECISION_IMPACT = {"fail": 1.0, "pause": 0.9, "degrade": 0.7, "retry": 0.4, "continue": 0.1}
STATE_IMPACT = {"FAILED": 1.0, "WAITING_INPUT": 0.9, "PAUSED": 0.9, "COMPLETED": 0.8,
                "CANCELLED": 0.8}  # fmt: skip
TYPE_IMPACT = {"node.needs_input": 0.9, "governance.conflict": 0.8, "node.failed": 0.6,
               "node.completed": 0.2, "task.created": 0.2}  # fmt: skip
OTHER_IMPACT = 0.1
_READS = frozenset({"governance.decision", "task.state_changed"})  # payloads the impact reads
# Failure relatedness: the failure itself, or another event about a node that failed.
FAILURE_ITSELF, SAME_NODE = 1.0, 0.5


@dataclass(frozen=True, slots=True)
class SalienceConfig:
    weights: Mapping[str, float]
    top_k: int = 10


@dataclass(frozen=True, slots=True)
class ScoredEvent:
    seq: int
    type: str
    node_id: str
    score: float
    parts: tuple[float, float, float, float]  # weighted, in PARTS order; they add up to score


@dataclass(frozen=True, slots=True)
class SalienceRanking:
    salience_version: str
    input_hash: str
    total: int
    top: tuple[ScoredEvent, ...]
    page: tuple[ScoredEvent, ...]  # ranks top_k + offset onwards
    next_offset: int  # 0: no further page
    evidence: dict[str, Any]


def check_weights(weights: Mapping[str, float]) -> None:
    for name, w in weights.items():
        if name not in PARTS:
            raise InvalidArgument(f"salience weight {name!r}; the parts are {', '.join(PARTS)}")
        check_number(w, f"salience weight {name!r}")
    if not any(weights.get(p, 0.0) > 0 for p in PARTS):
        raise InvalidArgument("every salience weight is 0; give at least one part a weight")


def _impact(e: Event, p: Mapping[str, Any]) -> float:
    if e.type == "governance.decision":
        return DECISION_IMPACT.get(str(p.get("action", "")), OTHER_IMPACT)
    if e.type == "task.state_changed":
        return STATE_IMPACT.get(str(p.get("to", "")), OTHER_IMPACT)
    return TYPE_IMPACT.get(e.type, OTHER_IMPACT)


def rank(
    events: Sequence[Event],
    config: SalienceConfig,
    *,
    top_k: int = 0,
    offset: int = 0,
    page_size: int = 50,
    weights: Mapping[str, float] | None = None,
) -> SalienceRanking:
    """Scores every event and orders them by score (ties: the earlier event first)."""
    ordered = check_events(events)
    if not ordered:
        raise InvalidArgument("there are no events to rank; send at least one")
    w = weights or config.weights
    check_weights(w)
    k = top_k or config.top_k
    if k < 0 or offset < 0 or not 1 <= page_size <= MAX_PAGE:
        raise InvalidArgument(
            f"top_k {top_k}, offset {offset}, page_size {page_size}: use top_k >= 0 (0: the"
            f" configured {config.top_k}), offset >= 0 and a page size of 1..{MAX_PAGE}"
        )
    failures = [is_failure(e) for e in ordered]
    failed_nodes = {e.node_id for e, f in zip(ordered, failures, strict=True) if f and e.node_id}
    impacts: list[float] = []
    tokens: list[int] = []
    usds: list[float] = []
    for e in ordered:
        p = payload(e) if e.type in _READS or may_carry_usage(e) else {}
        impacts.append(_impact(e, p))
        t, u = usage(p) if p else (0, 0.0)
        tokens.append(t)
        usds.append(u)
    # Cost in dollars when any event has a price, else in tokens; relative to the largest.
    costs, unit = (usds, "usd") if any(usds) else (tokens, "tokens")
    most = max(costs) or 1
    ws, wi, wc, wf = (w.get(name, 0.0) for name in PARTS)

    def parts(i: int) -> tuple[float, float, float, float]:
        e = ordered[i]
        related = FAILURE_ITSELF if failures[i] else SAME_NODE if e.node_id in failed_nodes else 0.0
        return (ws * e.severity / SEVERITY_MAX, wi * impacts[i], wc * costs[i] / most, wf * related)

    # Scores for all, ScoredEvent objects only for what is returned: 100,000 events stay cheap.
    scores = [sum(parts(i)) for i in range(len(ordered))]
    ranked = sorted(range(len(ordered)), key=lambda i: (-scores[i], ordered[i].seq))
    start = k + offset

    def scored(i: int) -> ScoredEvent:
        e = ordered[i]
        return ScoredEvent(e.seq, e.type, e.node_id, scores[i], parts(i))

    return SalienceRanking(
        salience_version=SALIENCE_VERSION,
        input_hash=input_hash(ordered),
        total=len(ordered),
        top=tuple(scored(i) for i in ranked[:k]),
        page=tuple(scored(i) for i in ranked[start : start + page_size]),
        next_offset=offset + page_size if start + page_size < len(ordered) else 0,
        evidence={
            "weights": {name: w.get(name, 0.0) for name in PARTS},
            "top_k": k,
            "severity": f"severity / {SEVERITY_MAX}",
            "user_impact": {"decisions": DECISION_IMPACT, "states": STATE_IMPACT,
                            "types": TYPE_IMPACT, "other": OTHER_IMPACT},
            "cost_delta": f"the event's {unit} / the largest in the set (usd when any event"
            " has a price, else tokens)",
            "failure_relatedness": {"failure": FAILURE_ITSELF, "same node as a failure": SAME_NODE},
            "failed_nodes": sorted(failed_nodes),
        },
    )  # fmt: skip
