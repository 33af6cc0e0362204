"""Conversion between wire messages and TraceStore domain types."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from agentledger.trace_store.v1 import trace_store_pb2 as pb
from services.trace_store.domain.model import (
    EventFilter,
    Stats,
    TaskFilter,
    TaskIndex,
    TaskRow,
    TaskSort,
)

SORTS = {
    pb.TASK_SORT_UNSPECIFIED: TaskSort.CREATED,
    pb.TASK_SORT_CREATED: TaskSort.CREATED,
    pb.TASK_SORT_UPDATED: TaskSort.UPDATED,
    pb.TASK_SORT_COST: TaskSort.COST,
    pb.TASK_SORT_DURATION: TaskSort.DURATION,
}


def event_filter(f: pb.EventFilter) -> EventFilter:
    return EventFilter(
        types=frozenset(f.types),
        phases=frozenset(f.phases),
        node_ids=frozenset(f.node_ids),
        min_severity=int(f.min_severity),
    )


def task_filter(f: pb.TaskFilter) -> TaskFilter:
    return TaskFilter(
        task_ids=tuple(f.task_ids),
        created_from_ns=f.created.start_unix_nano,
        created_to_ns=f.created.end_unix_nano,
        failure_types=tuple(f.failure_types),
        modes=tuple(f.modes),
        min_cost_usd=f.min_cost_usd,
        max_cost_usd=f.max_cost_usd,
        states=tuple(f.states),
        goal_statuses=tuple(f.goal_statuses),
        owners=tuple(f.owners),
        plan_ids=tuple(f.plan_ids),
        tenants=tuple(f.tenants),
    )


# Fields the store sets itself; a client's values for them are ignored.
_STORE_FIELDS = ("last_seq", "version")


def summary_from_pb(s: pb.TraceSummary) -> tuple[TaskIndex, dict[str, Any]]:
    index = TaskIndex(
        task_id=s.task_id,
        owner=s.owner,
        tenant=s.tenant,
        mode=s.mode,
        plan_id=s.plan_id,
        plan_version=s.plan_version,
        state=s.state,
        goal_status=s.goal_status,
        failure_type=s.failure_type,
        cost_usd=s.cost.usd,
        tokens=s.cost.tokens_in + s.cost.tokens_out,
        created_ns=s.created_unix_nano,
        updated_ns=s.updated_unix_nano,
        ended_ns=s.ended_unix_nano,
        degrade_count=s.degrade_count,
        pause_count=s.pause_count,
    )
    doc = pb.TraceSummary()
    doc.CopyFrom(s)
    for name in _STORE_FIELDS:
        doc.ClearField(name)
    return index, json_format.MessageToDict(doc, preserving_proto_field_name=True)


def row_to_pb(r: TaskRow) -> pb.TaskRow:
    i = r.index
    return pb.TaskRow(
        task_id=i.task_id,
        owner=i.owner,
        tenant=i.tenant,
        mode=i.mode,
        plan_id=i.plan_id,
        plan_version=i.plan_version,
        state=i.state,
        goal_status=i.goal_status,
        failure_type=i.failure_type,
        cost_usd=i.cost_usd,
        tokens=i.tokens,
        created_unix_nano=i.created_ns,
        updated_unix_nano=i.updated_ns,
        ended_unix_nano=i.ended_ns,
        duration_ms=r.duration_ms,
        last_seq=r.last_seq,
    )


def stats_to_pb(s: Stats) -> pb.GetStatsResponse:
    return pb.GetStatsResponse(
        task_count=s.task_count,
        by_state=[pb.StateCount(state=k, count=v) for k, v in s.by_state.items()],
        cost_usd_sum=s.cost_usd_sum,
        tokens_sum=s.tokens_sum,
        ended_count=s.ended_count,
        duration_p50_ms=s.duration_p50_ms,
        duration_p95_ms=s.duration_p95_ms,
        degrade_rate=s.degrade_rate,
        pause_rate=s.pause_rate,
    )
