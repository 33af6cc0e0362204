"""The user narrative (SPEC 3.2): what happened, why this result, what it cost and what to do
next, told by rule-based sentence templates over a task's events, its `RunView` and its goal
report. Each sentence cites the events (and blobs) it rests on and names the figures it quotes
(see `sentences`); `explain` keeps only those the checker accepts. Evidence comes before
conclusion: within "why", the decisions, conflicts and unmet requirements, then the goal status.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any

from services.engine.domain.plan import PHASES
from services.product.domain.evidence import RunTrace
from services.product.domain.goals import GoalReport, GoalStatus, NextAction, SubgoalResult
from services.product.domain.records import ENDED
from services.product.domain.runview import DecisionRecord
from services.product.domain.sentences import Checked, Sentence, check, figure, measures, numeric

MAX_TOLD = 8  # decisions, names and requirements told one by one; the rest are counted
_SALIENCE = {"fail": 0, "pause": 1, "degrade": 2, "retry": 3}
# The lead of a next-action sentence, and how several fields of one question are joined.
_ACTIONS = {
    "supply_input": ("Answer the task's question by supplying {field}", " and "),
    "fix_data": ("Supply corrected data as {field}", " or "),
    "review_conflict": ("Decide which value of claim {field} is right", " and "),
    "accept_result": ("Accept the doubted result by resuming the task, or cancel it", ""),
    "resume": ("Resume the task", ""),
    "raise_budget": ("Run the task again with a larger {field}", " and "),
    "fix_spec": ("Fix the problem the failure names, then retry the task", ""),
    "review_failure": ("Fix what the failed node reports, then retry the task", ""),
    "retry": ("Retry the task; the failure may be transient", ""),
    "change_input": ("Run the task again with another {field}", " or "),
    "review_result": ("Review the result", ""),
}


def explain(trace: RunTrace, report: GoalReport) -> Checked:
    """The narrative of a task, checked: what a user is shown."""
    return check(narrate(trace, report), trace)


def narrate(trace: RunTrace, report: GoalReport) -> list[Sentence]:
    return [
        *_happened(trace),
        *_course(trace),
        *_why(trace, report),
        *_cost(trace),
        *_next(trace, report),
    ]


def _count(n: int, word: str) -> str:
    return f"{figure(n)} {word}{'' if n == 1 else 's'}"


def _quote(value: Any) -> str:
    text = figure(value) if numeric(value) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def clip(text: str, limit: int = 200) -> str:
    """A recorded text to quote inside a sentence: shortened, without its closing period."""
    text = text.rstrip(". ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _end(text: str) -> str:
    return text if text.endswith(("?", "!")) else text + "."


def _names(items: Sequence[str]) -> str:
    more = len(items) - MAX_TOLD
    return ", ".join(repr(x) for x in items[:MAX_TOLD]) + (
        f" and {figure(more)} more" if more > 0 else ""
    )


def _say(
    section: str,
    text: str,
    seqs: Iterable[int],
    blobs: Iterable[str] = (),
    numbers: Mapping[str, float] | None = None,
) -> Sentence:
    seqs, blobs = tuple(sorted(set(seqs))), tuple(dict.fromkeys(blobs))
    return Sentence(section, text, seqs, blobs, dict(numbers or {}))


# ------------------------------------------------------------------------------ what happened


def _happened(t: RunTrace) -> list[Sentence]:
    """The task's setup and where its nodes ended up."""
    v, out = t.view, []
    plan, goal = v.setup.get("plan"), str(v.setup.get("goal", ""))
    total: Any = v.setup.get("nodes")
    if v.setup_seq:
        ref = f"{plan.get('id')}@{plan.get('version')}" if isinstance(plan, Mapping) else v.plan_id
        mode = v.setup.get("mode", "?")
        text = f"Task {v.task_id} ran plan {ref} in {mode} mode for the goal “{clip(goal, 120)}”."
        out.append(_say("what_happened", text, [v.setup_seq]))
    done = sorted(
        (r for r in v.nodes.values() if r.status == "completed"), key=lambda r: r.final_seq
    )
    if done:
        figs: dict[str, float] = {"count.nodes": len(done)}
        lead, seqs = figure(len(done)), [r.final_seq for r in done]
        if numeric(total):
            figs["nodes"], seqs = float(total), [*seqs, v.setup_seq]
            lead = f"All {lead}" if len(done) == total else f"{lead} of {figure(float(total))}"
        text = f"{lead} nodes completed: {_names([r.node_id for r in done])}."
        out.append(_say("what_happened", text, seqs, (), figs))
    for r in [r for r in v.nodes.values() if r.status == "failed"][:MAX_TOLD]:
        runs = t.outcomes.get(r.node_id, ())
        why = (
            f"{r.failure_kind}: {clip(r.failure_message)}"
            if r.failure_kind
            else "no failure recorded"
        )
        text = f"Node {r.node_id!r} failed after {_count(len(runs), 'run')} ({why})."
        out.append(_say("what_happened", text, [*runs, r.final_seq], (), {"count.runs": len(runs)}))
    for status, one, many in (
        ("waiting", "waits for the user", "wait for the user"),
        ("cancelled", "was cancelled", "were cancelled"),
    ):
        if held := [r for r in v.nodes.values() if r.status == status]:
            names = _names([r.node_id for r in held])
            text = f"Node {names} {one}." if len(held) == 1 else f"Nodes {names} {many}."
            out.append(_say("what_happened", text, [r.final_seq for r in held]))
    return out


def _course(t: RunTrace) -> list[Sentence]:
    """Where the task stopped and went on, what its nodes wrote, and how it ended."""
    v, out = t.view, []
    steps = [s for s in v.task_steps if s.kind == "state"]
    stops = [(s, after) for s, after in pairwise(steps) if s.what[0] in ("WAITING_INPUT", "PAUSED")]
    for s, after in stops[:MAX_TOLD]:
        text = (
            f"At seq {s.seq} the task stopped in {s.what[0]} ({clip(s.note)}); at seq "
            f"{after.seq} it went on to {after.what[0]} ({clip(after.note)})."
        )
        out.append(_say("what_happened", text, [s.seq, after.seq]))
    if t.artifacts:
        seqs = sorted(set(t.artifacts.values()))
        names = [f"{t.events[q].get('node_id')}/{t.payload(q).get('name')}" for q in seqs]
        more = f" and {figure(len(names) - MAX_TOLD)} more" if len(names) > MAX_TOLD else ""
        text = (
            f"The nodes wrote {_count(len(seqs), 'artifact')}: {', '.join(names[:MAX_TOLD])}{more}."
        )
        out.append(_say("what_happened", text, seqs, t.artifacts, {"count.artifacts": len(seqs)}))
    if v.end_seq:
        ended = t.state in ENDED
        lead = f"The task ended {t.state} at" if ended else f"The task is {t.state} since"
        text, seqs, blobs = f"{lead} seq {v.end_seq}: {clip(v.end_reason)}.", [v.end_seq], []
        if t.system_trace_seq:
            text += " Its system trace is stored as a blob."
            seqs.append(t.system_trace_seq)
            blobs = [str(b) for b in t.events[t.system_trace_seq].get("blob_ids") or ()]
        out.append(_say("what_happened", text, seqs, blobs))
    return out


# ------------------------------------------------------------------------------ why


def _why(t: RunTrace, report: GoalReport) -> list[Sentence]:
    key = [
        d
        for ds in t.view.decisions.values()
        for d in ds
        if d.key and d.rule != "ConflictBetweenAgents"
    ]  # a conflict's decision goes with it
    told = sorted(key, key=lambda d: (_SALIENCE.get(d.action, 4), d.seq))[:MAX_TOLD]
    out = [_decision(t, d) for d in sorted(told, key=lambda d: d.seq)]
    if rest := [d.seq for d in key if d not in told]:
        text = f"{_count(len(rest), 'more governance decision')} changed the run's course."
        out.append(_say("why", text, rest, (), {"count.decisions": len(rest)}))
    out += [_conflict(t, seq) for seq in t.conflicts[:MAX_TOLD]]
    out += [_unmet(s) for s in report.breakdown if s.missing]
    return [*out, _conclusion(t, report)]


def _unmet(s: SubgoalResult) -> Sentence:
    """What a sub-goal lacks: each unmet requirement and what the run shows instead."""
    missing = s.missing[:MAX_TOLD]
    parts = []
    for r in missing:
        seen = "; ".join(f"{k} is {figure(x)}" for k, x in r.figures.items())
        parts.append(f"{r.what}, but {seen or clip(r.observed)}")
    if len(s.missing) > len(missing):
        parts.append(f"and {figure(len(s.missing) - len(missing))} more")
    text = f"Sub-goal {s.subgoal} is {s.status.value}: it needs {'; '.join(parts)}."
    ev = [e for r in missing for e in r.evidence]
    figs = {k: x for r in missing for k, x in r.figures.items()}
    return _say("why", text, [e.seq for e in ev], [b for e in ev for b in e.blob_ids], figs)


def _decision(t: RunTrace, d: DecisionRecord) -> Sentence:
    ev, head = d.evidence, f"At seq {d.seq}, rule {d.rule} v{d.rule_version}"
    fractions = ev.get("fractions") if isinstance(ev.get("fractions"), Mapping) else {}
    if d.rule == "BudgetPressure" and numeric(ev.get("threshold")) and fractions:
        pressed = [x for x in ev.get("pressed", fractions) if numeric(fractions.get(x))]
        used = " and ".join(f"{figure(fractions[x], 'percent')} of its {x} budget" for x in pressed)
        figs = {f"conditions_evidence.fractions.{x}": fractions[x] for x in pressed}
        figs["conditions_evidence.threshold"] = ev["threshold"]
        threshold = figure(ev["threshold"], "percent")
        text = (
            f"{head} ran node {d.node_id!r} on its cheaper variant {d.variant!r}: the task had"
            f" used {used}, at or past the plan's threshold of {threshold}."
        )
        return _say("why", text, [d.seq], (), figs)
    dims = [
        x
        for x in ev.get("exceeded", ())
        if numeric(ev.get(f"{x}_used")) and numeric(ev.get(f"{x}_limit"))
    ]
    if d.rule == "BudgetExceeded" and dims:
        style = {"usd": "usd"}
        spent = " and ".join(
            f"{x} {figure(ev[f'{x}_used'], style.get(x, ''))} used of a "
            f"{figure(ev[f'{x}_limit'], style.get(x, ''))} limit"
            for x in dims
        )
        figs = {
            f"conditions_evidence.{x}_{k}": ev[f"{x}_{k}"] for x in dims for k in ("used", "limit")
        }
        return _say("why", f"{head} failed the task: {spent}.", [d.seq], (), figs)
    sp: Any = ev.get("success_proxy")
    floor: Any = ev.get("threshold")
    if d.rule == "LowSuccessProxy" and numeric(sp) and numeric(floor):
        text = (
            f"{head} decided {d.action} on node {d.node_id!r}: its success proxy {figure(sp)} is "
            f"below the plan's minimum of {figure(floor)}."
        )
        figs = {"conditions_evidence.success_proxy": sp, "conditions_evidence.threshold": floor}
        return _say("why", text, [d.seq], (), figs)
    outcome = [q for q in t.outcomes.get(d.node_id, ()) if q < d.seq][-1:]
    text = f"{head} decided {d.action} on node {d.node_id!r}: “{clip(d.reason, 300)}.”"
    return _say("why", text, [d.seq, *outcome])


def _conflict(t: RunTrace, seq: int) -> Sentence:
    p = t.payload(seq)
    left, right = (x if isinstance(x, Mapping) else {} for x in (p.get("left"), p.get("right")))
    ln, rn = left.get("node_id", "?"), right.get("node_id", "?")
    node = str(t.events[seq].get("node_id", ""))
    ds = [
        d
        for d in t.view.decisions.get(node, ())
        if d.rule == "ConflictBetweenAgents" and d.seq < seq
    ]
    text = (
        f"At seq {seq}, nodes {ln!r} and {rn!r} disagreed on claim {p.get('claim')!r}: {ln!r} "
        f"claims {_quote(left.get('value'))}, {rn!r} claims {_quote(right.get('value'))}"
    )
    text += f"; rule ConflictBetweenAgents decided {ds[-1].action}." if ds else "."
    figs = {
        f"{side}.value": x["value"]
        for side, x in (("left", left), ("right", right))
        if numeric(x.get("value"))
    }
    return _say("why", text, [seq, *(d.seq for d in ds[-1:])], (), figs)


def _conclusion(t: RunTrace, report: GoalReport) -> Sentence:
    labels = {
        GoalStatus.DONE: "done",
        GoalStatus.PARTIAL: "partly done",
        GoalStatus.NOT_DONE: "not done",
    }
    parts = [
        f"{label}: {', '.join(s.subgoal for s in report.breakdown if s.status is st)}"
        for st, label in labels.items()
        if any(s.status is st for s in report.breakdown)
    ]
    state, status = report.task_state, report.status
    contrast = (status is not GoalStatus.DONE and state == "COMPLETED") or (
        status is not GoalStatus.NOT_DONE and state == "FAILED"
    )
    although = f" although the task {state}" if contrast else ""
    # Each requirement's first evidence (the outcome it read); the details cite the rest.
    seqs = [r.evidence[0].seq for s in report.breakdown for r in s.requirements if r.evidence]
    text = f"So the goal is {status.value}{although}: {'; '.join(parts)}."
    return _say("why", text, seqs or [t.view.end_seq or t.view.last_seq])


# ------------------------------------------------------------------------------ cost


def _cost(t: RunTrace) -> list[Sentence]:
    v, out = t.view, []
    phases = sorted(
        v.phase_costs, key=lambda p: (PHASES.index(p) if p in PHASES else len(PHASES), p)
    )
    if runs := sorted(q for seqs in t.outcomes.values() for q in seqs):
        usd = round(sum(c.usd for c in v.phase_costs.values()), 9)
        tin = sum(c.tokens_in for c in v.phase_costs.values())
        tout = sum(c.tokens_out for c in v.phase_costs.values())
        text = (
            f"The run spent {figure(usd, 'usd')}, {figure(tin)} tokens in and {figure(tout)} out, "
            f"over {_count(len(runs), 'node run')}."
        )
        figs = {
            "sum.usd": usd,
            "sum.tokens_in": tin,
            "sum.tokens_out": tout,
            "count.runs": len(runs),
        }
        out.append(_say("cost", text, runs, (), figs))
    for phase in phases:
        c, seqs = v.phase_costs[phase], v.phase_seqs[phase]
        text = (
            f"Phase {phase}: {figure(c.usd, 'usd')}, {figure(c.tokens_in)} tokens in, "
            f"{figure(c.tool_ms)} ms of tool time, over {_count(len(seqs), 'run')}."
        )
        figs = {
            "sum.usd": c.usd,
            "sum.tokens_in": c.tokens_in,
            "sum.tool_ms": c.tool_ms,
            "count.runs": len(seqs),
        }
        out.append(_say("cost", text, seqs, (), figs))
    budget: Any = v.setup.get("budget")
    budget = budget if isinstance(budget, Mapping) else {}
    units = {"tokens": ("", " tokens"), "usd": ("usd", ""), "seconds": ("", " s")}
    if (limits := {k: budget[k] for k in units if numeric(budget.get(k))}) and v.setup_seq:
        said = " and ".join(f"{figure(x, units[k][0])}{units[k][1]}" for k, x in limits.items())
        figs = {f"budget.{k}": x for k, x in limits.items()}
        out.append(_say("cost", f"The task's budget was {said}.", [v.setup_seq], (), figs))
    if superseded := [q for seqs in t.outcomes.values() for q in seqs[:-1]]:
        m = measures([t.events[q] for q in superseded])
        spent, tokens = m["sum.usd"], m["sum.tokens_in"]
        text = (
            f"Of these, {_count(len(superseded), 'run')} did not stand (retried, degraded or "
            f"asked again) and spent {figure(spent, 'usd')} and {figure(tokens)} tokens in."
        )
        figs = {"sum.usd": spent, "sum.tokens_in": tokens, "count.runs": len(superseded)}
        out.append(_say("cost", text, superseded, (), figs))
    return out


# ------------------------------------------------------------------------------ next


def _next(t: RunTrace, report: GoalReport) -> list[Sentence]:
    """One sentence per question: actions of one kind and reason differ only in their field."""
    grouped: dict[tuple[str, str], list[NextAction]] = {}
    for a in report.next_actions:
        grouped.setdefault((a.kind, a.why), []).append(a)
    out = [_action(group) for group in grouped.values() if group[0].evidence]
    v = t.view
    if not out and t.state == "COMPLETED" and report.status is GoalStatus.DONE:
        text = "Nothing is left to do: the task completed and every sub-goal is done."
        out.append(_say("next", text, [v.end_seq or v.last_seq]))
    elif not out and t.state not in ENDED:
        text = f"The task is {t.state or 'not finished'}; its result is not final yet."
        out.append(_say("next", text, [v.last_seq]))
    return out


def _action(group: list[NextAction]) -> Sentence:
    lead, joiner = _ACTIONS.get(group[0].kind, (group[0].kind, " and "))
    fields = (joiner or " and ").join(repr(a.field) for a in group if a.field) or "the input"
    why = clip(group[0].why, 400)
    text = _end(lead.format(field=fields) + (f": {why}" if why else ""))
    ev = [e for a in group for e in a.evidence]
    return _say("next", text, [e.seq for e in ev], [b for e in ev for b in e.blob_ids])
