"""One task's recorded run, digested for comparison (SPEC 3.4): what each node did, which
governance decisions were taken, what each phase cost, and the steps two runs are aligned on,
built in one pass over the task's events.

Input is what the gateway and trace_store hand out as plain Python: the task's summary
(`TraceSummary` as a dict) and its events in seq order (`gateway/convert.py: event_json`
shape). The meaning of the events follows the engine (services/engine/domain/run_events.py,
runner.py, state_manager.py): a node's outcome counts only once governance let it stand, so a
`node.completed` followed by a `degrade`, `retry` or `fail` decision does not complete the node.

Bad input does not stop a comparison: unknown event types are ignored; malformed fields,
repeated seqs and events out of order are recorded as `Problem`s (events out of order are
sorted, then read again). Only input that belongs to no task, or to another task than the
summary, raises `InvalidArgument`: that is a caller's mistake, not the trace's.

The per-event records are NamedTuples rather than frozen dataclasses: a 10,000-event trace
makes ~8,000 of them, and a frozen dataclass costs several times as much to build.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from agentledger.core.errors import InvalidArgument

OUTCOMES = {"node.completed": "completed", "node.failed": "failed", "node.needs_input": "waiting"}
NODE_TYPES = frozenset({"node.started", "governance.decision", "node.cancelled", *OUTCOMES})
# Where a node ended up; `pending` waits for a retry or a degraded variant, `not_run` never
# started (only budget checkpoints, or absent from this run).
STATUSES = ("completed", "failed", "waiting", "cancelled", "running", "pending", "not_run")
FINISHED = frozenset({"completed", "failed", "waiting", "cancelled"})
NO_PHASE = "(none)"
OUTPUT_SHOWN = 160  # characters of an output's JSON a comparison keeps and shows


class Cost(NamedTuple):
    tokens_in: int = 0
    tokens_out: int = 0
    usd: float = 0.0
    tool_ms: int = 0

    def __sub__(self, other: Cost) -> Cost:
        return Cost(
            self.tokens_in - other.tokens_in,
            self.tokens_out - other.tokens_out,
            round(self.usd - other.usd, 9),
            self.tool_ms - other.tool_ms,
        )


class Step(NamedTuple):
    """One thing a run did at a node (or at the task, for state changes and controls), reduced
    to `what`, the part two runs are compared on; `note` is what a person reads about it."""

    seq: int
    kind: str  # started | outcome | decision | cancelled | state | control
    what: tuple[str, ...]
    note: str = ""


class DecisionRecord(NamedTuple):
    """A `governance.decision` event: the rule, what it decided, and the evidence it used."""

    seq: int
    node_id: str
    rule: str
    rule_version: int
    action: str
    checkpoint: str  # after_node | budget
    reason: str
    variant: str  # degrade: the variant switched to
    failure_type: str
    evidence: Mapping[str, Any]  # the rule's conditions_evidence, as recorded

    @property
    def key(self) -> bool:
        """A decision that changed the run's course: anything but `continue`."""
        return self.action != "continue"

    @property
    def signature(self) -> tuple[str, str, str, str]:
        return (self.rule, self.action, self.variant, self.failure_type)


class NodeRun(NamedTuple):
    node_id: str
    phase: str
    status: str  # one of STATUSES
    attempts: int  # outcomes recorded (retries and degraded runs included)
    variant: str  # the variant it last ran
    variants: tuple[str, ...]  # every variant it ran, in order
    usage: Cost
    failure_kind: str  # of its last outcome ("" when that completed)
    failure_message: str
    verified: bool | None
    final_seq: int  # the event that settled `status`
    steps: tuple[Step, ...]
    output: str = ""  # its last outcome's output as compact JSON (long ones: a head and a hash)


@dataclass(frozen=True, slots=True)
class Problem:
    task_id: str
    seq: int | None
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class RunView:
    task_id: str
    plan_id: str
    plan_version: str
    state: str
    failure_type: str
    failure_seq: int  # the transition to FAILED (0: none)
    end_seq: int  # the last state change (0: none)
    end_reason: str
    cost: Cost  # the summary's, or the events' sum when the summary has none
    cost_source: str  # summary | events
    setup: Mapping[str, Any]  # what task.created recorded (goal, mode, budget, plan, inputs)
    setup_seq: int
    nodes: Mapping[str, NodeRun]  # by node id, sorted
    decisions: Mapping[str, tuple[DecisionRecord, ...]]  # per node id, in seq order
    phase_costs: Mapping[str, Cost]
    phase_seqs: Mapping[str, tuple[int, ...]]  # the outcome events each phase cost sums
    path: tuple[str, ...]  # node ids in the order they finished
    task_steps: tuple[Step, ...]
    first_seq: int
    last_seq: int
    event_count: int
    problems: tuple[Problem, ...]

    @classmethod
    def from_trace(cls, summary: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> RunView:
        if not isinstance(summary, Mapping) or not summary.get("task_id"):
            raise InvalidArgument("the task summary has no task_id; pass the task's TraceSummary")
        listed = list(events)
        try:
            return _Pass(summary).run(listed)
        except _OutOfOrder:
            again = _Pass(summary)
            again.problem(None, "seq", "events were out of seq order; sorted, then read")
            return again.run(sorted(listed, key=_seq_key))


class _Node:
    __slots__ = (
        "attempts",
        "failure_kind",
        "failure_message",
        "final_seq",
        "id",
        "outcome",
        "output",
        "phase",
        "status",
        "steps",
        "usage",
        "variant",
        "variants",
        "verified",
    )  # fmt: skip

    def __init__(self, node_id: str, phase: str) -> None:
        self.id, self.phase = node_id, phase
        self.status, self.outcome, self.variant = "not_run", "", ""
        self.attempts = self.final_seq = 0
        self.variants: list[str] = []
        self.usage = [0, 0, 0.0, 0.0]  # tokens_in, tokens_out, usd, tool seconds
        self.failure_kind = self.failure_message = ""
        self.verified: bool | None = None
        self.steps: list[Step] = []
        self.output = ""


class _OutOfOrder(Exception):
    pass


class _Pass:
    """One read of the events; task-level events are rare, so they set attributes."""

    def __init__(self, summary: Mapping[str, Any]) -> None:
        self.summary = summary
        self.task_id = str(summary["task_id"])
        self.problems: list[Problem] = []
        self.task_steps: list[Step] = []
        self.setup: Mapping[str, Any] = {}
        self.setup_seq = self.failure_seq = self.end_seq = 0
        self.end_reason = self.failure_type = ""

    def problem(self, seq: int | None, field: str, message: str) -> None:
        self.problems.append(Problem(self.task_id, seq, field, message))

    def run(self, events: list[Mapping[str, Any]]) -> RunView:
        task_id = self.task_id
        nodes: dict[str, _Node] = {}
        decisions: dict[str, list[DecisionRecord]] = {}
        phase_seqs: dict[str, list[int]] = {}
        first = last = 0
        for e in events:
            seq = e.get("seq")
            if type(seq) is not int or seq <= last:
                self.bad_seq(seq, last)
                continue
            if e.get("task_id", task_id) != task_id:
                raise InvalidArgument(
                    f"event seq {seq} belongs to task {e.get('task_id')!r}, not {task_id};"
                    " pass the events of the summary's task"
                )
            first, last = first or seq, seq
            kind = e.get("type")
            if type(kind) is not str:
                self.problem(seq, "type", f"{kind!r:.40} is not an event type; skipped")
                continue
            if kind not in NODE_TYPES:
                if kind.startswith("task."):
                    self.task_event(kind, seq, e)
                continue  # other types are not compared: later engines may add more
            node_id = e.get("node_id")
            if not node_id or type(node_id) is not str:
                self.problem(seq, "node_id", f"a {kind} event needs a node id, not {node_id!r:.40}")
                continue
            p = e.get("payload")
            if type(p) is not dict and not isinstance(p, Mapping):
                self.problem(seq, "payload", "payload is not an object; read as {}")
                p = {}
            n = nodes.get(node_id)
            if n is None:
                n = nodes[node_id] = _Node(node_id, e.get("phase") or NO_PHASE)
            if kind == "node.started":
                n.status, n.final_seq = "running", seq
                variant = p.get("variant")
                if type(variant) is not str:
                    variant = self.text(p, "variant", seq)
                if variant != n.variant:
                    n.variant = variant
                    n.variants.append(variant)
                n.steps.append(Step(seq, "started", ("started", str(p.get("attempt")), variant)))
            elif kind == "governance.decision":
                d = self.decision(node_id, p, seq)
                if node_id in decisions:
                    decisions[node_id].append(d)
                else:
                    decisions[node_id] = [d]
                what = ("decision", d.rule, d.action, d.variant, d.failure_type)
                n.steps.append(Step(seq, "decision", what, d.reason))
                if n.outcome and d.checkpoint != "budget":
                    n.status = _settled(n.outcome, d.action)
                    n.outcome, n.final_seq = "", seq
            elif kind == "node.cancelled":
                n.status, n.outcome, n.final_seq = "cancelled", "", seq
                n.steps.append(Step(seq, "cancelled", ("cancelled",)))
            else:
                self.outcome(n, kind, p, seq)
                if n.phase in phase_seqs:
                    phase_seqs[n.phase].append(seq)
                else:
                    phase_seqs[n.phase] = [seq]
        return self.freeze(nodes, decisions, phase_seqs, first, last, len(events))

    def bad_seq(self, seq: Any, last: int) -> None:
        if type(seq) is int and 0 < seq < last:
            raise _OutOfOrder
        if seq == last:
            self.problem(seq, "seq", "seq repeats; the later event is skipped")
        else:
            self.problem(None, "seq", f"an event's seq {seq!r:.40} is not a positive integer")

    def task_event(self, kind: str, seq: int, e: Mapping[str, Any]) -> None:
        p = e.get("payload")
        p = p if isinstance(p, Mapping) else {}
        if kind == "task.state_changed":
            to = self.text(p, "to", seq)
            self.end_seq, self.end_reason = seq, self.text(p, "reason", seq)
            self.task_steps.append(Step(seq, "state", (to,), self.end_reason))
            if to == "FAILED":
                self.failure_seq, self.failure_type = seq, self.text(p, "failure_type", seq)
        elif kind in ("task.control_applied", "task.control_withdrawn"):
            action = self.text(p, "action", seq)
            self.task_steps.append(Step(seq, "control", (kind, action), str(e.get("actor", ""))))
        elif kind == "task.created":
            self.setup, self.setup_seq = p, seq

    def outcome(self, n: _Node, kind: str, p: Mapping[str, Any], seq: int) -> None:
        n.status = n.outcome = OUTCOMES[kind]
        n.attempts += 1
        n.final_seq = seq
        variant = p.get("variant")
        if type(variant) is str and variant and variant != n.variant:
            n.variant = variant
            n.variants.append(variant)
        usage = p.get("usage")
        if type(usage) is dict or isinstance(usage, Mapping):
            u = n.usage
            try:
                u[0] += usage.get("tokens_in", 0)
                u[1] += usage.get("tokens_out", 0)
                u[2] += usage.get("usd", 0.0)
                u[3] += usage.get("tool_seconds", 0.0)
            except TypeError:
                self.problem(seq, "payload.usage", "usage holds a value that is not a number")
        elif usage is not None:
            self.problem(seq, "payload.usage", "usage is not an object; counted as 0")
        failure = p.get("failure")
        fkind = ""
        if failure is not None and isinstance(failure, Mapping):
            fkind = str(failure.get("kind", "")) or "unknown"
            n.failure_kind, n.failure_message = fkind, str(failure.get("message", ""))
        elif kind == "node.completed":
            n.failure_kind = n.failure_message = ""
        verified = p.get("verified")
        if verified is not None and type(verified) is bool:
            n.verified = verified
        output = p.get("output")
        n.output = "" if output is None else output_key(output)
        n.steps.append(
            Step(seq, "outcome", (kind, str(variant or ""), fkind, n.output), n.failure_message)
        )

    def decision(self, node_id: str, p: Mapping[str, Any], seq: int) -> DecisionRecord:
        version = p.get("rule_version", 0)
        if type(version) is not int:
            self.problem(seq, "payload.rule_version", f"{version!r:.40} is not an integer; read 0")
            version = 0
        rule, action = p.get("rule"), p.get("action")
        evidence = p.get("conditions_evidence")
        return DecisionRecord(
            seq,
            node_id,
            rule if type(rule) is str else self.text(p, "rule", seq),
            version,
            action if type(action) is str else self.text(p, "action", seq),
            str(p.get("checkpoint") or "after_node"),
            str(p.get("reason") or ""),
            str(p.get("variant") or ""),
            str(p.get("failure_type") or ""),
            evidence if isinstance(evidence, Mapping) else {},
        )

    def text(self, p: Mapping[str, Any], key: str, seq: int) -> str:
        value = p.get(key)
        if isinstance(value, str):
            return value
        if value is not None:
            self.problem(seq, f"payload.{key}", f"{value!r:.60} is not text")
            return str(value)
        if key in ("to", "rule", "action", "variant"):
            self.problem(seq, f"payload.{key}", "missing")
        return ""

    def freeze(
        self,
        nodes: dict[str, _Node],
        decisions: dict[str, list[DecisionRecord]],
        phase_seqs: dict[str, list[int]],
        first: int,
        last: int,
        count: int,
    ) -> RunView:
        s, setup = self.summary, self.setup
        runs = {k: _frozen(nodes[k]) for k in sorted(nodes)}
        phases: dict[str, list[float]] = {}
        for n in nodes.values():
            acc = phases.setdefault(n.phase, [0, 0, 0.0, 0.0])
            u = n.usage
            acc[0] += u[0]
            acc[1] += u[1]
            acc[2] += u[2]
            acc[3] += u[3]
        phase_costs = {k: _cost(v) for k, v in sorted(phases.items()) if k in phase_seqs}
        cost, source = self.summary_cost(), "summary"
        if cost is None:
            cost, source = _cost([sum(v[i] for v in phases.values()) for i in range(4)]), "events"
        finished = sorted((r.final_seq, k) for k, r in runs.items() if r.status in FINISHED)
        return RunView(
            task_id=self.task_id,
            plan_id=str(s.get("plan_id") or _get(setup, "plan", "id")),
            plan_version=str(s.get("plan_version") or _get(setup, "plan", "version")),
            state=str(s.get("state", "")),
            failure_type=str(s.get("failure_type") or self.failure_type),
            failure_seq=self.failure_seq,
            end_seq=self.end_seq,
            end_reason=self.end_reason,
            cost=cost,
            cost_source=source,
            setup=setup,
            setup_seq=self.setup_seq,
            nodes=runs,
            decisions={k: tuple(decisions[k]) for k in sorted(decisions)},
            phase_costs=phase_costs,
            phase_seqs={k: tuple(phase_seqs[k]) for k in phase_costs},
            path=tuple(k for _, k in finished),
            task_steps=tuple(self.task_steps),
            first_seq=first,
            last_seq=last,
            event_count=count,
            problems=tuple(self.problems),
        )

    def summary_cost(self) -> Cost | None:
        c = self.summary.get("cost")
        if not isinstance(c, Mapping) or not any(c.values()):
            return None
        try:
            return Cost(
                int(c.get("tokens_in", 0)),
                int(c.get("tokens_out", 0)),
                round(float(c.get("usd", 0.0)), 9),
                int(c.get("tool_ms", 0)),
            )
        except (TypeError, ValueError):
            self.problem(None, "summary.cost", "the summary's cost is not numeric; events used")
            return None


def _settled(outcome: str, action: str) -> str:
    """The engine's checkpoint rule (run_events.node_record): completed only if let stand."""
    if action == "continue":
        return "completed" if outcome == "completed" else "failed"
    if action in ("retry", "degrade"):
        return "pending"
    return "waiting" if action == "pause" else "failed"


def _frozen(n: _Node) -> NodeRun:
    return NodeRun(
        n.id, n.phase, n.status, n.attempts, n.variant, tuple(n.variants), _cost(n.usage),
        n.failure_kind, n.failure_message, n.verified, n.final_seq, tuple(n.steps), n.output,
    )  # fmt: skip


def output_key(output: Any) -> str:
    """An output as compact JSON, equal for equal outputs; one longer than OUTPUT_SHOWN is its
    head and a hash of the whole, so two runs' outputs compare without keeping them."""
    try:
        text = orjson.dumps(output, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError:
        text = repr(output).encode()
    if len(text) <= OUTPUT_SHOWN:
        return text.decode()
    digest = hashlib.blake2b(text, digest_size=8).hexdigest()
    return f"{text[: OUTPUT_SHOWN - 24].decode(errors='replace')}... #{digest}"


def _cost(u: list[float]) -> Cost:
    return Cost(int(u[0]), int(u[1]), round(u[2], 9), round(u[3] * 1000))


def _get(m: Mapping[str, Any], key: str, sub: str) -> Any:
    inner = m.get(key)
    return inner.get(sub, "") if isinstance(inner, Mapping) else ""


def _seq_key(e: Mapping[str, Any]) -> int:
    seq = e.get("seq")
    return seq if type(seq) is int else 0
