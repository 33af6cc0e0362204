from agentledger.common.v1 import common_pb2 as _common_pb2
from agentledger.engine.v1 import engine_pb2 as _engine_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Evidence(_message.Message):
    __slots__ = ("seq", "kind", "text", "blob_ids")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    BLOB_IDS_FIELD_NUMBER: _ClassVar[int]
    seq: int
    kind: str
    text: str
    blob_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, seq: _Optional[int] = ..., kind: _Optional[str] = ..., text: _Optional[str] = ..., blob_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Requirement(_message.Message):
    __slots__ = ("what", "passed", "observed", "evidence", "fix_with")
    WHAT_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    FIX_WITH_FIELD_NUMBER: _ClassVar[int]
    what: str
    passed: bool
    observed: str
    evidence: _containers.RepeatedCompositeFieldContainer[Evidence]
    fix_with: str
    def __init__(self, what: _Optional[str] = ..., passed: _Optional[bool] = ..., observed: _Optional[str] = ..., evidence: _Optional[_Iterable[_Union[Evidence, _Mapping]]] = ..., fix_with: _Optional[str] = ...) -> None: ...

class SubgoalResult(_message.Message):
    __slots__ = ("subgoal", "description", "status", "requirements")
    SUBGOAL_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    subgoal: str
    description: str
    status: str
    requirements: _containers.RepeatedCompositeFieldContainer[Requirement]
    def __init__(self, subgoal: _Optional[str] = ..., description: _Optional[str] = ..., status: _Optional[str] = ..., requirements: _Optional[_Iterable[_Union[Requirement, _Mapping]]] = ...) -> None: ...

class NextAction(_message.Message):
    __slots__ = ("kind", "field", "why", "evidence")
    KIND_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    WHY_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    field: str
    why: str
    evidence: _containers.RepeatedCompositeFieldContainer[Evidence]
    def __init__(self, kind: _Optional[str] = ..., field: _Optional[str] = ..., why: _Optional[str] = ..., evidence: _Optional[_Iterable[_Union[Evidence, _Mapping]]] = ...) -> None: ...

class GoalReport(_message.Message):
    __slots__ = ("task_id", "goal_status", "task_state", "completion_breakdown", "missing_requirements", "user_next_actions", "last_seq", "final", "recorded_seq")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    GOAL_STATUS_FIELD_NUMBER: _ClassVar[int]
    TASK_STATE_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    MISSING_REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    USER_NEXT_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    RECORDED_SEQ_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    goal_status: str
    task_state: str
    completion_breakdown: _containers.RepeatedCompositeFieldContainer[SubgoalResult]
    missing_requirements: _containers.RepeatedScalarFieldContainer[str]
    user_next_actions: _containers.RepeatedCompositeFieldContainer[NextAction]
    last_seq: int
    final: bool
    recorded_seq: int
    def __init__(self, task_id: _Optional[str] = ..., goal_status: _Optional[str] = ..., task_state: _Optional[str] = ..., completion_breakdown: _Optional[_Iterable[_Union[SubgoalResult, _Mapping]]] = ..., missing_requirements: _Optional[_Iterable[str]] = ..., user_next_actions: _Optional[_Iterable[_Union[NextAction, _Mapping]]] = ..., last_seq: _Optional[int] = ..., final: _Optional[bool] = ..., recorded_seq: _Optional[int] = ...) -> None: ...

class GetGoalStatusRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class GetGoalStatusResponse(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: GoalReport
    def __init__(self, report: _Optional[_Union[GoalReport, _Mapping]] = ...) -> None: ...

class Sentence(_message.Message):
    __slots__ = ("section", "text", "seqs", "blob_ids")
    SECTION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SEQS_FIELD_NUMBER: _ClassVar[int]
    BLOB_IDS_FIELD_NUMBER: _ClassVar[int]
    section: str
    text: str
    seqs: _containers.RepeatedScalarFieldContainer[int]
    blob_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, section: _Optional[str] = ..., text: _Optional[str] = ..., seqs: _Optional[_Iterable[int]] = ..., blob_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class RefusedSentence(_message.Message):
    __slots__ = ("text", "reason")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    text: str
    reason: str
    def __init__(self, text: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ExplainRequest(_message.Message):
    __slots__ = ("task_id", "rephrase")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    REPHRASE_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    rephrase: bool
    def __init__(self, task_id: _Optional[str] = ..., rephrase: _Optional[bool] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("goal", "sentences", "markdown", "refused", "written_by")
    GOAL_FIELD_NUMBER: _ClassVar[int]
    SENTENCES_FIELD_NUMBER: _ClassVar[int]
    MARKDOWN_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    WRITTEN_BY_FIELD_NUMBER: _ClassVar[int]
    goal: GoalReport
    sentences: _containers.RepeatedCompositeFieldContainer[Sentence]
    markdown: str
    refused: _containers.RepeatedCompositeFieldContainer[RefusedSentence]
    written_by: str
    def __init__(self, goal: _Optional[_Union[GoalReport, _Mapping]] = ..., sentences: _Optional[_Iterable[_Union[Sentence, _Mapping]]] = ..., markdown: _Optional[str] = ..., refused: _Optional[_Iterable[_Union[RefusedSentence, _Mapping]]] = ..., written_by: _Optional[str] = ...) -> None: ...

class Template(_message.Message):
    __slots__ = ("template_id", "name", "owner", "tenant", "source_task_id", "goal", "plan_id", "plan_version", "plan_yaml", "default_mode", "budget", "priority", "input_fields", "degrade_json", "created_unix_nano")
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TASK_ID_FIELD_NUMBER: _ClassVar[int]
    GOAL_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    PLAN_YAML_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_MODE_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELDS_FIELD_NUMBER: _ClassVar[int]
    DEGRADE_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    name: str
    owner: str
    tenant: str
    source_task_id: str
    goal: str
    plan_id: str
    plan_version: int
    plan_yaml: str
    default_mode: str
    budget: _engine_pb2.Budget
    priority: int
    input_fields: _containers.RepeatedCompositeFieldContainer[_engine_pb2.InputField]
    degrade_json: bytes
    created_unix_nano: int
    def __init__(self, template_id: _Optional[str] = ..., name: _Optional[str] = ..., owner: _Optional[str] = ..., tenant: _Optional[str] = ..., source_task_id: _Optional[str] = ..., goal: _Optional[str] = ..., plan_id: _Optional[str] = ..., plan_version: _Optional[int] = ..., plan_yaml: _Optional[str] = ..., default_mode: _Optional[str] = ..., budget: _Optional[_Union[_engine_pb2.Budget, _Mapping]] = ..., priority: _Optional[int] = ..., input_fields: _Optional[_Iterable[_Union[_engine_pb2.InputField, _Mapping]]] = ..., degrade_json: _Optional[bytes] = ..., created_unix_nano: _Optional[int] = ...) -> None: ...

class CreateTemplateRequest(_message.Message):
    __slots__ = ("task_id", "name")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    name: str
    def __init__(self, task_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class CreateTemplateResponse(_message.Message):
    __slots__ = ("template",)
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    template: Template
    def __init__(self, template: _Optional[_Union[Template, _Mapping]] = ...) -> None: ...

class GetTemplateRequest(_message.Message):
    __slots__ = ("template_id",)
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    def __init__(self, template_id: _Optional[str] = ...) -> None: ...

class GetTemplateResponse(_message.Message):
    __slots__ = ("template",)
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    template: Template
    def __init__(self, template: _Optional[_Union[Template, _Mapping]] = ...) -> None: ...

class ListTemplatesRequest(_message.Message):
    __slots__ = ("limit", "cursor")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    limit: int
    cursor: str
    def __init__(self, limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListTemplatesResponse(_message.Message):
    __slots__ = ("templates", "next_cursor")
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    templates: _containers.RepeatedCompositeFieldContainer[Template]
    next_cursor: str
    def __init__(self, templates: _Optional[_Iterable[_Union[Template, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class DeleteTemplateRequest(_message.Message):
    __slots__ = ("template_id",)
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    def __init__(self, template_id: _Optional[str] = ...) -> None: ...

class DeleteTemplateResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RunTemplateRequest(_message.Message):
    __slots__ = ("template_id", "inputs_json", "goal", "mode", "budget")
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    INPUTS_JSON_FIELD_NUMBER: _ClassVar[int]
    GOAL_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    inputs_json: bytes
    goal: str
    mode: str
    budget: _engine_pb2.Budget
    def __init__(self, template_id: _Optional[str] = ..., inputs_json: _Optional[bytes] = ..., goal: _Optional[str] = ..., mode: _Optional[str] = ..., budget: _Optional[_Union[_engine_pb2.Budget, _Mapping]] = ...) -> None: ...

class RunTemplateResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: _engine_pb2.Task
    def __init__(self, task: _Optional[_Union[_engine_pb2.Task, _Mapping]] = ...) -> None: ...

class RerunTaskRequest(_message.Message):
    __slots__ = ("task_id", "inputs_json", "budget")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    INPUTS_JSON_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    inputs_json: bytes
    budget: _engine_pb2.Budget
    def __init__(self, task_id: _Optional[str] = ..., inputs_json: _Optional[bytes] = ..., budget: _Optional[_Union[_engine_pb2.Budget, _Mapping]] = ...) -> None: ...

class RerunTaskResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: _engine_pb2.Task
    def __init__(self, task: _Optional[_Union[_engine_pb2.Task, _Mapping]] = ...) -> None: ...

class CompareTasksRequest(_message.Message):
    __slots__ = ("task_a", "task_b")
    TASK_A_FIELD_NUMBER: _ClassVar[int]
    TASK_B_FIELD_NUMBER: _ClassVar[int]
    task_a: str
    task_b: str
    def __init__(self, task_a: _Optional[str] = ..., task_b: _Optional[str] = ...) -> None: ...

class CompareTasksResponse(_message.Message):
    __slots__ = ("identical", "headline", "comparison_json", "markdown")
    IDENTICAL_FIELD_NUMBER: _ClassVar[int]
    HEADLINE_FIELD_NUMBER: _ClassVar[int]
    COMPARISON_JSON_FIELD_NUMBER: _ClassVar[int]
    MARKDOWN_FIELD_NUMBER: _ClassVar[int]
    identical: bool
    headline: str
    comparison_json: bytes
    markdown: str
    def __init__(self, identical: _Optional[bool] = ..., headline: _Optional[str] = ..., comparison_json: _Optional[bytes] = ..., markdown: _Optional[str] = ...) -> None: ...

class ExportTaskRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class ExportHeader(_message.Message):
    __slots__ = ("filename", "content_type", "max_bytes")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    filename: str
    content_type: str
    max_bytes: int
    def __init__(self, filename: _Optional[str] = ..., content_type: _Optional[str] = ..., max_bytes: _Optional[int] = ...) -> None: ...

class ExportTaskResponse(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: ExportHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[ExportHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class Metering(_message.Message):
    __slots__ = ("task_id", "owner", "tenant", "day", "state", "cost", "events", "blob_bytes", "exports", "compares", "updated_unix_nano", "cost_seqs")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    BLOB_BYTES_FIELD_NUMBER: _ClassVar[int]
    EXPORTS_FIELD_NUMBER: _ClassVar[int]
    COMPARES_FIELD_NUMBER: _ClassVar[int]
    UPDATED_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    COST_SEQS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    owner: str
    tenant: str
    day: str
    state: str
    cost: _common_pb2.Cost
    events: int
    blob_bytes: int
    exports: int
    compares: int
    updated_unix_nano: int
    cost_seqs: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, task_id: _Optional[str] = ..., owner: _Optional[str] = ..., tenant: _Optional[str] = ..., day: _Optional[str] = ..., state: _Optional[str] = ..., cost: _Optional[_Union[_common_pb2.Cost, _Mapping]] = ..., events: _Optional[int] = ..., blob_bytes: _Optional[int] = ..., exports: _Optional[int] = ..., compares: _Optional[int] = ..., updated_unix_nano: _Optional[int] = ..., cost_seqs: _Optional[_Iterable[int]] = ...) -> None: ...

class GetUsageRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class GetUsageResponse(_message.Message):
    __slots__ = ("metering",)
    METERING_FIELD_NUMBER: _ClassVar[int]
    metering: Metering
    def __init__(self, metering: _Optional[_Union[Metering, _Mapping]] = ...) -> None: ...

class QuotaStatus(_message.Message):
    __slots__ = ("quota", "scope", "subject", "usage", "limit", "resets_unix_nano", "source")
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    RESETS_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    quota: str
    scope: str
    subject: str
    usage: float
    limit: float
    resets_unix_nano: int
    source: str
    def __init__(self, quota: _Optional[str] = ..., scope: _Optional[str] = ..., subject: _Optional[str] = ..., usage: _Optional[float] = ..., limit: _Optional[float] = ..., resets_unix_nano: _Optional[int] = ..., source: _Optional[str] = ...) -> None: ...

class CheckQuotaRequest(_message.Message):
    __slots__ = ("owner", "tenant", "action", "active_owner", "active_tenant")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_OWNER_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_TENANT_FIELD_NUMBER: _ClassVar[int]
    owner: str
    tenant: str
    action: str
    active_owner: int
    active_tenant: int
    def __init__(self, owner: _Optional[str] = ..., tenant: _Optional[str] = ..., action: _Optional[str] = ..., active_owner: _Optional[int] = ..., active_tenant: _Optional[int] = ...) -> None: ...

class CheckQuotaResponse(_message.Message):
    __slots__ = ("quotas",)
    QUOTAS_FIELD_NUMBER: _ClassVar[int]
    quotas: _containers.RepeatedCompositeFieldContainer[QuotaStatus]
    def __init__(self, quotas: _Optional[_Iterable[_Union[QuotaStatus, _Mapping]]] = ...) -> None: ...

class GetQuotaStatusRequest(_message.Message):
    __slots__ = ("owner",)
    OWNER_FIELD_NUMBER: _ClassVar[int]
    owner: str
    def __init__(self, owner: _Optional[str] = ...) -> None: ...

class GetQuotaStatusResponse(_message.Message):
    __slots__ = ("quotas",)
    QUOTAS_FIELD_NUMBER: _ClassVar[int]
    quotas: _containers.RepeatedCompositeFieldContainer[QuotaStatus]
    def __init__(self, quotas: _Optional[_Iterable[_Union[QuotaStatus, _Mapping]]] = ...) -> None: ...

class SetQuotaRequest(_message.Message):
    __slots__ = ("scope", "subject", "quota", "limit", "reset")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    RESET_FIELD_NUMBER: _ClassVar[int]
    scope: str
    subject: str
    quota: str
    limit: float
    reset: bool
    def __init__(self, scope: _Optional[str] = ..., subject: _Optional[str] = ..., quota: _Optional[str] = ..., limit: _Optional[float] = ..., reset: _Optional[bool] = ...) -> None: ...

class SetQuotaResponse(_message.Message):
    __slots__ = ("quota",)
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    quota: QuotaStatus
    def __init__(self, quota: _Optional[_Union[QuotaStatus, _Mapping]] = ...) -> None: ...

class BillingLine(_message.Message):
    __slots__ = ("task_id", "day", "state", "cost", "events", "blob_bytes", "exports", "compares", "cost_seqs", "explanation")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    BLOB_BYTES_FIELD_NUMBER: _ClassVar[int]
    EXPORTS_FIELD_NUMBER: _ClassVar[int]
    COMPARES_FIELD_NUMBER: _ClassVar[int]
    COST_SEQS_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    day: str
    state: str
    cost: _common_pb2.Cost
    events: int
    blob_bytes: int
    exports: int
    compares: int
    cost_seqs: _containers.RepeatedScalarFieldContainer[int]
    explanation: str
    def __init__(self, task_id: _Optional[str] = ..., day: _Optional[str] = ..., state: _Optional[str] = ..., cost: _Optional[_Union[_common_pb2.Cost, _Mapping]] = ..., events: _Optional[int] = ..., blob_bytes: _Optional[int] = ..., exports: _Optional[int] = ..., compares: _Optional[int] = ..., cost_seqs: _Optional[_Iterable[int]] = ..., explanation: _Optional[str] = ...) -> None: ...

class GetBillingRequest(_message.Message):
    __slots__ = ("owner", "from_day", "to_day")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    FROM_DAY_FIELD_NUMBER: _ClassVar[int]
    TO_DAY_FIELD_NUMBER: _ClassVar[int]
    owner: str
    from_day: str
    to_day: str
    def __init__(self, owner: _Optional[str] = ..., from_day: _Optional[str] = ..., to_day: _Optional[str] = ...) -> None: ...

class GetBillingResponse(_message.Message):
    __slots__ = ("owner", "from_day", "to_day", "lines", "total", "events", "blob_bytes", "exports", "compares", "explanation")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    FROM_DAY_FIELD_NUMBER: _ClassVar[int]
    TO_DAY_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    BLOB_BYTES_FIELD_NUMBER: _ClassVar[int]
    EXPORTS_FIELD_NUMBER: _ClassVar[int]
    COMPARES_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    owner: str
    from_day: str
    to_day: str
    lines: _containers.RepeatedCompositeFieldContainer[BillingLine]
    total: _common_pb2.Cost
    events: int
    blob_bytes: int
    exports: int
    compares: int
    explanation: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, owner: _Optional[str] = ..., from_day: _Optional[str] = ..., to_day: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[BillingLine, _Mapping]]] = ..., total: _Optional[_Union[_common_pb2.Cost, _Mapping]] = ..., events: _Optional[int] = ..., blob_bytes: _Optional[int] = ..., exports: _Optional[int] = ..., compares: _Optional[int] = ..., explanation: _Optional[_Iterable[str]] = ...) -> None: ...
