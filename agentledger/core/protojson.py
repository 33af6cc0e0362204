"""Protobuf messages as the JSON the REST API and the product's documents speak.

Every field is present (zero values included), 64-bit integers stay numbers, enums are their
names, and ``*_json`` bytes fields (UTF-8 JSON documents) are embedded as JSON under the name
without the suffix (``payload_json`` -> ``payload``). Events, the hot path of pages, streams and
exports, are encoded straight to bytes with their stored payload spliced in, never parsed.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from agentledger.common.v1 import common_pb2
from agentledger.core.errors import InvalidArgument
from agentledger.trace_store.v1 import trace_store_pb2 as tpb

MESSAGE = FieldDescriptor.TYPE_MESSAGE
BYTES = FieldDescriptor.TYPE_BYTES
ENUM = FieldDescriptor.TYPE_ENUM


@cache
def json_fields(descriptor: Descriptor) -> tuple[tuple[str, str, FieldDescriptor], ...]:
    out = []
    for f in descriptor.fields:
        name = f.name
        if f.type == BYTES and name.endswith("_json"):
            name = name.removesuffix("_json")
        out.append((f.name, name, f))
    return tuple(out)


def to_dict(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr, name, f in json_fields(message.DESCRIPTOR):
        value = getattr(message, attr)
        if f.is_repeated:
            out[name] = [_one(f, v) for v in value]
        elif f.type != MESSAGE and f.has_presence and not message.HasField(attr):
            out[name] = None  # an optional scalar that is not set (a budget without a limit)
        else:
            out[name] = _one(f, value)
    return out


def _one(f: FieldDescriptor, value: Any) -> Any:
    if f.type == MESSAGE:
        return to_dict(value)
    if f.type == ENUM:
        known = f.enum_type.values_by_number.get(value)
        return known.name if known is not None else value
    if f.type == BYTES:
        if f.name.endswith("_json"):
            return orjson.loads(value) if value else {}
        return value.hex()
    return value


_SEVERITY = {v.number: v.name for v in common_pb2.Severity.DESCRIPTOR.values}


def event_json(e: tpb.TraceEvent) -> bytes:
    """One stored event as a JSON object, its payload spliced in as stored (already redacted)."""
    head = orjson.dumps(
        {
            "task_id": e.task_id,
            "seq": e.seq,
            "cursor": e.cursor,
            "event_id": e.event_id,
            "type": e.type,
            "phase": e.phase,
            "node_id": e.node_id,
            "severity": _SEVERITY.get(e.severity, str(e.severity)),
            "actor": e.actor,
            "time_unix_nano": e.time_unix_nano,
            "blob_ids": list(e.blob_ids),
        }
    )
    return head[:-1] + b',"payload":' + (e.payload_json or b"{}") + b"}"


def event_dict(e: tpb.TraceEvent) -> dict[str, Any]:
    """The same object as ``event_json`` (its payload parsed), built without a JSON round trip."""
    return {
        "task_id": e.task_id,
        "seq": e.seq,
        "cursor": e.cursor,
        "event_id": e.event_id,
        "type": e.type,
        "phase": e.phase,
        "node_id": e.node_id,
        "severity": _SEVERITY.get(e.severity, str(e.severity)),
        "actor": e.actor,
        "time_unix_nano": e.time_unix_nano,
        "blob_ids": list(e.blob_ids),
        "payload": orjson.loads(e.payload_json) if e.payload_json else {},
    }


def json_object(raw: bytes, field: str) -> dict[str, Any]:
    """A request's ``*_json`` bytes field as the JSON object it must be ({} when empty); a
    malformed one is InvalidArgument naming the field."""
    if not raw:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"{field} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"{field} must be a JSON object, got {type(value).__name__}")
    return value
