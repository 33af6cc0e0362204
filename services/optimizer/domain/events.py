"""Task events as the summarizer and salience ranking read them (the fields of trace_store's
TraceEvent), their checks, their input hash, and what they mean by the engine's conventions."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from agentledger.core.errors import InvalidArgument
from services.optimizer.domain.graph import PHASES

SEVERITY_ERROR, SEVERITY_MAX = 5, 6
MAX_EVENTS = 1_000_000


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    type: str
    phase: str = ""
    node_id: str = ""
    severity: int = 2
    actor: str = ""
    time_unix_nano: int = 0
    payload_json: bytes = b""


def check_events(events: Sequence[Event]) -> list[Event]:
    """The events ordered by sequence number, after checking what every reader relies on."""
    if len(events) > MAX_EVENTS:
        raise InvalidArgument(f"{len(events)} events; send at most {MAX_EVENTS:,} per call")
    ordered = sorted(events, key=lambda e: e.seq)
    previous = 0
    for e in ordered:
        if e.seq <= previous or e.seq < 1:
            what = "repeats" if e.seq == previous and e.seq > 0 else "is not positive"
            raise InvalidArgument(f"event seq {e.seq} {what}; sequence numbers are unique, >= 1")
        previous = e.seq
        if not e.type:
            raise InvalidArgument(f"event seq {e.seq} has an empty type")
        if e.phase and e.phase not in PHASES:
            raise InvalidArgument(
                f"event seq {e.seq} has phase {e.phase!r}; use one of {', '.join(PHASES)} or empty"
            )
        if not 0 <= e.severity <= SEVERITY_MAX:
            raise InvalidArgument(f"event seq {e.seq} has severity {e.severity}; use 0..6")
        if e.time_unix_nano < 0:
            raise InvalidArgument(f"event seq {e.seq} has a negative time")
    return ordered


def input_hash(events: Sequence[Event]) -> str:
    """sha256 over every field of the ordered events: equal inputs, equal hashes."""
    parts: list[bytes] = []
    for e in events:
        head = f"{e.seq}\x1f{e.type}\x1f{e.phase}\x1f{e.node_id}\x1f{e.severity}\x1f{e.actor}\x1f"
        parts.append(f"{head}{e.time_unix_nano}\x1f{len(e.payload_json)}\x1f".encode())
        parts.append(e.payload_json)
    return "sha256:" + hashlib.sha256(b"".join(parts)).hexdigest()


def payload(e: Event) -> Mapping[str, Any]:
    """The payload object; empty means {}."""
    if not e.payload_json:
        return {}
    try:
        value = orjson.loads(e.payload_json)
    except orjson.JSONDecodeError:
        raise InvalidArgument(f"event seq {e.seq} has a payload that is not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"event seq {e.seq} has a payload that is not a JSON object")
    return value


def number(value: Any) -> float:
    """A JSON number as a float; anything else (missing, text, NaN) counts as 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if value == value else 0.0


def usage(p: Mapping[str, Any]) -> tuple[int, float]:
    """(tokens, usd) an event reports: the engine's `usage` object, or top-level fields."""
    u = p.get("usage")
    source = u if isinstance(u, dict) else p
    tokens = number(source.get("tokens_in")) + number(source.get("tokens_out"))
    tokens = tokens or number(source.get("tokens"))
    return int(tokens), number(source.get("usd"))


# Events that report on a failure rather than being one (a "fail" decision, the FAILED state).
_CONSEQUENCES = frozenset({"governance.decision", "task.state_changed"})


def is_failure(e: Event) -> bool:
    return e.type == "node.failed" or (e.severity >= SEVERITY_ERROR and e.type not in _CONSEQUENCES)


def may_carry_usage(e: Event) -> bool:
    # A byte check before parsing: most events of a long trace carry no cost at all.
    return b'"usd"' in e.payload_json or b'"tokens' in e.payload_json


def seq_ranges(seqs: Iterable[int], *, ordered: bool = False) -> tuple[tuple[int, int], ...]:
    """Sequence numbers as inclusive runs: (1, 3), (7, 7) for 1, 2, 3, 7. `ordered` says they
    are already ascending and unique (as gathered in one pass over ordered events)."""
    out: list[tuple[int, int]] = []
    start = end = -1
    for s in seqs if ordered else sorted(set(seqs)):
        if s == end + 1:
            end = s
            continue
        if end >= 0:
            out.append((start, end))
        start = end = s
    if end >= 0:
        out.append((start, end))
    return tuple(out)
