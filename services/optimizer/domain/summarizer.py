"""SPEC 2.4: a hierarchical summary of a task's events. Level 0: a few sentences for the user;
Level 1: one cluster per phase, per agent (node) and per decision point; Level 2: every event,
paged. Every sentence lists the sequence numbers it rests on; the same events give the same
bytes (the text is built from sorted data with fixed number formats, never from an LLM)."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentledger.core.errors import InvalidArgument
from services.optimizer.domain.events import (
    Event,
    check_events,
    input_hash,
    is_failure,
    may_carry_usage,
    payload,
    seq_ranges,
    usage,
)
from services.optimizer.domain.graph import PHASES

SUMMARIZER_VERSION = "summarizer-1.0.0"
MAX_PAGE = 1000
LISTED = 3  # names listed in one Level 0 sentence before "and N more"

Ranges = tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Sentence:
    text: str
    seqs: Ranges  # inclusive runs of the sequence numbers it rests on


@dataclass(frozen=True, slots=True)
class Cluster:
    kind: str  # "phase" | "agent" | "decision_point"
    key: str
    event_count: int
    first_seq: int
    last_seq: int
    duration_s: float
    failures: int
    decisions: tuple[tuple[str, int], ...]  # (action, count), by action
    tokens: int
    usd: float
    sentence: Sentence


@dataclass(frozen=True, slots=True)
class EventLine:
    seq: int
    text: str


@dataclass(frozen=True, slots=True)
class EventSummary:
    summarizer_version: str
    input_hash: str
    event_count: int
    level0: tuple[Sentence, ...]
    level1: tuple[Cluster, ...]
    level2: tuple[EventLine, ...]
    next_after_seq: int  # 0: no further page
    evidence: dict[str, Any]


@dataclass
class _Acc:
    """What one cluster gathers in the single pass over the events."""

    seqs: list[int] = field(default_factory=list)
    first_ns: int = 0
    last_ns: int = 0
    failures: list[int] = field(default_factory=list)
    decisions: Counter[str] = field(default_factory=Counter)
    tokens: int = 0
    usd: float = 0.0
    nodes: set[str] = field(default_factory=set)
    agents: set[str] = field(default_factory=set)

    def add(self, e: Event) -> None:
        self.seqs.append(e.seq)
        t = e.time_unix_nano
        if t:
            if t < self.first_ns or not self.first_ns:
                self.first_ns = t
            if t > self.last_ns:
                self.last_ns = t

    @property
    def duration_s(self) -> float:
        return (self.last_ns - self.first_ns) / 1e9


def summarize(events: Sequence[Event], *, after_seq: int = 0, page_size: int = 100) -> EventSummary:
    """All three levels in one pass over the events ordered by sequence number; Level 2 holds
    the page of `page_size` events after `after_seq`."""
    ordered = check_events(events)
    if not ordered:
        raise InvalidArgument("there are no events to summarize; send at least one")
    if not 1 <= page_size <= MAX_PAGE or after_seq < 0:
        raise InvalidArgument(
            f"page_size {page_size} / after_seq {after_seq}: use a page size of 1..{MAX_PAGE}"
            " and an after_seq >= 0 (0 starts at the first event)"
        )
    everything = _Acc()
    phases: dict[str, _Acc] = {}
    agents: dict[str, _Acc] = {}
    points: dict[str, _Acc] = {}
    state: tuple[int, str, str] | None = None
    completed: list[int] = []
    waited: list[int] = []
    failures: list[tuple[int, str, str]] = []  # (seq, node, kind)
    notable: list[tuple[int, str]] = []  # (seq, what) of decisions other than continue
    decided: list[int] = []
    costed: list[int] = []
    for e in ordered:
        everything.add(e)
        phase_acc = phases.get(e.phase) or phases.setdefault(e.phase, _Acc())
        phase_acc.add(e)
        node_acc = None
        if e.node_id:
            node_acc = agents.get(e.node_id) or agents.setdefault(e.node_id, _Acc())
            node_acc.add(e)
            phase_acc.nodes.add(e.node_id)
            if e.actor.startswith("agent:"):
                node_acc.agents.add(e.actor)
        p = payload(e) if _reads_payload(e) else {}
        if may_carry_usage(e):
            tokens, usd = usage(p)
            if tokens or usd:
                costed.append(e.seq)
                for acc in (everything, phase_acc, node_acc):
                    if acc is not None:
                        acc.tokens += tokens
                        acc.usd += usd
        if e.type == "task.state_changed":
            state = (e.seq, str(p.get("to", "")), str(p.get("reason", "")))
        elif e.type == "node.completed":
            completed.append(e.seq)
        elif e.type == "node.needs_input":
            waited.append(e.seq)
        elif e.type == "governance.decision":
            action, rule = str(p.get("action", "?")), str(p.get("rule", "?"))
            decided.append(e.seq)
            key = f"{e.node_id or 'task'} / {rule}"
            point = points.get(key) or points.setdefault(key, _Acc())
            point.add(e)
            for acc in (everything, phase_acc, node_acc, point):
                if acc is not None:
                    acc.decisions[action] += 1
            if action != "continue":
                notable.append((e.seq, f"{action} at {e.node_id or 'the task'!r} ({rule})"))
        if is_failure(e):
            failure = p.get("failure")
            kind = str(failure.get("kind", "")) if isinstance(failure, dict) else ""
            failures.append((e.seq, e.node_id, kind or e.type))
            for acc in (everything, phase_acc, node_acc):
                if acc is not None:
                    acc.failures.append(e.seq)
    level0 = _level0(
        ordered, everything, state, completed, waited, failures, notable, decided, costed
    )
    level1 = (
        *(_cluster("phase", ph or "task", phases[ph]) for ph in (*PHASES, "") if ph in phases),
        *(_cluster("agent", n, agents[n]) for n in sorted(agents)),
        *(_cluster("decision_point", k, points[k]) for k in sorted(points)),
    )
    start = bisect_right([e.seq for e in ordered], after_seq)
    page = ordered[start : start + page_size + 1]
    return EventSummary(
        summarizer_version=SUMMARIZER_VERSION,
        input_hash=input_hash(ordered),
        event_count=len(ordered),
        level0=level0,
        level1=level1,
        level2=tuple(EventLine(e.seq, _line(e)) for e in page[:page_size]),
        next_after_seq=page[page_size - 1].seq if len(page) > page_size else 0,
        evidence={
            "clusters": {"phase": len(phases), "agent": len(agents), "decision_point": len(points)},
            "level0_rule": "overview, outcome (last task.state_changed), nodes, failures,"
            " decisions, cost; a sentence appears when its events exist",
            "page_size": page_size,
            "after_seq": after_seq,
        },
    )


def _reads_payload(e: Event) -> bool:
    return (
        e.type in ("task.state_changed", "governance.decision")
        or is_failure(e)
        or may_carry_usage(e)
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _names(items: Sequence[str]) -> str:
    head = ", ".join(items[:LISTED])
    return head if len(items) <= LISTED else f"{head} and {len(items) - LISTED} more"


def _level0(
    ordered: list[Event],
    everything: _Acc,
    state: tuple[int, str, str] | None,
    completed: list[int],
    waited: list[int],
    failures: list[tuple[int, str, str]],
    notable: list[tuple[int, str]],
    decided: list[int],
    costed: list[int],
) -> tuple[Sentence, ...]:
    used = sorted({e.phase for e in ordered if e.phase}, key=PHASES.index)
    out = [
        Sentence(
            f"{_count(len(ordered), 'event')} from #{ordered[0].seq} to #{ordered[-1].seq} over"
            f" {everything.duration_s:.3f} s"
            + (f", in phases {', '.join(used)}." if used else "."),
            seq_ranges(everything.seqs, ordered=True),
        )
    ]
    if state is not None:
        seq, to, reason = state
        out.append(
            Sentence(f"The task is {to}" + (f": {reason}." if reason else "."), ((seq, seq),))
        )
    if completed or waited:
        text = f"{_count(len(completed), 'node run')} completed"
        text += f", {len(waited)} waited for input." if waited else "."
        out.append(Sentence(text, seq_ranges([*completed, *waited])))
    if failures:
        labels = [f"{node or 'task'} ({kind})" for _, node, kind in failures]
        counts = Counter(labels)
        listed = [f"{label} x{n}" if n > 1 else label for label, n in sorted(counts.items())]
        out.append(
            Sentence(
                f"{_count(len(failures), 'failure')}: {_names(listed)}.",
                seq_ranges((s for s, _, _ in failures), ordered=True),
            )
        )
    if everything.decisions:
        by_action = ", ".join(f"{a} {n}" for a, n in sorted(everything.decisions.items()))
        total = sum(everything.decisions.values())
        text = f"Governance decided {_count(total, 'time')} ({by_action})"
        if notable:
            text += f"; notable: {_names([what for _, what in notable])}"
        out.append(Sentence(text + ".", seq_ranges(decided, ordered=True)))
    if costed:
        out.append(
            Sentence(
                f"It used {everything.tokens} tokens and ${everything.usd:.4f}.",
                seq_ranges(costed, ordered=True),
            )
        )
    return tuple(out)


def _cluster(kind: str, key: str, acc: _Acc) -> Cluster:
    text = f"{key}: {_count(len(acc.seqs), 'event')} over {acc.duration_s:.3f} s"
    if kind == "phase" and acc.nodes:
        text += f", nodes {_names(sorted(acc.nodes))}"
    if kind == "agent" and acc.agents:
        text += f", run by {', '.join(sorted(acc.agents))}"
    if acc.failures:
        text += f", {_count(len(acc.failures), 'failure')}"
    if acc.decisions:
        text += ", decisions " + ", ".join(f"{a} {n}" for a, n in sorted(acc.decisions.items()))
    if acc.tokens or acc.usd:
        text += f", {acc.tokens} tokens, ${acc.usd:.4f}"
    return Cluster(
        kind=kind,
        key=key,
        event_count=len(acc.seqs),
        first_seq=acc.seqs[0],
        last_seq=acc.seqs[-1],
        duration_s=acc.duration_s,
        failures=len(acc.failures),
        decisions=tuple(sorted(acc.decisions.items())),
        tokens=acc.tokens,
        usd=acc.usd,
        sentence=Sentence(text + ".", seq_ranges(acc.seqs, ordered=True)),
    )


def _line(e: Event) -> str:
    where = "/".join(x for x in (e.phase, e.node_id) if x)
    body = e.payload_json[:160].decode("utf-8", "replace")
    return f"#{e.seq} {e.type}" + (f" [{where}]" if where else "") + f" {body}".rstrip()
