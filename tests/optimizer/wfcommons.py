"""Reads WfCommons instances (WfFormat JSON) into plan graphs for the scheduler's tests and B8."""

from __future__ import annotations

import os
from pathlib import Path

import networkx as nx
import orjson

from services.optimizer.domain.graph import Node, PlanGraph


def _data_dir() -> Path:
    """The shared data folder beside the checkout (`../shared/data`), wherever the checkout is:
    `AGENTLEDGER_SHARED_DATA` first, then next to the repository, then the workspace's."""
    candidates = [
        Path(p) / "wfcommons" for p in [os.environ.get("AGENTLEDGER_SHARED_DATA", "")] if p
    ]
    candidates += [
        Path(__file__).resolve().parents[3] / "shared" / "data" / "wfcommons",
        Path("/work/shared/data/wfcommons"),
    ]
    return next((c for c in candidates if c.is_dir()), candidates[-1])


DATA = _data_dir()


def instances() -> list[Path]:
    return sorted(DATA.glob("*.json"))


def load(path: Path) -> tuple[PlanGraph, dict[str, float], set[tuple[str, str]]]:
    """The graph, each task's runtime, and the edges: the union of `parents` and `children`,
    because some instances list only one side."""
    tasks = orjson.loads(path.read_bytes())["workflow"]["tasks"]
    names = {t["name"] for t in tasks}
    edges: set[tuple[str, str]] = set()
    for t in tasks:
        edges |= {(p, t["name"]) for p in t.get("parents", ()) if p in names}
        edges |= {(t["name"], c) for c in t.get("children", ()) if c in names}
    runtime = {t["name"]: float(t["runtimeInSeconds"]) for t in tasks}
    deps: dict[str, list[str]] = {t["name"]: [] for t in tasks}
    for a, b in sorted(edges):
        deps[b].append(a)
    nodes = tuple(
        Node(
            id=t["name"],
            phase="build",
            depends_on=tuple(deps[t["name"]]),
            latency_s=runtime[t["name"]],
        )
        for t in tasks
    )
    return PlanGraph(nodes), runtime, edges


def networkx_critical_path(
    runtime: dict[str, float], edges: set[tuple[str, str]]
) -> tuple[float, list[str]]:
    """The longest path by node weight, computed independently with networkx: a node's weight
    moves onto its out-edges, and every node gets an edge to a sink that carries its own."""
    g = nx.DiGraph()
    sink = "\0sink"
    for a, b in edges:
        g.add_edge(a, b, weight=runtime[a])
    for n, w in runtime.items():
        g.add_edge(n, sink, weight=w)
    path = nx.dag_longest_path(g, weight="weight")
    return nx.dag_longest_path_length(g, weight="weight"), path[:-1]
