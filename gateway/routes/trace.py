"""What a task recorded: its summary, its events (pages, and live as Server-Sent Events), its
blobs, and the optimizer's outputs for it. All of it was redacted when it was stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response, StreamingResponse

from agentledger.common.v1 import common_pb2
from agentledger.trace_store.v1 import trace_store_pb2 as tpb
from gateway.access import Caller
from gateway.convert import event_json, events_page_json, sse_events, to_dict
from gateway.routes.common import TASK_ID, answers, json_response, ref
from gateway.state import Gateway, caller, gateway

router = APIRouter(prefix="/api/tasks/{task_id}", tags=["trace"])

Who = Annotated[Caller, Depends(caller)]
Gw = Annotated[Gateway, Depends(gateway)]
TaskId = Annotated[str, TASK_ID]
SEVERITIES = [v.name for v in common_pb2.Severity.DESCRIPTOR.values]
OPTIMIZER_TYPES = (
    "optimizer.schedule",
    "optimizer.pareto",
    "optimizer.forecast",
    "optimizer.forecast_reconciled",
    "optimizer.recovery",
)
CURSOR = Query(max_length=512, description="resume after this cursor (a previous event's)")


@router.get("/summary", responses=answers(ref("TraceSummary"), 403, 404))
async def get_summary(task_id: TaskId, who: Who, gw: Gw) -> Response:
    """The task's trace summary: state, cost, top decisions, forecast vs actual."""
    acl = await gw.access.check(who, "task.view", task_id, action="task.view_summary")
    entry = gw.access.entry(who, "task.view_summary", task_id=task_id, acl=acl)
    with gw.access.forwarding(who):
        summary = await gw.access.audited(entry, gw.trace.get_summary(task_id))
    assert summary is not None
    return json_response(to_dict(summary))


def _filter(
    types: list[str] | None, phase: str, node_id: str, min_severity: str
) -> tpb.EventFilter | None:
    if not (types or phase or node_id or min_severity):
        return None
    return tpb.EventFilter(
        types=types or [],
        phases=[phase] if phase else [],
        node_ids=[node_id] if node_id else [],
        min_severity=common_pb2.Severity.Value(min_severity) if min_severity else None,
    )


Types = Annotated[list[str] | None, Query(alias="type", max_length=32)]
Phase = Annotated[str, Query(max_length=64)]
Node = Annotated[str, Query(max_length=128)]
Severity = Annotated[str, Query(pattern="^(" + "|".join(SEVERITIES) + ")?$")]


@router.get("/events", responses=answers(ref("EventPage"), 403, 404))
async def list_events(
    task_id: TaskId,
    who: Who,
    gw: Gw,
    cursor: Annotated[str, CURSOR] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    type: Types = None,
    phase: Phase = "",
    node_id: Node = "",
    min_severity: Severity = "",
) -> Response:
    """A page of events in order; pass ``next_cursor`` back to read on."""
    acl = await gw.access.check(who, "task.events", task_id, action="task.events")
    entry = gw.access.entry(
        who, "task.events", task_id=task_id, acl=acl, details={"cursor": cursor}
    )
    f = _filter(type, phase, node_id, min_severity)
    with gw.access.forwarding(who):
        page = await gw.access.audited(entry, gw.trace.list_events(task_id, cursor, limit, f))
    assert page is not None
    return json_response(events_page_json(list(page.events), page.next_cursor, page.has_more))


# Before OpenAPI 3.2 (FastAPI writes 3.1), the schema of text/event-stream is one event's.
SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["message", "end", "error"]},
        "id": {"type": "string", "description": "the event's cursor: resume after it"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": "message: a TraceEvent; end: how the task ended; error: {message}",
        },
        "retry": {"type": "integer"},
    },
    "required": ["event", "data"],
}
SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events: each event's `id:` is its cursor; comments are "
        "heartbeats; an `end` event closes the stream when the task has ended.",
        "content": {"text/event-stream": {"schema": SSE_EVENT}},
    }
}


async def follow_events(
    request: Request,
    task_id: TaskId,
    who: Who,
    gw: Gw,
    cursor: Annotated[str, CURSOR] = "",
    type: Types = None,
    phase: Phase = "",
    node_id: Node = "",
    min_severity: Severity = "",
    last_event_id: Annotated[str | None, Header(max_length=512)] = None,
) -> Response:
    """Follows the task live. Resume with ``Last-Event-ID`` (what browsers send on reconnect)
    or ``?cursor=``: no event is missed and none is sent twice."""
    start = last_event_id or cursor
    acl = await gw.access.check(who, "task.events", task_id, action="task.follow")
    entry = gw.access.entry(who, "task.follow", task_id=task_id, acl=acl, details={"cursor": start})
    await gw.access.audited(entry)
    f = _filter(type, phase, node_id, min_severity)
    identity = gw.access.identity(who)
    # A bad cursor is a 400 now, not an error event once the stream has begun.
    await gw.trace.list_events(task_id, start, 1, f, identity=identity)
    if f is None:
        body = _shared(gw, task_id, start, identity)
    else:  # a filtered stream is the follower's own
        body = _own(gw, task_id, start, identity, f)
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _shared(gw: Gateway, task_id: str, cursor: str, identity: Any) -> AsyncIterator[bytes]:
    """Through the process's live hub: one upstream stream per task for all its followers."""
    yield RETRY
    try:
        async for item in gw.hub.follow(task_id, cursor, identity):
            if isinstance(item, str):  # the hub cannot serve us: a stream of our own from here
                async for data in _own(gw, task_id, item, identity, None, retry=False):
                    yield data
                return
            yield item
    except Exception as exc:
        yield _broken(exc)


async def _own(
    gw: Gateway,
    task_id: str,
    cursor: str,
    identity: Any,
    f: tpb.EventFilter | None,
    *,
    retry: bool = True,
) -> AsyncIterator[bytes]:
    stream = gw.trace.stream_events(
        task_id, cursor, until_terminal=True, filter=f, identity=identity
    )
    if retry:
        yield RETRY
    async for data in _sse(stream):
        yield data


RETRY = b"retry: 2000\n\n"


def _broken(exc: Exception) -> bytes:
    """The stream broke after the answer began: say so (the client reconnects from its last
    event id), then close."""
    message = getattr(exc, "message", "the event stream was interrupted; reconnect")
    return b"event: error\ndata: " + orjson.dumps({"message": str(message)}) + b"\n\n"


async def _sse(stream: AsyncIterator[tpb.StreamEventsResponse]) -> AsyncIterator[bytes]:
    try:
        async for msg in stream:
            item = msg.WhichOneof("item")
            if item == "batch":
                if msg.batch.events:
                    yield sse_events(msg.batch.events)
            elif item == "heartbeat":
                yield b": heartbeat " + msg.heartbeat.cursor.encode() + b"\n\n"
            elif item == "end":
                end = to_dict(msg.end)
                yield b"event: end\ndata: " + orjson.dumps(end) + b"\n\n"
                return
    except Exception as exc:
        yield _broken(exc)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


router.add_api_route(
    "/events/stream",
    follow_events,
    methods=["GET"],
    name="follow_events",
    response_class=StreamingResponse,  # its 200 is not JSON
    responses={**answers({}, 403, 404), **SSE_DOC},
)
# The path the first design named: the same route.
alias = APIRouter(prefix="/api/task/{task_id}", tags=["trace"])
alias.add_api_route(
    "/events/stream",
    follow_events,
    methods=["GET"],
    name="follow_events_alias",
    response_class=StreamingResponse,
    responses={**answers({}, 403, 404), **SSE_DOC},
)


@router.get(
    "/blobs/{blob_id}",
    responses={
        **answers({}, 403, 404),
        200: {
            "description": "the blob's bytes, with the content type it was stored with",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        },
    },
    response_class=StreamingResponse,  # its 200 is not JSON
)
async def get_blob(
    task_id: TaskId,
    blob_id: Annotated[str, TASK_ID],
    who: Who,
    gw: Gw,
) -> Response:
    """A blob of the task (an artifact, a tool's output), streamed as a download."""
    acl = await gw.access.check(who, "task.blobs", task_id, action="task.blob")
    entry = gw.access.entry(who, "task.blob", task_id=task_id, acl=acl, details={"blob": blob_id})
    await gw.access.audited(entry)
    chunks = gw.trace.stream_blob(task_id, blob_id, identity=gw.access.identity(who))
    first = await anext(chunks)  # the header, or NOT_FOUND before any byte is sent
    header = first.header

    async def body() -> AsyncIterator[bytes]:
        try:
            async for msg in chunks:
                yield msg.chunk
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    return StreamingResponse(
        body(),
        media_type=header.content_type or "application/octet-stream",
        headers={
            "Content-Length": str(header.size),
            "Content-Disposition": f'attachment; filename="{header.sha256 or blob_id}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "ETag": f'"{header.sha256}"',
        },
    )


@router.get("/optimizer", responses=answers(ref("OptimizerOutputs"), 403, 404))
async def optimizer_outputs(task_id: TaskId, who: Who, gw: Gw) -> Response:
    """What the optimizer advised for the task: schedule, Pareto frontier, cost forecast (and
    its reconciliation), recovery plans; each the recorded event, with its sequence number."""
    acl = await gw.access.check(who, "task.optimizer", task_id, action="task.optimizer")
    entry = gw.access.entry(who, "task.optimizer", task_id=task_id, acl=acl)
    f = tpb.EventFilter(types=list(OPTIMIZER_TYPES))
    await gw.access.audited(entry)
    found: list[bytes] = []
    cursor = ""
    with gw.access.forwarding(who):
        while True:
            page = await gw.trace.list_events(task_id, cursor, 1000, f)
            found.extend(event_json(e) for e in page.events)
            cursor = page.next_cursor
            if not page.has_more or len(found) >= 5000:
                break
    out: dict[str, Any] = {"task_id": task_id, "events": [orjson.loads(b) for b in found]}
    return json_response(out)
