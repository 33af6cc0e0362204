from agentledger.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Variant(_message.Message):
    __slots__ = ("name", "latency_s", "tokens", "usd", "risk", "success_proxy", "kind")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LATENCY_S_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    USD_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_PROXY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    name: str
    latency_s: float
    tokens: int
    usd: float
    risk: float
    success_proxy: float
    kind: str
    def __init__(self, name: _Optional[str] = ..., latency_s: _Optional[float] = ..., tokens: _Optional[int] = ..., usd: _Optional[float] = ..., risk: _Optional[float] = ..., success_proxy: _Optional[float] = ..., kind: _Optional[str] = ...) -> None: ...

class PlanNode(_message.Message):
    __slots__ = ("id", "phase", "depends_on", "latency_s", "tokens", "usd", "risk", "success_proxy", "variants", "subgoal", "max_attempts", "backoff_s", "max_backoff_s")
    ID_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    DEPENDS_ON_FIELD_NUMBER: _ClassVar[int]
    LATENCY_S_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    USD_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_PROXY_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    SUBGOAL_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_S_FIELD_NUMBER: _ClassVar[int]
    MAX_BACKOFF_S_FIELD_NUMBER: _ClassVar[int]
    id: str
    phase: str
    depends_on: _containers.RepeatedScalarFieldContainer[str]
    latency_s: float
    tokens: int
    usd: float
    risk: float
    success_proxy: float
    variants: _containers.RepeatedCompositeFieldContainer[Variant]
    subgoal: str
    max_attempts: int
    backoff_s: float
    max_backoff_s: float
    def __init__(self, id: _Optional[str] = ..., phase: _Optional[str] = ..., depends_on: _Optional[_Iterable[str]] = ..., latency_s: _Optional[float] = ..., tokens: _Optional[int] = ..., usd: _Optional[float] = ..., risk: _Optional[float] = ..., success_proxy: _Optional[float] = ..., variants: _Optional[_Iterable[_Union[Variant, _Mapping]]] = ..., subgoal: _Optional[str] = ..., max_attempts: _Optional[int] = ..., backoff_s: _Optional[float] = ..., max_backoff_s: _Optional[float] = ...) -> None: ...

class PlanGraph(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[PlanNode]
    def __init__(self, nodes: _Optional[_Iterable[_Union[PlanNode, _Mapping]]] = ...) -> None: ...

class Budget(_message.Message):
    __slots__ = ("tokens", "usd", "seconds")
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    USD_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    tokens: int
    usd: float
    seconds: float
    def __init__(self, tokens: _Optional[int] = ..., usd: _Optional[float] = ..., seconds: _Optional[float] = ...) -> None: ...

class NodePriority(_message.Message):
    __slots__ = ("node_id", "upward_rank")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    UPWARD_RANK_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    upward_rank: float
    def __init__(self, node_id: _Optional[str] = ..., upward_rank: _Optional[float] = ...) -> None: ...

class PhaseBudget(_message.Message):
    __slots__ = ("phase", "weight", "share", "tokens", "usd", "seconds", "nodes", "estimated_latency_s", "estimated_tokens", "estimated_usd")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    USD_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_LATENCY_S_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_USD_FIELD_NUMBER: _ClassVar[int]
    phase: str
    weight: float
    share: float
    tokens: int
    usd: float
    seconds: float
    nodes: int
    estimated_latency_s: float
    estimated_tokens: int
    estimated_usd: float
    def __init__(self, phase: _Optional[str] = ..., weight: _Optional[float] = ..., share: _Optional[float] = ..., tokens: _Optional[int] = ..., usd: _Optional[float] = ..., seconds: _Optional[float] = ..., nodes: _Optional[int] = ..., estimated_latency_s: _Optional[float] = ..., estimated_tokens: _Optional[int] = ..., estimated_usd: _Optional[float] = ...) -> None: ...

class AnytimeResult(_message.Message):
    __slots__ = ("node_id", "phase", "completed_subgoals", "reason")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_SUBGOALS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    phase: str
    completed_subgoals: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    def __init__(self, node_id: _Optional[str] = ..., phase: _Optional[str] = ..., completed_subgoals: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ...) -> None: ...

class SchedulePlan(_message.Message):
    __slots__ = ("scheduler_version", "priorities", "priorities_topk", "critical_path", "critical_path_latency_s", "budget_allocation", "anytime", "evidence_json")
    SCHEDULER_VERSION_FIELD_NUMBER: _ClassVar[int]
    PRIORITIES_FIELD_NUMBER: _ClassVar[int]
    PRIORITIES_TOPK_FIELD_NUMBER: _ClassVar[int]
    CRITICAL_PATH_FIELD_NUMBER: _ClassVar[int]
    CRITICAL_PATH_LATENCY_S_FIELD_NUMBER: _ClassVar[int]
    BUDGET_ALLOCATION_FIELD_NUMBER: _ClassVar[int]
    ANYTIME_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_JSON_FIELD_NUMBER: _ClassVar[int]
    scheduler_version: str
    priorities: _containers.RepeatedCompositeFieldContainer[NodePriority]
    priorities_topk: _containers.RepeatedCompositeFieldContainer[NodePriority]
    critical_path: _containers.RepeatedScalarFieldContainer[str]
    critical_path_latency_s: float
    budget_allocation: _containers.RepeatedCompositeFieldContainer[PhaseBudget]
    anytime: AnytimeResult
    evidence_json: bytes
    def __init__(self, scheduler_version: _Optional[str] = ..., priorities: _Optional[_Iterable[_Union[NodePriority, _Mapping]]] = ..., priorities_topk: _Optional[_Iterable[_Union[NodePriority, _Mapping]]] = ..., critical_path: _Optional[_Iterable[str]] = ..., critical_path_latency_s: _Optional[float] = ..., budget_allocation: _Optional[_Iterable[_Union[PhaseBudget, _Mapping]]] = ..., anytime: _Optional[_Union[AnytimeResult, _Mapping]] = ..., evidence_json: _Optional[bytes] = ...) -> None: ...

class PlanScheduleRequest(_message.Message):
    __slots__ = ("plan", "budget", "completed", "top_k", "phase_weights")
    class PhaseWeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    PLAN_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    PHASE_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    plan: PlanGraph
    budget: Budget
    completed: _containers.RepeatedScalarFieldContainer[str]
    top_k: int
    phase_weights: _containers.ScalarMap[str, float]
    def __init__(self, plan: _Optional[_Union[PlanGraph, _Mapping]] = ..., budget: _Optional[_Union[Budget, _Mapping]] = ..., completed: _Optional[_Iterable[str]] = ..., top_k: _Optional[int] = ..., phase_weights: _Optional[_Mapping[str, float]] = ...) -> None: ...

class PlanScheduleResponse(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: SchedulePlan
    def __init__(self, schedule: _Optional[_Union[SchedulePlan, _Mapping]] = ...) -> None: ...

class FailureSignals(_message.Message):
    __slots__ = ("node_id", "kind_hint", "exception_type", "exit_code", "http_status", "budget_fractions", "validation_errors", "message", "attempt", "variant", "tried_variants", "upstream_reruns")
    class BudgetFractionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_HINT_FIELD_NUMBER: _ClassVar[int]
    EXCEPTION_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FRACTIONS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_ERRORS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    TRIED_VARIANTS_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_RERUNS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    kind_hint: str
    exception_type: str
    exit_code: int
    http_status: int
    budget_fractions: _containers.ScalarMap[str, float]
    validation_errors: _containers.RepeatedScalarFieldContainer[str]
    message: str
    attempt: int
    variant: str
    tried_variants: _containers.RepeatedScalarFieldContainer[str]
    upstream_reruns: int
    def __init__(self, node_id: _Optional[str] = ..., kind_hint: _Optional[str] = ..., exception_type: _Optional[str] = ..., exit_code: _Optional[int] = ..., http_status: _Optional[int] = ..., budget_fractions: _Optional[_Mapping[str, float]] = ..., validation_errors: _Optional[_Iterable[str]] = ..., message: _Optional[str] = ..., attempt: _Optional[int] = ..., variant: _Optional[str] = ..., tried_variants: _Optional[_Iterable[str]] = ..., upstream_reruns: _Optional[int] = ...) -> None: ...

class FailureClassification(_message.Message):
    __slots__ = ("kind", "rule", "rule_version", "classifier_version", "evidence_json")
    KIND_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    RULE_VERSION_FIELD_NUMBER: _ClassVar[int]
    CLASSIFIER_VERSION_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_JSON_FIELD_NUMBER: _ClassVar[int]
    kind: str
    rule: str
    rule_version: int
    classifier_version: str
    evidence_json: bytes
    def __init__(self, kind: _Optional[str] = ..., rule: _Optional[str] = ..., rule_version: _Optional[int] = ..., classifier_version: _Optional[str] = ..., evidence_json: _Optional[bytes] = ...) -> None: ...

class RecoveryPolicy(_message.Message):
    __slots__ = ("rule", "rule_version", "strategy", "reason", "rerun", "reused", "variant", "delay_s", "estimated_latency_s", "estimated_tokens", "estimated_usd")
    RULE_FIELD_NUMBER: _ClassVar[int]
    RULE_VERSION_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RERUN_FIELD_NUMBER: _ClassVar[int]
    REUSED_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    DELAY_S_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_LATENCY_S_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_USD_FIELD_NUMBER: _ClassVar[int]
    rule: str
    rule_version: int
    strategy: str
    reason: str
    rerun: _containers.RepeatedScalarFieldContainer[str]
    reused: _containers.RepeatedScalarFieldContainer[str]
    variant: str
    delay_s: float
    estimated_latency_s: float
    estimated_tokens: int
    estimated_usd: float
    def __init__(self, rule: _Optional[str] = ..., rule_version: _Optional[int] = ..., strategy: _Optional[str] = ..., reason: _Optional[str] = ..., rerun: _Optional[_Iterable[str]] = ..., reused: _Optional[_Iterable[str]] = ..., variant: _Optional[str] = ..., delay_s: _Optional[float] = ..., estimated_latency_s: _Optional[float] = ..., estimated_tokens: _Optional[int] = ..., estimated_usd: _Optional[float] = ...) -> None: ...

class RecoveryPlan(_message.Message):
    __slots__ = ("recovery_policy_mapper_version", "failure_type", "classification", "selected_policy", "available_policies", "affected_nodes", "evidence_json")
    RECOVERY_POLICY_MAPPER_VERSION_FIELD_NUMBER: _ClassVar[int]
    FAILURE_TYPE_FIELD_NUMBER: _ClassVar[int]
    CLASSIFICATION_FIELD_NUMBER: _ClassVar[int]
    SELECTED_POLICY_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_POLICIES_FIELD_NUMBER: _ClassVar[int]
    AFFECTED_NODES_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_JSON_FIELD_NUMBER: _ClassVar[int]
    recovery_policy_mapper_version: str
    failure_type: str
    classification: FailureClassification
    selected_policy: RecoveryPolicy
    available_policies: _containers.RepeatedCompositeFieldContainer[RecoveryPolicy]
    affected_nodes: _containers.RepeatedScalarFieldContainer[str]
    evidence_json: bytes
    def __init__(self, recovery_policy_mapper_version: _Optional[str] = ..., failure_type: _Optional[str] = ..., classification: _Optional[_Union[FailureClassification, _Mapping]] = ..., selected_policy: _Optional[_Union[RecoveryPolicy, _Mapping]] = ..., available_policies: _Optional[_Iterable[_Union[RecoveryPolicy, _Mapping]]] = ..., affected_nodes: _Optional[_Iterable[str]] = ..., evidence_json: _Optional[bytes] = ...) -> None: ...

class PlanRecoveryRequest(_message.Message):
    __slots__ = ("plan", "failure", "completed_input_digests", "current_input_digests")
    class CompletedInputDigestsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class CurrentInputDigestsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PLAN_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_INPUT_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_INPUT_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    plan: PlanGraph
    failure: FailureSignals
    completed_input_digests: _containers.ScalarMap[str, str]
    current_input_digests: _containers.ScalarMap[str, str]
    def __init__(self, plan: _Optional[_Union[PlanGraph, _Mapping]] = ..., failure: _Optional[_Union[FailureSignals, _Mapping]] = ..., completed_input_digests: _Optional[_Mapping[str, str]] = ..., current_input_digests: _Optional[_Mapping[str, str]] = ...) -> None: ...

class PlanRecoveryResponse(_message.Message):
    __slots__ = ("recovery",)
    RECOVERY_FIELD_NUMBER: _ClassVar[int]
    recovery: RecoveryPlan
    def __init__(self, recovery: _Optional[_Union[RecoveryPlan, _Mapping]] = ...) -> None: ...

class Objective(_message.Message):
    __slots__ = ("name", "maximize")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MAXIMIZE_FIELD_NUMBER: _ClassVar[int]
    name: str
    maximize: bool
    def __init__(self, name: _Optional[str] = ..., maximize: _Optional[bool] = ...) -> None: ...

class Candidate(_message.Message):
    __slots__ = ("id", "values")
    ID_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    id: str
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, id: _Optional[str] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class CandidateSet(_message.Message):
    __slots__ = ("objectives", "candidates")
    OBJECTIVES_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    objectives: _containers.RepeatedCompositeFieldContainer[Objective]
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    def __init__(self, objectives: _Optional[_Iterable[_Union[Objective, _Mapping]]] = ..., candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ...) -> None: ...

class Choice(_message.Message):
    __slots__ = ("node_id", "variant")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    variant: str
    def __init__(self, node_id: _Optional[str] = ..., variant: _Optional[str] = ...) -> None: ...

class PathScore(_message.Message):
    __slots__ = ("success_proxy", "usd", "risk", "latency_s", "tokens")
    SUCCESS_PROXY_FIELD_NUMBER: _ClassVar[int]
    USD_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    LATENCY_S_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    success_proxy: float
    usd: float
    risk: float
    latency_s: float
    tokens: int
    def __init__(self, success_proxy: _Optional[float] = ..., usd: _Optional[float] = ..., risk: _Optional[float] = ..., latency_s: _Optional[float] = ..., tokens: _Optional[int] = ...) -> None: ...

class CandidatePath(_message.Message):
    __slots__ = ("choices", "score")
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    choices: _containers.RepeatedCompositeFieldContainer[Choice]
    score: PathScore
    def __init__(self, choices: _Optional[_Iterable[_Union[Choice, _Mapping]]] = ..., score: _Optional[_Union[PathScore, _Mapping]] = ...) -> None: ...

class RejectedPath(_message.Message):
    __slots__ = ("step", "path", "dominated_by", "how")
    STEP_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    DOMINATED_BY_FIELD_NUMBER: _ClassVar[int]
    HOW_FIELD_NUMBER: _ClassVar[int]
    step: int
    path: _containers.RepeatedCompositeFieldContainer[Choice]
    dominated_by: _containers.RepeatedCompositeFieldContainer[Choice]
    how: str
    def __init__(self, step: _Optional[int] = ..., path: _Optional[_Iterable[_Union[Choice, _Mapping]]] = ..., dominated_by: _Optional[_Iterable[_Union[Choice, _Mapping]]] = ..., how: _Optional[str] = ...) -> None: ...

class PlanFrontier(_message.Message):
    __slots__ = ("pareto_version", "frontier", "candidate_space", "partial_paths_built", "pruned", "rejected", "exact", "error_bound", "evidence_json")
    PARETO_VERSION_FIELD_NUMBER: _ClassVar[int]
    FRONTIER_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_SPACE_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_PATHS_BUILT_FIELD_NUMBER: _ClassVar[int]
    PRUNED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    EXACT_FIELD_NUMBER: _ClassVar[int]
    ERROR_BOUND_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_JSON_FIELD_NUMBER: _ClassVar[int]
    pareto_version: str
    frontier: _containers.RepeatedCompositeFieldContainer[CandidatePath]
    candidate_space: float
    partial_paths_built: int
    pruned: int
    rejected: _containers.RepeatedCompositeFieldContainer[RejectedPath]
    exact: bool
    error_bound: float
    evidence_json: bytes
    def __init__(self, pareto_version: _Optional[str] = ..., frontier: _Optional[_Iterable[_Union[CandidatePath, _Mapping]]] = ..., candidate_space: _Optional[float] = ..., partial_paths_built: _Optional[int] = ..., pruned: _Optional[int] = ..., rejected: _Optional[_Iterable[_Union[RejectedPath, _Mapping]]] = ..., exact: _Optional[bool] = ..., error_bound: _Optional[float] = ..., evidence_json: _Optional[bytes] = ...) -> None: ...

class RejectedCandidate(_message.Message):
    __slots__ = ("id", "dominated_by")
    ID_FIELD_NUMBER: _ClassVar[int]
    DOMINATED_BY_FIELD_NUMBER: _ClassVar[int]
    id: str
    dominated_by: str
    def __init__(self, id: _Optional[str] = ..., dominated_by: _Optional[str] = ...) -> None: ...

class CandidateFrontier(_message.Message):
    __slots__ = ("pareto_version", "frontier", "pruned", "rejected", "evidence_json")
    PARETO_VERSION_FIELD_NUMBER: _ClassVar[int]
    FRONTIER_FIELD_NUMBER: _ClassVar[int]
    PRUNED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_JSON_FIELD_NUMBER: _ClassVar[int]
    pareto_version: str
    frontier: _containers.RepeatedCompositeFieldContainer[Candidate]
    pruned: int
    rejected: _containers.RepeatedCompositeFieldContainer[RejectedCandidate]
    evidence_json: bytes
    def __init__(self, pareto_version: _Optional[str] = ..., frontier: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ..., pruned: _Optional[int] = ..., rejected: _Optional[_Iterable[_Union[RejectedCandidate, _Mapping]]] = ..., evidence_json: _Optional[bytes] = ...) -> None: ...

class ComputeFrontierRequest(_message.Message):
    __slots__ = ("plan", "candidates", "record_limit")
    PLAN_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    RECORD_LIMIT_FIELD_NUMBER: _ClassVar[int]
    plan: PlanGraph
    candidates: CandidateSet
    record_limit: int
    def __init__(self, plan: _Optional[_Union[PlanGraph, _Mapping]] = ..., candidates: _Optional[_Union[CandidateSet, _Mapping]] = ..., record_limit: _Optional[int] = ...) -> None: ...

class ComputeFrontierResponse(_message.Message):
    __slots__ = ("plan", "candidates")
    PLAN_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    plan: PlanFrontier
    candidates: CandidateFrontier
    def __init__(self, plan: _Optional[_Union[PlanFrontier, _Mapping]] = ..., candidates: _Optional[_Union[CandidateFrontier, _Mapping]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("type", "phase", "node_id", "severity", "actor", "time_unix_nano", "payload_json", "seq")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_JSON_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    type: str
    phase: str
    node_id: str
    severity: _common_pb2.Severity
    actor: str
    time_unix_nano: int
    payload_json: bytes
    seq: int
    def __init__(self, type: _Optional[str] = ..., phase: _Optional[str] = ..., node_id: _Optional[str] = ..., severity: _Optional[_Union[_common_pb2.Severity, str]] = ..., actor: _Optional[str] = ..., time_unix_nano: _Optional[int] = ..., payload_json: _Optional[bytes] = ..., seq: _Optional[int] = ...) -> None: ...

class SeqRange(_message.Message):
    __slots__ = ("first", "last")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    first: int
    last: int
    def __init__(self, first: _Optional[int] = ..., last: _Optional[int] = ...) -> None: ...

class Sentence(_message.Message):
    __slots__ = ("text", "seqs")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SEQS_FIELD_NUMBER: _ClassVar[int]
    text: str
    seqs: _containers.RepeatedCompositeFieldContainer[SeqRange]
    def __init__(self, text: _Optional[str] = ..., seqs: _Optional[_Iterable[_Union[SeqRange, _Mapping]]] = ...) -> None: ...

class DecisionCount(_message.Message):
    __slots__ = ("action", "count")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    action: str
    count: int
    def __init__(self, action: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class EventCluster(_message.Message):
    __slots__ = ("kind", "key", "event_count", "first_seq", "last_seq", "duration_s", "failures", "decisions", "tokens", "usd", "sentence")
    KIND_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    EVENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQ_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    USD_FIELD_NUMBER: _ClassVar[int]
    SENTENCE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    key: str
    event_count: int
    first_seq: int
    last_seq: int
    duration_s: float
    failures: int
    decisions: _containers.RepeatedCompositeFieldContainer[DecisionCount]
    tokens: int
    usd: float
    sentence: Sentence
    def __init__(self, kind: _Optional[str] = ..., key: _Optional[str] = ..., event_count: _Optional[int] = ..., first_seq: _Optional[int] = ..., last_seq: _Optional[int] = ..., duration_s: _Optional[float] = ..., failures: _Optional[int] = ..., decisions: _Optional[_Iterable[_Union[DecisionCount, _Mapping]]] = ..., tokens: _Optional[int] = ..., usd: _Optional[float] = ..., sentence: _Optional[_Union[Sentence, _Mapping]] = ...) -> None: ...

class EventLine(_message.Message):
    __slots__ = ("seq", "text")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    seq: int
    text: str
    def __init__(self, seq: _Optional[int] = ..., text: _Optional[str] = ...) -> None: ...

class EventSummary(_message.Message):
    __slots__ = ("summarizer_version", "input_hash", "event_count", "level0", "level1", "level2", "next_after_seq", "evidence_json")
    SUMMARIZER_VERSION_FIELD_NUMBER: _ClassVar[int]
    INPUT_HASH_FIELD_NUMBER: _ClassVar[int]
    EVENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    LEVEL0_FIELD_NUMBER: _ClassVar[int]
    LEVEL1_FIELD_NUMBER: _ClassVar[int]
    LEVEL2_FIELD_NUMBER: _ClassVar[int]
    NEXT_AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_JSON_FIELD_NUMBER: _ClassVar[int]
    summarizer_version: str
    input_hash: str
    event_count: int
    level0: _containers.RepeatedCompositeFieldContainer[Sentence]
    level1: _containers.RepeatedCompositeFieldContainer[EventCluster]
    level2: _containers.RepeatedCompositeFieldContainer[EventLine]
    next_after_seq: int
    evidence_json: bytes
    def __init__(self, summarizer_version: _Optional[str] = ..., input_hash: _Optional[str] = ..., event_count: _Optional[int] = ..., level0: _Optional[_Iterable[_Union[Sentence, _Mapping]]] = ..., level1: _Optional[_Iterable[_Union[EventCluster, _Mapping]]] = ..., level2: _Optional[_Iterable[_Union[EventLine, _Mapping]]] = ..., next_after_seq: _Optional[int] = ..., evidence_json: _Optional[bytes] = ...) -> None: ...

class SummarizeEventsRequest(_message.Message):
    __slots__ = ("events", "after_seq", "page_size")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    after_seq: int
    page_size: int
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., after_seq: _Optional[int] = ..., page_size: _Optional[int] = ...) -> None: ...

class SummarizeEventsResponse(_message.Message):
    __slots__ = ("summary",)
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    summary: EventSummary
    def __init__(self, summary: _Optional[_Union[EventSummary, _Mapping]] = ...) -> None: ...

class SalienceParts(_message.Message):
    __slots__ = ("severity", "user_impact", "cost_delta", "failure_relatedness")
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    USER_IMPACT_FIELD_NUMBER: _ClassVar[int]
    COST_DELTA_FIELD_NUMBER: _ClassVar[int]
    FAILURE_RELATEDNESS_FIELD_NUMBER: _ClassVar[int]
    severity: float
    user_impact: float
    cost_delta: float
    failure_relatedness: float
    def __init__(self, severity: _Optional[float] = ..., user_impact: _Optional[float] = ..., cost_delta: _Optional[float] = ..., failure_relatedness: _Optional[float] = ...) -> None: ...

class ScoredEvent(_message.Message):
    __slots__ = ("seq", "type", "node_id", "score", "parts")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    seq: int
    type: str
    node_id: str
    score: float
    parts: SalienceParts
    def __init__(self, seq: _Optional[int] = ..., type: _Optional[str] = ..., node_id: _Optional[str] = ..., score: _Optional[float] = ..., parts: _Optional[_Union[SalienceParts, _Mapping]] = ...) -> None: ...

class RankSalienceRequest(_message.Message):
    __slots__ = ("events", "top_k", "offset", "page_size", "weights")
    class WeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    top_k: int
    offset: int
    page_size: int
    weights: _containers.ScalarMap[str, float]
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., top_k: _Optional[int] = ..., offset: _Optional[int] = ..., page_size: _Optional[int] = ..., weights: _Optional[_Mapping[str, float]] = ...) -> None: ...

class RankSalienceResponse(_message.Message):
    __slots__ = ("salience_version", "input_hash", "total", "top", "page", "next_offset", "evidence_json")
    SALIENCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    INPUT_HASH_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    NEXT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_JSON_FIELD_NUMBER: _ClassVar[int]
    salience_version: str
    input_hash: str
    total: int
    top: _containers.RepeatedCompositeFieldContainer[ScoredEvent]
    page: _containers.RepeatedCompositeFieldContainer[ScoredEvent]
    next_offset: int
    evidence_json: bytes
    def __init__(self, salience_version: _Optional[str] = ..., input_hash: _Optional[str] = ..., total: _Optional[int] = ..., top: _Optional[_Iterable[_Union[ScoredEvent, _Mapping]]] = ..., page: _Optional[_Iterable[_Union[ScoredEvent, _Mapping]]] = ..., next_offset: _Optional[int] = ..., evidence_json: _Optional[bytes] = ...) -> None: ...

class ForecastFeatures(_message.Message):
    __slots__ = ("spec_length", "node_count", "tool_calls", "historical_retries", "mode")
    SPEC_LENGTH_FIELD_NUMBER: _ClassVar[int]
    NODE_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    HISTORICAL_RETRIES_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    spec_length: int
    node_count: int
    tool_calls: int
    historical_retries: float
    mode: str
    def __init__(self, spec_length: _Optional[int] = ..., node_count: _Optional[int] = ..., tool_calls: _Optional[int] = ..., historical_retries: _Optional[float] = ..., mode: _Optional[str] = ...) -> None: ...

class TokenRange(_message.Message):
    __slots__ = ("low", "high")
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    low: int
    high: int
    def __init__(self, low: _Optional[int] = ..., high: _Optional[int] = ...) -> None: ...

class LatencyRange(_message.Message):
    __slots__ = ("low_s", "high_s")
    LOW_S_FIELD_NUMBER: _ClassVar[int]
    HIGH_S_FIELD_NUMBER: _ClassVar[int]
    low_s: float
    high_s: float
    def __init__(self, low_s: _Optional[float] = ..., high_s: _Optional[float] = ...) -> None: ...

class ForecastCostRequest(_message.Message):
    __slots__ = ("plan_id", "features", "plan")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    features: ForecastFeatures
    plan: PlanGraph
    def __init__(self, plan_id: _Optional[str] = ..., features: _Optional[_Union[ForecastFeatures, _Mapping]] = ..., plan: _Optional[_Union[PlanGraph, _Mapping]] = ...) -> None: ...

class ForecastCostResponse(_message.Message):
    __slots__ = ("forecaster_version", "cost_forecast_tokens_range", "latency_forecast_range", "source", "history_used", "evidence_json")
    FORECASTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    COST_FORECAST_TOKENS_RANGE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FORECAST_RANGE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    HISTORY_USED_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_JSON_FIELD_NUMBER: _ClassVar[int]
    forecaster_version: str
    cost_forecast_tokens_range: TokenRange
    latency_forecast_range: LatencyRange
    source: str
    history_used: int
    evidence_json: bytes
    def __init__(self, forecaster_version: _Optional[str] = ..., cost_forecast_tokens_range: _Optional[_Union[TokenRange, _Mapping]] = ..., latency_forecast_range: _Optional[_Union[LatencyRange, _Mapping]] = ..., source: _Optional[str] = ..., history_used: _Optional[int] = ..., evidence_json: _Optional[bytes] = ...) -> None: ...

class ReconcileForecastRequest(_message.Message):
    __slots__ = ("tokens_range", "latency_range", "source", "actual_tokens", "actual_latency_s")
    TOKENS_RANGE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_RANGE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_LATENCY_S_FIELD_NUMBER: _ClassVar[int]
    tokens_range: TokenRange
    latency_range: LatencyRange
    source: str
    actual_tokens: int
    actual_latency_s: float
    def __init__(self, tokens_range: _Optional[_Union[TokenRange, _Mapping]] = ..., latency_range: _Optional[_Union[LatencyRange, _Mapping]] = ..., source: _Optional[str] = ..., actual_tokens: _Optional[int] = ..., actual_latency_s: _Optional[float] = ...) -> None: ...

class ReconcileForecastResponse(_message.Message):
    __slots__ = ("forecaster_version", "tokens_range", "latency_range", "actual_tokens", "actual_latency_s", "source", "tokens_within", "latency_within", "tokens_error", "latency_error")
    FORECASTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    TOKENS_RANGE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_RANGE_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_LATENCY_S_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TOKENS_WITHIN_FIELD_NUMBER: _ClassVar[int]
    LATENCY_WITHIN_FIELD_NUMBER: _ClassVar[int]
    TOKENS_ERROR_FIELD_NUMBER: _ClassVar[int]
    LATENCY_ERROR_FIELD_NUMBER: _ClassVar[int]
    forecaster_version: str
    tokens_range: TokenRange
    latency_range: LatencyRange
    actual_tokens: int
    actual_latency_s: float
    source: str
    tokens_within: bool
    latency_within: bool
    tokens_error: float
    latency_error: float
    def __init__(self, forecaster_version: _Optional[str] = ..., tokens_range: _Optional[_Union[TokenRange, _Mapping]] = ..., latency_range: _Optional[_Union[LatencyRange, _Mapping]] = ..., actual_tokens: _Optional[int] = ..., actual_latency_s: _Optional[float] = ..., source: _Optional[str] = ..., tokens_within: _Optional[bool] = ..., latency_within: _Optional[bool] = ..., tokens_error: _Optional[float] = ..., latency_error: _Optional[float] = ...) -> None: ...

class GetCalibrationReportRequest(_message.Message):
    __slots__ = ("plan_id",)
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    def __init__(self, plan_id: _Optional[str] = ...) -> None: ...

class CohortCoverage(_message.Message):
    __slots__ = ("plan_id", "mode", "evaluated", "tokens_covered", "latency_covered")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_FIELD_NUMBER: _ClassVar[int]
    TOKENS_COVERED_FIELD_NUMBER: _ClassVar[int]
    LATENCY_COVERED_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    mode: str
    evaluated: int
    tokens_covered: int
    latency_covered: int
    def __init__(self, plan_id: _Optional[str] = ..., mode: _Optional[str] = ..., evaluated: _Optional[int] = ..., tokens_covered: _Optional[int] = ..., latency_covered: _Optional[int] = ...) -> None: ...

class GetCalibrationReportResponse(_message.Message):
    __slots__ = ("forecaster_version", "nominal", "target", "evaluated", "skipped", "tokens_coverage", "latency_coverage", "met", "cohorts", "evidence_json")
    FORECASTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    NOMINAL_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    TOKENS_COVERAGE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_COVERAGE_FIELD_NUMBER: _ClassVar[int]
    MET_FIELD_NUMBER: _ClassVar[int]
    COHORTS_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_JSON_FIELD_NUMBER: _ClassVar[int]
    forecaster_version: str
    nominal: float
    target: float
    evaluated: int
    skipped: int
    tokens_coverage: float
    latency_coverage: float
    met: bool
    cohorts: _containers.RepeatedCompositeFieldContainer[CohortCoverage]
    evidence_json: bytes
    def __init__(self, forecaster_version: _Optional[str] = ..., nominal: _Optional[float] = ..., target: _Optional[float] = ..., evaluated: _Optional[int] = ..., skipped: _Optional[int] = ..., tokens_coverage: _Optional[float] = ..., latency_coverage: _Optional[float] = ..., met: _Optional[bool] = ..., cohorts: _Optional[_Iterable[_Union[CohortCoverage, _Mapping]]] = ..., evidence_json: _Optional[bytes] = ...) -> None: ...
