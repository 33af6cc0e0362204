"""Protobuf messages to the JSON the REST API speaks: pages, Server-Sent Events and the JSON
Schema of ``to_dict`` (OpenAPI). The encoding itself is ``agentledger.core.protojson``, shared
with the product service's documents.
"""

from __future__ import annotations

from typing import Any

import orjson
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from agentledger.core.protojson import BYTES, ENUM, MESSAGE, event_json, json_fields, to_dict
from agentledger.trace_store.v1 import trace_store_pb2 as tpb

__all__ = ["event_json", "events_page_json", "schema_of", "sse_event", "sse_events", "to_dict"]


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
        for _attr, key, f in json_fields(descriptor):
            one = _field_schema(f, components)
            if f.is_repeated:
                one = {"type": "array", "items": one}
            elif f.type != MESSAGE and f.has_presence:
                one = {"anyOf": [one, {"type": "null"}]}
            props[key] = one
        components[name] = {
            "type": "object",
            "properties": props,
            "required": sorted(props),
        }
    return {"$ref": f"#/components/schemas/{name}"}


def _field_schema(f: FieldDescriptor, components: dict[str, Any]) -> dict[str, Any]:
    if f.type == MESSAGE:
        return schema_of(f.message_type, components)
    if f.type == ENUM:
        return {"type": "string", "enum": [v.name for v in f.enum_type.values]}
    if f.type == BYTES:
        return {} if f.name.endswith("_json") else {"type": "string"}
    if f.type in _SCALARS:
        return dict(_SCALARS[f.type])
    return {"type": "integer"}
