"""The TraceStore gRPC servicer: validate and convert, one domain call, convert back."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from grpc import aio

from agentledger.core.errors import InvalidArgument
from agentledger.trace_store.v1 import trace_store_pb2 as pb
from agentledger.trace_store.v1 import trace_store_pb2_grpc as pb_grpc
from services.trace_store import codec, convert
from services.trace_store.domain.cursors import event_cursor
from services.trace_store.domain.follow import Batch, End, Heartbeat
from services.trace_store.domain.service import TraceStoreService

DEFAULT_PAGE = 100
DEFAULT_STREAM_BATCH = 500


class TraceStoreServicer(pb_grpc.TraceStoreServicer):  # type: ignore[misc]  # no stubs for *_grpc
    def __init__(self, service: TraceStoreService) -> None:
        self._svc = service

    async def AppendEvents(
        self, request: pb.AppendEventsRequest, context: aio.ServicerContext
    ) -> pb.AppendEventsResponse:
        # Fields this build does not know would be stored as they are, unseen by validation and
        # redaction (events are kept in their wire form): drop them first.
        request.DiscardUnknownFields()
        result = await self._svc.append(request.task_id, request.events)
        return pb.AppendEventsResponse(
            seqs=result.seqs,
            duplicates=result.duplicates,
            last_seq=result.last_seq,
            cursor=event_cursor(request.task_id, result.last_seq),
        )

    async def ListEvents(
        self, request: pb.ListEventsRequest, context: aio.ServicerContext
    ) -> bytes:
        """Answers with an encoded ListEventsResponse (see codec.py)."""
        page = await self._svc.list_events(
            request.task_id,
            request.cursor,
            request.limit or DEFAULT_PAGE,
            convert.event_filter(request.filter),
        )
        return codec.list_events_response(
            request.task_id,
            page.events,
            event_cursor(request.task_id, page.scanned_to),
            page.has_more,
        )

    async def StreamEvents(
        self, request: pb.StreamEventsRequest, context: aio.ServicerContext
    ) -> AsyncIterator[pb.StreamEventsResponse | bytes]:
        task_id = request.task_id
        items = self._svc.stream(
            task_id,
            request.cursor,
            convert.event_filter(request.filter),
            request.batch_size or DEFAULT_STREAM_BATCH,
            request.until_terminal,
        )
        async for item in items:
            if isinstance(item, Batch):
                yield codec.stream_batch(task_id, item.events, event_cursor(task_id, item.position))
            elif isinstance(item, Heartbeat):
                yield pb.StreamEventsResponse(
                    heartbeat=pb.Heartbeat(
                        time_unix_nano=time.time_ns(), cursor=event_cursor(task_id, item.position)
                    )
                )
            elif isinstance(item, End):
                yield pb.StreamEventsResponse(
                    end=pb.StreamEnd(state=item.state, cursor=event_cursor(task_id, item.position))
                )

    async def PutSummary(
        self, request: pb.PutSummaryRequest, context: aio.ServicerContext
    ) -> pb.PutSummaryResponse:
        if not request.HasField("summary"):
            raise InvalidArgument("summary is required")
        index, document = convert.summary_from_pb(request.summary)
        summary = await self._svc.put_summary(index, document, request.expected_version)
        return pb.PutSummaryResponse(version=summary.version)

    async def GetSummary(
        self, request: pb.GetSummaryRequest, context: aio.ServicerContext
    ) -> bytes:
        """Answers with an encoded GetSummaryResponse (see codec.py)."""
        return codec.get_summary_response(await self._svc.get_summary(request.task_id))

    async def PutBlob(
        self, request_iterator: AsyncIterator[pb.PutBlobRequest], context: aio.ServicerContext
    ) -> pb.PutBlobResponse:
        first = await anext(aiter(request_iterator), None)
        if first is None or not first.HasField("header"):
            raise InvalidArgument(
                "PutBlob must start with a header message (sha256, size, task_id)"
            )
        h = first.header

        async def chunks() -> AsyncIterator[bytes]:
            async for msg in request_iterator:
                if msg.HasField("header"):
                    raise InvalidArgument("PutBlob takes one header, then only chunks")
                yield msg.chunk

        info = await self._svc.put_blob(h.task_id, h.sha256, h.size, h.content_type, chunks())
        return pb.PutBlobResponse(blob_id=info.sha256, size=info.size, created=info.created)

    async def GetBlob(
        self, request: pb.GetBlobRequest, context: aio.ServicerContext
    ) -> AsyncIterator[pb.GetBlobResponse]:
        info = await self._svc.blob_info(request.task_id, request.blob_id)
        yield pb.GetBlobResponse(
            header=pb.BlobHeader(
                sha256=info.sha256,
                size=info.size,
                content_type=info.content_type,
                task_id=request.task_id,
            )
        )
        async for chunk in self._svc.blob_chunks(info.sha256):
            yield pb.GetBlobResponse(chunk=chunk)

    async def QueryTasks(
        self, request: pb.QueryTasksRequest, context: aio.ServicerContext
    ) -> pb.QueryTasksResponse:
        if request.sort not in convert.SORTS:
            raise InvalidArgument(f"sort {request.sort} is not a known TaskSort value")
        page = await self._svc.query_tasks(
            convert.task_filter(request.filter),
            convert.SORTS[request.sort],
            request.ascending,
            request.limit or 50,
            request.cursor,
        )
        return pb.QueryTasksResponse(
            tasks=[convert.row_to_pb(r) for r in page.rows], next_cursor=page.next_cursor
        )

    async def GetStats(
        self, request: pb.GetStatsRequest, context: aio.ServicerContext
    ) -> pb.GetStatsResponse:
        return convert.stats_to_pb(await self._svc.stats(convert.task_filter(request.filter)))
