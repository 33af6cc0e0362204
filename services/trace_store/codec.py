"""The stored form of events and the framing of pages: the TraceStore's read fast path.

An event is stored as its EventInput encoding (which TraceEvent mirrors, fields 1-9), with any
value the store settled (time, severity, redacted payload) appended: in protobuf the last value
of a field wins. A page is then built by appending each event's task id, sequence number and
cursor to the stored bytes and framing them as the repeated ``events`` field, so serving an
event costs a few byte concatenations instead of building a message field by field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf import json_format

from agentledger.trace_store.v1 import trace_store_pb2 as pb
from services.trace_store.domain.cursors import task_tag
from services.trace_store.domain.ingest import EventLike
from services.trace_store.domain.model import LiveEvent, StoredEvent, Summary

# Tags: (field number << 3) | wire type (0 varint, 2 length-delimited).
_SEVERITY, _TIME = b"\x28", b"\x38"
_TASK_ID, _SEQ, _CURSOR = b"\x52", b"\x58", b"\x62"
_FIELD_1, _FIELD_2, _FIELD_3 = b"\x0a", b"\x12", b"\x18"
# TraceSummary: created_unix_nano 12, updated_unix_nano 13, last_seq 21, version 22 (varints;
# fields above 15 take two tag bytes).
_CREATED, _UPDATED, _LAST_SEQ, _VERSION = b"\x60", b"\x68", b"\xa8\x01", b"\xb0\x01"
_SMALL = [bytes((n,)) for n in range(128)]
# An event cursor is "e1." + 12 + 16 hex digits (domain/cursors.py; a test pins the match).
_CURSOR_LEN = 31
_CURSOR_FIELD = _CURSOR + bytes((_CURSOR_LEN,))


def varint(n: int) -> bytes:
    if n < 0x80:
        return _SMALL[n]
    if n < 0x4000:
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    if n < 0x200000:
        return bytes(((n & 0x7F) | 0x80, ((n >> 7) & 0x7F) | 0x80, n >> 14))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _string_field(tag: bytes, value: bytes) -> bytes:
    return tag + varint(len(value)) + value


class ProtobufWireEncoder:
    """The domain's WireEncoder: events as ``EventInput`` encodings, summaries as
    ``TraceSummary`` encodings."""

    def encode_summary(self, document: dict[str, Any]) -> bytes:
        message = json_format.ParseDict(document, pb.TraceSummary(), ignore_unknown_fields=True)
        wire: bytes = message.SerializeToString()
        return wire

    def encode(
        self, event: EventLike, time_ns: int | None, severity: int | None, payload: bytes | None
    ) -> bytes:
        if isinstance(event, pb.EventInput) and payload is None:
            # The servicer discarded unknown fields: nothing unvalidated reaches the bytes.
            wire: bytes = event.SerializeToString()
        else:
            # A redacted payload must not survive anywhere in the stored bytes, so it is
            # replaced in a copy rather than overridden by appending.
            message = pb.EventInput(
                event_id=event.event_id,
                type=event.type,
                phase=event.phase,
                node_id=event.node_id,
                severity=event.severity,  # type: ignore[arg-type]
                actor=event.actor,
                time_unix_nano=event.time_unix_nano,
                payload_json=event.payload_json if payload is None else payload,
                blob_ids=list(event.blob_ids),
            )
            wire = message.SerializeToString()
        if time_ns is not None:
            wire += _TIME + varint(time_ns)
        if severity is not None:
            wire += _SEVERITY + varint(severity)
        return wire


def frame_events(task_id: str, events: Sequence[StoredEvent | LiveEvent]) -> bytes:
    """The events as repeated field 1 (``ListEventsResponse.events``, ``EventBatch.events``):
    each one's stored bytes with its task id, sequence number and cursor appended."""
    prefix = f"e1.{task_tag(task_id).hex()}".encode()
    task_field = _string_field(_TASK_ID, task_id.encode())
    fixed = len(task_field) + 1 + len(_CURSOR_FIELD) + _CURSOR_LEN  # all but wire and seq
    parts: list[bytes] = []
    extend = parts.extend
    for e in events:
        seq, wire = e[0], e[1]
        seq_bytes = varint(seq)
        cursor = b"%s%016x" % (prefix, seq)
        extend(
            (
                _FIELD_1,
                varint(len(wire) + fixed + len(seq_bytes)),
                wire,
                task_field,
                _SEQ,
                seq_bytes,
                _CURSOR_FIELD,
                cursor,
            )
        )
    return b"".join(parts)


def list_events_response(
    task_id: str, events: Sequence[StoredEvent | LiveEvent], next_cursor: str, has_more: bool
) -> bytes:
    """An encoded ``ListEventsResponse``."""
    raw = frame_events(task_id, events) + _string_field(_FIELD_2, next_cursor.encode())
    if has_more:
        raw += _FIELD_3 + b"\x01"
    return raw


def stream_batch(task_id: str, events: Sequence[StoredEvent | LiveEvent], cursor: str) -> bytes:
    """An encoded ``StreamEventsResponse`` holding one ``EventBatch``."""
    batch = frame_events(task_id, events) + _string_field(_FIELD_2, cursor.encode())
    return _string_field(_FIELD_1, batch)


def get_summary_response(summary: Summary) -> bytes:
    """An encoded ``GetSummaryResponse``: the stored summary with the fields the store settles
    (creation and update times from the index, version, last sequence number) appended."""
    index = summary.index
    body = b"".join(
        (
            summary.document,
            _CREATED,
            varint(index.created_ns),
            _UPDATED,
            varint(index.updated_ns),
            _LAST_SEQ,
            varint(summary.last_seq),
            _VERSION,
            varint(summary.version),
        )
    )
    return _string_field(_FIELD_1, body)
