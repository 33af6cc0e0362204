"""The stored wire form of events and the framing of pages (the read fast path)."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from agentledger.trace_store.v1 import trace_store_pb2 as pb
from services.trace_store.codec import (
    ProtobufWireEncoder,
    list_events_response,
    stream_batch,
    varint,
)
from services.trace_store.domain.cursors import decode_event_cursor
from services.trace_store.domain.ingest import IngestLimits, Ingestor
from services.trace_store.domain.model import StoredEvent


class Upper:
    """A stand-in redaction policy: rewrites every payload."""

    def redact_json(self, payload: bytes) -> bytes:
        return payload.upper()


def _stored(ingestor: Ingestor, events: list[pb.EventInput], now: int = 77) -> list[StoredEvent]:
    prepared = ingestor.events("task-1", events, now)
    return [StoredEvent(i + 1, p[5]) for i, p in enumerate(prepared)]


def test_stored_events_decode_as_trace_events_with_the_store_fields() -> None:
    ingestor = Ingestor(IngestLimits(), ProtobufWireEncoder())
    sent = [
        pb.EventInput(event_id="a", type="x", payload_json=b'{"k": 1}', blob_ids=["0" * 64]),
        pb.EventInput(event_id="b", type="y", severity=5, time_unix_nano=5, phase="build"),  # type: ignore[arg-type]
    ]
    stored = _stored(ingestor, sent)
    page = pb.ListEventsResponse.FromString(list_events_response("task-1", stored, "next", True))
    a, b = page.events
    assert (a.event_id, a.type, a.seq, a.task_id) == ("a", "x", 1, "task-1")
    assert a.time_unix_nano == 77 and a.severity == 2  # settled by the store
    assert orjson.loads(a.payload_json) == {"k": 1} and list(a.blob_ids) == ["0" * 64]
    assert (b.time_unix_nano, b.severity, b.phase, b.payload_json) == (5, 5, "build", b"")
    assert decode_event_cursor("task-1", b.cursor) == 2
    assert page.next_cursor == "next" and page.has_more


def test_a_redacted_payload_replaces_the_original_in_what_is_stored() -> None:
    ingestor = Ingestor(IngestLimits(), ProtobufWireEncoder(), Upper())
    stored = _stored(
        ingestor, [pb.EventInput(event_id="a", type="x", payload_json=b'{"pw": "s3cret"}')]
    )
    assert b"s3cret" not in stored[0].wire  # not kept underneath the redacted value
    event = pb.StreamEventsResponse.FromString(stream_batch("task-1", stored, "c")).batch.events[0]
    assert event.payload_json == b'{"PW": "S3CRET"}'


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_varint_matches_protobuf(n: int) -> None:
    assert pb.TraceEvent.FromString(b"\x58" + varint(n)).seq == n


def test_frame_cursor_layout_matches_the_cursor_module() -> None:
    from services.trace_store.domain.cursors import event_cursor

    for seq in (0, 1, 127, 128, 2**20, 2**40):
        raw = list_events_response("task-9", [StoredEvent(seq, b"")], "", False)
        page = pb.ListEventsResponse.FromString(raw)
        assert page.events[0].cursor == event_cursor("task-9", seq)
        assert page.events[0].seq == seq


def test_empty_page_has_only_its_cursor() -> None:
    page = pb.ListEventsResponse.FromString(list_events_response("t", [], "cur", False))
    assert list(page.events) == [] and page.next_cursor == "cur" and not page.has_more
