"""Salience: each part of the score, the weights from configuration, Top-K and paging."""

from __future__ import annotations

import math

import pytest

from agentledger.core.errors import InvalidArgument
from services.optimizer.domain.events import Event
from services.optimizer.domain.salience import (
    DEFAULT_WEIGHTS,
    PARTS,
    SALIENCE_VERSION,
    SalienceConfig,
    rank,
)
from tests.optimizer.events import ev, small_trace

CONFIG = SalienceConfig(DEFAULT_WEIGHTS, top_k=3)


def test_parts_add_up_and_the_failure_ranks_first() -> None:
    r = rank(small_trace(), CONFIG)
    assert r.salience_version == SALIENCE_VERSION and r.total == 10
    # The failure; the costliest event, on the node that failed; the outcome.
    assert [s.seq for s in r.top] == [5, 7, 10]
    for s in (*r.top, *r.page):
        assert math.isclose(sum(s.parts), s.score)
    failure = r.top[0]
    w = DEFAULT_WEIGHTS
    assert failure.parts == pytest.approx(
        (w["severity"] * 5 / 6, w["user_impact"] * 0.6, 0.0, w["failure_relatedness"] * 1.0)
    )
    retry = next(s for s in r.page if s.seq == 6)  # about the node that failed: half the part
    assert retry.parts[3] == pytest.approx(w["failure_relatedness"] * 0.5)
    assert r.top[1].parts[2] == pytest.approx(w["cost_delta"])  # $0.05: the largest delta
    assert r.evidence["failed_nodes"] == ["build"]


def test_each_part_alone() -> None:
    events = small_trace()
    for k, part in enumerate(PARTS):
        only = {p: (1.0 if p == part else 0.0) for p in PARTS}
        r = rank(events, CONFIG, weights=only, top_k=10)
        assert all(s.parts[j] == 0.0 for s in r.top for j in range(4) if j != k)
    by_cost = rank(events, CONFIG, weights={"cost_delta": 1.0}, top_k=1)
    assert by_cost.top[0].seq == 7  # $0.05 is the largest delta
    by_impact = rank(events, CONFIG, weights={"user_impact": 1.0}, top_k=1)
    assert by_impact.top[0].seq == 10  # COMPLETED beats the failure itself for the user


def test_tokens_stand_in_for_cost_when_nothing_has_a_price() -> None:
    events = [ev(1, "node.completed", {"usage": {"tokens_in": 10}}),
              ev(2, "node.completed", {"usage": {"tokens_in": 40}})]  # fmt: skip
    r = rank(events, CONFIG, weights={"cost_delta": 1.0})
    assert [(s.seq, s.parts[2]) for s in r.top] == [(2, 1.0), (1, 0.25)]


def test_top_k_then_the_rest_paged() -> None:
    events = [Event(i, "x", severity=i % 7) for i in range(1, 41)]
    r = rank(events, CONFIG, top_k=5, page_size=10)
    assert len(r.top) == 5 and len(r.page) == 10 and r.next_offset == 10
    ranked = [s.seq for s in r.top] + [s.seq for s in r.page]
    offset = r.next_offset
    while offset:
        page = rank(events, CONFIG, top_k=5, page_size=10, offset=offset)
        ranked += [s.seq for s in page.page]
        offset = page.next_offset
    assert len(page.page) == 5
    assert sorted(ranked) == list(range(1, 41)) and len(set(ranked)) == 40
    # Equal scores keep the earlier event first.
    assert [s.seq for s in r.top] == [6, 13, 20, 27, 34]
    assert rank(events, CONFIG).top == rank(list(reversed(events)), CONFIG).top


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"weights": {"loudness": 1.0}}, "salience weight 'loudness'"),
        ({"weights": {"severity": -1.0}}, "salience weight 'severity' is -1"),
        ({"weights": {"severity": math.nan}}, "is nan"),
        ({"weights": {"severity": 0.0}}, "every salience weight is 0"),
        ({"top_k": -2}, "top_k -2"),
        ({"page_size": 5000}, "page size of 1..1000"),
        ({"offset": -1}, "offset >= 0"),
    ],
)
def test_bad_settings_are_refused_by_name(kw: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        rank(small_trace(), CONFIG, **kw)  # type: ignore[arg-type]


def test_no_events_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="no events"):
        rank([], CONFIG)
