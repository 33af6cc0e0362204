"""The export's default READMEs, used when the product layer passes none: only what the
summary and the system trace say, each decision pointing at its event in events.jsonl."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson


def _plain(value: Any) -> Any:
    """orjson's fallback: mappings as dicts, anything else unknown as its text."""
    return dict(value) if isinstance(value, Mapping) else str(value)


def user_readme(summary: Mapping[str, Any]) -> str:
    """The user's README: result, goal status, next actions, and the key decisions."""
    s, extra = summary, _map(summary.get("extra"))
    cost = _map(s.get("cost"))
    failure = f" ({s['failure_type']})" if s.get("failure_type") else ""
    actions = s.get("next_actions") or extra.get("next_actions") or []
    lines = [
        f"# {_line(s.get('goal') or s.get('task_id') or 'Task')}",
        "",
        f"- **Result:** {_line(s.get('result_summary') or 'no result summary was recorded')}",
        f"- **Goal status:** {s.get('goal_status') or 'not assessed'}; "
        f"task state {s.get('state') or 'unknown'}{failure}",
        f"- **Cost:** {cost.get('tokens_in', 0)} tokens in, {cost.get('tokens_out', 0)} out, "
        f"${float(cost.get('usd') or 0):.4f}",
        "",
        "## What to do next",
        "",
        *([f"- {_line(a)}" for a in actions] or ["- No next actions were recorded."]),
        "",
        "## How it went",
        "",
        *(
            f"- {_line(d.get('decision'))} at node {_line(d.get('node_id'))} by rule "
            f"{_line(d.get('rule'))}: {_line(d.get('reason'))} (event {d.get('seq')})"
            for d in _maps(s.get("top_decisions"))
        ),
        "",
        "The engineering details are in ENGINEERING.md, the full trace in events.jsonl.",
    ]
    return "\n".join(lines) + "\n"


def engineering_readme(summary: Mapping[str, Any], trace: Mapping[str, Any] | None) -> str:
    """The engineer's README: plan path, decisions, recovery, forecast vs actual cost."""
    s, t = summary, trace or {}
    plan, state, f = _map(t.get("plan")), _map(t.get("state")), _map(s.get("forecast"))
    nodes = sorted(_maps(t.get("nodes")), key=lambda n: int(n.get("started_ns") or 0))
    cost = _map(s.get("cost"))
    tokens = int(cost.get("tokens_in") or 0) + int(cost.get("tokens_out") or 0)
    sections: list[tuple[str, list[str], list[Mapping[str, Any]]]] = [
        ("Plan path", ["id", "phase", "agent", "status", "attempt", "variant"], nodes),
        (
            "Governance decisions (the most salient; all of them are in events.jsonl)",
            ["seq", "node_id", "rule", "decision", "reason"],
            _maps(s.get("top_decisions")),
        ),
        (
            "Recovery",
            ["id", "attempt", "tried_variants", "failure"],
            [n for n in nodes if n.get("failure") or len(n.get("tried_variants") or ()) > 1],
        ),
        (
            "Cost: forecast vs actual",
            ["measure", "forecast", "actual"],
            [
                {
                    "measure": "tokens",
                    "forecast": f"{f.get('tokens_low')}-{f.get('tokens_high')}",
                    "actual": tokens,
                },
                {
                    "measure": "latency (s)",
                    "forecast": f"{f.get('latency_low_s')}-{f.get('latency_high_s')}",
                    "actual": f.get("actual_latency_s"),
                },
                {"measure": "usd", "forecast": "", "actual": cost.get("usd")},
            ],
        ),
    ]
    rule = plan.get("rule") or _map(s.get("extra")).get("plan_rule")
    lines = [
        f"# Engineering report: task {_line(s.get('task_id'))}",
        "",
        f"Plan {_line(s.get('plan_id') or plan.get('id'))} version "
        f"{_line(s.get('plan_version') or plan.get('version'))}, chosen by rule {_line(rule)}; "
        f"final state {_line(state.get('final') or s.get('state'))}: {_line(state.get('reason'))}",
    ]
    for title, keys, items in sections:
        lines += ["", f"## {title}", "", *_table(keys, items)]
    return "\n".join(lines) + "\n"


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _maps(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _line(value: Any) -> str:
    """A value as one line of Markdown text, at most 300 characters."""
    if isinstance(value, Mapping):
        value = value.get("what") or value.get("description") or value
    text = value if isinstance(value, str) else orjson.dumps(value, default=_plain).decode()
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:299] + "\u2026"


def _table(keys: list[str], items: list[Mapping[str, Any]]) -> list[str]:
    if not items:
        return ["(none)"]
    rows = (
        "| " + " | ".join(_line(i.get(k)).replace("|", "\\|") for k in keys) + " |" for i in items
    )
    return ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys), *rows]
