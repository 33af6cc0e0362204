"""SPEC 3.4 Compare: two recorded runs side by side: path, cost per phase and in total, failure
type and key governance decisions, aligned by node id, and the first point where the runs
diverged with the evidence that explains it. Every claim names the event seqs it rests on.

Runs of different plans are comparable (nodes are aligned by id); a task compared with itself
is a clear answer (`same_task`, no differences), not an error. How bad input is handled:
see `runview`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from services.product.domain.runview import Cost, DecisionRecord, Problem, RunView, Step

SCHEMA = "agentledger.compare.v1"
SETUP_FIELDS = ("goal", "mode", "budget", "plan", "input_fields")
METRICS = ("tokens_in", "tokens_out", "usd", "tool_ms")


@dataclass(frozen=True, slots=True)
class Side:
    task_id: str
    plan_id: str
    plan_version: str
    state: str
    failure_type: str
    cost_source: str  # summary | events: where the total cost comes from
    event_count: int
    first_seq: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class NodeChange:
    node_id: str
    field: str  # status | variant | attempts | failure | output
    a: str
    b: str
    seq_a: int | None  # the event that settled the value in A (None: the node is not in A)
    seq_b: int | None


@dataclass(frozen=True, slots=True)
class PathDiff:
    path_a: tuple[str, ...]  # node ids in the order they finished
    path_b: tuple[str, ...]
    only_in_a: tuple[str, ...]  # ran in A, never ran in B
    only_in_b: tuple[str, ...]
    changes: tuple[NodeChange, ...]
    same_order: bool  # the nodes both runs finished, finished in the same order


@dataclass(frozen=True, slots=True)
class CostDiff:
    scope: str  # "total" or a phase
    a: Cost
    b: Cost
    delta: Cost  # b - a
    ratio: Mapping[str, float | None]  # b / a per metric; None where A is 0 and B is not
    seqs_a: tuple[int, ...]  # the outcome events whose usage is summed
    seqs_b: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FailureDiff:
    a: str
    b: str
    differs: bool
    reason_a: str
    reason_b: str
    seq_a: int | None  # the transition to FAILED
    seq_b: int | None


@dataclass(frozen=True, slots=True)
class DecisionDiff:
    node_id: str
    a: tuple[DecisionRecord, ...]  # key decisions (anything but continue), in seq order
    b: tuple[DecisionRecord, ...]
    differs: bool


@dataclass(frozen=True, slots=True)
class SetupDiff:
    field: str  # a field of task.created
    a: Any
    b: Any
    seq_a: int
    seq_b: int


@dataclass(frozen=True, slots=True)
class Evidence:
    run: str  # a | b
    seq: int
    source: str  # decision | failure | outcome | start | state | control | end
    text: str
    detail: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Divergence:
    node_id: str  # "": the task itself (a state change or a user's control)
    seq_a: int | None  # None: A has no counterpart step
    seq_b: int | None
    what: str  # decision | variant | failure | status | state
    sentence: str
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True, slots=True)
class Comparison:
    a: Side
    b: Side
    same_task: bool
    same_plan: bool
    headline: str
    setup: tuple[SetupDiff, ...]
    path: PathDiff
    costs: tuple[CostDiff, ...]  # total first, then phases by name
    failure: FailureDiff
    decisions: tuple[DecisionDiff, ...]
    divergence: Divergence | None
    problems: tuple[Problem, ...]

    @property
    def identical(self) -> bool:
        """Same setup, node outcomes, variants and decisions; costs and the order in which
        parallel nodes finished may still differ."""
        return not (self.setup or self.path.changes or self.failure.differs) and not any(
            d.differs for d in self.decisions
        )


def compare(a: RunView, b: RunView) -> Comparison:
    same_plan = (a.plan_id, a.plan_version) == (b.plan_id, b.plan_version)
    setup = _setup(a, b)
    divergence = _divergence(a, b)
    failure = FailureDiff(
        a.failure_type, b.failure_type, a.failure_type != b.failure_type,
        a.end_reason if a.failure_seq else "", b.end_reason if b.failure_seq else "",
        a.failure_seq or None, b.failure_seq or None,
    )  # fmt: skip
    headline = _headline(a, b, same_plan, setup, divergence)
    problems = a.problems + (b.problems if b.task_id != a.task_id else ())
    return Comparison(
        _side(a), _side(b), a.task_id == b.task_id, same_plan, headline, setup, _path(a, b),
        _costs(a, b), failure, _decisions(a, b), divergence, problems,
    )  # fmt: skip


def _side(v: RunView) -> Side:
    return Side(
        v.task_id, v.plan_id, v.plan_version, v.state, v.failure_type, v.cost_source,
        v.event_count, v.first_seq, v.last_seq,
    )  # fmt: skip


def _setup(a: RunView, b: RunView) -> tuple[SetupDiff, ...]:
    if not a.setup or not b.setup:
        return ()
    return tuple(
        SetupDiff(f, a.setup.get(f), b.setup.get(f), a.setup_seq, b.setup_seq)
        for f in SETUP_FIELDS
        if a.setup.get(f) != b.setup.get(f)
    )


def _path(a: RunView, b: RunView) -> PathDiff:
    changes: list[NodeChange] = []
    only_a: list[str] = []
    only_b: list[str] = []
    for n in sorted(a.nodes.keys() | b.nodes.keys()):
        x, y = a.nodes.get(n), b.nodes.get(n)
        sa, sb = x.status if x else "not_run", y.status if y else "not_run"
        qa, qb = (x.final_seq or None) if x else None, (y.final_seq or None) if y else None
        if sa != sb:
            changes.append(NodeChange(n, "status", sa, sb, qa, qb))
            if sb == "not_run":
                only_a.append(n)
            elif sa == "not_run":
                only_b.append(n)
        if x is None or y is None or "not_run" in (sa, sb):
            continue
        if x.variants != y.variants:
            changes.append(NodeChange(n, "variant", arrow(x.variants), arrow(y.variants), qa, qb))
        if x.attempts != y.attempts:
            changes.append(NodeChange(n, "attempts", str(x.attempts), str(y.attempts), qa, qb))
        if x.failure_kind != y.failure_kind:
            changes.append(NodeChange(n, "failure", x.failure_kind, y.failure_kind, qa, qb))
        if x.output != y.output and sa == sb == "completed":
            changes.append(NodeChange(n, "output", x.output, y.output, qa, qb))
    both = set(a.path) & set(b.path)
    same_order = [n for n in a.path if n in both] == [n for n in b.path if n in both]
    return PathDiff(a.path, b.path, tuple(only_a), tuple(only_b), tuple(changes), same_order)


def arrow(variants: tuple[str, ...]) -> str:
    return " -> ".join(variants)


def _costs(a: RunView, b: RunView) -> tuple[CostDiff, ...]:
    def diff(scope: str, x: Cost, y: Cost, qa: tuple[int, ...], qb: tuple[int, ...]) -> CostDiff:
        ratio: dict[str, float | None] = {}
        for m in METRICS:
            u, v = getattr(x, m), getattr(y, m)
            ratio[m] = round(v / u, 4) if u else (1.0 if v == 0 else None)
        return CostDiff(scope, x, y, y - x, ratio, qa, qb)

    def every(v: RunView) -> tuple[int, ...]:
        return tuple(sorted(s for seqs in v.phase_seqs.values() for s in seqs))

    out = [diff("total", a.cost, b.cost, every(a), every(b))]
    for ph in sorted(a.phase_costs.keys() | b.phase_costs.keys()):
        x, y = a.phase_costs.get(ph, Cost()), b.phase_costs.get(ph, Cost())
        out.append(diff(ph, x, y, a.phase_seqs.get(ph, ()), b.phase_seqs.get(ph, ())))
    return tuple(out)


def _decisions(a: RunView, b: RunView) -> tuple[DecisionDiff, ...]:
    out: list[tuple[int, DecisionDiff]] = []
    for n in a.decisions.keys() | b.decisions.keys():
        ka = tuple(d for d in a.decisions.get(n, ()) if d.key)
        kb = tuple(d for d in b.decisions.get(n, ()) if d.key)
        if ka or kb:
            differs = [d.signature for d in ka] != [d.signature for d in kb]
            first = min(d.seq for d in ka + kb)
            out.append((first, DecisionDiff(n, ka, kb, differs)))
    return tuple(d for _, d in sorted(out, key=lambda t: (t[0], t[1].node_id)))


def _divergence(a: RunView, b: RunView) -> Divergence | None:
    """The earliest step (by seq) at which some node's own steps differ between the runs.
    Steps are compared per node, so parallel nodes that merely interleaved differently do not
    count; a node whose steps differ later than another's is a consequence, not the cause."""
    best: tuple[tuple[int, int, str], str, Step | None, Step | None] | None = None
    pairs = [(n, _steps(a, n), _steps(b, n)) for n in a.nodes.keys() | b.nodes.keys()]
    pairs.append(("", a.task_steps, b.task_steps))
    for n, sa, sb in pairs:
        i = _first_difference(sa, sb)
        if i is None:
            continue
        x, y = (sa[i] if i < len(sa) else None), (sb[i] if i < len(sb) else None)
        seqs = [s.seq for s in (x, y) if s is not None]
        key = (min(seqs), max(seqs), n)
        if best is None or key < best[0]:
            best = (key, n, x, y)
    if best is None:
        return None
    _, node_id, x, y = best
    what = _what(x, y)
    text_a, ev_a = _account("a", a, node_id, x, what == "output")
    text_b, ev_b = _account("b", b, node_id, y, what == "output")
    where = f"node '{node_id}'" if node_id else "the task itself"
    seq_a, seq_b = (x.seq if x else None), (y.seq if y else None)
    sentence = f"The runs first diverged at {where} ({_at(seq_a, seq_b)}): {text_a}; {text_b}."
    return Divergence(node_id, seq_a, seq_b, what, sentence, (*ev_a, *ev_b))


def _at(seq_a: int | None, seq_b: int | None) -> str:
    return ", ".join(
        f"seq {q} in {r}" if q is not None else f"nothing in {r}"
        for r, q in (("A", seq_a), ("B", seq_b))
    )


def _steps(v: RunView, node_id: str) -> tuple[Step, ...]:
    n = v.nodes.get(node_id)
    return () if n is None else n.steps


def _first_difference(sa: tuple[Step, ...], sb: tuple[Step, ...]) -> int | None:
    for i, (x, y) in enumerate(zip(sa, sb, strict=False)):
        if x.what != y.what:
            return i
    return None if len(sa) == len(sb) else min(len(sa), len(sb))


def _what(x: Step | None, y: Step | None) -> str:
    steps = [s for s in (x, y) if s is not None]
    kinds = {s.kind for s in steps}
    if "decision" in kinds:
        return "decision"
    if x and y and x.kind == y.kind == "started" and x.what[2] != y.what[2]:
        return "variant"
    if any(s.kind == "outcome" and s.what[2] for s in steps):
        return "failure"
    if x and y and x.kind == y.kind == "outcome" and x.what[:3] == y.what[:3]:
        return "output"
    return "state" if kinds & {"state", "control"} else "status"


def _account(
    run: str, v: RunView, node_id: str, s: Step | None, output: bool = False
) -> tuple[str, list[Evidence]]:
    """What one run did at the divergence, in words, with the events that show it."""
    r = run.upper()
    if s is None:
        did = "never ran" if node_id not in v.nodes else "did nothing further"
        subject = "the node" if node_id else "the task"
        if not v.end_seq:
            return f"in {r} {subject} {did}", []
        last = f"{v.state or 'unknown'}: {clause(v.end_reason)}" if v.end_reason else v.state
        text = f"{r}'s last state change was to {last}"
        end = Evidence(run, v.end_seq, "end", text, {"state": v.state, "reason": v.end_reason})
        return f"in {r} {subject} {did} ({text}, seq {v.end_seq})", [end]
    if s.kind == "decision":
        d = next(d for d in v.decisions[node_id] if d.seq == s.seq)
        return f"in {r} {_decided(d)}", [_decision_evidence(run, d)]
    if s.kind == "started":
        # A degrade decision would have differed earlier, so a variant differing here was
        # not chosen by governance in this task (a plan default, or an earlier run's choice).
        text = f"the node started variant '{s.what[2]}' (attempt {s.what[1]})"
        started = {"variant": s.what[2], "attempt": s.what[1]}
        return f"in {r} {text}", [Evidence(run, s.seq, "start", text, started)]
    source = s.kind
    detail: dict[str, Any] = {"what": list(s.what)}
    if s.kind == "outcome":
        kind, fkind = s.what[0], s.what[2]
        verb = {"node.completed": "completed", "node.needs_input": "asked for input"}
        text = f"the node {verb.get(kind, 'failed')}"
        if output:
            text += f" with output {s.what[3] or 'none'}"
        if fkind:
            text += f" with {fkind}: {clause(s.note)}" if s.note else f" with {fkind}"
            source = "failure"
        detail = {"type": kind, "failure_kind": fkind, "message": s.note, "output": s.what[3]}
    elif s.kind == "cancelled":
        text = "the node was cancelled"
    elif s.kind == "control":
        text = f"{s.note or 'a user'} applied {s.what[1]}"
    else:
        text = f"the task went to {s.what[0]}" + (f" ({clause(s.note)})" if s.note else "")
    return f"in {r} {text}", [Evidence(run, s.seq, source, text, detail)]


def _decided(d: DecisionRecord) -> str:
    to = f" to variant '{d.variant}'" if d.variant else ""
    ftype = f" ({d.failure_type})" if d.failure_type else ""
    because = f" because {clause(d.reason)}" if d.reason else ""
    return (
        f"governance rule {d.rule} v{d.rule_version} decided {d.action}{to}{ftype}"
        f" at the {d.checkpoint} checkpoint{because}"
    )


def _decision_evidence(run: str, d: DecisionRecord) -> Evidence:
    detail = {k: v for k, v in d._asdict().items() if k not in ("seq", "node_id", "evidence")}
    detail["conditions_evidence"] = dict(d.evidence)
    return Evidence(run, d.seq, "decision", d.reason, detail)


def clause(text: str) -> str:
    return text.strip().rstrip(".")


WHAT = {
    "decision": "a governance decision",
    "variant": "the variant run",
    "failure": "a failure",
    "status": "what the node did",
    "state": "the task's state",
    "output": "a node's output",
}


def _headline(
    a: RunView,
    b: RunView,
    same_plan: bool,
    setup: tuple[SetupDiff, ...],
    divergence: Divergence | None,
) -> str:
    if a.task_id == b.task_id and divergence is None:
        return (
            f"A and B are the same task ({a.task_id}): compared with itself, it has no differences."
        )
    parts = []
    if a.task_id == b.task_id:
        parts.append(f"A and B are the same task ({a.task_id}), read at different points.")
    if not same_plan:
        parts.append(
            f"The tasks ran different plans ({a.plan_id} v{a.plan_version} in A,"
            f" {b.plan_id} v{b.plan_version} in B); their nodes are aligned by id."
        )
    if setup:
        names = ", ".join(s.field for s in setup)
        at = _at(a.setup_seq, b.setup_seq)
        parts.append(f"They were set up differently: {names} (task.created, {at}).")
    d = divergence
    if d is None:
        parts.append(
            "The runs took the same path: the same nodes, variants, decisions and outcomes."
        )
    else:
        where = f"node '{d.node_id}'" if d.node_id else "the task itself"
        parts.append(
            f"The runs first diverged at {where} ({_at(d.seq_a, d.seq_b)}), over {WHAT[d.what]}."
        )
    ea, eb = (v.state + (f" ({v.failure_type})" if v.failure_type else "") for v in (a, b))
    parts.append(f"Both are {ea}." if ea == eb else f"A is {ea}, B is {eb}.")
    return " ".join(parts)


def to_json(c: Comparison) -> dict[str, Any]:
    """The comparison as a JSON-ready dict (the REST body and the export)."""
    out: dict[str, Any] = {"schema": SCHEMA, "identical": c.identical}
    out.update(_plain(c))
    return out


def _plain(v: Any) -> Any:
    if v is None or type(v) in (str, int, float, bool):
        return v
    if is_dataclass(v) and not isinstance(v, type):
        return {f.name: _plain(getattr(v, f.name)) for f in fields(v)}
    if isinstance(v, tuple) and hasattr(v, "_asdict"):  # the NamedTuples of runview
        return {k: _plain(x) for k, x in v._asdict().items()}
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v
