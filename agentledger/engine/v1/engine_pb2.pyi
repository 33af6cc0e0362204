from agentledger.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Budget(_message.Message):
    __slots__ = ("tokens", "usd", "seconds")
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    USD_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    tokens: int
    usd: float
    seconds: float
    def __init__(self, tokens: _Optional[int] = ..., usd: _Optional[float] = ..., seconds: _Optional[float] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("task_id", "owner", "tenant", "goal", "mode", "inputs_json", "budget", "plan_id", "plan_version", "plan_rule", "plan_evidence_json", "state", "control", "created_unix_nano", "updated_unix_nano", "ended_unix_nano", "run_seconds", "cost", "degrade_count", "pause_count", "failure_type", "failure_message", "result_json", "pending_json", "lease_epoch")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    GOAL_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    INPUTS_JSON_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    PLAN_RULE_FIELD_NUMBER: _ClassVar[int]
    PLAN_EVIDENCE_JSON_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CONTROL_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    UPDATED_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    ENDED_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    RUN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    DEGRADE_COUNT_FIELD_NUMBER: _ClassVar[int]
    PAUSE_COUNT_FIELD_NUMBER: _ClassVar[int]
    FAILURE_TYPE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    PENDING_JSON_FIELD_NUMBER: _ClassVar[int]
    LEASE_EPOCH_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    owner: str
    tenant: str
    goal: str
    mode: str
    inputs_json: bytes
    budget: Budget
    plan_id: str
    plan_version: int
    plan_rule: str
    plan_evidence_json: bytes
    state: str
    control: str
    created_unix_nano: int
    updated_unix_nano: int
    ended_unix_nano: int
    run_seconds: float
    cost: _common_pb2.Cost
    degrade_count: int
    pause_count: int
    failure_type: str
    failure_message: str
    result_json: bytes
    pending_json: bytes
    lease_epoch: int
    def __init__(self, task_id: _Optional[str] = ..., owner: _Optional[str] = ..., tenant: _Optional[str] = ..., goal: _Optional[str] = ..., mode: _Optional[str] = ..., inputs_json: _Optional[bytes] = ..., budget: _Optional[_Union[Budget, _Mapping]] = ..., plan_id: _Optional[str] = ..., plan_version: _Optional[int] = ..., plan_rule: _Optional[str] = ..., plan_evidence_json: _Optional[bytes] = ..., state: _Optional[str] = ..., control: _Optional[str] = ..., created_unix_nano: _Optional[int] = ..., updated_unix_nano: _Optional[int] = ..., ended_unix_nano: _Optional[int] = ..., run_seconds: _Optional[float] = ..., cost: _Optional[_Union[_common_pb2.Cost, _Mapping]] = ..., degrade_count: _Optional[int] = ..., pause_count: _Optional[int] = ..., failure_type: _Optional[str] = ..., failure_message: _Optional[str] = ..., result_json: _Optional[bytes] = ..., pending_json: _Optional[bytes] = ..., lease_epoch: _Optional[int] = ...) -> None: ...

class NodeState(_message.Message):
    __slots__ = ("node_id", "status", "attempt", "variant", "tried_variants", "output_json", "failure_kind", "failure_message", "cost", "started_unix_nano", "ended_unix_nano")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    TRIED_VARIANTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    FAILURE_KIND_FIELD_NUMBER: _ClassVar[int]
    FAILURE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    STARTED_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    ENDED_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    status: str
    attempt: int
    variant: str
    tried_variants: _containers.RepeatedScalarFieldContainer[str]
    output_json: bytes
    failure_kind: str
    failure_message: str
    cost: _common_pb2.Cost
    started_unix_nano: int
    ended_unix_nano: int
    def __init__(self, node_id: _Optional[str] = ..., status: _Optional[str] = ..., attempt: _Optional[int] = ..., variant: _Optional[str] = ..., tried_variants: _Optional[_Iterable[str]] = ..., output_json: _Optional[bytes] = ..., failure_kind: _Optional[str] = ..., failure_message: _Optional[str] = ..., cost: _Optional[_Union[_common_pb2.Cost, _Mapping]] = ..., started_unix_nano: _Optional[int] = ..., ended_unix_nano: _Optional[int] = ...) -> None: ...

class SubmitTaskRequest(_message.Message):
    __slots__ = ("owner", "tenant", "goal", "mode", "inputs_json", "budget", "plan_id", "plan_version", "plan_yaml", "priority")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    GOAL_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    INPUTS_JSON_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    PLAN_YAML_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    owner: str
    tenant: str
    goal: str
    mode: str
    inputs_json: bytes
    budget: Budget
    plan_id: str
    plan_version: int
    plan_yaml: str
    priority: int
    def __init__(self, owner: _Optional[str] = ..., tenant: _Optional[str] = ..., goal: _Optional[str] = ..., mode: _Optional[str] = ..., inputs_json: _Optional[bytes] = ..., budget: _Optional[_Union[Budget, _Mapping]] = ..., plan_id: _Optional[str] = ..., plan_version: _Optional[int] = ..., plan_yaml: _Optional[str] = ..., priority: _Optional[int] = ...) -> None: ...

class SubmitTaskResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: Task
    def __init__(self, task: _Optional[_Union[Task, _Mapping]] = ...) -> None: ...

class GetTaskRequest(_message.Message):
    __slots__ = ("task_id", "include_plan")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_PLAN_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    include_plan: bool
    def __init__(self, task_id: _Optional[str] = ..., include_plan: _Optional[bool] = ...) -> None: ...

class GetTaskResponse(_message.Message):
    __slots__ = ("task", "nodes", "plan_text", "plan_from_file")
    TASK_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    PLAN_TEXT_FIELD_NUMBER: _ClassVar[int]
    PLAN_FROM_FILE_FIELD_NUMBER: _ClassVar[int]
    task: Task
    nodes: _containers.RepeatedCompositeFieldContainer[NodeState]
    plan_text: str
    plan_from_file: bool
    def __init__(self, task: _Optional[_Union[Task, _Mapping]] = ..., nodes: _Optional[_Iterable[_Union[NodeState, _Mapping]]] = ..., plan_text: _Optional[str] = ..., plan_from_file: _Optional[bool] = ...) -> None: ...

class ListTasksRequest(_message.Message):
    __slots__ = ("owner", "states", "limit", "cursor")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    owner: str
    states: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    cursor: str
    def __init__(self, owner: _Optional[str] = ..., states: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListTasksResponse(_message.Message):
    __slots__ = ("tasks", "next_cursor")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[Task]
    next_cursor: str
    def __init__(self, tasks: _Optional[_Iterable[_Union[Task, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class CancelTaskRequest(_message.Message):
    __slots__ = ("task_id", "actor", "reason")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    actor: str
    reason: str
    def __init__(self, task_id: _Optional[str] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelTaskResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: Task
    def __init__(self, task: _Optional[_Union[Task, _Mapping]] = ...) -> None: ...

class PauseTaskRequest(_message.Message):
    __slots__ = ("task_id", "actor", "reason")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    actor: str
    reason: str
    def __init__(self, task_id: _Optional[str] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class PauseTaskResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: Task
    def __init__(self, task: _Optional[_Union[Task, _Mapping]] = ...) -> None: ...

class ResumeTaskRequest(_message.Message):
    __slots__ = ("task_id", "actor", "reason", "input_json")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    INPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    actor: str
    reason: str
    input_json: bytes
    def __init__(self, task_id: _Optional[str] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ..., input_json: _Optional[bytes] = ...) -> None: ...

class ResumeTaskResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: Task
    def __init__(self, task: _Optional[_Union[Task, _Mapping]] = ...) -> None: ...

class RetryTaskRequest(_message.Message):
    __slots__ = ("task_id", "actor", "reason")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    actor: str
    reason: str
    def __init__(self, task_id: _Optional[str] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RetryTaskResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: Task
    def __init__(self, task: _Optional[_Union[Task, _Mapping]] = ...) -> None: ...

class InputField(_message.Message):
    __slots__ = ("name", "type", "required", "sensitive", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    SENSITIVE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    required: bool
    sensitive: bool
    description: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., required: _Optional[bool] = ..., sensitive: _Optional[bool] = ..., description: _Optional[str] = ...) -> None: ...

class PlanNodeInfo(_message.Message):
    __slots__ = ("id", "phase", "agent", "depends_on", "variants", "subgoal", "latency_s", "tokens", "usd")
    ID_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    DEPENDS_ON_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    SUBGOAL_FIELD_NUMBER: _ClassVar[int]
    LATENCY_S_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    USD_FIELD_NUMBER: _ClassVar[int]
    id: str
    phase: str
    agent: str
    depends_on: _containers.RepeatedScalarFieldContainer[str]
    variants: _containers.RepeatedScalarFieldContainer[str]
    subgoal: str
    latency_s: float
    tokens: int
    usd: float
    def __init__(self, id: _Optional[str] = ..., phase: _Optional[str] = ..., agent: _Optional[str] = ..., depends_on: _Optional[_Iterable[str]] = ..., variants: _Optional[_Iterable[str]] = ..., subgoal: _Optional[str] = ..., latency_s: _Optional[float] = ..., tokens: _Optional[int] = ..., usd: _Optional[float] = ...) -> None: ...

class PlanInfo(_message.Message):
    __slots__ = ("plan_id", "version", "description", "digest", "default_mode", "inputs", "nodes", "versions")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_MODE_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    version: int
    description: str
    digest: str
    default_mode: str
    inputs: _containers.RepeatedCompositeFieldContainer[InputField]
    nodes: _containers.RepeatedCompositeFieldContainer[PlanNodeInfo]
    versions: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, plan_id: _Optional[str] = ..., version: _Optional[int] = ..., description: _Optional[str] = ..., digest: _Optional[str] = ..., default_mode: _Optional[str] = ..., inputs: _Optional[_Iterable[_Union[InputField, _Mapping]]] = ..., nodes: _Optional[_Iterable[_Union[PlanNodeInfo, _Mapping]]] = ..., versions: _Optional[_Iterable[int]] = ...) -> None: ...

class ListPlansRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPlansResponse(_message.Message):
    __slots__ = ("plans",)
    PLANS_FIELD_NUMBER: _ClassVar[int]
    plans: _containers.RepeatedCompositeFieldContainer[PlanInfo]
    def __init__(self, plans: _Optional[_Iterable[_Union[PlanInfo, _Mapping]]] = ...) -> None: ...

class GetPlanRequest(_message.Message):
    __slots__ = ("plan_id", "version")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    version: int
    def __init__(self, plan_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetPlanResponse(_message.Message):
    __slots__ = ("plan", "text")
    PLAN_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    plan: PlanInfo
    text: str
    def __init__(self, plan: _Optional[_Union[PlanInfo, _Mapping]] = ..., text: _Optional[str] = ...) -> None: ...

class ValidatePlanRequest(_message.Message):
    __slots__ = ("text", "source")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    text: str
    source: str
    def __init__(self, text: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class ValidatePlanResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: PlanInfo
    def __init__(self, plan: _Optional[_Union[PlanInfo, _Mapping]] = ...) -> None: ...
