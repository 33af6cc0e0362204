"""A narrative sentence (SPEC 3.2) and what stands behind it: the event seqs and blob ids it
cites, the figures it quotes, the checker that refuses any sentence whose evidence does not exist
or whose figures differ from it, and the Markdown a user reads.

A figure (`Sentence.numbers`) is named either by a measure over the cited events, or by a
dotted path into a cited event's payload (`conditions_evidence.threshold`, `budget.tokens`,
`output.rows_dropped`), which some cited event must hold with that value. Measures: `sum.usd`,
`sum.tokens_in`, `sum.tokens_out`, `sum.tool_ms` (the usage of the cited node outcomes),
`count.runs`, `count.decisions`, `count.artifacts` (cited events of that kind) and
`count.nodes` (distinct nodes among the cited events). Whole numbers must match exactly (a
`_ms` figure to the millisecond it was rounded to), others to 1e-9. The text must quote each
figure as `figure()` renders it: plainly, as money, or as a percentage.

`check` drops a refused sentence with its reason (`Checked.refused`) rather than raising: one
bad template must not cost the user the rest of the explanation, and engineers see why. It is
also the gate any later rephrasing (an LLM's) must pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from services.product.domain.evidence import RunTrace
from services.product.domain.runview import OUTCOMES

SECTIONS = {
    "what_happened": "What happened",
    "why": "Why this result",
    "cost": "What it cost",
    "next": "What to do next",
}
MEASURES = frozenset(
    {
        "sum.usd",
        "sum.tokens_in",
        "sum.tokens_out",
        "sum.tool_ms",
        "count.runs",
        "count.decisions",
        "count.artifacts",
        "count.nodes",
    }
)


@dataclass(frozen=True, slots=True)
class Sentence:
    section: str  # a key of SECTIONS
    text: str
    seqs: tuple[int, ...]
    blob_ids: tuple[str, ...] = ()
    numbers: Mapping[str, float] = field(default_factory=dict)  # the figures quoted, by name


class Refusal(NamedTuple):
    sentence: Sentence
    reason: str


class Checked(NamedTuple):
    sentences: tuple[Sentence, ...]
    refused: tuple[Refusal, ...]


def figure(value: float, style: str = "") -> str:
    """How a sentence quotes a number: style "usd" ($0.0123), "percent" (85%) or plain."""
    if style == "usd":
        return "$" + f"{value:,.6f}".rstrip("0").rstrip(".")
    if style == "percent":
        return f"{value:.0%}"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.10g}"


def _renderings(name: str, value: float) -> tuple[str, ...]:
    styles = ["", "usd" if "usd" in name else "", "percent" if 0 <= value <= 1 else ""]
    return tuple(figure(value, s) for s in dict.fromkeys(styles))


def numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check(sentences: Iterable[Sentence], trace: RunTrace) -> Checked:
    """Keeps the sentences whose evidence exists and whose figures match it and are quoted."""
    kept: list[Sentence] = []
    refused: list[Refusal] = []
    for s in sentences:
        if reason := _refusal(s, trace):
            refused.append(Refusal(s, reason))
        else:
            kept.append(s)
    return Checked(tuple(kept), tuple(refused))


def _refusal(s: Sentence, trace: RunTrace) -> str:
    if s.section not in SECTIONS:
        return f"section {s.section!r} is not one of {', '.join(SECTIONS)}"
    if not s.seqs:
        return "it cites no event"
    if absent := [q for q in s.seqs if q not in trace.events]:
        return f"it cites seq {absent[0]}, which is not an event of task {trace.view.task_id}"
    cited = [trace.events[q] for q in s.seqs]
    cited_seqs = set(s.seqs) if s.blob_ids else set()
    if stray := [b for b in s.blob_ids if not _carried(b, cited_seqs, trace)]:
        return f"it cites blob {stray[0]}, which none of its events carries"
    measured: dict[str, float] = {}
    for name, value in s.numbers.items():
        if name in MEASURES:
            measured = measured or measures(cited)
            held = [measured[name]]
        else:
            held = _held(name, cited)
        if not held:
            return f"none of its events records {name}"
        if not any(_same(name, value, x) for x in held):
            return f"{name} is {value:g} in the sentence but {held[0]:g} in the evidence"
        if not any(r in s.text for r in _renderings(name, value)):
            return f"the text does not quote {name} ({figure(value)})"
    return ""


def _carried(blob: str, seqs: set[int], trace: RunTrace) -> bool:
    """Whether a cited event carries the blob: the artifact that wrote it first, then all."""
    q = trace.artifacts.get(blob)
    if q is not None and q in seqs and blob in (trace.events[q].get("blob_ids") or ()):
        return True
    return any(blob in (trace.events[q].get("blob_ids") or ()) for q in seqs)


def _same(name: str, claimed: float, actual: float) -> bool:
    if name.endswith("_ms"):
        return abs(claimed - actual) <= 1  # rounded to a whole millisecond
    if claimed == int(claimed) and actual == int(actual):
        return claimed == actual
    return math.isclose(claimed, actual, rel_tol=1e-9, abs_tol=1e-9)


def _held(name: str, cited: Sequence[Mapping[str, Any]]) -> list[float]:
    """Every number at the figure's path in the cited events' payloads."""
    path, out = name.split("."), []
    for e in cited:
        value: Any = e.get("payload")
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if numeric(value):
            out.append(float(value))
    return out


def measures(cited: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Every measure over the cited events, in one pass (a cost sentence cites thousands)."""
    usd = tokens_in = tokens_out = seconds = 0.0
    runs = decisions = artifacts = 0
    nodes = set()
    for e in cited:
        kind = e.get("type")
        nodes.add(e.get("node_id"))
        if kind in OUTCOMES:
            runs += 1
            p = e.get("payload")
            u = p.get("usage") if type(p) is dict or isinstance(p, Mapping) else None
            if type(u) is dict or isinstance(u, Mapping):
                usd += _number(u.get("usd"))
                tokens_in += _number(u.get("tokens_in"))
                tokens_out += _number(u.get("tokens_out"))
                seconds += _number(u.get("tool_seconds"))
        elif kind == "governance.decision":
            decisions += 1
        elif kind == "node.artifact_written":
            artifacts += 1
    nodes.discard("")
    nodes.discard(None)
    return {
        "sum.usd": usd,
        "sum.tokens_in": tokens_in,
        "sum.tokens_out": tokens_out,
        "sum.tool_ms": float(round(seconds * 1000)),
        "count.runs": runs,
        "count.decisions": decisions,
        "count.artifacts": artifacts,
        "count.nodes": len(nodes),
    }


def _number(x: Any) -> float:
    return x if type(x) is int or type(x) is float else 0.0


# ------------------------------------------------------------------------------ markdown


def to_markdown(sentences: Iterable[Sentence]) -> str:
    """The narrative as Markdown, one list per section, each sentence with its citations."""
    by_section: dict[str, list[Sentence]] = {k: [] for k in SECTIONS}
    for s in sentences:
        by_section.setdefault(s.section, []).append(s)
    lines: list[str] = []
    for key, items in by_section.items():
        if items:
            lines += [
                f"## {SECTIONS.get(key, key)}",
                "",
                *(f"- {s.text} _({_cite(s)})_" for s in items),
                "",
            ]
    return "\n".join(lines)


def _cite(s: Sentence) -> str:
    spans: list[list[int]] = []
    for q in s.seqs:
        if spans and q == spans[-1][1] + 1:
            spans[-1][1] = q
        else:
            spans.append([q, q])
    shown = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in spans[:6])
    text = ("seq " if len(s.seqs) == 1 else "seqs ") + shown
    text += f", ... ({len(s.seqs):,} events)" if len(spans) > 6 else ""
    if s.blob_ids:
        more = f" and {len(s.blob_ids) - 3} more" if len(s.blob_ids) > 3 else ""
        text += (
            f"; blob{'s' if len(s.blob_ids) > 1 else ''} "
            + ", ".join(b[:12] for b in s.blob_ids[:3])
            + more
        )
    return text
