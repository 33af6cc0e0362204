"""The durable queue on a real database: claims, limits, leases, takeover and fencing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentledger.core.clock import ManualClock
from agentledger.core.db import create_db_engine, migrate
from agentledger.core.errors import FailedPrecondition
from services.engine.domain.agents.base import Usage
from services.engine.domain.ids import new_task_id
from services.engine.domain.model import Budget, Fence, LeaseLost, TaskRecord
from services.engine.domain.queue import QueueLimits, TaskQueue
from services.engine.domain.state_manager import StateManager
from services.engine.domain.states import State
from services.engine.domain.store import EngineStore
from services.engine.wiring import MIGRATIONS
from tests.conftest import Database


@pytest.fixture
def store(database: Database, tmp_path: Path) -> Iterator[EngineStore]:
    url = database.url if database.kind == "postgresql" else f"sqlite:///{tmp_path}/engine.db"
    engine = create_db_engine(url, schema=database.schema or None)
    migrate(engine, "engine", MIGRATIONS)
    yield EngineStore(engine)
    engine.dispose()


def queued(store: EngineStore, clock: ManualClock, owner: str = "alice", priority: int = 0) -> str:
    now = clock.now_ns()
    task = TaskRecord(
        new_task_id(now), owner, "", "goal", "balanced", {}, Budget(seconds=60), "noop", 1,
        "explicit", {}, State.CREATED, 0, "", "", "", "", 0, 0, priority, now, now, now, 0, 0,
        0.0, Usage(), 0, 0, "", "", {}, None, {},
    )  # fmt: skip
    with store.write() as tx:
        StateManager.create(tx, task)
        _, event = StateManager().transition(
            tx, task.task_id, State.CREATED, State.QUEUED, actor=owner, reason="submitted",
            now_ns=now, fence=None,
        )  # fmt: skip
        store.record(tx, task.task_id, None, [event], now)
    clock.advance(0.001)
    return task.task_id


def queue(store: EngineStore, clock: ManualClock, worker: str, **limits: int) -> TaskQueue:
    return TaskQueue(
        store, StateManager(), clock, worker_id=worker, lease_s=10, limits=QueueLimits(**limits)
    )


def test_claims_follow_priority_then_arrival(store: EngineStore) -> None:
    clock = ManualClock()
    a, b, c = queued(store, clock), queued(store, clock), queued(store, clock, priority=5)
    claims = queue(store, clock, "w1").claim(2)
    assert [x.task_id for x in claims] == [c, a]
    assert all(x.fence == Fence("w1", 1) for x in claims)
    assert store.get_task(a).state is State.RUNNING
    assert [x.task_id for x in queue(store, clock, "w2").claim(5)] == [b]
    assert queue(store, clock, "w3").claim(5) == []


def test_the_global_and_per_owner_limits_hold(store: EngineStore) -> None:
    clock = ManualClock()
    for owner in ("alice", "alice", "alice", "bob", "bob"):
        queued(store, clock, owner)
    per_owner = queue(store, clock, "w1", max_per_owner=2).claim(10)
    assert sorted(store.get_task(c.task_id).owner for c in per_owner) == [
        "alice", "alice", "bob", "bob"
    ]  # fmt: skip
    assert queue(store, clock, "w2", max_running=4).claim(10) == []  # 4 already run
    assert len(queue(store, clock, "w2", max_running=5).claim(10)) == 1


def test_an_expired_lease_is_taken_over_and_fences_the_old_worker(store: EngineStore) -> None:
    clock = ManualClock()
    task_id = queued(store, clock)
    old = queue(store, clock, "old").claim(1)[0]
    assert queue(store, clock, "new").claim(1) == []  # the lease is live
    clock.advance(11)
    new = queue(store, clock, "new").claim(1)[0]
    assert new.took_over and new.fence == Fence("new", 2)
    # The old worker can neither record events nor move the state any more.
    with pytest.raises(LeaseLost), store.write() as tx:
        store.record(tx, task_id, old.fence, [], clock.now_ns())
    with pytest.raises(LeaseLost, match="taken over"), store.write() as tx:
        StateManager().transition(
            tx, task_id, State.RUNNING, State.COMPLETED, actor="old", reason="done",
            now_ns=clock.now_ns(), fence=old.fence,
        )  # fmt: skip
    renewals = queue(store, clock, "old").renew([(task_id, old.fence)])
    assert [r.held for r in renewals] == [False]
    assert [r.held for r in queue(store, clock, "new").renew([(task_id, new.fence)])] == [True]
    with store.write() as tx:
        StateManager().transition(
            tx, task_id, State.RUNNING, State.COMPLETED, actor="new", reason="done",
            now_ns=clock.now_ns(), fence=new.fence, set_columns={"lease_owner": ""},
        )  # fmt: skip
    assert [t.to_state for t in store.transitions(task_id)] == [
        State.QUEUED, State.RUNNING, State.COMPLETED
    ]  # fmt: skip


def test_illegal_transitions_name_both_states(store: EngineStore) -> None:
    clock = ManualClock()
    task_id = queued(store, clock)
    refused = pytest.raises(FailedPrecondition, match="cannot go from QUEUED to COMPLETED")
    with refused, store.write() as tx:
        StateManager().transition(
            tx, task_id, State.QUEUED, State.COMPLETED, actor="x", reason="y",
            now_ns=clock.now_ns(), fence=None,
        )  # fmt: skip
    with pytest.raises(FailedPrecondition, match="is QUEUED, not PAUSED"), store.write() as tx:
        StateManager().transition(
            tx, task_id, State.PAUSED, State.QUEUED, actor="x", reason="y",
            now_ns=clock.now_ns(), fence=None,
        )  # fmt: skip
    assert len(store.transitions(task_id)) == 1


def test_control_requests_reach_the_lease_holder(store: EngineStore) -> None:
    clock = ManualClock()
    task_id = queued(store, clock)
    claim = queue(store, clock, "w1").claim(1)[0]
    with store.write() as tx:
        store.set_control(tx, task_id, "pause", "bob", "lunch")
    (renewal,) = queue(store, clock, "w1").renew([(task_id, claim.fence)])
    assert renewal.held and (renewal.control.action, renewal.control.actor) == ("pause", "bob")
