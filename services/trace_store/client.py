"""Typed asyncio client of the TraceStore, for the other services, the CLI and tests.

Deadlines on every call; retries only for idempotent calls on UNAVAILABLE/RESOURCE_EXHAUSTED
(AppendEvents is idempotent through event ids, which this client fills in when left empty);
failures arrive as ``agentledger.core.errors`` exceptions.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from typing import Any

import orjson
from grpc import aio

from agentledger.common.v1 import common_pb2
from agentledger.core.client import (
    Identity,
    call_metadata,
    open_channel,
    to_domain_error,
    with_retries,
)
from agentledger.core.ids import new_event_id
from agentledger.trace_store.v1 import trace_store_pb2 as pb
from agentledger.trace_store.v1 import trace_store_pb2_grpc as pb_grpc
from services.trace_store.domain.blobs import CHUNK_BYTES

Severity = common_pb2.Severity


def event(
    type: str,
    payload: dict[str, Any] | None = None,
    *,
    event_id: str = "",
    phase: str = "",
    node_id: str = "",
    severity: int = Severity.SEVERITY_INFO,
    actor: str = "",
    time_unix_nano: int = 0,
    blob_ids: Iterable[str] = (),
) -> pb.EventInput:
    """An event to append; the payload is any JSON object."""
    return pb.EventInput(
        event_id=event_id or new_event_id(),
        type=type,
        phase=phase,
        node_id=node_id,
        severity=severity,  # type: ignore[arg-type]
        actor=actor,
        time_unix_nano=time_unix_nano,
        payload_json=orjson.dumps(payload) if payload else b"",
        blob_ids=list(blob_ids),
    )


def payload(e: pb.TraceEvent) -> dict[str, Any]:
    return orjson.loads(e.payload_json) if e.payload_json else {}


class TraceStoreClient:
    def __init__(self, target: str, *, timeout_s: float = 10.0, identity: Identity = "") -> None:
        self._channel = open_channel(target)
        self._stub = pb_grpc.TraceStoreStub(self._channel)
        self._timeout = timeout_s
        self._identity = identity

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> TraceStoreClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _md(self) -> tuple[tuple[str, str], ...]:
        return call_metadata(self._identity)

    async def append(
        self, task_id: str, events: Sequence[pb.EventInput]
    ) -> pb.AppendEventsResponse:
        for e in events:
            if not e.event_id:
                e.event_id = new_event_id()  # fixed before the first try, so retries repeat it
        request = pb.AppendEventsRequest(task_id=task_id, events=events)
        return await with_retries(
            lambda: self._stub.AppendEvents(request, timeout=self._timeout, metadata=self._md())
        )

    async def list_events(
        self,
        task_id: str,
        cursor: str = "",
        limit: int = 100,
        filter: pb.EventFilter | None = None,
        *,
        identity: Identity | None = None,
    ) -> pb.ListEventsResponse:
        request = pb.ListEventsRequest(task_id=task_id, cursor=cursor, limit=limit, filter=filter)
        md = call_metadata(identity) if identity else self._md()
        return await with_retries(
            lambda: self._stub.ListEvents(request, timeout=self._timeout, metadata=md)
        )

    async def stream_events(
        self,
        task_id: str,
        cursor: str = "",
        *,
        until_terminal: bool = False,
        batch_size: int = 0,
        filter: pb.EventFilter | None = None,
        identity: Identity | None = None,
    ) -> AsyncGenerator[pb.StreamEventsResponse, None]:
        """Stream messages as they come (batches, heartbeats, the end). No deadline: it follows.
        ``identity`` (a caller's, forwarded) replaces the client's own for this stream."""
        request = pb.StreamEventsRequest(
            task_id=task_id,
            cursor=cursor,
            until_terminal=until_terminal,
            batch_size=batch_size,
            filter=filter,
        )
        call = self._stub.StreamEvents(request, metadata=call_metadata(identity or self._identity))
        try:
            async for msg in call:
                yield msg
        except aio.AioRpcError as err:
            raise to_domain_error(err) from None
        finally:
            call.cancel()

    async def put_summary(self, summary: pb.TraceSummary, expected_version: int = 0) -> int:
        request = pb.PutSummaryRequest(summary=summary, expected_version=expected_version)
        response: pb.PutSummaryResponse = await with_retries(
            lambda: self._stub.PutSummary(request, timeout=self._timeout, metadata=self._md())
        )
        return response.version

    async def get_summary(self, task_id: str) -> pb.TraceSummary:
        request = pb.GetSummaryRequest(task_id=task_id)
        response: pb.GetSummaryResponse = await with_retries(
            lambda: self._stub.GetSummary(request, timeout=self._timeout, metadata=self._md())
        )
        return response.summary

    async def put_blob(
        self, task_id: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> pb.PutBlobResponse:
        sha = hashlib.sha256(data).hexdigest()

        def messages() -> Iterable[pb.PutBlobRequest]:
            yield pb.PutBlobRequest(
                header=pb.BlobHeader(
                    sha256=sha, size=len(data), content_type=content_type, task_id=task_id
                )
            )
            for start in range(0, len(data), CHUNK_BYTES):
                yield pb.PutBlobRequest(chunk=data[start : start + CHUNK_BYTES])

        return await with_retries(
            lambda: self._stub.PutBlob(iter(messages()), timeout=self._timeout, metadata=self._md())
        )

    async def get_blob(self, task_id: str, blob_id: str) -> tuple[pb.BlobHeader, bytes]:
        parts: list[bytes] = []
        header = pb.BlobHeader()
        async for msg in self.stream_blob(task_id, blob_id):
            if msg.HasField("header"):
                header = msg.header
            else:
                parts.append(msg.chunk)
        return header, b"".join(parts)

    async def stream_blob(
        self, task_id: str, blob_id: str, *, identity: Identity | None = None
    ) -> AsyncIterator[pb.GetBlobResponse]:
        call = self._stub.GetBlob(
            pb.GetBlobRequest(task_id=task_id, blob_id=blob_id),
            timeout=self._timeout,
            metadata=call_metadata(identity or self._identity),
        )
        try:
            async for msg in call:
                yield msg
        except aio.AioRpcError as err:
            raise to_domain_error(err) from None

    async def query_tasks(
        self,
        filter: pb.TaskFilter | None = None,
        *,
        sort: pb.TaskSort = pb.TASK_SORT_CREATED,
        ascending: bool = False,
        limit: int = 50,
        cursor: str = "",
    ) -> pb.QueryTasksResponse:
        request = pb.QueryTasksRequest(
            filter=filter, sort=sort, ascending=ascending, limit=limit, cursor=cursor
        )
        return await with_retries(
            lambda: self._stub.QueryTasks(request, timeout=self._timeout, metadata=self._md())
        )

    async def get_stats(self, filter: pb.TaskFilter | None = None) -> pb.GetStatsResponse:
        request = pb.GetStatsRequest(filter=filter)
        return await with_retries(
            lambda: self._stub.GetStats(request, timeout=self._timeout, metadata=self._md())
        )
