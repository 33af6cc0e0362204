"""Classifies an exception an agent raised into a `Failure` of one SPEC 2.2 failure type."""

from __future__ import annotations

from services.engine.domain.agents.base import (
    AgentFailure,
    CostIssue,
    DataIssue,
    ExecutionIssue,
    Failure,
    SpecIssue,
    ToolIssue,
)

FAILURE_CLASSES: dict[str, type[AgentFailure]] = {
    c.kind: c for c in (DataIssue, ExecutionIssue, CostIssue, SpecIssue, ToolIssue)
}

# TimeoutError is handled before this table: it gets a fixed message. UnicodeDecodeError and
# json.JSONDecodeError need no rows of their own: they are ValueErrors.
_TABLE: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionError, "tool_issue"),
    (FileNotFoundError, "data_issue"),
    (ValueError, "data_issue"),
)


def classify_exception(exc: BaseException) -> Failure:
    """The `Failure` for an exception an agent raised; the first matching row wins:

    - `AgentFailure` (and subclasses) -> its own kind, message and signals.
    - `TimeoutError` (incl. `asyncio.TimeoutError`) -> `tool_issue`, message "timed out".
    - `ConnectionError` -> `tool_issue`: a tool or endpoint is unreachable.
    - `FileNotFoundError` -> `data_issue`: an input file is missing.
    - `ValueError` (incl. `UnicodeDecodeError`, `json.JSONDecodeError`) -> `data_issue`:
      parsing the inputs failed.
    - anything else, `KeyError` included -> `execution_issue`.

    `KeyError` is deliberately not a data issue: in agent code it is far more often a bug (a
    wrong key in the agent's own dict) than a missing input, and a data issue makes governance
    pause to ask the user for data they cannot fix. Every row but the first carries the signals
    `exception_type` and `message`, so a decision's evidence says what was raised.
    """
    if isinstance(exc, AgentFailure):
        return Failure(exc.kind, exc.message, dict(exc.signals))
    text = str(exc) or type(exc).__name__
    signals = {"exception_type": type(exc).__name__, "message": text}
    if isinstance(exc, TimeoutError):
        return Failure("tool_issue", "timed out", signals)
    for exc_type, kind in _TABLE:
        if isinstance(exc, exc_type):
            return Failure(kind, text, signals)
    return Failure("execution_issue", text, signals)


def as_agent_failure(exc: BaseException, message: str) -> AgentFailure:
    """`exc` classified by the table above, as the AgentFailure of its kind, with `message`."""
    failure = classify_exception(exc)
    return FAILURE_CLASSES[failure.kind](message, signals=failure.signals)
