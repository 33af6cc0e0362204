"""SPEC 2.2, first half: classifies a node failure from its signals, by an ordered rule list."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentledger.core.errors import InvalidArgument

CLASSIFIER_VERSION = "failure-classifier-1.0.0"
FAILURE_KINDS = ("data_issue", "execution_issue", "cost_issue", "spec_issue", "tool_issue")


@dataclass(frozen=True, slots=True)
class FailureSignals:
    """What the engine observed when a node failed."""

    node_id: str
    kind_hint: str = ""  # the kind the agent raised; empty when the engine only defaulted one
    exception_type: str = ""
    exit_code: int | None = None
    http_status: int = 0  # 0: no HTTP call involved
    budget_fractions: Mapping[str, float] = field(default_factory=dict)  # used / limit
    validation_errors: tuple[str, ...] = ()
    message: str = ""
    attempt: int = 1  # the attempt that failed, from 1
    variant: str = ""  # the variant that failed; empty is the primary
    tried_variants: tuple[str, ...] = ()  # every variant tried on this node in this task
    upstream_reruns: int = 0  # how often this node's upstream was already re-run for it


@dataclass(frozen=True, slots=True)
class Classification:
    kind: str
    rule: str
    rule_version: int
    evidence: Mapping[str, Any]
    classifier_version: str = CLASSIFIER_VERSION


Evidence = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ClassifierRule:
    """One row of the table: `test` answers (kind, evidence) when the rule fires, else None."""

    name: str
    version: int
    test: Callable[[FailureSignals], tuple[str, Evidence] | None]


def _budget(s: FailureSignals) -> tuple[str, Evidence] | None:
    spent = {k: v for k, v in sorted(s.budget_fractions.items()) if v >= 1.0}
    return ("cost_issue", {"budget_fractions_at_or_over_1": spent}) if spent else None


def _validation(s: FailureSignals) -> tuple[str, Evidence] | None:
    if not s.validation_errors:
        return None
    return "data_issue", {"validation_errors": list(s.validation_errors[:10])}


# Throttling, timeouts and server errors are the tool's; refused credentials or a missing
# endpoint are the plan's to fix; a refused payload is the data's.
HTTP_KINDS = {408: "tool_issue", 429: "tool_issue", 401: "spec_issue", 403: "spec_issue",
              404: "spec_issue", 405: "spec_issue", 400: "data_issue", 409: "data_issue",
              413: "data_issue", 415: "data_issue", 422: "data_issue"}  # fmt: skip


def _http(s: FailureSignals) -> tuple[str, Evidence] | None:
    kind = HTTP_KINDS.get(s.http_status) or ("tool_issue" if s.http_status >= 500 else None)
    return (kind, {"http_status": s.http_status}) if kind else None


# Shell conventions: 126 not executable, 127 not found (the plan names a wrong command), 124 the
# `timeout` wrapper fired (the tool hung), 137/139 killed or crashed (the run itself failed).
EXIT_KINDS = {126: "spec_issue", 127: "spec_issue", 124: "tool_issue", 137: "execution_issue",
              139: "execution_issue"}  # fmt: skip


def _exit(s: FailureSignals) -> tuple[str, Evidence] | None:
    kind = EXIT_KINDS.get(s.exit_code) if s.exit_code is not None else None
    return (kind, {"exit_code": s.exit_code}) if kind else None


EXCEPTION_KINDS = {
    "TimeoutError": "tool_issue", "ConnectionError": "tool_issue",
    "ConnectionRefusedError": "tool_issue", "ConnectionResetError": "tool_issue",
    "ConnectTimeout": "tool_issue", "ReadTimeout": "tool_issue", "ConnectError": "tool_issue",
    "ValueError": "data_issue", "KeyError": "data_issue", "JSONDecodeError": "data_issue",
    "UnicodeDecodeError": "data_issue", "FileNotFoundError": "data_issue",
    "ValidationError": "data_issue", "ImportError": "spec_issue",
    "ModuleNotFoundError": "spec_issue", "NotImplementedError": "spec_issue",
    "MemoryError": "execution_issue", "RecursionError": "execution_issue",
}  # fmt: skip


def _exception(s: FailureSignals) -> tuple[str, Evidence] | None:
    kind = EXCEPTION_KINDS.get(s.exception_type)
    return (kind, {"exception_type": s.exception_type}) if kind else None


def _hint(s: FailureSignals) -> tuple[str, Evidence] | None:
    return (s.kind_hint, {"kind_hint": s.kind_hint}) if s.kind_hint else None


def _default(s: FailureSignals) -> tuple[str, Evidence] | None:
    return "execution_issue", {"note": "no signal matched a more specific kind"}


# Objective signals first, then what the agent said, then the default.
RULES: tuple[ClassifierRule, ...] = (
    ClassifierRule("budget_exhausted", 1, _budget),
    ClassifierRule("validation_errors", 1, _validation),
    ClassifierRule("http_status", 1, _http),
    ClassifierRule("exit_code", 1, _exit),
    ClassifierRule("exception_type", 1, _exception),
    ClassifierRule("agent_reported_kind", 1, _hint),
    ClassifierRule("default_execution_issue", 1, _default),
)


def check_signals(s: FailureSignals) -> None:
    if not s.node_id:
        raise InvalidArgument("failure node_id is empty; name the node that failed")
    if s.kind_hint and s.kind_hint not in FAILURE_KINDS:
        raise InvalidArgument(
            f"failure kind hint {s.kind_hint!r}; use one of {', '.join(FAILURE_KINDS)} or empty"
        )
    if s.http_status and not 100 <= s.http_status <= 599:
        raise InvalidArgument(f"http_status {s.http_status}; use 100..599, or 0 for none")
    if s.attempt < 1:
        raise InvalidArgument(f"attempt is {s.attempt}; attempts count from 1")
    if s.upstream_reruns < 0:
        raise InvalidArgument(f"upstream_reruns is {s.upstream_reruns}; it must be >= 0")
    for name, value in s.budget_fractions.items():
        if not math.isfinite(value) or value < 0:
            raise InvalidArgument(
                f"budget fraction {name!r} is {value}; it must be a finite number >= 0"
            )


def classify(s: FailureSignals) -> Classification:
    """The first rule of RULES that fires decides the kind."""
    check_signals(s)
    for rule in RULES:
        hit = rule.test(s)
        if hit is not None:
            return Classification(hit[0], rule.name, rule.version, hit[1])
    raise AssertionError("the default rule always fires")
