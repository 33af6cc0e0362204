"""A comparison as Markdown: readable, deterministic, every claim with the event seqs it rests on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.product.domain.compare import (
    METRICS,
    Comparison,
    Evidence,
    Side,
    arrow,
    clause,
)
from services.product.domain.runview import DecisionRecord


def to_markdown(c: Comparison) -> str:
    """The comparison as a readable, deterministic Markdown report."""
    a, b = c.a, c.b
    lines = [f"# Compare {a.task_id} (A) with {b.task_id} (B)", "", c.headline, ""]
    lines += _table(
        ["", "A", "B"],
        [
            ["task", f"`{a.task_id}`", f"`{b.task_id}`"],
            ["plan", f"{a.plan_id} v{a.plan_version}", f"{b.plan_id} v{b.plan_version}"],
            ["state", a.state, b.state],
            ["failure type", a.failure_type or "none", b.failure_type or "none"],
            ["events", _events(a), _events(b)],
        ],
    )
    lines += ["## First divergence", ""]
    d = c.divergence
    if d is None:
        lines += ["None: the runs took the same path.", ""]
    else:
        lines += [d.sentence, ""]
        lines += [_evidence(e) for e in d.evidence]
        lines.append("")
    if c.setup:
        lines += ["## Setup", ""]
        rows = [[s.field, _value(s.a), _value(s.b)] for s in c.setup]
        lines += _table(["task.created field", "A", "B"], rows)
    p = c.path
    lines += ["## Path", "", f"- A: {arrow(p.path_a) or '(no node finished)'}"]
    lines += [f"- B: {arrow(p.path_b) or '(no node finished)'}", ""]
    if p.changes:
        rows = [[x.node_id, x.field, x.a, x.b, _seq(x.seq_a), _seq(x.seq_b)] for x in p.changes]
        lines += _table(["node", "differs in", "A", "B", "seq in A", "seq in B"], rows)
    else:
        lines += ["Same nodes, statuses, variants and attempts.", ""]
    if not p.same_order:
        lines += ["The nodes both runs finished, finished in a different order.", ""]
    lines += ["## Cost", ""]
    rows = []
    for k in c.costs:
        for m in METRICS:
            x, y = getattr(k.a, m), getattr(k.b, m)
            if x or y or k.scope == "total":
                ratio = k.ratio[m]
                rows.append([k.scope, m, _num(x), _num(y), _num(getattr(k.delta, m), sign=True),
                             "n/a" if ratio is None else f"{ratio:g}"])  # fmt: skip
    lines += _table(["scope", "metric", "A", "B", "B - A", "B / A"], rows)
    lines += [
        f"Totals from A's {a.cost_source} and B's {b.cost_source}; phases sum the usage of"
        " node outcome events (their seqs are in the JSON export).",
        "",
        "## Failure type",
        "",
    ]
    f = c.failure
    for r, ftype, reason, seq in (("A", f.a, f.reason_a, f.seq_a), ("B", f.b, f.reason_b, f.seq_b)):
        at = f" (seq {seq}: {clause(reason)})" if seq else ""
        lines.append(f"- {r}: {ftype or 'none'}{at}")
    lines += ["", "## Key decisions", ""]
    if c.decisions:
        rows = [[x.node_id, _rules(x.a), _rules(x.b), "yes" if x.differs else "no"]
                for x in c.decisions]  # fmt: skip
        lines += _table(["node", "A", "B", "differs"], rows)
    else:
        lines += ["Neither run took a decision other than continue.", ""]
    if c.problems:
        lines += ["## Problems in the input", ""]
        lines += [f"- {x.task_id} seq {_seq(x.seq)} {x.field}: {x.message}" for x in c.problems]
        lines.append("")
    return "\n".join(lines)


def _evidence(e: Evidence) -> str:
    line = f"- {e.run.upper()} seq {e.seq} ({e.source}): {e.text}"
    conditions = e.detail.get("conditions_evidence")
    if conditions:
        shown = _value(conditions)
        line += f" Evidence: {shown[:240]}{'...' if len(shown) > 240 else ''}"
    return line


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(v) for v in r) + " |" for r in rows]
    return [*out, ""]


def _cell(v: str) -> str:
    return v.replace("|", "\\|").replace("\n", " ")


def _events(s: Side) -> str:
    return f"{s.event_count} (seq {s.first_seq}-{s.last_seq})" if s.event_count else "0"


def _seq(seq: int | None) -> str:
    return "-" if seq is None else str(seq)


def _num(v: float, sign: bool = False) -> str:
    text = f"{v:+,}" if sign and isinstance(v, int) else f"{v:,}" if isinstance(v, int) else ""
    if not text:
        text = f"{v:+.6f}" if sign else f"{v:.6f}"
        text = text.rstrip("0").rstrip(".")
    return text


def _rules(ds: tuple[DecisionRecord, ...]) -> str:
    parts = []
    for d in ds:
        to = f" -> {d.variant}" if d.variant else ""
        parts.append(f"{d.rule} {d.action}{to} (seq {d.seq})")
    return "; ".join(parts) or "none"


def _value(v: Any, nested: bool = False) -> str:
    if isinstance(v, Mapping):
        inner = ", ".join(f"{k}={_value(x, True)}" for k, x in sorted(v.items()))
        return f"{{{inner}}}" if nested else inner
    if isinstance(v, list | tuple):
        inner = ", ".join(_value(x, True) for x in v)
        return f"[{inner}]" if nested else inner or "(none)"
    return "none" if v is None else str(v)
