"""SPEC 3.6 billing: one traceable line per task, totals that are the exact sums of the lines,
day checks, and the explanation of how the total is made."""

from __future__ import annotations

import math
import random
from dataclasses import fields, replace
from datetime import date

import pytest

from agentledger.core.errors import InvalidArgument
from services.product.domain.billing import Bill, BillLine, BillTotals, bill, parse_day
from services.product.domain.records import MeteringRecord


def record(task_id: str, **kw: object) -> MeteringRecord:
    base = MeteringRecord(
        task_id=task_id, owner="alice", tenant="acme", day="2026-11-28", state="COMPLETED"
    )
    return replace(base, **kw)  # type: ignore[arg-type]


DONE = record(
    "t-1",
    tokens_in=1200,
    tokens_out=340,
    usd=0.0123,
    tool_ms=1500,
    events=17,
    blob_bytes=2048,
    exports=2,
    compares=1,
    cost_seqs=(5, 9, 14),
    ended=True,
)
RUNNING = record("t-2", state="RUNNING", tokens_in=100, tokens_out=20, usd=0.001, events=4)
FAILED = record(
    "t-3",
    day="2026-11-27",
    state="FAILED",
    usd=0.2,
    tokens_in=9000,
    tokens_out=1000,
    events=30,
    cost_seqs=(3,),
    ended=True,
    compares=2,
)


def test_a_line_explains_its_figures_and_cites_the_events() -> None:
    line = BillLine.of(DONE)
    assert (line.task_id, line.usd, line.cost_seqs, line.exports) == ("t-1", 0.0123, (5, 9, 14), 2)
    assert line.explanation == (
        "task t-1 (COMPLETED, 2026-11-28): $0.0123 for 1,200 tokens in and 340 out, 1.5 s in"
        " tools over 3 node runs (events 5, 9, 14); 2 exports, 1 compare."
    )


def test_a_running_line_says_its_figures_are_so_far() -> None:
    assert BillLine.of(RUNNING).explanation == (
        "task t-2 (RUNNING, 2026-11-28), still running; figures so far: $0.001 for 100 tokens in"
        " and 20 out; no exports or compares."
    )


def test_an_ended_task_without_node_runs_and_many_cost_events() -> None:
    cancelled = record("t-4", state="CANCELLED", ended=True)
    assert BillLine.of(cancelled).explanation == (
        "task t-4 (CANCELLED, 2026-11-28): $0 for 0 tokens in and 0 out over no node runs;"
        " no exports or compares."
    )
    many = BillLine.of(record("t-5", ended=True, cost_seqs=tuple(range(1, 16)), exports=1))
    assert "over 15 node runs (events 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 5 more)" in many.explanation
    assert many.explanation.endswith("; 1 export, 0 compares.")


def test_totals_are_the_exact_sums_of_the_lines() -> None:
    rng = random.Random(7)
    records = [
        record(
            f"t-{i:03}",
            day=f"2026-11-{1 + i % 28:02}",
            tokens_in=rng.randrange(10**7),
            tokens_out=rng.randrange(10**6),
            usd=rng.random() / 7,
            tool_ms=rng.randrange(10**6),
            events=rng.randrange(500),
            blob_bytes=rng.randrange(10**9),
            exports=rng.randrange(5),
            compares=rng.randrange(5),
            ended=True,
        )
        for i in range(200)
    ]
    b = bill("alice", "2026-11-01", "2026-11-30", records)
    assert len(b.lines) == 200
    for f in fields(BillTotals):
        values = [getattr(line, f.name) for line in b.lines]
        expected = math.fsum(values) if f.name == "usd" else sum(values)
        assert getattr(b.totals, f.name) == expected, f.name
    # The order the store hands records in does not change a cent.
    assert bill("alice", "2026-11-01", "2026-11-30", reversed(records)).totals == b.totals


def test_lines_are_the_owners_tasks_on_the_days_in_order() -> None:
    other = record("t-9", owner="bob", usd=5.0)
    late = record("t-8", day="2026-11-29", usd=5.0)
    b = bill("alice", "2026-11-27", "2026-11-28", [RUNNING, other, DONE, late, FAILED])
    assert [x.task_id for x in b.lines] == ["t-3", "t-1", "t-2"]
    assert (b.owner, b.from_day, b.to_day) == ("alice", "2026-11-27", "2026-11-28")
    assert b.totals.usd == math.fsum([0.2, 0.0123, 0.001])


def test_the_explanation_says_how_the_total_is_made() -> None:
    b = bill("alice", "2026-11-27", "2026-11-28", [DONE, RUNNING, FAILED])
    assert b.explanation == (
        "alice created 3 tasks from 2026-11-27 to 2026-11-28 (UTC days), which used $0.2133 for"
        " 10,300 tokens in and 1,360 out over 51 events.",
        "By state: 1 COMPLETED ($0.0123), 1 FAILED ($0.2), 1 RUNNING ($0.001).",
        "The costliest is task t-3 (FAILED, 2026-11-27) at $0.2, 94% of the total.",
        "Task t-2 is still running: its figures are so far and can still grow.",
        "2 exports and 3 compares made of these tasks are counted with the task they were made"
        " of; they add no USD.",
        "USD is what the agents reported for their model and tool calls, summed with no markup.",
        "A task counts on the UTC day it was created, even when it ran past midnight.",
    )


def test_an_empty_bill_says_there_is_nothing() -> None:
    b = bill("alice", "2026-11-28", "2026-11-28", [])
    assert b == Bill("alice", "2026-11-28", "2026-11-28", (), BillTotals(), b.explanation)
    assert b.explanation[0] == (
        "alice created no tasks on 2026-11-28 (UTC days), so there is nothing to bill."
    )


@pytest.mark.parametrize(
    ("from_day", "to_day", "needle"),
    [
        ("2026-11-31", "2026-12-01", "from_day '2026-11-31' is not a UTC day as YYYY-MM-DD"),
        ("2026-11-01", "28/11/2026", "to_day '28/11/2026' is not a UTC day as YYYY-MM-DD"),
        ("2026-11-1", "2026-11-02", "from_day '2026-11-1'"),
        ("2026-11-29", "2026-11-28", "from_day 2026-11-29 is after to_day 2026-11-28"),
        ("2025-01-01", "2026-01-02", "spans 367 days; ask for at most 366"),
    ],
)
def test_bad_days_are_named(from_day: str, to_day: str, needle: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        bill("alice", from_day, to_day, [])
    assert needle in str(e.value)


def test_a_span_of_366_days_is_allowed() -> None:
    assert bill("alice", "2023-01-01", "2024-01-01", []).lines == ()


def test_parse_day_and_owner() -> None:
    assert parse_day("2028-02-29") == date(2028, 2, 29)
    with pytest.raises(InvalidArgument, match="day '2027-02-29'"):
        parse_day("2027-02-29")
    with pytest.raises(InvalidArgument, match="needs an owner"):
        bill("", "2026-11-28", "2026-11-28", [])
