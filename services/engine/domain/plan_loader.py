"""Reads plan YAML into a checked `Plan`; every problem names the file, the line and the field."""

from __future__ import annotations

import heapq
import json
from collections.abc import Collection, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from agentledger.core.errors import InvalidArgument, NotFound
from services.engine.domain.plan import (
    CHECK_TESTS,
    Estimates,
    GoalCheck,
    GovernanceSettings,
    InputField,
    Plan,
    PlanNode,
    RetryPolicy,
    SubGoal,
    Variant,
)
from services.engine.domain.yaml_source import (
    TYPE_WORDS,
    FieldPath,
    Problem,
    SourceDocument,
    canonical_digest,
    did_you_mean,
    parse_yaml,
    schema_problems,
    show_value,
)

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "plan.v1.json"


@cache
def plan_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(plan_schema())


def load_plan(text: str, *, source: str, known_agents: Collection[str] | None) -> Plan:
    """Parses, validates and checks a plan; raises InvalidArgument listing every problem.
    `known_agents` None leaves agent kinds unchecked: for readers of a plan the engine already
    accepted (the product layer reads GetPlan's text), who do not know its registered agents."""
    doc = parse_yaml(text, source=source)
    problems = schema_problems(doc, _validator())
    if problems:
        raise doc.invalid(problems)
    return _PlanBuilder(doc, known_agents).build()


def load_plan_file(path: str | Path, known_agents: Collection[str]) -> Plan:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"plan file {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"{path}: not UTF-8 text ({exc.reason})") from None
    return load_plan(text, source=str(path), known_agents=known_agents)


_INPUT_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "file": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


class _PlanBuilder:
    """Cross-field checks the schema cannot express, then the frozen `Plan`."""

    def __init__(self, doc: SourceDocument, known_agents: Collection[str] | None) -> None:
        self.doc = doc
        self.data: dict[str, Any] = doc.data
        self.nodes: list[dict[str, Any]] = doc.data["nodes"]
        self.known_agents = None if known_agents is None else sorted(known_agents)
        self.problems: list[Problem] = []

    def add(self, path: FieldPath, message: str) -> None:
        self.problems.append((path, message))

    def build(self) -> Plan:
        index = self._check_nodes()
        subgoal_of = self._check_subgoals(index)
        self._check_inputs()
        order: list[str] = []
        if not self.problems:
            order = self._topological_order(index)
        if self.problems:
            raise self.doc.invalid(self.problems)
        nodes = tuple(self._node(self.nodes[index[n]], subgoal_of.get(n, "")) for n in order)
        data = self.data
        return Plan(
            id=data["id"],
            version=int(data["version"]),
            description=data.get("description", ""),
            nodes=nodes,
            inputs=tuple(_input(name, spec) for name, spec in data.get("inputs", {}).items()),
            subgoals=tuple(
                SubGoal(
                    g["id"],
                    g.get("description", ""),
                    tuple(n.id for n in nodes if n.subgoal == g["id"]),
                    tuple(_goal_check(c) for c in g.get("checks", [])),
                )
                for g in data.get("subgoals", [])
            ),
            governance=GovernanceSettings(**data.get("governance", {})),
            default_mode=data.get("default_mode", "balanced"),
            source=self.doc.source,
            digest=canonical_digest(data),
        )

    def _check_nodes(self) -> dict[str, int]:
        index: dict[str, int] = {}
        for i, node in enumerate(self.nodes):
            node_id = node["id"]
            if node_id in index:
                first = index[node_id]
                where = f"nodes[{first}] (line {self.doc.line(('nodes', first))})"
                self.add(("nodes", i, "id"), f"duplicate node id {node_id!r}; first at {where}")
            else:
                index[node_id] = i
            self._check_agent(("nodes", i, "agent"), node_id, node["agent"])
            self._check_variants(i, node)
            retry = node.get("retry", {})
            if retry.get("backoff_s", 0) > retry.get("max_backoff_s", RetryPolicy().max_backoff_s):
                self.add(("nodes", i, "retry", "backoff_s"), "must not exceed max_backoff_s")
        for i, node in enumerate(self.nodes):
            for k, dep in enumerate(node.get("depends_on", [])):
                path = ("nodes", i, "depends_on", k)
                if dep == node["id"]:
                    self.add(path, f"node {dep!r} depends on itself")
                elif dep not in index:
                    hint = did_you_mean(dep, index) or f"; known nodes: {', '.join(index)}"
                    self.add(path, f"node {node['id']!r} depends on unknown node {dep!r}{hint}")
        return index

    def _check_agent(self, path: FieldPath, node_id: str, agent: str) -> None:
        if self.known_agents is not None and agent not in self.known_agents:
            known = ", ".join(self.known_agents) or "(none registered)"
            self.add(path, f"node {node_id!r}: unknown agent kind {agent!r}; known kinds: {known}")

    def _check_variants(self, i: int, node: dict[str, Any]) -> None:
        seen: set[str] = set()
        for k, variant in enumerate(node.get("variants", [])):
            path: FieldPath = ("nodes", i, "variants", k)
            name = variant["name"]
            if name == "primary":
                self.add(
                    (*path, "name"), "'primary' is the node itself; name the variant otherwise"
                )
            elif name in seen:
                self.add((*path, "name"), f"node {node['id']!r} has two variants named {name!r}")
            seen.add(name)
            if "agent" in variant:
                self._check_agent((*path, "agent"), node["id"], variant["agent"])

    def _check_subgoals(self, index: Mapping[str, int]) -> dict[str, str]:
        """Which sub-goal each node serves, from either side: a subgoal's `nodes` or a node's
        `subgoal`. A node serves at most one, and both sides must agree."""
        goals: dict[str, int] = {}
        subgoal_of: dict[str, str] = {}
        for g, goal in enumerate(self.data.get("subgoals", [])):
            goal_id = goal["id"]
            if goal_id in goals:
                self.add(("subgoals", g, "id"), f"duplicate subgoal id {goal_id!r}")
            goals[goal_id] = g
            for k, node_id in enumerate(goal.get("nodes", [])):
                path: FieldPath = ("subgoals", g, "nodes", k)
                if node_id not in index:
                    hint = did_you_mean(node_id, index)
                    self.add(path, f"subgoal {goal_id!r} names unknown node {node_id!r}{hint}")
                elif subgoal_of.setdefault(node_id, goal_id) != goal_id:
                    other = subgoal_of[node_id]
                    self.add(path, f"node {node_id!r} already serves subgoal {other!r}")
            for k, check in enumerate(goal.get("checks", [])):
                self._check_goal_check(("subgoals", g, "checks", k), goal_id, check, index)
        for i, node in enumerate(self.nodes):
            wanted = node.get("subgoal")
            if wanted is None:
                continue
            path = ("nodes", i, "subgoal")
            if wanted not in goals:
                known = ", ".join(goals) or "none are declared"
                self.add(
                    path, f"node {node['id']!r}: unknown subgoal {wanted!r}; subgoals: {known}"
                )
            elif subgoal_of.setdefault(node["id"], wanted) != wanted:
                listed = subgoal_of[node["id"]]
                self.add(
                    path, f"node {node['id']!r} is listed by subgoal {listed!r}, not {wanted!r}"
                )
        return subgoal_of

    def _check_goal_check(
        self, path: FieldPath, goal_id: str, check: Mapping[str, Any], index: Mapping[str, int]
    ) -> None:
        """A check tests one node of the plan in exactly one way; `fix_with` names an input."""
        node_id = check["node"]
        if node_id not in index:
            hint = did_you_mean(node_id, index) or f"; known nodes: {', '.join(index)}"
            self.add(
                (*path, "node"), f"subgoal {goal_id!r}: check names unknown node {node_id!r}{hint}"
            )
        tests = [t for t in CHECK_TESTS if t in check]
        if len(tests) != 1:
            found = f"it has {' and '.join(tests)}" if tests else "it has none"
            self.add(path, f"a check tests one of {', '.join(CHECK_TESTS)}; {found}")
        elif tests == ["verified"]:
            if check["verified"] is not True:
                self.add(
                    (*path, "verified"),
                    "only 'verified: true' is a check; drop it to accept an unverified outcome",
                )
            if "equals" in check:
                self.add((*path, "equals"), "'equals' goes with claim or output, not verified")
        inputs = self.data.get("inputs", {})
        wanted = check.get("fix_with")
        if wanted is not None and wanted not in inputs:
            known = ", ".join(inputs) or "the plan declares none"
            self.add(
                (*path, "fix_with"),
                f"{wanted!r} is not an input of the plan{did_you_mean(wanted, inputs)};"
                f" inputs: {known}",
            )

    def _check_inputs(self) -> None:
        for name, spec in self.data.get("inputs", {}).items():
            default, kind = spec.get("default"), spec.get("type", "string")
            is_bool = isinstance(default, bool) and kind != "boolean"
            if default is not None and (is_bool or not isinstance(default, _INPUT_TYPES[kind])):
                expected = TYPE_WORDS.get(kind, "a string")
                self.add(("inputs", name, "default"), f"{show_value(default)} is not {expected}")

    def _topological_order(self, index: Mapping[str, int]) -> list[str]:
        """Kahn's algorithm; among ready nodes the first declared goes first, so the order is
        stable across loads and readable next to the file."""
        ids = list(index)
        deps = {n: list(dict.fromkeys(self.nodes[index[n]].get("depends_on", []))) for n in ids}
        waiting = {n: len(deps[n]) for n in ids}
        dependents: dict[str, list[str]] = {n: [] for n in ids}
        for n in ids:
            for d in deps[n]:
                dependents[d].append(n)
        ready = [index[n] for n in ids if waiting[n] == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            node_id = ids[heapq.heappop(ready)]
            order.append(node_id)
            for m in dependents[node_id]:
                waiting[m] -= 1
                if waiting[m] == 0:
                    heapq.heappush(ready, index[m])
        if len(order) < len(ids):
            cycle = _one_cycle([n for n in ids if n not in set(order)], deps, index)
            chain = " -> ".join([*cycle, cycle[0]])
            self.add(("nodes", index[cycle[0]], "depends_on"), f"depends_on cycle: {chain}")
        return order

    def _node(self, raw: dict[str, Any], subgoal: str) -> PlanNode:
        estimates = _estimates(raw.get("estimates", {}), Estimates())
        risk, success = float(raw.get("risk", 0.0)), float(raw.get("success_proxy", 1.0))
        variants = tuple(
            Variant(
                name=v["name"],
                kind=v["kind"],
                agent=v.get("agent", raw["agent"]),
                config=v.get("config", raw.get("config", {})),
                estimates=_estimates(v.get("estimates", {}), estimates),
                risk=float(v.get("risk", risk)),
                success_proxy=float(v.get("success_proxy", success)),
            )
            for v in raw.get("variants", [])
        )
        return PlanNode(
            id=raw["id"],
            phase=raw["phase"],
            agent=raw["agent"],
            config=raw.get("config", {}),
            depends_on=tuple(raw.get("depends_on", [])),
            estimates=estimates,
            retry=_retry(raw.get("retry", {})),
            variants=variants,
            subgoal=subgoal,
            timeout_s=float(raw.get("timeout_s", 300.0)),
            risk=risk,
            success_proxy=success,
        )


def _one_cycle(
    stuck: list[str], deps: Mapping[str, list[str]], index: Mapping[str, int]
) -> list[str]:
    """One cycle among nodes Kahn could not order, following depends_on edges, starting at its
    first-declared node. Every stuck node waits on another stuck node, so the walk must loop."""
    stuck_set = set(stuck)
    path: list[str] = []
    node = stuck[0]
    while node not in path:
        path.append(node)
        node = next(d for d in deps[node] if d in stuck_set)
    cycle = path[path.index(node) :]
    start = min(range(len(cycle)), key=lambda k: index[cycle[k]])
    return cycle[start:] + cycle[:start]


def _estimates(raw: Mapping[str, Any], base: Estimates) -> Estimates:
    return Estimates(
        latency_s=float(raw.get("latency_s", base.latency_s)),
        tokens=int(raw.get("tokens", base.tokens)),
        usd=float(raw.get("usd", base.usd)),
    )


def _goal_check(raw: Mapping[str, Any]) -> GoalCheck:
    test = next(t for t in CHECK_TESTS if t in raw)
    return GoalCheck(
        node=raw["node"],
        test=test,
        name="" if test == "verified" else raw[test],
        expected=raw.get("equals"),
        has_expected="equals" in raw,
        fix_with=raw.get("fix_with", ""),
    )


def _input(name: str, spec: Mapping[str, Any]) -> InputField:
    return InputField(
        name=name,
        type=spec.get("type", "string"),
        required=bool(spec.get("required", "default" not in spec)),
        sensitive=bool(spec.get("sensitive", False)),
        description=spec.get("description", ""),
        default=spec.get("default"),
    )


def _retry(raw: Mapping[str, Any]) -> RetryPolicy:
    base = RetryPolicy()
    return RetryPolicy(
        max_attempts=int(raw.get("max_attempts", base.max_attempts)),
        backoff_s=float(raw.get("backoff_s", base.backoff_s)),
        max_backoff_s=float(raw.get("max_backoff_s", base.max_backoff_s)),
    )
