"""Small builders shared by tests."""

from __future__ import annotations

from typing import Any

import orjson

from agentledger.trace_store.v1 import trace_store_pb2 as pb
from services.trace_store.client import TraceStoreClient


def ev(event_id: str, type: str = "node.completed", **fields: Any) -> pb.EventInput:
    payload = fields.pop("payload", {"n": event_id})
    return pb.EventInput(event_id=event_id, type=type, payload_json=orjson.dumps(payload), **fields)


def summary(task_id: str, owner: str = "alice", **fields: Any) -> pb.TraceSummary:
    return pb.TraceSummary(task_id=task_id, owner=owner, **fields)


async def new_task(
    client: TraceStoreClient, task_id: str, owner: str = "alice", **fields: Any
) -> None:
    await client.put_summary(
        summary(task_id, owner, state=fields.pop("state", "RUNNING"), **fields)
    )


async def all_seqs(client: TraceStoreClient, task_id: str) -> list[int]:
    """Every sequence number of a task, page by page."""
    seqs: list[int] = []
    cursor = ""
    while True:
        page = await client.list_events(task_id, cursor=cursor, limit=1000)
        seqs += [e.seq for e in page.events]
        cursor = page.next_cursor
        if not page.has_more:
            return seqs
