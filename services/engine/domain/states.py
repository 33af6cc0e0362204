"""The task state machine: the states, the declared transition table, and who may move a task.

CREATED → QUEUED → RUNNING ⇄ PAUSED → COMPLETED | FAILED | CANCELLED, plus WAITING_INPUT (a
human node or a governance pause waits for the user's input). A paused or waiting task goes back
to QUEUED when resumed: a worker must claim it again before it runs.
"""

from __future__ import annotations

from enum import StrEnum

from agentledger.core.errors import FailedPrecondition


class State(StrEnum):
    CREATED = "CREATED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    WAITING_INPUT = "WAITING_INPUT"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


TERMINAL = frozenset({State.COMPLETED, State.FAILED, State.CANCELLED})

# from -> the states it may move to. Anything else is refused.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.CREATED: frozenset({State.QUEUED, State.CANCELLED}),
    State.QUEUED: frozenset({State.RUNNING, State.PAUSED, State.CANCELLED}),
    State.RUNNING: frozenset(
        {
            State.PAUSED,
            State.WAITING_INPUT,
            State.COMPLETED,
            State.FAILED,
            State.CANCELLED,
            # A worker gives a task back (shutdown) without finishing it.
            State.QUEUED,
        }
    ),
    State.PAUSED: frozenset({State.QUEUED, State.CANCELLED}),
    State.WAITING_INPUT: frozenset({State.QUEUED, State.CANCELLED}),
    # Retry re-runs a failed task from its failure.
    State.FAILED: frozenset({State.QUEUED}),
    State.COMPLETED: frozenset(),
    State.CANCELLED: frozenset(),
}


def parse_state(name: str) -> State:
    try:
        return State(name)
    except ValueError:
        raise FailedPrecondition(f"unknown task state {name!r}") from None


def check_transition(task_id: str, current: State, target: State) -> None:
    """Raises FailedPrecondition naming both states when the table has no such edge."""
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none: it has ended"
        raise FailedPrecondition(
            f"task {task_id} cannot go from {current} to {target} (from {current}: {allowed})"
        )
