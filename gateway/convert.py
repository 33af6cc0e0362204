"""Protobuf messages to the JSON the REST API speaks.

Every field is present (zero values included), 64-bit integers stay numbers, enums are their
names, and ``*_json`` bytes fields (UTF-8 JSON documents) are embedded as JSON under the name
without the suffix (``payload_json`` -> ``payload``). Events, the hot path of pages and streams,
are encoded straight to bytes with their stored payload spliced in, never parsed.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from agentledger.common.v1 import common_pb2
from agentledger.trace_store.v1 import trace_store_pb2 as tpb

_MESSAGE = FieldDescriptor.TYPE_MESSAGE
_BYTES = FieldDescriptor.TYPE_BYTES
_ENUM = FieldDescriptor.TYPE_ENUM


@cache
def _fields(descriptor: Descriptor) -> tuple[tuple[str, str, FieldDescriptor], ...]:
    out = []
    for f in descriptor.fields:
        name = f.name
        if f.type == _BYTES and name.endswith("_json"):
            name = name.removesuffix("_json")
        out.append((f.name, name, f))
    return tuple(out)


def to_dict(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr, name, f in _fields(message.DESCRIPTOR):
        value = getattr(message, attr)
        if f.is_repeated:
            out[name] = [_one(f, v) for v in value]
        elif f.type != _MESSAGE and f.has_presence and not message.HasField(attr):
            out[name] = None  # an optional scalar that is not set (a budget without a limit)
        else:
            out[name] = _one(f, value)
    return out


def _one(f: FieldDescriptor, value: Any) -> Any:
    if f.type == _MESSAGE:
        return to_dict(value)
    if f.type == _ENUM:
        known = f.enum_type.values_by_number.get(value)
        return known.name if known is not None else value
    if f.type == _BYTES:
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


def events_page_json(events: list[tpb.TraceEvent], next_cursor: str, has_more: bool) -> bytes:
    body = b",".join(event_json(e) for e in events)
    tail = orjson.dumps({"next_cursor": next_cursor, "has_more": has_more})
    return b'{"events":[' + body + b"]," + tail[1:]


def sse_event(e: tpb.TraceEvent) -> bytes:
    """One Server-Sent Event: ``id:`` is the event's cursor, so a reconnecting client resumes
    right after the last event it received."""
    return b"id: " + e.cursor.encode() + b"\ndata: " + event_json(e) + b"\n\n"


def sse_events(events: Any) -> bytes:
    return b"".join(sse_event(e) for e in events)


# ---------------------------------------------------------------- JSON Schema of the same shape

_SCALARS = {
    FieldDescriptor.TYPE_DOUBLE: {"type": "number"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
}


def schema_of(descriptor: Descriptor, components: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of ``to_dict`` of a message, registering nested messages in
    ``components`` (OpenAPI ``#/components/schemas``); returns a ``$ref`` to it."""
    name = descriptor.name
    if name not in components:
        components[name] = {}  # placeholder: recursive messages refer to it
        props: dict[str, Any] = {}
        for _attr, key, f in _fields(descriptor):
            one = _field_schema(f, components)
            if f.is_repeated:
                one = {"type": "array", "items": one}
            elif f.type != _MESSAGE and f.has_presence:
                one = {"anyOf": [one, {"type": "null"}]}
            props[key] = one
        components[name] = {
            "type": "object",
            "properties": props,
            "required": sorted(props),
        }
    return {"$ref": f"#/components/schemas/{name}"}


def _field_schema(f: FieldDescriptor, components: dict[str, Any]) -> dict[str, Any]:
    if f.type == _MESSAGE:
        return schema_of(f.message_type, components)
    if f.type == _ENUM:
        return {"type": "string", "enum": [v.name for v in f.enum_type.values]}
    if f.type == _BYTES:
        return {} if f.name.endswith("_json") else {"type": "string"}
    if f.type in _SCALARS:
        return dict(_SCALARS[f.type])
    return {"type": "integer"}
