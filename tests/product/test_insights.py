"""The product's use cases over in-memory ports (no gRPC): an ended task's goal report is
recorded once and kept, so asking again reads only its summary; a task that runs again and ends
again is evaluated again; the sweep records what ended and leaves the rest."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from agentledger.core.clock import ManualClock
from services.product.domain.ports import ChangedTask, Submission, TaskView
from services.product.domain.service import Insights
from tests.product.test_goals import ORDERS, Trace


class Memory:
    """Traces and tasks in memory, counting the reads that cost (event pages)."""

    def __init__(self, t: Trace) -> None:
        self.t = t
        self.ended_ns = 0
        self.summary_extra: dict[str, Any] = {}
        self.goal_status = ""
        self.page_reads = 0
        self.recorded: list[str] = []

    async def summary(self, task_id: str) -> Mapping[str, Any]:
        return self.t.summary() | {
            "ended_unix_nano": self.ended_ns,
            "goal_status": self.goal_status,
            "extra": self.summary_extra,
            "last_seq": len(self.t.events),
        }

    async def pages(
        self, task_id: str, *, types: Sequence[str] = (), upto: int = 0
    ) -> AsyncIterator[list[Any]]:
        self.page_reads += 1
        assert upto == len(self.t.events)  # read up to what the summary says
        yield [e for e in self.t.events if not types or e["type"] in types]

    async def raw_pages(self, task_id: str, *, upto: int = 0) -> AsyncIterator[list[bytes]]:
        raise AssertionError("not used here")
        yield []

    async def blob(self, task_id: str, blob_id: str) -> AsyncIterator[bytes]:
        raise AssertionError("not used here")
        yield b""

    async def record_goal(
        self, task_id: str, *, event_id: str, payload: Mapping[str, Any], goal_status: str
    ) -> int:
        known = [e for e in self.t.events if e["event_id"] == event_id]
        seq = known[0]["seq"] if known else self.t.add("goal.evaluated", **payload)
        if not known:
            self.t.events[-1]["event_id"] = event_id
            self.recorded.append(event_id)
        self.goal_status = goal_status
        self.summary_extra = {
            "goal": {"status": goal_status, "seq": seq, "end_seq": payload["end_seq"]}
        }
        return int(seq)

    async def active(self, *, owner: str = "", tenant: str = "") -> int:
        return 0

    async def changed(self, since_ns: int, limit: int) -> list[ChangedTask]:
        return []

    async def get(self, task_id: str) -> TaskView:
        task = {"task_id": task_id, "plan_id": "p", "plan_version": 1}
        return TaskView(task, [], textwrap.dedent(ORDERS), True)

    async def submit(self, s: Submission) -> object:
        raise AssertionError("not used here")


def completed() -> Trace:
    t = Trace()
    t.run("validate", "spec")
    t.run("clean", output={"rows_dropped": 0})
    t.run("aggregate", claims={"total_amount": 12.5})
    t.run("verify", "verify", verified=True, output={"problems": []})
    t.state_to("COMPLETED", "all 4 nodes completed")
    return t


async def test_an_ended_task_is_evaluated_once_and_recorded_once() -> None:
    memory = Memory(completed())
    memory.ended_ns = 5
    insights = Insights(memory, memory, ManualClock())
    first = await insights.goal_status("t1")
    assert first.final and first.recorded_seq == len(memory.t.events)
    assert memory.recorded == [f"goal-{first.recorded_seq - 1}"] and memory.page_reads == 1
    again = await insights.goal_status("t1")
    told = await insights.explain("t1")
    assert memory.page_reads == 1  # from the summary and what was kept
    assert again.report == first.report and again.recorded_seq == first.recorded_seq
    assert told.goal.report == first.report and told.checked.sentences
    # The engine's late summary wiped the goal status: it is recorded again, as the same event.
    memory.goal_status, memory.summary_extra = "", {}
    assert (await insights.goal_status("t1")).recorded_seq == first.recorded_seq
    assert memory.recorded == [f"goal-{first.recorded_seq - 1}"] and memory.goal_status


async def test_a_task_that_runs_again_is_evaluated_again() -> None:
    t = completed()
    memory = Memory(t)
    memory.ended_ns = 5
    insights = Insights(memory, memory, ManualClock())
    first = await insights.goal_status("t1")
    t.state_to("QUEUED", "retried by alice")
    memory.ended_ns = 0
    running = await insights.goal_status("t1")
    assert not running.final and running.recorded_seq == 0 and memory.page_reads == 2
    t.state_to("RUNNING", "claimed")
    t.state_to("FAILED", "node 'verify' failed", "execution_issue")
    memory.ended_ns = 9
    failed = await insights.goal_status("t1")
    assert failed.final and failed.recorded_seq > first.recorded_seq
    assert failed.report.task_state == "FAILED" and memory.page_reads == 3
    assert len(memory.recorded) == 2
