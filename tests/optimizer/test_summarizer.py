"""The hierarchical summarizer: its three levels, sequence numbers behind every sentence, the
input hash, byte-identical output, paging, and bad input."""

from __future__ import annotations

import random

import pytest

from agentledger.core.errors import InvalidArgument
from services.optimizer.domain.events import Event, seq_ranges
from services.optimizer.domain.summarizer import SUMMARIZER_VERSION, summarize
from tests.optimizer.events import ev, small_trace


def expand(ranges: tuple[tuple[int, int], ...]) -> list[int]:
    return [s for a, b in ranges for s in range(a, b + 1)]


def test_level0_tells_the_user_what_happened_with_the_events_behind_each_sentence() -> None:
    s = summarize(small_trace())
    assert s.summarizer_version == SUMMARIZER_VERSION and s.event_count == 10
    texts = [x.text for x in s.level0]
    assert texts == [
        "10 events from #1 to #10 over 9.000 s, in phases spec, build, verify.",
        "The task is COMPLETED: every node completed.",
        "3 node runs completed.",
        "1 failure: build (tool_issue).",
        "Governance decided 3 times (continue 2, retry 1); notable: retry at 'build' (tool_error).",
        "It used 570 tokens and $0.0620.",
    ]
    refs = [expand(x.seqs) for x in s.level0]
    assert refs == [list(range(1, 11)), [10], [3, 7, 9], [5], [4, 6, 8], [3, 5, 7, 9]]


def test_level1_clusters_by_phase_agent_and_decision_point() -> None:
    s = summarize(small_trace())
    keys = [(c.kind, c.key) for c in s.level1]
    assert keys == [
        ("phase", "spec"), ("phase", "build"), ("phase", "verify"), ("phase", "task"),
        ("agent", "build"), ("agent", "check"), ("agent", "spec"),
        ("decision_point", "build / default"), ("decision_point", "build / tool_error"),
        ("decision_point", "spec / default"),
    ]  # fmt: skip
    build = next(c for c in s.level1 if (c.kind, c.key) == ("phase", "build"))
    assert (build.event_count, build.failures, build.tokens) == (4, 1, 390)
    assert build.decisions == (("continue", 1), ("retry", 1))
    assert build.duration_s == 3.0
    assert expand(build.sentence.seqs) == [5, 6, 7, 8]
    agent = next(c for c in s.level1 if (c.kind, c.key) == ("agent", "build"))
    assert "run by agent:http" in agent.sentence.text


def test_level2_pages_every_event() -> None:
    events = small_trace()
    first = summarize(events, page_size=4)
    assert [line.seq for line in first.level2] == [1, 2, 3, 4] and first.next_after_seq == 4
    assert first.level2[2].text.startswith("#3 node.completed [spec/spec] {")
    second = summarize(events, after_seq=first.next_after_seq, page_size=4)
    assert [line.seq for line in second.level2] == [5, 6, 7, 8]
    last = summarize(events, after_seq=8, page_size=4)
    assert [line.seq for line in last.level2] == [9, 10] and last.next_after_seq == 0


def test_the_same_events_give_the_same_summary_whatever_their_order() -> None:
    events = small_trace()
    shuffled = list(events)
    random.Random(3).shuffle(shuffled)
    a, b = summarize(events), summarize(shuffled)
    assert a == b and repr(a) == repr(b)
    assert a.input_hash.startswith("sha256:") and len(a.input_hash) == 71
    changed = [*events[:-1], ev(10, "task.state_changed", {"to": "FAILED"})]
    assert summarize(changed).input_hash != a.input_hash


def test_events_without_engine_payloads_still_summarize() -> None:
    s = summarize([Event(1, "custom.thing"), Event(2, "custom.other", node_id="x")])
    assert s.level0[0].text == "2 events from #1 to #2 over 0.000 s."
    assert [c.key for c in s.level1] == ["task", "x"]


def test_seq_ranges() -> None:
    assert seq_ranges([7, 1, 2, 3, 3, 9, 8]) == ((1, 3), (7, 9))
    assert seq_ranges([]) == ()


@pytest.mark.parametrize(
    ("events", "kw", "message"),
    [
        ([], {}, "no events"),
        ([Event(1, "a"), Event(1, "b")], {}, "seq 1 repeats"),
        ([Event(0, "a")], {}, "seq 0 is not positive"),
        ([Event(1, "")], {}, "empty type"),
        ([Event(1, "a", phase="deploy")], {}, "phase 'deploy'"),
        ([Event(1, "a", severity=9)], {}, "severity 9"),
        ([Event(1, "node.failed", payload_json=b"{oops")], {}, "not valid JSON"),
        ([Event(1, "task.state_changed", payload_json=b"[1]")], {}, "not a JSON object"),
        ([Event(1, "a")], {"page_size": 0}, "page size of 1..1000"),
        ([Event(1, "a")], {"after_seq": -1}, "after_seq >= 0"),
    ],
)
def test_bad_events_are_refused_by_name(
    events: list[Event], kw: dict[str, int], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        summarize(events, **kw)
