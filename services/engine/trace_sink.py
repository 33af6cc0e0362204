"""Where the engine's trace goes: trace_store over gRPC, or a co-located TraceStoreService
in the same process (one binary, benchmarks). Both speak protobuf to the store."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import orjson

from agentledger.common.v1 import common_pb2
from agentledger.trace_store.v1 import trace_store_pb2 as pb
from services.engine.domain.model import OutboxEvent
from services.engine.domain.summary import SummaryView
from services.trace_store import convert as trace_convert
from services.trace_store.client import TraceStoreClient
from services.trace_store.domain.service import TraceStoreService


def event_pb(e: OutboxEvent) -> pb.EventInput:
    return pb.EventInput(
        event_id=e.event_id,
        type=e.type,
        phase=e.phase,
        node_id=e.node_id,
        severity=e.severity,  # type: ignore[arg-type]
        actor=e.actor,
        time_unix_nano=e.time_ns,
        payload_json=orjson.dumps(e.payload, option=orjson.OPT_NON_STR_KEYS) if e.payload else b"",
        blob_ids=list(e.blob_ids),
    )


def summary_pb(s: SummaryView) -> pb.TraceSummary:
    return pb.TraceSummary(
        task_id=s.task_id,
        owner=s.owner,
        tenant=s.tenant,
        goal=s.goal,
        mode=s.mode,
        plan_id=s.plan_id,
        plan_version=str(s.plan_version),
        state=s.state,
        failure_type=s.failure_type,
        cost=common_pb2.Cost(
            tokens_in=s.usage.tokens_in,
            tokens_out=s.usage.tokens_out,
            usd=s.usage.usd,
            tool_ms=int(s.usage.tool_seconds * 1000),
        ),
        created_unix_nano=s.created_ns,
        updated_unix_nano=s.updated_ns,
        ended_unix_nano=s.ended_ns,
        current_node=s.current_node,
        top_decisions=[
            pb.DecisionPoint(
                seq=d.seq,
                node_id=d.node_id,
                rule=d.rule,
                decision=d.decision,
                reason=d.reason,
                salience=d.salience,
            )
            for d in s.top_decisions
        ],
        result_summary=s.result_summary,
        degrade_count=s.degrade_count,
        pause_count=s.pause_count,
        extra_json=orjson.dumps(dict(s.extra), option=orjson.OPT_NON_STR_KEYS),
        forecast=forecast_pb(s.forecast) if s.forecast else None,
    )


def forecast_pb(f: Mapping[str, Any]) -> pb.ForecastVsActual:
    tokens = f.get("cost_forecast_tokens_range", {})
    latency = f.get("latency_forecast_range", {})
    actual = f.get("reconciled", {})
    return pb.ForecastVsActual(
        tokens_low=int(tokens.get("low", 0)),
        tokens_high=int(tokens.get("high", 0)),
        latency_low_s=float(latency.get("low_s", 0.0)),
        latency_high_s=float(latency.get("high_s", 0.0)),
        actual_tokens=int(actual.get("actual_tokens", 0)),
        actual_latency_s=float(actual.get("actual_latency_s", 0.0)),
        source=str(f.get("source", "")),
    )


class GrpcTraceSink:
    def __init__(self, client: TraceStoreClient) -> None:
        self.client = client

    async def append(self, task_id: str, events: Sequence[OutboxEvent]) -> list[int]:
        resp = await self.client.append(task_id, [event_pb(e) for e in events])
        return list(resp.seqs)

    async def put_summary(self, summary: SummaryView) -> None:
        await self.client.put_summary(summary_pb(summary))

    async def put_blob(self, task_id: str, data: bytes, content_type: str) -> str:
        resp = await self.client.put_blob(task_id, data, content_type)
        return resp.blob_id


class LocalTraceSink:
    """Calls a TraceStoreService living in the same process: no network, same semantics."""

    def __init__(self, service: TraceStoreService) -> None:
        self.service = service

    async def append(self, task_id: str, events: Sequence[OutboxEvent]) -> list[int]:
        result = await self.service.append(task_id, [event_pb(e) for e in events])
        return list(result.seqs)

    async def put_summary(self, summary: SummaryView) -> None:
        index, document = trace_convert.summary_from_pb(summary_pb(summary))
        await self.service.put_summary(index, document, 0)

    async def put_blob(self, task_id: str, data: bytes, content_type: str) -> str:
        sha = hashlib.sha256(data).hexdigest()

        async def chunks() -> AsyncIterator[bytes]:
            yield data

        await self.service.put_blob(task_id, sha, len(data), content_type, chunks())
        return sha
