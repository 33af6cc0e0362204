from agentledger.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskSort(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_SORT_UNSPECIFIED: _ClassVar[TaskSort]
    TASK_SORT_CREATED: _ClassVar[TaskSort]
    TASK_SORT_UPDATED: _ClassVar[TaskSort]
    TASK_SORT_COST: _ClassVar[TaskSort]
    TASK_SORT_DURATION: _ClassVar[TaskSort]
TASK_SORT_UNSPECIFIED: TaskSort
TASK_SORT_CREATED: TaskSort
TASK_SORT_UPDATED: TaskSort
TASK_SORT_COST: TaskSort
TASK_SORT_DURATION: TaskSort

class EventInput(_message.Message):
    __slots__ = ("event_id", "type", "phase", "node_id", "severity", "actor", "time_unix_nano", "payload_json", "blob_ids")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_JSON_FIELD_NUMBER: _ClassVar[int]
    BLOB_IDS_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: str
    phase: str
    node_id: str
    severity: _common_pb2.Severity
    actor: str
    time_unix_nano: int
    payload_json: bytes
    blob_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[str] = ..., phase: _Optional[str] = ..., node_id: _Optional[str] = ..., severity: _Optional[_Union[_common_pb2.Severity, str]] = ..., actor: _Optional[str] = ..., time_unix_nano: _Optional[int] = ..., payload_json: _Optional[bytes] = ..., blob_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class TraceEvent(_message.Message):
    __slots__ = ("event_id", "type", "phase", "node_id", "severity", "actor", "time_unix_nano", "payload_json", "blob_ids", "task_id", "seq", "cursor")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_JSON_FIELD_NUMBER: _ClassVar[int]
    BLOB_IDS_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: str
    phase: str
    node_id: str
    severity: _common_pb2.Severity
    actor: str
    time_unix_nano: int
    payload_json: bytes
    blob_ids: _containers.RepeatedScalarFieldContainer[str]
    task_id: str
    seq: int
    cursor: str
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[str] = ..., phase: _Optional[str] = ..., node_id: _Optional[str] = ..., severity: _Optional[_Union[_common_pb2.Severity, str]] = ..., actor: _Optional[str] = ..., time_unix_nano: _Optional[int] = ..., payload_json: _Optional[bytes] = ..., blob_ids: _Optional[_Iterable[str]] = ..., task_id: _Optional[str] = ..., seq: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class AppendEventsRequest(_message.Message):
    __slots__ = ("task_id", "events")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    events: _containers.RepeatedCompositeFieldContainer[EventInput]
    def __init__(self, task_id: _Optional[str] = ..., events: _Optional[_Iterable[_Union[EventInput, _Mapping]]] = ...) -> None: ...

class AppendEventsResponse(_message.Message):
    __slots__ = ("seqs", "duplicates", "last_seq", "cursor")
    SEQS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    seqs: _containers.RepeatedScalarFieldContainer[int]
    duplicates: int
    last_seq: int
    cursor: str
    def __init__(self, seqs: _Optional[_Iterable[int]] = ..., duplicates: _Optional[int] = ..., last_seq: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class EventFilter(_message.Message):
    __slots__ = ("types", "phases", "node_ids", "min_severity")
    TYPES_FIELD_NUMBER: _ClassVar[int]
    PHASES_FIELD_NUMBER: _ClassVar[int]
    NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    MIN_SEVERITY_FIELD_NUMBER: _ClassVar[int]
    types: _containers.RepeatedScalarFieldContainer[str]
    phases: _containers.RepeatedScalarFieldContainer[str]
    node_ids: _containers.RepeatedScalarFieldContainer[str]
    min_severity: _common_pb2.Severity
    def __init__(self, types: _Optional[_Iterable[str]] = ..., phases: _Optional[_Iterable[str]] = ..., node_ids: _Optional[_Iterable[str]] = ..., min_severity: _Optional[_Union[_common_pb2.Severity, str]] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("task_id", "cursor", "limit", "filter")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    cursor: str
    limit: int
    filter: EventFilter
    def __init__(self, task_id: _Optional[str] = ..., cursor: _Optional[str] = ..., limit: _Optional[int] = ..., filter: _Optional[_Union[EventFilter, _Mapping]] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("events", "next_cursor", "has_more")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    HAS_MORE_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[TraceEvent]
    next_cursor: str
    has_more: bool
    def __init__(self, events: _Optional[_Iterable[_Union[TraceEvent, _Mapping]]] = ..., next_cursor: _Optional[str] = ..., has_more: _Optional[bool] = ...) -> None: ...

class StreamEventsRequest(_message.Message):
    __slots__ = ("task_id", "cursor", "filter", "until_terminal", "batch_size")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    UNTIL_TERMINAL_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    cursor: str
    filter: EventFilter
    until_terminal: bool
    batch_size: int
    def __init__(self, task_id: _Optional[str] = ..., cursor: _Optional[str] = ..., filter: _Optional[_Union[EventFilter, _Mapping]] = ..., until_terminal: _Optional[bool] = ..., batch_size: _Optional[int] = ...) -> None: ...

class EventBatch(_message.Message):
    __slots__ = ("events", "cursor")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[TraceEvent]
    cursor: str
    def __init__(self, events: _Optional[_Iterable[_Union[TraceEvent, _Mapping]]] = ..., cursor: _Optional[str] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("time_unix_nano", "cursor")
    TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    time_unix_nano: int
    cursor: str
    def __init__(self, time_unix_nano: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class StreamEnd(_message.Message):
    __slots__ = ("state", "cursor")
    STATE_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    state: str
    cursor: str
    def __init__(self, state: _Optional[str] = ..., cursor: _Optional[str] = ...) -> None: ...

class StreamEventsResponse(_message.Message):
    __slots__ = ("batch", "heartbeat", "end")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    batch: EventBatch
    heartbeat: Heartbeat
    end: StreamEnd
    def __init__(self, batch: _Optional[_Union[EventBatch, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., end: _Optional[_Union[StreamEnd, _Mapping]] = ...) -> None: ...

class DecisionPoint(_message.Message):
    __slots__ = ("seq", "node_id", "rule", "decision", "reason", "salience")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SALIENCE_FIELD_NUMBER: _ClassVar[int]
    seq: int
    node_id: str
    rule: str
    decision: str
    reason: str
    salience: float
    def __init__(self, seq: _Optional[int] = ..., node_id: _Optional[str] = ..., rule: _Optional[str] = ..., decision: _Optional[str] = ..., reason: _Optional[str] = ..., salience: _Optional[float] = ...) -> None: ...

class ForecastVsActual(_message.Message):
    __slots__ = ("tokens_low", "tokens_high", "latency_low_s", "latency_high_s", "actual_tokens", "actual_latency_s", "source")
    TOKENS_LOW_FIELD_NUMBER: _ClassVar[int]
    TOKENS_HIGH_FIELD_NUMBER: _ClassVar[int]
    LATENCY_LOW_S_FIELD_NUMBER: _ClassVar[int]
    LATENCY_HIGH_S_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_LATENCY_S_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    tokens_low: int
    tokens_high: int
    latency_low_s: float
    latency_high_s: float
    actual_tokens: int
    actual_latency_s: float
    source: str
    def __init__(self, tokens_low: _Optional[int] = ..., tokens_high: _Optional[int] = ..., latency_low_s: _Optional[float] = ..., latency_high_s: _Optional[float] = ..., actual_tokens: _Optional[int] = ..., actual_latency_s: _Optional[float] = ..., source: _Optional[str] = ...) -> None: ...

class TraceSummary(_message.Message):
    __slots__ = ("task_id", "owner", "tenant", "goal", "mode", "plan_id", "plan_version", "state", "goal_status", "failure_type", "cost", "created_unix_nano", "updated_unix_nano", "ended_unix_nano", "current_node", "top_decisions", "result_summary", "forecast", "degrade_count", "pause_count", "last_seq", "version", "extra_json")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    GOAL_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    GOAL_STATUS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_TYPE_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    UPDATED_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    ENDED_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    CURRENT_NODE_FIELD_NUMBER: _ClassVar[int]
    TOP_DECISIONS_FIELD_NUMBER: _ClassVar[int]
    RESULT_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    FORECAST_FIELD_NUMBER: _ClassVar[int]
    DEGRADE_COUNT_FIELD_NUMBER: _ClassVar[int]
    PAUSE_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EXTRA_JSON_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    owner: str
    tenant: str
    goal: str
    mode: str
    plan_id: str
    plan_version: str
    state: str
    goal_status: str
    failure_type: str
    cost: _common_pb2.Cost
    created_unix_nano: int
    updated_unix_nano: int
    ended_unix_nano: int
    current_node: str
    top_decisions: _containers.RepeatedCompositeFieldContainer[DecisionPoint]
    result_summary: str
    forecast: ForecastVsActual
    degrade_count: int
    pause_count: int
    last_seq: int
    version: int
    extra_json: bytes
    def __init__(self, task_id: _Optional[str] = ..., owner: _Optional[str] = ..., tenant: _Optional[str] = ..., goal: _Optional[str] = ..., mode: _Optional[str] = ..., plan_id: _Optional[str] = ..., plan_version: _Optional[str] = ..., state: _Optional[str] = ..., goal_status: _Optional[str] = ..., failure_type: _Optional[str] = ..., cost: _Optional[_Union[_common_pb2.Cost, _Mapping]] = ..., created_unix_nano: _Optional[int] = ..., updated_unix_nano: _Optional[int] = ..., ended_unix_nano: _Optional[int] = ..., current_node: _Optional[str] = ..., top_decisions: _Optional[_Iterable[_Union[DecisionPoint, _Mapping]]] = ..., result_summary: _Optional[str] = ..., forecast: _Optional[_Union[ForecastVsActual, _Mapping]] = ..., degrade_count: _Optional[int] = ..., pause_count: _Optional[int] = ..., last_seq: _Optional[int] = ..., version: _Optional[int] = ..., extra_json: _Optional[bytes] = ...) -> None: ...

class PutSummaryRequest(_message.Message):
    __slots__ = ("summary", "expected_version")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    summary: TraceSummary
    expected_version: int
    def __init__(self, summary: _Optional[_Union[TraceSummary, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class PutSummaryResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class GetSummaryRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class GetSummaryResponse(_message.Message):
    __slots__ = ("summary",)
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    summary: TraceSummary
    def __init__(self, summary: _Optional[_Union[TraceSummary, _Mapping]] = ...) -> None: ...

class BlobHeader(_message.Message):
    __slots__ = ("sha256", "size", "content_type", "task_id")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    size: int
    content_type: str
    task_id: str
    def __init__(self, sha256: _Optional[str] = ..., size: _Optional[int] = ..., content_type: _Optional[str] = ..., task_id: _Optional[str] = ...) -> None: ...

class PutBlobRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: BlobHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[BlobHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class PutBlobResponse(_message.Message):
    __slots__ = ("blob_id", "size", "created")
    BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    blob_id: str
    size: int
    created: bool
    def __init__(self, blob_id: _Optional[str] = ..., size: _Optional[int] = ..., created: _Optional[bool] = ...) -> None: ...

class GetBlobRequest(_message.Message):
    __slots__ = ("task_id", "blob_id")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    blob_id: str
    def __init__(self, task_id: _Optional[str] = ..., blob_id: _Optional[str] = ...) -> None: ...

class GetBlobResponse(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: BlobHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[BlobHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class TaskFilter(_message.Message):
    __slots__ = ("task_ids", "created", "failure_types", "modes", "min_cost_usd", "max_cost_usd", "states", "goal_statuses", "owners", "plan_ids", "tenants")
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    FAILURE_TYPES_FIELD_NUMBER: _ClassVar[int]
    MODES_FIELD_NUMBER: _ClassVar[int]
    MIN_COST_USD_FIELD_NUMBER: _ClassVar[int]
    MAX_COST_USD_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    GOAL_STATUSES_FIELD_NUMBER: _ClassVar[int]
    OWNERS_FIELD_NUMBER: _ClassVar[int]
    PLAN_IDS_FIELD_NUMBER: _ClassVar[int]
    TENANTS_FIELD_NUMBER: _ClassVar[int]
    task_ids: _containers.RepeatedScalarFieldContainer[str]
    created: _common_pb2.TimeRange
    failure_types: _containers.RepeatedScalarFieldContainer[str]
    modes: _containers.RepeatedScalarFieldContainer[str]
    min_cost_usd: float
    max_cost_usd: float
    states: _containers.RepeatedScalarFieldContainer[str]
    goal_statuses: _containers.RepeatedScalarFieldContainer[str]
    owners: _containers.RepeatedScalarFieldContainer[str]
    plan_ids: _containers.RepeatedScalarFieldContainer[str]
    tenants: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, task_ids: _Optional[_Iterable[str]] = ..., created: _Optional[_Union[_common_pb2.TimeRange, _Mapping]] = ..., failure_types: _Optional[_Iterable[str]] = ..., modes: _Optional[_Iterable[str]] = ..., min_cost_usd: _Optional[float] = ..., max_cost_usd: _Optional[float] = ..., states: _Optional[_Iterable[str]] = ..., goal_statuses: _Optional[_Iterable[str]] = ..., owners: _Optional[_Iterable[str]] = ..., plan_ids: _Optional[_Iterable[str]] = ..., tenants: _Optional[_Iterable[str]] = ...) -> None: ...

class TaskRow(_message.Message):
    __slots__ = ("task_id", "owner", "tenant", "mode", "plan_id", "plan_version", "state", "goal_status", "failure_type", "cost_usd", "tokens", "created_unix_nano", "updated_unix_nano", "ended_unix_nano", "duration_ms", "last_seq")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    GOAL_STATUS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_TYPE_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    UPDATED_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    ENDED_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    owner: str
    tenant: str
    mode: str
    plan_id: str
    plan_version: str
    state: str
    goal_status: str
    failure_type: str
    cost_usd: float
    tokens: int
    created_unix_nano: int
    updated_unix_nano: int
    ended_unix_nano: int
    duration_ms: int
    last_seq: int
    def __init__(self, task_id: _Optional[str] = ..., owner: _Optional[str] = ..., tenant: _Optional[str] = ..., mode: _Optional[str] = ..., plan_id: _Optional[str] = ..., plan_version: _Optional[str] = ..., state: _Optional[str] = ..., goal_status: _Optional[str] = ..., failure_type: _Optional[str] = ..., cost_usd: _Optional[float] = ..., tokens: _Optional[int] = ..., created_unix_nano: _Optional[int] = ..., updated_unix_nano: _Optional[int] = ..., ended_unix_nano: _Optional[int] = ..., duration_ms: _Optional[int] = ..., last_seq: _Optional[int] = ...) -> None: ...

class QueryTasksRequest(_message.Message):
    __slots__ = ("filter", "sort", "ascending", "limit", "cursor")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    ASCENDING_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    filter: TaskFilter
    sort: TaskSort
    ascending: bool
    limit: int
    cursor: str
    def __init__(self, filter: _Optional[_Union[TaskFilter, _Mapping]] = ..., sort: _Optional[_Union[TaskSort, str]] = ..., ascending: _Optional[bool] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class QueryTasksResponse(_message.Message):
    __slots__ = ("tasks", "next_cursor")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[TaskRow]
    next_cursor: str
    def __init__(self, tasks: _Optional[_Iterable[_Union[TaskRow, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ("filter",)
    FILTER_FIELD_NUMBER: _ClassVar[int]
    filter: TaskFilter
    def __init__(self, filter: _Optional[_Union[TaskFilter, _Mapping]] = ...) -> None: ...

class StateCount(_message.Message):
    __slots__ = ("state", "count")
    STATE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    state: str
    count: int
    def __init__(self, state: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("task_count", "by_state", "cost_usd_sum", "tokens_sum", "ended_count", "duration_p50_ms", "duration_p95_ms", "degrade_rate", "pause_rate")
    TASK_COUNT_FIELD_NUMBER: _ClassVar[int]
    BY_STATE_FIELD_NUMBER: _ClassVar[int]
    COST_USD_SUM_FIELD_NUMBER: _ClassVar[int]
    TOKENS_SUM_FIELD_NUMBER: _ClassVar[int]
    ENDED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DURATION_P50_MS_FIELD_NUMBER: _ClassVar[int]
    DURATION_P95_MS_FIELD_NUMBER: _ClassVar[int]
    DEGRADE_RATE_FIELD_NUMBER: _ClassVar[int]
    PAUSE_RATE_FIELD_NUMBER: _ClassVar[int]
    task_count: int
    by_state: _containers.RepeatedCompositeFieldContainer[StateCount]
    cost_usd_sum: float
    tokens_sum: int
    ended_count: int
    duration_p50_ms: float
    duration_p95_ms: float
    degrade_rate: float
    pause_rate: float
    def __init__(self, task_count: _Optional[int] = ..., by_state: _Optional[_Iterable[_Union[StateCount, _Mapping]]] = ..., cost_usd_sum: _Optional[float] = ..., tokens_sum: _Optional[int] = ..., ended_count: _Optional[int] = ..., duration_p50_ms: _Optional[float] = ..., duration_p95_ms: _Optional[float] = ..., degrade_rate: _Optional[float] = ..., pause_rate: _Optional[float] = ...) -> None: ...
