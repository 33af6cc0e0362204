"""A task's recorded events as goal reports and narratives cite them (SPEC 3.1, 3.2): its
`RunView`, every event by seq, each node's outcome events, the artifacts by blob, the conflicts
and the system trace, read in one pass; and `Evidence`, one citation of one event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeGuard

from services.product.domain.runview import OUTCOMES, RunView

_INDEXED = frozenset(
    {*OUTCOMES, "node.artifact_written", "governance.conflict", "task.system_trace_written"}
)


class Evidence(NamedTuple):
    """One recorded event a conclusion rests on, with the blobs it carries. A NamedTuple, as
    RunView's records: a 2,000-node task cites ~6,000 of them."""

    seq: int
    kind: str  # the event's type
    text: str
    blob_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RunTrace:
    """A task's digest (`RunView`) and what goals and sentences cite beyond it: every event by
    seq (the first of a repeated seq, as RunView reads it), each node's outcome events, the
    artifacts by blob, the conflicts and the system trace."""

    view: RunView
    events: Mapping[int, Mapping[str, Any]]
    outcomes: Mapping[str, tuple[int, ...]]  # node id -> its outcome events' seqs, in order
    artifacts: Mapping[str, int]  # blob id -> the node.artifact_written event that wrote it
    conflicts: tuple[int, ...]  # governance.conflict events
    system_trace_seq: int  # task.system_trace_written (0: none)
    # The state the events show (the last state change), else the summary's: the summary is
    # sent after the events, so it may lag them, and every claim here must rest on an event.
    state: str

    @classmethod
    def from_trace(
        cls, summary: Mapping[str, Any], events: Iterable[Mapping[str, Any]]
    ) -> RunTrace:
        listed = events if isinstance(events, list) else list(events)
        view = RunView.from_trace(summary, listed)
        by_seq: dict[int, Mapping[str, Any]] = {}
        outcomes: dict[str, list[int]] = {}
        artifacts: dict[str, int] = {}
        conflicts: list[int] = []
        system = 0
        for e in listed:
            seq = e.get("seq")
            if type(seq) is not int or seq <= 0 or seq in by_seq:
                continue
            by_seq[seq] = e
            kind = e.get("type")
            if kind not in _INDEXED:
                continue
            if kind in OUTCOMES:
                outcomes.setdefault(str(e.get("node_id")), []).append(seq)
            elif kind == "node.artifact_written":
                for blob in e.get("blob_ids") or ():
                    artifacts.setdefault(str(blob), seq)
            elif kind == "governance.conflict":
                conflicts.append(seq)
            elif kind == "task.system_trace_written":
                system = seq
        states = [s.what[0] for s in view.task_steps if s.kind == "state"]
        return cls(
            view,
            by_seq,
            {k: tuple(sorted(v)) for k, v in outcomes.items()},
            artifacts,
            tuple(sorted(conflicts)),
            system,
            states[-1] if states else view.state,
        )

    def payload(self, seq: int) -> Mapping[str, Any]:
        e = self.events.get(seq)
        p = e.get("payload") if e is not None else None
        return p if is_map(p) else {}

    def cite(self, seq: int, text: str) -> Evidence:
        e = self.events[seq]
        blobs = e.get("blob_ids")
        return Evidence(seq, str(e.get("type", "")), text, tuple(map(str, blobs)) if blobs else ())

    def last_outcome(self, node_id: str) -> int:
        seqs = self.outcomes.get(node_id, ())
        return seqs[-1] if seqs else 0

    def end(self, about: str) -> Evidence:
        """The latest state change (or event): what shows that something did not happen."""
        v = self.view
        seq = v.end_seq or v.last_seq
        return self.cite(seq, f"{about} by seq {seq} (task {self.state or 'state unknown'})")

    def outcome_evidence(self, node_id: str, artifacts: bool = False) -> list[Evidence]:
        """The node's last outcome and the decision that settled it; with `artifacts`, the
        artifacts its output lists (evidence for checks on what it produced)."""
        last, run = self.last_outcome(node_id), self.view.nodes.get(node_id)
        if not last or run is None:
            return [self.end(f"no outcome of node {node_id!r}")]
        p = self.payload(last)
        kind = str(self.events[last].get("type", ""))
        out = [self.cite(last, f"{kind} of {node_id!r}, attempt {p.get('attempt', '?')}")]
        if run.final_seq != last and run.final_seq in self.events:
            d = self.payload(run.final_seq)
            out.append(self.cite(run.final_seq, f"{d.get('rule')} decided {d.get('action')}"))
        output = p.get("output") if artifacts else None
        listed = output.get("artifacts") if is_map(output) else None
        for a in listed if type(listed) is list else ():
            seq = self.artifacts.get(str(a.get("sha256"))) if is_map(a) else None
            if seq:
                out.append(self.cite(seq, f"artifact {a.get('name')} of {node_id!r}"))
        return out


def is_map(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """A JSON object; `type() is dict` first: ABC checks cost a 10,000-event trace dearly."""
    return type(value) is dict or isinstance(value, Mapping)
