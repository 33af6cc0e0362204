"""SPEC 3.6 billing: an owner's metered tasks over a span of UTC days, one line per task, exact
totals, and sentences that say how the total is made.

Every line points at the events behind its cost (`cost_seqs`), so a user can check each figure
against the trace. USD is what the agents reported; nothing is added to it.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from agentledger.core.errors import InvalidArgument
from services.product.domain.records import ENDED, MeteringRecord
from services.product.domain.sentences import figure

MAX_SPAN_DAYS = 366
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_SHOWN = 10  # ids named in a sentence; the rest are in the lines and their cost_seqs


def parse_day(text: str, *, what: str = "day") -> date:
    """A UTC day as YYYY-MM-DD, refusing anything else by name."""
    if _DAY.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise InvalidArgument(f"{what} {text!r} is not a UTC day as YYYY-MM-DD (e.g. 2026-11-28)")


def _count(n: int, one: str, many: str = "") -> str:
    return f"{figure(n)} {one if n == 1 else (many or one + 's')}"


def _usd(value: float) -> str:
    return figure(value, "usd")


@dataclass(frozen=True, slots=True)
class BillLine:
    """One task's figures, as metering last recorded them, and the sentence that explains them."""

    task_id: str
    day: str
    state: str
    ended: bool
    tokens_in: int
    tokens_out: int
    usd: float
    tool_ms: int
    events: int
    blob_bytes: int
    exports: int
    compares: int
    cost_seqs: tuple[int, ...]
    explanation: str

    @classmethod
    def of(cls, r: MeteringRecord) -> BillLine:
        return cls(
            task_id=r.task_id,
            day=r.day,
            state=r.state,
            ended=r.ended,
            tokens_in=r.tokens_in,
            tokens_out=r.tokens_out,
            usd=r.usd,
            tool_ms=r.tool_ms,
            events=r.events,
            blob_bytes=r.blob_bytes,
            exports=r.exports,
            compares=r.compares,
            cost_seqs=tuple(r.cost_seqs),
            explanation=_line_sentence(r),
        )


def _line_sentence(r: MeteringRecord) -> str:
    head = f"task {r.task_id} ({r.state}, {r.day})"
    running = r.state not in ENDED
    cost = f"{_usd(r.usd)} for {figure(r.tokens_in)} tokens in and {figure(r.tokens_out)} out" + (
        f", {figure(r.tool_ms / 1000)} s in tools" if r.tool_ms else ""
    )
    if running:
        return f"{head}, still running; figures so far: {cost}; {_extras(r.exports, r.compares)}."
    if not r.ended:
        return (
            f"{head}: {cost}; the events behind its cost are gathered at the next sweep;"
            f" {_extras(r.exports, r.compares)}."
        )
    if r.cost_seqs:
        shown = ", ".join(str(q) for q in r.cost_seqs[:_SHOWN])
        more = len(r.cost_seqs) - _SHOWN
        shown += f" and {more} more" if more > 0 else ""
        runs = f"{_count(len(r.cost_seqs), 'node run')} (events {shown})"
    else:
        runs = "no node runs"
    return f"{head}: {cost} over {runs}; {_extras(r.exports, r.compares)}."


def _extras(exports: int, compares: int) -> str:
    if not exports and not compares:
        return "no exports or compares"
    return f"{_count(exports, 'export')}, {_count(compares, 'compare')}"


@dataclass(frozen=True, slots=True)
class BillTotals:
    tokens_in: int = 0
    tokens_out: int = 0
    usd: float = 0.0
    tool_ms: int = 0
    events: int = 0
    blob_bytes: int = 0
    exports: int = 0
    compares: int = 0


@dataclass(frozen=True, slots=True)
class Bill:
    owner: str
    from_day: str
    to_day: str
    lines: tuple[BillLine, ...]
    totals: BillTotals
    explanation: tuple[str, ...]


def _totals(lines: tuple[BillLine, ...]) -> BillTotals:
    return BillTotals(
        tokens_in=sum(x.tokens_in for x in lines),
        tokens_out=sum(x.tokens_out for x in lines),
        # fsum: the correctly rounded sum, independent of the order the lines come in.
        usd=math.fsum(x.usd for x in lines),
        tool_ms=sum(x.tool_ms for x in lines),
        events=sum(x.events for x in lines),
        blob_bytes=sum(x.blob_bytes for x in lines),
        exports=sum(x.exports for x in lines),
        compares=sum(x.compares for x in lines),
    )


def bill(owner: str, from_day: str, to_day: str, records: Iterable[MeteringRecord]) -> Bill:
    """The owner's bill for the days from `from_day` to `to_day`, both included. Records of
    another owner or outside the days are left out, so a loose query cannot leak into a bill."""
    if not owner:
        raise InvalidArgument("a bill needs an owner; pass the caller's subject")
    first, last = parse_day(from_day, what="from_day"), parse_day(to_day, what="to_day")
    if first > last:
        raise InvalidArgument(f"from_day {from_day} is after to_day {to_day}; swap them")
    span = (last - first).days + 1
    if span > MAX_SPAN_DAYS:
        raise InvalidArgument(
            f"from_day {from_day} to to_day {to_day} spans {span} days;"
            f" ask for at most {MAX_SPAN_DAYS} at a time"
        )
    kept = sorted(
        (r for r in records if r.owner == owner and from_day <= r.day <= to_day),
        key=lambda r: (r.day, r.task_id),
    )
    lines = tuple(BillLine.of(r) for r in kept)
    totals = _totals(lines)
    return Bill(
        owner, from_day, to_day, lines, totals, _explain(owner, from_day, to_day, lines, totals)
    )


def _explain(
    owner: str, from_day: str, to_day: str, lines: tuple[BillLine, ...], totals: BillTotals
) -> tuple[str, ...]:
    days = f"on {from_day}" if from_day == to_day else f"from {from_day} to {to_day}"
    if not lines:
        return (
            f"{owner} created no tasks {days} (UTC days), so there is nothing to bill.",
            "A task counts on the UTC day it was created.",
        )
    out = [
        f"{owner} created {_count(len(lines), 'task')} {days} (UTC days), which used"
        f" {_usd(totals.usd)} for {figure(totals.tokens_in)} tokens in and"
        f" {figure(totals.tokens_out)} out over {_count(totals.events, 'event')}."
    ]
    by_state: dict[str, list[BillLine]] = defaultdict(list)
    for line in lines:
        by_state[line.state].append(line)
    parts = [
        f"{len(group)} {state} ({_usd(math.fsum(x.usd for x in group))})"
        for state, group in sorted(by_state.items())
    ]
    out.append(f"By state: {', '.join(parts)}.")
    top = max(lines, key=lambda x: (x.usd, x.tokens_in + x.tokens_out))
    if top.usd > 0 and len(lines) > 1:
        share = top.usd / totals.usd
        out.append(
            f"The costliest is task {top.task_id} ({top.state}, {top.day}) at {_usd(top.usd)},"
            f" {figure(share, 'percent')} of the total."
        )
    running = [x.task_id for x in lines if x.state not in ENDED]
    if running:
        named = ", ".join(running[:_SHOWN])
        named += f" and {len(running) - _SHOWN} more" if len(running) > _SHOWN else ""
        one = len(running) == 1
        out.append(
            f"{'Task' if one else 'Tasks'} {named} {'is' if one else 'are'} still running:"
            f" {'its' if one else 'their'} figures are so far and can still grow."
        )
    out.append(
        f"{_count(totals.exports, 'export')} and {_count(totals.compares, 'compare')} made of"
        " these tasks are counted with the task they were made of; they add no USD."
    )
    out.append(
        "USD is what the agents reported for their model and tool calls, summed with no markup."
    )
    out.append("A task counts on the UTC day it was created, even when it ran past midnight.")
    return tuple(out)
