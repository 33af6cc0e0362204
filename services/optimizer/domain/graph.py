"""The plan DAG as the optimizer sees it, and the checks every module runs before using one."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from agentledger.core.errors import InvalidArgument

PHASES = ("spec", "build", "verify", "govern")
PRIMARY = "primary"
INF = math.inf


@dataclass(frozen=True, slots=True)
class Variant:
    """One way to run a node, with the figures the plan author declared for it."""

    name: str
    latency_s: float
    tokens: int
    usd: float
    risk: float = 0.0  # 0..1, lower is better
    success_proxy: float = 1.0  # 0..1, higher is better
    kind: str = ""  # "primary" | "degraded" | "alternative" | ""


@dataclass(frozen=True, slots=True)
class Node:
    """A plan node: its own figures are its primary variant; `variants` are the others."""

    id: str
    phase: str
    depends_on: tuple[str, ...] = ()
    latency_s: float = 1.0
    tokens: int = 0
    usd: float = 0.0
    risk: float = 0.0
    success_proxy: float = 1.0
    variants: tuple[Variant, ...] = ()
    subgoal: str = ""
    max_attempts: int = 1  # the node's retry policy: 1 = no retry
    backoff_s: float = 0.0  # delay before the 2nd attempt; doubles each time
    max_backoff_s: float = 60.0

    def options(self) -> tuple[Variant, ...]:
        """The primary first, then the declared variants, in the plan's order."""
        primary = Variant(
            PRIMARY, self.latency_s, self.tokens, self.usd, self.risk, self.success_proxy, PRIMARY
        )
        return (primary, *self.variants)


@dataclass(frozen=True, slots=True)
class PlanGraph:
    nodes: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Dag:
    """A checked graph, indexed by position: `order` is a topological order of positions."""

    nodes: tuple[Node, ...]
    index: Mapping[str, int]
    preds: tuple[tuple[int, ...], ...]
    succs: tuple[tuple[int, ...], ...]
    order: tuple[int, ...]
    edges: int = field(default=0)

    def ids(self, positions: Iterable[int]) -> list[str]:
        return [self.nodes[i].id for i in positions]

    def position(self, node_id: str, what: str) -> int:
        try:
            return self.index[node_id]
        except KeyError:
            raise InvalidArgument(
                f"{what} {node_id!r} is not a node of the plan; use one of its node ids"
            ) from None


def check_number(value: float, what: str, *, upper: float | None = None) -> None:
    """Refuses NaN, infinities, negatives and (when given) values above `upper`."""
    if not math.isfinite(value) or value < 0:
        raise InvalidArgument(f"{what} is {value}; it must be a finite number >= 0")
    if upper is not None and value > upper:
        raise InvalidArgument(f"{what} is {value}; it must be between 0 and {upper}")


def _check_figures(
    where: str, latency_s: float, tokens: int, usd: float, risk: float, success: float
) -> None:
    # One chained comparison per figure is false for NaN, infinities and negatives alike: the
    # common, valid case costs little on 10,000-node graphs; the slow path names the problem.
    if (
        0.0 <= latency_s < INF
        and 0 <= tokens < INF
        and 0.0 <= usd < INF
        and 0.0 <= risk <= 1.0
        and 0.0 <= success <= 1.0
    ):
        return
    check_number(latency_s, f"{where}: latency_s")
    check_number(tokens, f"{where}: tokens")
    check_number(usd, f"{where}: usd")
    check_number(risk, f"{where}: risk", upper=1.0)
    check_number(success, f"{where}: success_proxy", upper=1.0)


def _check_variants(n: Node) -> None:
    for v in n.variants:
        _check_figures(
            f"node {n.id!r} variant {v.name!r}",
            v.latency_s,
            v.tokens,
            v.usd,
            v.risk,
            v.success_proxy,
        )
    names = [v.name for v in n.variants]
    if len(set(names)) != len(names) or not all(names) or PRIMARY in names:
        raise InvalidArgument(
            f"node {n.id!r} has variant names {names}; they must be non-empty, unique"
            f" and not {PRIMARY!r}"
        )


def check_graph(graph: PlanGraph) -> Dag:
    """Validates a plan graph (ids, references, figures, acyclicity) and indexes it."""
    nodes = graph.nodes
    if not nodes:
        raise InvalidArgument("the plan graph has no nodes; send at least one")
    index: dict[str, int] = {}
    for i, n in enumerate(nodes):
        if not n.id:
            raise InvalidArgument(f"node #{i} has an empty id; every node needs a unique id")
        if n.id in index:
            raise InvalidArgument(f"node id {n.id!r} appears twice; node ids must be unique")
        if n.phase not in PHASES:
            raise InvalidArgument(
                f"node {n.id!r} has phase {n.phase!r}; use one of {', '.join(PHASES)}"
            )
        index[n.id] = i
    preds: list[tuple[int, ...]] = []
    succs: list[list[int]] = [[] for _ in nodes]
    edges = 0
    for i, n in enumerate(nodes):
        _check_figures(f"node {n.id!r}", n.latency_s, n.tokens, n.usd, n.risk, n.success_proxy)
        if n.variants:
            _check_variants(n)
        if n.max_attempts < 1 or not 0.0 <= n.backoff_s <= n.max_backoff_s < INF:
            raise InvalidArgument(
                f"node {n.id!r} retry policy: max_attempts {n.max_attempts} must be >= 1 and"
                f" 0 <= backoff_s {n.backoff_s} <= max_backoff_s {n.max_backoff_s}"
            )
        mine: list[int] = []
        for dep in n.depends_on:
            j = index.get(dep)
            if j is None:
                raise InvalidArgument(
                    f"node {n.id!r} depends on {dep!r}, which is not a node of the plan"
                )
            if j == i:
                raise InvalidArgument(f"node {n.id!r} depends on itself")
            if j in mine:
                raise InvalidArgument(f"node {n.id!r} lists dependency {dep!r} twice")
            mine.append(j)
            succs[j].append(i)
        edges += len(mine)
        preds.append(tuple(mine))
    order = _topological_order(preds, succs)
    if len(order) < len(nodes):
        raise InvalidArgument(f"the plan graph has a cycle: {_a_cycle(nodes, preds, order)}")
    return Dag(nodes, index, tuple(preds), tuple(tuple(s) for s in succs), tuple(order), edges)


def _topological_order(preds: list[tuple[int, ...]], succs: list[list[int]]) -> list[int]:
    # Kahn's algorithm; a FIFO in input order makes the order a function of the input alone.
    missing = [len(p) for p in preds]
    ready = deque(i for i, m in enumerate(missing) if m == 0)
    order: list[int] = []
    while ready:
        i = ready.popleft()
        order.append(i)
        for j in succs[i]:
            missing[j] -= 1
            if missing[j] == 0:
                ready.append(j)
    return order


def _a_cycle(nodes: tuple[Node, ...], preds: list[tuple[int, ...]], order: list[int]) -> str:
    """One cycle among the nodes Kahn's algorithm could not order, as 'a -> b -> a'."""
    placed = set(order)
    start = min(i for i in range(len(nodes)) if i not in placed)
    # Every unplaced node has an unplaced predecessor, so walking backwards must repeat.
    seen: dict[int, int] = {}
    path: list[int] = []
    i = start
    while i not in seen:
        seen[i] = len(path)
        path.append(i)
        i = next(p for p in preds[i] if p not in placed)
    loop = path[seen[i] :][::-1]
    first = min(range(len(loop)), key=lambda k: nodes[loop[k]].id)
    loop = loop[first:] + loop[:first]  # start at the smallest id: one message per cycle
    return " -> ".join(nodes[k].id for k in [*loop, loop[0]])


def closure(start: Iterable[int], step: tuple[tuple[int, ...], ...]) -> set[int]:
    """Every position reachable from `start` along `step` (preds: ancestors; succs: descendants),
    excluding the start positions unless reachable again."""
    seen: set[int] = set()
    stack = [j for i in start for j in step[i]]
    while stack:
        i = stack.pop()
        if i not in seen:
            seen.add(i)
            stack.extend(step[i])
    return seen
