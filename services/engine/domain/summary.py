"""The trace summary the engine keeps current in trace_store while a task runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.engine.domain.agents.base import Usage
from services.engine.domain.model import TaskRecord
from services.engine.domain.states import TERMINAL, State


@dataclass(frozen=True, slots=True)
class DecisionPoint:
    seq: int  # the decision event's sequence number in the trace (0 while unknown)
    node_id: str
    rule: str
    decision: str
    reason: str
    salience: float


@dataclass(frozen=True, slots=True)
class SummaryView:
    task_id: str
    owner: str
    tenant: str
    goal: str
    mode: str
    plan_id: str
    plan_version: int
    state: str
    failure_type: str
    usage: Usage
    created_ns: int
    updated_ns: int
    ended_ns: int
    current_node: str = ""
    top_decisions: Sequence[DecisionPoint] = ()
    result_summary: str = ""
    degrade_count: int = 0
    pause_count: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)
    # The optimizer's forecast, with "reconciled" (the actuals) once the task ended.
    forecast: Mapping[str, Any] = field(default_factory=dict)


def summary_of(
    task: TaskRecord,
    *,
    state: State | None = None,
    now_ns: int,
    usage: Usage | None = None,
    current_node: str = "",
    decisions: Sequence[DecisionPoint] = (),
    result_summary: str = "",
    degrade_count: int | None = None,
    pause_count: int | None = None,
    failure_type: str | None = None,
    extra: Mapping[str, Any] | None = None,
    forecast: Mapping[str, Any] | None = None,
) -> SummaryView:
    """The summary of `task`, with what a running worker knows that the record doesn't yet."""
    st = state or task.state
    return SummaryView(
        task_id=task.task_id,
        owner=task.owner,
        tenant=task.tenant,
        goal=task.goal,
        mode=task.mode,
        plan_id=task.plan_id,
        plan_version=task.plan_version,
        state=st.value,
        failure_type=task.failure_type if failure_type is None else failure_type,
        usage=usage or task.usage,
        created_ns=task.created_ns,
        updated_ns=now_ns,
        ended_ns=(task.ended_ns or now_ns) if st in TERMINAL else 0,
        current_node=current_node,
        top_decisions=tuple(sorted(decisions, key=lambda d: (-d.salience, d.seq))[:5]),
        result_summary=result_summary,
        degrade_count=task.degrade_count if degrade_count is None else degrade_count,
        pause_count=task.pause_count if pause_count is None else pause_count,
        extra={
            "plan_rule": task.plan_rule,
            "budget": task.budget.as_dict(),
            **(
                {"pending": dict(task.pending)}
                if task.pending and st is State.WAITING_INPUT
                else {}
            ),
            **(extra or {}),
        },
        forecast=task.forecast if forecast is None else forecast,
    )
